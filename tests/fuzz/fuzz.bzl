"""Fuzz targets: one macro makes the libFuzzer binary and its regression test.

A fuzz target is a source file defining
`extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)` that
aborts (PORTCULLIS_FUZZ_CHECK, a sanitizer) when a property breaks. For
`portcullis_fuzz_target(name = "x", ...)` in package P this defines:

  :x_fuzz_lib          the target's code (alwayslink, so the entry point links);
  :x_regression_test   a cc_test replaying corpus/x/ and regressions/x/ through it
                       (regression_main.cc); built by any compiler, so it runs in
                       `bazel test //...` and under --config=asan/--config=tsan;
  :x_fuzzer            the libFuzzer binary, tagged manual (and fuzz_target, which
                       is how run_fuzzers.sh finds it); build it with
                       `bazel build --config=fuzz //tests/fuzz:x_fuzzer` (clang-14).

Seed inputs go in P/corpus/x/, crash reproducers in P/regressions/x/ (run_fuzzers.sh
copies new ones there), and an optional libFuzzer dictionary in P/dicts/x.dict.
run_fuzzers.sh lets inputs grow to 256 KiB (--max-len), not libFuzzer's default
4,096 bytes: deep nesting needs room (docs/reliability.md, "Fuzz targets").
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

def portcullis_fuzz_target(name, srcs, deps = [], data = [], size = "small"):
    """Declares the fuzz target `name` (see the file comment)."""
    corpus = "corpus/" + name
    regressions = "regressions/" + name
    cc_library(
        name = name + "_fuzz_lib",
        testonly = True,
        srcs = srcs,
        deps = deps + ["//tests/fuzz:fuzz_check"],
        data = data,
        alwayslink = True,
    )
    cc_test(
        name = name + "_regression_test",
        size = size,
        args = [
            native.package_name() + "/" + corpus,
            native.package_name() + "/" + regressions,
        ],
        data = native.glob(
            [corpus + "/**", regressions + "/**"],
            allow_empty = True,
        ),
        deps = [
            ":" + name + "_fuzz_lib",
            "//tests/fuzz:regression_main",
        ],
    )
    cc_binary(
        name = name + "_fuzzer",
        testonly = True,
        tags = [
            "fuzz_target",
            "manual",
        ],
        deps = [":" + name + "_fuzz_lib"],
    )
