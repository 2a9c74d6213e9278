#!/usr/bin/env bash
# JWT introspection beside opaque tokens (issue 15; BENCHMARKS.md, section
# "JWT introspection"): the BM_Introspect and BM_IntrospectJwt families of
# //benchmarks:auth_benchmark (cached, from the Authorization header, first
# use on a thread), median of the repetitions, CPU time. Writes
# benchmarks/plots/jwt.json and jwt.md and puts the section into
# BENCHMARKS.md (benchmarks/report.py keeps it). About a minute plus the
# build. Not part of `bazel test`.
#
# usage: benchmarks/jwt/run_jwt_bench.sh [--repetitions N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repetitions=3
while (($#)); do
  case $1 in
    --repetitions) repetitions=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run_jwt_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $repetitions =~ ^[1-9][0-9]*$ ]] || { echo "--repetitions: a positive integer" >&2; exit 2; }
out=$(mktemp -d /tmp/jwt_bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
bazel build --config=bench //benchmarks:auth_benchmark >&2
bazel-bin/benchmarks/auth_benchmark \
  --benchmark_filter='^BM_Introspect(Jwt)?/(token|cached|header|slow_path|first)/' \
  --benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true \
  --benchmark_min_time=0.2 --benchmark_format=json --benchmark_out="$out/jwt.json" >/dev/null
python3 benchmarks/jwt/jwt_report.py "$out/jwt.json" \
  "benchmarks/jwt/run_jwt_bench.sh --repetitions $repetitions"
