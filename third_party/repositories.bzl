"""The project's external repositories, backed by Debian's system packages.

Each repository carries the upstream name and target layout, so every BUILD file in
this project is also valid against the upstream source archives. To build from
sources instead, replace the call to `portcullis_system_repositories()` in WORKSPACE
with the upstream `http_archive`s (see README, "Building against upstream sources").

The macro also works from another workspace that declared Portcullis itself
(`local_repository` or `http_archive` named `portcullis`, docs/downstream.md): the
repositories kept in this tree are found through labels of this repository, never
through paths relative to the caller's workspace, and a repository the caller has
already declared (its own Abseil, protobuf, GoogleTest...) is left alone.
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

def _in_tree_repository_impl(repository_ctx):
    # `directory` is a file of this repository's //third_party package, so the
    # label resolves inside Portcullis wherever it is checked out, whichever
    # workspace calls the macro (a relative `local_repository` path would be
    # resolved against the caller's workspace).
    third_party = repository_ctx.path(repository_ctx.attr.anchor).dirname
    source = third_party.get_child(repository_ctx.attr.directory)
    if not source.exists:
        fail("%s: %s does not exist" % (repository_ctx.name, source))
    for child in source.readdir():
        repository_ctx.symlink(child, child.basename)

# A directory of this tree's third_party/ as an external repository (what
# `local_repository` does, with the path taken relative to Portcullis).
_in_tree_repository = repository_rule(
    implementation = _in_tree_repository_impl,
    attrs = {
        "anchor": attr.label(
            default = Label("//third_party:BUILD.bazel"),
            allow_single_file = True,
        ),
        "directory": attr.string(mandatory = True),
    },
)

def _maybe(repository_rule, name, **kwargs):
    """Declares `name` unless the calling WORKSPACE already has."""
    if not native.existing_rule(name):
        repository_rule(name = name, **kwargs)

def portcullis_system_repositories():
    """Declares every external repository the project uses.

    Each one only if the calling WORKSPACE has not declared a repository of
    that name before the call, so a downstream workspace may bring its own
    (same names and targets as upstream's Bazel builds).
    """
    _maybe(_in_tree_repository, "rules_cc", directory = "rules_cc")
    _maybe(_in_tree_repository, "rules_java", directory = "rules_java")
    _maybe(
        _in_tree_repository,
        "remote_coverage_tools",
        directory = "remote_coverage_tools",
    )
    _maybe(system_library, "com_google_absl", targets = _ABSEIL_TARGETS)
    _maybe(
        system_library,
        "com_google_protobuf",
        targets = {":protobuf": ["protobuf"]},
        extra_build = {"": _PROTOBUF_BUILD},
        symlinks = {"protoc.bin": "/usr/bin/protoc"},
    )
    _maybe(
        system_library,
        "com_google_googletest",
        targets = {
            ":gtest": ["gtest", "gmock"],
            ":gtest_main": ["gtest_main", "gmock"],
        },
    )
    _maybe(
        system_library,
        "com_github_google_benchmark",
        targets = {
            ":benchmark": ["benchmark"],
            # Debian ships libbenchmark_main.a without a pkg-config module.
            ":benchmark_main": [],
        },
        extra_linkopts = {":benchmark_main": ["-lbenchmark_main"]},
        deps = {":benchmark_main": [":benchmark"]},
    )
    _maybe(system_library, "org_libsodium", targets = {":sodium": ["libsodium"]})
    # Boost.Beast and Boost.Asio (header-only in Boost 1.81), named as
    # nelhage/rules_boost names them. Debian ships no pkg-config module.
    _maybe(
        system_library,
        "boost",
        targets = {":asio": [], ":beast": []},
        extra_linkopts = {":asio": ["-pthread"]},
        deps = {":beast": [":asio"]},
    )
    # prometheus-cpp's metric types and text serializer (upstream's //core).
    _maybe(
        system_library,
        "com_github_jupp0r_prometheus_cpp",
        targets = {"//core:core": ["prometheus-cpp-core"]},
    )
    _maybe(
        system_library,
        "simdjson",
        targets = {":simdjson": ["simdjson"]},
    )
    # hiredis, Redis's C client (server/redis). Debian's module puts
    # /usr/include/hiredis on the include path, which system_library does not
    # take; sources include <hiredis/hiredis.h> from /usr/include instead.
    _maybe(
        system_library,
        "com_github_redis_hiredis",
        targets = {":hiredis": []},
        extra_linkopts = {":hiredis": ["-lhiredis"]},
    )
