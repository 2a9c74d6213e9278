#!/usr/bin/env bash
# Installs what Portcullis needs to build, test and benchmark on Debian 12, and
# nothing else. Idempotent: apt-get runs only when a package is missing.
set -euo pipefail

packages=(
  bazel-bootstrap     # Bazel 4.2.3 (WORKSPACE mode)
  g++ pkg-config
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libsodium-dev       # CSPRNG and keyed hashes for engine/auth
  libboost1.81-dev    # Boost.Beast/Asio: the HTTP server of `portcullis serve`
  prometheus-cpp-dev  # the server's /metrics
  libsimdjson-dev     # the server's JSON request bodies
  clang-14 libclang-rt-14-dev  # libFuzzer targets
  clang-format        # formatting check in CI
  git                 # the formatting check lists the sources with git ls-files
  valgrind            # instruction counts in the benchmark report
  gnuplot-nox         # benchmark plots
  nginx               # tests/server/nginx_test.sh, benchmarks/http (auth_request)
  curl                # tests/server/nginx_test.sh, benchmarks/http
  wrk                 # benchmarks/http/run_http_bench.sh
  redis-server        # tests/replicas: the shared token store, started by the tests
  libhiredis-dev      # server/: RedisTokenStore and the distributed rate limiter
  libcurl4-openssl-dev  # server/: the bundle-server policy source
  python3
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) != 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
