#!/usr/bin/env bash
# portcullis keygen writes a private key (0600) and its public key, never
# overwrites either, and compile --signing-key signs a bundle with it.
# Usage: keygen_test.sh PORTCULLIS POLICY_DIR
set -uo pipefail
tool=$1
policy=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$tool" keygen --kid ci-1 -o "$dir/signer.jwk" >"$dir/out" || fail "keygen exited $?"
[[ $(stat -c %a "$dir/signer.jwk") == 600 ]] || fail "the private key is not mode 0600"
grep -q '"d":' "$dir/signer.jwk" || fail "the private key has no d"
grep -q '"d":' "$dir/signer.jwk.pub" && fail "the public key file holds d"
grep -q '"kid":"ci-1"' "$dir/signer.jwk.pub" || fail "the public key has no kid"
grep -q "signer.jwk.pub: public key, thumbprint " "$dir/out" || fail "unexpected output: $(cat "$dir/out")"
before=$(cat "$dir/signer.jwk")
"$tool" keygen --kid ci-2 -o "$dir/signer.jwk" 2>"$dir/err" && fail "keygen overwrote a key"
[[ $(cat "$dir/signer.jwk") == "$before" ]] || fail "the existing key changed"
grep -q "File exists" "$dir/err" || fail "unexpected error: $(cat "$dir/err")"

"$tool" compile "$policy" -o "$dir/p.bundle" --signing-key "$dir/signer.jwk" >"$dir/out" ||
  fail "compile --signing-key exited $?"
grep -q ", signed by key ci-1$" "$dir/out" || fail "unexpected output: $(cat "$dir/out")"
"$tool" compile "$policy" -o "$dir/q.bundle" --signing-key "$dir/signer.jwk.pub" 2>"$dir/err" &&
  fail "a public key signed a bundle"
grep -q 'the member \\"d\\" is missing\|"d" is missing' "$dir/err" || fail "unexpected error: $(cat "$dir/err")"
"$tool" validate "$dir/p.bundle" >/dev/null || fail "the signed bundle does not validate"
echo PASS
