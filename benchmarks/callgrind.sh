#!/usr/bin/env bash
# Counts the instructions one iteration of a benchmark executes, under
# `valgrind --tool=callgrind`, for every benchmark (in the //benchmarks binaries
# tagged "benchmark", built with --config=bench) that matches --filter. Writes
# <out>/callgrind.json ({benchmark name: instructions per iteration}) and
# <out>/callgrind_details.json (the iteration counts, raw totals and commands).
#
# Method: the binaries honour PORTCULLIS_BENCHMARK_ITERATIONS (see
# fixed_iterations.h), so a benchmark runs an exact number of iterations n. The
# total instruction count Ir(n) is start-up + setup + n × per-iteration cost, so
#   per iteration = (Ir(n3) - Ir(n1)) / (n3 - n1)
# with start-up and setup cancelled. Details in benchmarks/README.md and in
# callgrind_count.py.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: benchmarks/callgrind.sh [options] [TARGET...]

  --out DIR            output directory (default: benchmarks/results)
  --filter REGEX       benchmarks to measure, matched against their usual names
                       (default: '^BM_[^/]+/[^/]+/1000$', every single-threaded
                       benchmark at size 1000)
  --iterations A,B,C   fixed iteration counts (at least two, same number of
                       digits); default: chosen per benchmark from a pilot run
  --instructions N     automatic counts aim for about N instructions between the
                       smallest and the largest run (default 10000000)
  -h, --help           this text
EOF
}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benchmarks/common.sh
source "$repo_root/benchmarks/common.sh"

out_dir=$repo_root/benchmarks/results
filter='^BM_[^/]+/[^/]+/1000$'
iterations=
instructions=10000000
targets=()
invocation=("benchmarks/callgrind.sh" "$@")

while (($#)); do
  case $1 in
    --out) (($# >= 2)) || die "--out needs a directory"; out_dir=$2; shift 2 ;;
    --out=*) out_dir=${1#*=}; shift ;;
    --filter) (($# >= 2)) || die "--filter needs a regular expression"; filter=$2; shift 2 ;;
    --filter=*) filter=${1#*=}; shift ;;
    --iterations) (($# >= 2)) || die "--iterations needs a list"; iterations=$2; shift 2 ;;
    --iterations=*) iterations=${1#*=}; shift ;;
    --instructions) (($# >= 2)) || die "--instructions needs a number"; instructions=$2; shift 2 ;;
    --instructions=*) instructions=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) targets+=("$1"); shift ;;
  esac
done

require_tool bazel "run tools/setup.sh"
require_tool valgrind "install Debian's valgrind package: run tools/setup.sh"
require_tool python3 "run tools/setup.sh"

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
cd "$repo_root"
mkdir -p "$out_dir/logs"

discovered=$(discover_benchmarks "$out_dir/logs/query.stderr")
[[ -n $discovered ]] || die "no cc_binary tagged \"benchmark\" in //benchmarks"
mapfile -t all_targets <<<"$discovered"
selected=$(select_targets "${targets[@]}")
mapfile -t targets <<<"$selected"

labels=("${targets[@]/#///benchmarks:}")
echo "callgrind.sh: building ${labels[*]} with --config=bench" >&2
bazel build --config=bench "${labels[@]}"
bin_dir=$(bazel info --config=bench bazel-bin 2>/dev/null)

binaries=()
for target in "${targets[@]}"; do
  [[ -x $bin_dir/benchmarks/$target ]] || die "built //benchmarks:$target but found no $bin_dir/benchmarks/$target"
  binaries+=("$bin_dir/benchmarks/$target")
done

args=(--out "$out_dir" --filter "$filter" --instructions "$instructions"
  --invocation "$(printf '%q ' "${invocation[@]}" | sed 's/ $//')"
  --git-commit "$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  --git-dirty "$(git_dirty)")
[[ -n $iterations ]] && args+=(--iterations "$iterations")
python3 "$repo_root/benchmarks/callgrind_count.py" "${args[@]}" "${binaries[@]}"
