# shellcheck shell=bash
# Shared by run_all.sh and callgrind.sh (sourced, not run): error handling and
# the discovery of benchmark targets.

die() {
  echo "${0##*/}: $*" >&2
  exit 1
}

# require_tool TOOL HINT: exits with a clear message when TOOL is not on PATH.
require_tool() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed or not on PATH ($2)"
}

# The query that defines "a benchmark": a cc_binary in //benchmarks whose tags
# include "benchmark" (the regular expression matches the whole tag, so a tag like
# "no_benchmark" does not count).
BENCHMARK_QUERY='kind("cc_binary", attr(tags, "[\[ ]benchmark[,\]]", //benchmarks:*))'

# discover_benchmarks LOG: prints the target names (without //benchmarks:), one a
# line; bazel's stderr goes to LOG and is shown if the query fails.
discover_benchmarks() {
  local log=$1 output label
  output=$(bazel query --noshow_progress "$BENCHMARK_QUERY" 2>"$log") ||
    { cat "$log" >&2; die "bazel query '$BENCHMARK_QUERY' failed"; }
  for label in $output; do echo "${label#//benchmarks:}"; done
}

# select_targets REQUESTED... : with no arguments prints every discovered target,
# otherwise checks each requested name against them. Reads the array all_targets,
# which the caller fills from discover_benchmarks.
select_targets() {
  local target known found
  # shellcheck disable=SC2154  # all_targets is the caller's
  if (($# == 0)); then
    printf '%s\n' "${all_targets[@]}"
    return
  fi
  for target in "$@"; do
    target=${target#//benchmarks:}
    found=false
    for known in "${all_targets[@]}"; do [[ $known == "$target" ]] && found=true; done
    $found || die "//benchmarks:$target is not a cc_binary tagged \"benchmark\" (known: ${all_targets[*]})"
    echo "$target"
  done
}

# git_dirty: "true" when tracked sources differ from HEAD (generated reports and
# plots excepted), else "false".
git_dirty() {
  if [[ -n $(git status --porcelain -- . ':!BENCHMARKS.md' ':!benchmarks/plots' ':!benchmarks/results' 2>/dev/null) ]]; then
    echo true
  else
    echo false
  fi
}
