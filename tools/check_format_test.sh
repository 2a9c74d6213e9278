#!/usr/bin/env bash
# tools/check_format.sh fails loudly when it has nothing to compare (no git, no
# clang-format, not a checkout, no .clang-format, no sources), fails on an
# unformatted file, and passes on a formatted checkout. Each case runs a copy
# of the script in a scratch tree of its own.
set -uo pipefail

script=$(realpath tools/check_format.sh)
scratch=${TEST_TMPDIR:?run me with bazel test}/check_format
export HOME=$scratch/home GIT_CEILING_DIRECTORIES=$scratch
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
failures=0

# A tree at $scratch/$1 with the script in tools/, a .clang-format, a formatted
# a.cc; a git checkout with everything added unless $2 is "plain".
make_tree() {
  local tree=$scratch/$1
  rm -rf "$tree"
  mkdir -p "$tree/tools" "$HOME"
  cp "$script" "$tree/tools/check_format.sh"
  echo 'BasedOnStyle: Google' >"$tree/.clang-format"
  printf 'int main() { return 0; }\n' >"$tree/a.cc"
  if [[ ${2:-} != plain ]]; then
    git -C "$tree" init -q && git -C "$tree" add -A
  fi
  echo "$tree"
}

# A PATH holding every command of the system's but `$1`.
path_without() {
  local bin=$scratch/path_without_$1
  if [[ ! -d $bin ]]; then
    mkdir -p "$bin"
    local dir file
    for dir in /usr/local/bin /usr/bin /bin; do
      [[ -d $dir ]] || continue
      for file in "$dir"/*; do
        local name=${file##*/}
        if [[ $name != "$1" && ! -e $bin/$name && -x $file ]]; then
          ln -s "$file" "$bin/$name"
        fi
      done
    done
  fi
  echo "$bin"
}

# expect NAME STATUS MESSAGE COMMAND...: COMMAND exits with STATUS and prints
# MESSAGE (a substring) on stdout or stderr.
expect() {
  local name=$1 want_status=$2 want_message=$3
  shift 3
  local output status
  output=$("$@" 2>&1)
  status=$?
  if [[ $status != "$want_status" || $output != *"$want_message"* ]]; then
    echo "FAIL $name: exit status $status (want $want_status), output:"
    echo "$output"
    echo "(want it to contain: $want_message)"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

tree=$(make_tree formatted)
expect "a formatted checkout passes" 0 "check_format: 1 files, all formatted" \
  "$tree/tools/check_format.sh"

tree=$(make_tree unformatted)
printf 'int  f( ) {return 1;}\n' >"$tree/b.h"
git -C "$tree" add b.h
expect "an unformatted file fails" 1 "places in 2 files are not formatted" \
  "$tree/tools/check_format.sh"

tree=$(make_tree missing_file)
rm "$tree/a.cc"
expect "a listed file that is gone fails" 1 "clang-format failed" \
  "$tree/tools/check_format.sh"

tree=$(make_tree not_a_checkout plain)
expect "outside a git checkout it fails" 1 "is not a git checkout" \
  "$tree/tools/check_format.sh"

tree=$(make_tree no_sources)
git -C "$tree" rm -q --cached a.cc
expect "no listed source fails" 1 "git ls-files lists no .cc or .h file" \
  "$tree/tools/check_format.sh"

tree=$(make_tree no_style)
rm "$tree/.clang-format"
expect "no .clang-format fails" 1 ".clang-format is missing" \
  "$tree/tools/check_format.sh"

tree=$(make_tree no_clang_format)
expect "no clang-format fails" 1 "clang-format is not installed" \
  env PATH="$(path_without clang-format)" "$tree/tools/check_format.sh"

tree=$(make_tree no_git)
expect "no git fails" 1 "git is not installed" \
  env PATH="$(path_without git)" "$tree/tools/check_format.sh"

if ((failures)); then
  echo "$failures cases failed"
  exit 1
fi
echo "all cases passed"
