"""The project's external repositories, backed by Debian's system packages.

Each repository carries the upstream name and target layout, so every BUILD file in
this project is also valid against the upstream source archives. To build from
sources instead, replace the call to `portcullis_system_repositories()` in WORKSPACE
with the upstream `http_archive`s (see README, "Building against upstream sources").
"""

load("//third_party:system_library.bzl", "system_library")

# Upstream Abseil label -> the pkg-config module Debian ships for it.
_ABSEIL_TARGETS = {
    "//absl/algorithm:algorithm": ["absl_algorithm"],
    "//absl/algorithm:container": ["absl_algorithm_container"],
    "//absl/base:base": ["absl_base"],
    "//absl/base:core_headers": ["absl_core_headers"],
    "//absl/base:endian": ["absl_endian"],
    "//absl/cleanup:cleanup": ["absl_cleanup"],
    "//absl/container:btree": ["absl_btree"],
    "//absl/container:fixed_array": ["absl_fixed_array"],
    "//absl/container:flat_hash_map": ["absl_flat_hash_map"],
    "//absl/container:flat_hash_set": ["absl_flat_hash_set"],
    "//absl/container:inlined_vector": ["absl_inlined_vector"],
    "//absl/debugging:failure_signal_handler": ["absl_failure_signal_handler"],
    "//absl/debugging:symbolize": ["absl_symbolize"],
    "//absl/flags:flag": ["absl_flags"],
    "//absl/flags:parse": ["absl_flags_parse"],
    "//absl/flags:usage": ["absl_flags_usage"],
    "//absl/functional:bind_front": ["absl_bind_front"],
    "//absl/functional:function_ref": ["absl_function_ref"],
    "//absl/hash:hash": ["absl_hash"],
    "//absl/memory:memory": ["absl_memory"],
    "//absl/numeric:bits": ["absl_bits"],
    "//absl/numeric:int128": ["absl_int128"],
    "//absl/random:bit_gen_ref": ["absl_random_bit_gen_ref"],
    "//absl/random:distributions": ["absl_random_distributions"],
    "//absl/random:random": ["absl_random_random"],
    "//absl/status:status": ["absl_status"],
    "//absl/status:statusor": ["absl_statusor"],
    "//absl/strings:cord": ["absl_cord"],
    "//absl/strings:str_format": ["absl_str_format"],
    "//absl/strings:strings": ["absl_strings"],
    "//absl/synchronization:synchronization": ["absl_synchronization"],
    "//absl/time:time": ["absl_time"],
    "//absl/types:optional": ["absl_optional"],
    "//absl/types:span": ["absl_span"],
    "//absl/types:variant": ["absl_variant"],
}

# protoc from the system, wired the way native proto_library/cc_proto_library expect.
_PROTOBUF_BUILD = """
sh_binary(
    name = "protoc",
    srcs = ["protoc.bin"],
    visibility = ["//visibility:public"],
)

proto_lang_toolchain(
    name = "cc_toolchain",
    command_line = "--cpp_out=$(OUT)",
    runtime = ":protobuf",
    visibility = ["//visibility:public"],
)
"""

def portcullis_system_repositories():
    """Declares every external repository the project uses."""
    native.local_repository(name = "rules_cc", path = "third_party/rules_cc")
    native.local_repository(name = "rules_java", path = "third_party/rules_java")
    native.local_repository(
        name = "remote_coverage_tools",
        path = "third_party/remote_coverage_tools",
    )
    system_library(name = "com_google_absl", targets = _ABSEIL_TARGETS)
    system_library(
        name = "com_google_protobuf",
        targets = {":protobuf": ["protobuf"]},
        extra_build = {"": _PROTOBUF_BUILD},
        symlinks = {"protoc.bin": "/usr/bin/protoc"},
    )
    system_library(
        name = "com_google_googletest",
        targets = {
            ":gtest": ["gtest", "gmock"],
            ":gtest_main": ["gtest_main", "gmock"],
        },
    )
    system_library(
        name = "com_github_google_benchmark",
        targets = {
            ":benchmark": ["benchmark"],
            # Debian ships libbenchmark_main.a without a pkg-config module.
            ":benchmark_main": [],
        },
        extra_linkopts = {":benchmark_main": ["-lbenchmark_main"]},
        deps = {":benchmark_main": [":benchmark"]},
    )
    system_library(name = "org_libsodium", targets = {":sodium": ["libsodium"]})
