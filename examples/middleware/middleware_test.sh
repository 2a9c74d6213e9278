#!/usr/bin/env bash
# Runs the middleware example over examples/monite and compares its output
# with the expected one; checks that README.md quotes Authorize as
# middleware.cc has it.
# Usage: middleware_test.sh BINARY EXPECTED_OUTPUT SOURCE README...
set -uo pipefail
binary=$1
expected=$2
source=$3
shift 3
status=0
actual=$(mktemp)
trap 'rm -f "$actual"' EXIT
if ! "$binary" examples/monite >"$actual"; then
  echo "FAIL: the middleware example exited non-zero; its output:"
  cat "$actual"
  status=1
elif ! diff -u "$expected" "$actual"; then
  echo "FAIL: output differs from $expected (- expected, + actual)"
  status=1
fi
# The function as the README quotes it: from its comment to its closing brace,
# one indentation level less.
in_source=$(sed -n '/  \/\/ Every API request: headers in/,/^  }$/p' "$source" |
  sed 's/^  //')
if [[ -z $in_source ]]; then
  echo "FAIL: no Authorize function found in $source"
  status=1
fi
for readme in "$@"; do
  quoted=$(sed -n '/^```cpp$/,/^```$/p' "$readme" | sed '1d;$d')
  if [[ $quoted != "$in_source" ]]; then
    echo "FAIL: $readme does not quote Authorize as $source has it:"
    diff -u <(echo "$in_source") <(echo "$quoted")
    status=1
  fi
done
if [[ $status == 0 ]]; then echo "PASS"; fi
exit "$status"
