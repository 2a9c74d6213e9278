#!/usr/bin/env bash
# Checks that every C++ file git tracks (*.cc, *.h) is clang-formatted
# (.clang-format: Google style); CI's formatting step (.ci/run).
#
#   tools/check_format.sh
#
# Exits 0 when there are sources and all are formatted. Anything that leaves
# nothing to compare is a failure, not a clean tree: git or clang-format
# missing, the tree not a git checkout (or git refusing it), no .clang-format,
# or no file listed. Unformatted files (or clang-format failing) print the
# first 40 lines of its report and the command that fixes them.
set -uo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "check_format: $*" >&2
  exit 1
}

for tool in git clang-format; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    fail "$tool is not installed (tools/setup.sh installs it)"
  fi
done
if ! inside=$(git rev-parse --is-inside-work-tree 2>&1) || [[ $inside != true ]]; then
  fail "$PWD is not a git checkout, so there is no list of sources: ${inside//$'\n'/ }"
fi
if [[ ! -f .clang-format ]]; then
  fail "$PWD/.clang-format is missing"
fi
mapfile -t sources < <(git ls-files -- '*.cc' '*.h')
if ((${#sources[@]} == 0)); then
  fail "git ls-files lists no .cc or .h file in $PWD"
fi

report=$(clang-format --dry-run -Werror "${sources[@]}" 2>&1)
status=$?
if ((status != 0)); then
  printf '%s\n' "$report" | head -40 >&2
  fail "$(grep -c 'error:' <<<"$report") places in ${#sources[@]} files are not formatted, or clang-format failed (exit status $status); run: git ls-files '*.cc' '*.h' | xargs clang-format -i"
fi
echo "check_format: ${#sources[@]} files, all formatted"
