#!/usr/bin/env bash
# tools/setup.sh installs what CI (.ci/run, tools/check_format.sh,
# tests/fuzz/run_fuzzers.sh) runs on a fresh Debian 12: its package list names
# the package of every tool they call beyond Debian's essential set.
set -uo pipefail

# The `packages=(...)` array of setup.sh, comments dropped.
mapfile -t listed < <(sed -n '/^packages=(/,/^)/p' tools/setup.sh |
  sed -e '1d' -e '$d' -e 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d')
if ((${#listed[@]} == 0)); then
  echo "FAIL: no packages=( ... ) list found in tools/setup.sh"
  exit 1
fi

# tool: package (the tool's users)
required=(
  "bazel:bazel-bootstrap"          # every step
  "g++:g++"                        # Bazel's C++ toolchain
  "pkg-config:pkg-config"          # third_party/system_library.bzl
  "clang-14:clang-14"              # run_fuzzers.sh (--config=fuzz)
  "libFuzzer:libclang-rt-14-dev"   # run_fuzzers.sh (-fsanitize=fuzzer)
  "clang-format:clang-format"      # check_format.sh
  "git:git"                        # check_format.sh (git ls-files)
  "python3:python3"                # benchmarks/report_test, gen_large_policy.py
  "boost/beast.hpp:libboost1.81-dev"     # server/ (Boost.Beast/Asio)
  "prometheus-cpp:prometheus-cpp-dev"    # server/metrics
  "simdjson:libsimdjson-dev"             # server/params
  "nginx:nginx"                          # tests/server/nginx_test.sh, benchmarks/http
  "curl:curl"                            # tests/server/nginx_test.sh, benchmarks/http
  "wrk:wrk"                              # benchmarks/http/run_http_bench.sh
  "gnuplot:gnuplot-nox"                  # benchmark plots
  "redis-server:redis-server"            # tests/replicas
  "hiredis:libhiredis-dev"               # server/ (Redis store)
  "libcurl:libcurl4-openssl-dev"         # server/ (bundle source)
)
failures=0
for entry in "${required[@]}"; do
  tool=${entry%%:*}
  package=${entry#*:}
  found=0
  for name in "${listed[@]}"; do
    if [[ $name == "$package" ]]; then found=1; fi
  done
  if ((found)); then
    echo "ok   $tool: $package"
  else
    echo "FAIL $tool: tools/setup.sh does not install $package"
    failures=$((failures + 1))
  fi
done
exit $((failures > 0))
