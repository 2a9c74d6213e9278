#!/usr/bin/env bash
# Builds and runs every benchmark binary (cc_binary tagged "benchmark" in
# //benchmarks) with --config=bench and writes Google Benchmark JSON, one file per
# binary, plus machine.json (machine, date, git commit, the exact commands) into
# the output directory. benchmarks/report.py turns that directory into
# BENCHMARKS.md. See benchmarks/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: benchmarks/run_all.sh [options] [TARGET...]

Builds and runs every //benchmarks cc_binary tagged "benchmark" (or only the
named TARGETs, e.g. check_benchmark) with `bazel run --config=bench`.

  --out DIR          output directory (default: benchmarks/results); its previous
                     benchmark JSON and machine.json are removed first
  --repetitions N    repetitions per benchmark; the report uses their median (default 5)
  --filter REGEX     only benchmarks matching REGEX (--benchmark_filter)
  --quick            smoke run: 1 repetition, --benchmark_min_time=0.05
                     (unless --repetitions is also given)
  -h, --help         this text
EOF
}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benchmarks/common.sh
source "$repo_root/benchmarks/common.sh"
out_dir=$repo_root/benchmarks/results
repetitions=5
repetitions_given=false
filter=
quick=false
targets=()
invocation=("benchmarks/run_all.sh" "$@")

while (($#)); do
  case $1 in
    --out) (($# >= 2)) || die "--out needs a directory"; out_dir=$2; shift 2 ;;
    --out=*) out_dir=${1#*=}; shift ;;
    --repetitions) (($# >= 2)) || die "--repetitions needs a number"; repetitions=$2; repetitions_given=true; shift 2 ;;
    --repetitions=*) repetitions=${1#*=}; repetitions_given=true; shift ;;
    --filter) (($# >= 2)) || die "--filter needs a regular expression"; filter=$2; shift 2 ;;
    --filter=*) filter=${1#*=}; shift ;;
    --quick) quick=true; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) targets+=("${1#//benchmarks:}"); shift ;;
  esac
done

[[ $repetitions =~ ^[1-9][0-9]*$ ]] || die "--repetitions must be a positive integer, not '$repetitions'"
min_time=
if $quick; then
  $repetitions_given || repetitions=1
  min_time=0.05
fi

require_tool bazel "run tools/setup.sh"
require_tool python3 "run tools/setup.sh"

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd) # absolute: `bazel run` starts the binary in its runfiles
cd "$repo_root"
mkdir -p "$out_dir/logs"

# Discover the suites: every cc_binary in //benchmarks tagged "benchmark".
discovered=$(discover_benchmarks "$out_dir/logs/query.stderr")
[[ -n $discovered ]] || die "no cc_binary tagged \"benchmark\" in //benchmarks"
mapfile -t all_targets <<<"$discovered"
selected=$(select_targets "${targets[@]}")
mapfile -t targets <<<"$selected"

# A fresh result set: stale JSON from other binaries or an earlier commit must not
# reach the report. callgrind*.json belong to callgrind.sh and are kept.
find "$out_dir" -maxdepth 1 -name '*.json' ! -name 'callgrind*.json' -delete
rm -f "$out_dir"/logs/*.stdout.json

# What is about to be built and measured.
git_commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git_branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
git_dirty=$(git_dirty)
gcc_version=$(gcc --version 2>/dev/null | head -1 || true)
bazel_version=$(dpkg-query -W -f='bazel-bootstrap ${Version}' bazel-bootstrap 2>/dev/null || bazel --version 2>/dev/null || true)
benchmark_version=$(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || true)

labels=("${targets[@]/#///benchmarks:}")
echo "run_all.sh: building ${labels[*]} with --config=bench" >&2
bazel build --config=bench "${labels[@]}"

filter_note=
[[ -n $filter ]] && filter_note=" --filter '$filter'"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
commands_file="$out_dir/logs/commands.txt"
: >"$commands_file"
index=0
for target in "${targets[@]}"; do
  index=$((index + 1))
  json="$out_dir/$target.json"
  cmd=(bazel run --config=bench "//benchmarks:$target" --
    --benchmark_format=json
    "--benchmark_out=$json"
    --benchmark_out_format=json
    "--benchmark_repetitions=$repetitions"
    --benchmark_report_aggregates_only=true)
  [[ -n $min_time ]] && cmd+=("--benchmark_min_time=$min_time")
  [[ -n $filter ]] && cmd+=("--benchmark_filter=$filter")
  echo "run_all.sh: [$index/${#targets[@]}] ${cmd[*]}" >&2
  printf '%s\n' "$(printf '%q ' "${cmd[@]}" | sed 's/ $//')" >>"$commands_file"
  # stdout carries the same JSON as --benchmark_out; keep it as a log only.
  "${cmd[@]}" >"$out_dir/logs/$target.stdout.json" ||
    die "//benchmarks:$target failed (exit $?); its output is in $out_dir/logs/$target.stdout.json"
  if [[ ! -s $json ]] || ! grep -q '"run_name"' "$json"; then
    # Nothing matched --filter in this binary: leave no empty result behind.
    rm -f "$json"
    echo "run_all.sh: //benchmarks:$target: no benchmark matched$filter_note" >&2
  fi
done
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)
produced=$(find "$out_dir" -maxdepth 1 -name '*.json' ! -name 'callgrind*.json' ! -name machine.json | wc -l)
((produced > 0)) || die "no benchmark matched$filter_note in ${targets[*]}"

# machine.json: what ran, where, when, from which commit. Plain facts, read by report.py.

RUN_ALL_OUT=$out_dir \
  RUN_ALL_STARTED=$started \
  RUN_ALL_FINISHED=$finished \
  RUN_ALL_INVOCATION=$(printf '%q ' "${invocation[@]}" | sed 's/ $//') \
  RUN_ALL_COMMANDS_FILE=$commands_file \
  RUN_ALL_REPETITIONS=$repetitions \
  RUN_ALL_MIN_TIME=$min_time \
  RUN_ALL_FILTER=$filter \
  RUN_ALL_QUICK=$quick \
  RUN_ALL_TARGETS="${targets[*]}" \
  RUN_ALL_GIT_COMMIT=$git_commit \
  RUN_ALL_GIT_BRANCH=$git_branch \
  RUN_ALL_GIT_DIRTY=$git_dirty \
  RUN_ALL_GCC=$gcc_version \
  RUN_ALL_BAZEL=$bazel_version \
  RUN_ALL_BENCHMARK_VERSION=$benchmark_version \
  python3 - <<'EOF'
import json, os, platform, re

env = os.environ

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""

cpuinfo = read("/proc/cpuinfo")
model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
meminfo = re.search(r"^MemTotal:\s*(\d+)\s*kB", read("/proc/meminfo"), re.M)
os_release = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', read("/etc/os-release"), re.M)
machine = {
    "date": env["RUN_ALL_STARTED"],
    "finished": env["RUN_ALL_FINISHED"],
    "nproc": os.cpu_count(),
    "cpu_model": model.group(1).strip() if model else "unknown",
    "memory_bytes": int(meminfo.group(1)) * 1024 if meminfo else None,
    "kernel": " ".join(platform.uname()[i] for i in (0, 2, 4)),
    "os": os_release.group(1) if os_release else "unknown",
    "compiler": env["RUN_ALL_GCC"],
    "bazel": env["RUN_ALL_BAZEL"],
    "google_benchmark": env["RUN_ALL_BENCHMARK_VERSION"],
    "git_commit": env["RUN_ALL_GIT_COMMIT"],
    "git_branch": env["RUN_ALL_GIT_BRANCH"],
    "git_dirty": env["RUN_ALL_GIT_DIRTY"] == "true",
    "invocation": env["RUN_ALL_INVOCATION"],
    "commands": [l for l in read(env["RUN_ALL_COMMANDS_FILE"]).splitlines() if l],
    "targets": env["RUN_ALL_TARGETS"].split(),
    "repetitions": int(env["RUN_ALL_REPETITIONS"]),
    "min_time": env["RUN_ALL_MIN_TIME"] or None,
    "filter": env["RUN_ALL_FILTER"] or None,
    "quick": env["RUN_ALL_QUICK"] == "true",
}
with open(os.path.join(env["RUN_ALL_OUT"], "machine.json"), "w") as f:
    json.dump(machine, f, indent=2)
    f.write("\n")
EOF

echo "run_all.sh: results in $out_dir (next: benchmarks/report.py --results $out_dir)" >&2
