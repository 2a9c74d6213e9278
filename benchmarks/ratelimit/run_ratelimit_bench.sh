#!/usr/bin/env bash
# Runs //benchmarks:distributed_rate_limit_benchmark (rate limits counted in
# Redis, with and without the local front, against a redis-server it starts on
# loopback) and writes the "Rate limits across replicas" section of
# BENCHMARKS.md with ratelimit_report.py (benchmarks/report.py keeps it).
#
# usage: benchmarks/ratelimit/run_ratelimit_bench.sh [--repetitions N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repetitions=3
while (($#)); do
  case $1 in
    --repetitions) repetitions=$2; shift 2 ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "run_ratelimit_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $repetitions =~ ^[1-9][0-9]*$ ]] || { echo "--repetitions: a positive integer" >&2; exit 2; }
out=$(mktemp -d /tmp/ratelimit_bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
bazel build --config=bench //benchmarks:distributed_rate_limit_benchmark >&2
# The redis-server harness keeps its directory under TEST_TMPDIR.
TEST_TMPDIR=$out bazel-bin/benchmarks/distributed_rate_limit_benchmark \
  --benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true \
  --benchmark_format=json --benchmark_out="$out/ratelimit.json" >/dev/null
python3 benchmarks/ratelimit/ratelimit_report.py "$out/ratelimit.json" \
  "benchmarks/ratelimit/run_ratelimit_bench.sh --repetitions $repetitions"
