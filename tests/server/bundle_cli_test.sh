#!/usr/bin/env bash
# The whole policy-distribution path with the real binaries: `portcullis
# keygen` makes the signing key, `portcullis compile --signing-key` the
# bundle, Debian's nginx serves it on 127.0.0.1, and `portcullis serve` with
# policy.bundle_url publishes it, follows a new bundle, refuses one signed by
# another key while serving on, and after a restart with nginx stopped serves
# the last good bundle from its state directory.
#
# nginx and curl are required (tools/setup.sh installs them): without them the
# test FAILS. Run by `bazel test //tests/server:bundle_cli_test`, or from the
# repository root after `bazel build //tools:portcullis`.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# shellcheck source=tests/server/nginx_env.sh
source tests/server/nginx_env.sh || fail "no tests/server/nginx_env.sh (run from the repository root or with bazel test)"
command -v nginx >/dev/null ||
  fail "nginx is not installed: run tools/setup.sh (Debian package nginx)"
command -v curl >/dev/null ||
  fail "curl is not installed: run tools/setup.sh (Debian package curl)"
portcullis=tools/portcullis
[[ -x $portcullis ]] || portcullis=bazel-bin/tools/portcullis
[[ -x $portcullis ]] || fail "no portcullis binary: bazel build //tools:portcullis"
portcullis=$(realpath "$portcullis")

nginx_env_init "${TEST_TMPDIR:-/tmp}/bundle_cli"
mkdir -p "$tmp/www" "$tmp/keys"

# CI's side: a signing key, then two versions of the Monta example as signed
# bundles (B lets monta-cp-reader write charge points).
"$portcullis" keygen --kid k-ci -o "$tmp/keys/ci.jwk" >/dev/null
"$portcullis" keygen --kid k-stranger -o "$tmp/keys/stranger.jwk" >/dev/null
cp examples/monta/policy.txtpb "$tmp/a.txtpb"
sed 's/scopes: "charge-points:read"/scopes: "charge-points:write"/' \
  examples/monta/policy.txtpb >"$tmp/b.txtpb"
cmp -s "$tmp/a.txtpb" "$tmp/b.txtpb" && fail "the B policy is the A policy"
bundle() { # POLICY KEY: writes $tmp/www/policy.bundle atomically
  "$portcullis" compile "$1" -o "$tmp/next.bundle" --signing-key "$2" >/dev/null
  mv "$tmp/next.bundle" "$tmp/www/policy.bundle"
}
bundle "$tmp/a.txtpb" "$tmp/keys/ci.jwk"

# The bundle server.
nginx_port=$(free_port)
conf=$tmp/nginx/nginx.conf
cat >"$conf" <<EOF
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/client_body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $tmp/www;
  }
}
EOF
start_nginx 1
url="http://127.0.0.1:$nginx_port/policy.bundle"
wait_for "nginx to serve the bundle" curl -sf -o /dev/null "$url"

# The replica: examples/server with its policy from the bundle server.
cp "$tmp/keys/ci.jwk.pub" "$tmp/examples/server/bundle.jwk.pub"
sed -i "/^policy {/,/^}/c\\
policy {\\
  bundle_url: \"$url\"\\
  bundle_public_key_files: \"bundle.jwk.pub\"\\
  min_poll_delay_ms: 50\\
  max_poll_delay_ms: 100\\
  max_backoff_ms: 200\\
}" "$tmp/examples/server/server.txtpb"
grep -q "bundle_url: \"$url\"" "$tmp/examples/server/server.txtpb" ||
  fail "examples/server/server.txtpb: no policy section to replace"
start_portcullis "$portcullis"
readyz() { curl -s "http://127.0.0.1:$authz_port/readyz"; }
readyz | grep -q "^policy: generation 1, digest" || fail "/readyz: $(readyz)"

secret=$(sed -n "s/^| \`monta-cp-reader\` | \`\([0-9a-f-]*\)\` |.*/\1/p" examples/server/README.md)
[[ -n $secret ]] || fail "examples/server/README.md: no secret for monta-cp-reader"
token=$(curl -sf "http://127.0.0.1:$authz_port/auth/token" -H 'Content-Type: application/json' \
  -d "{\"clientId\":\"monta-cp-reader\",\"clientSecret\":\"$secret\"}" |
  sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
[[ -n $token ]] || fail "no token for monta-cp-reader"
authorize() { # METHOD: the HTTP status of /v1/authorize for POST/GET /charge-points
  curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$authz_port/v1/authorize" \
    -H "Authorization: Bearer $token" -H 'x-monite-entity-id: team-north' \
    -H 'X-Original-URI: /charge-points' -H "X-Original-Method: $1"
}
[[ $(authorize POST) == 403 ]] || fail "A: POST /charge-points should be 403, got $(authorize POST)"

# B on the bundle server: live within a few polls.
bundle "$tmp/b.txtpb" "$tmp/keys/ci.jwk"
wait_for "generation 2" sh -c "curl -s http://127.0.0.1:$authz_port/readyz | grep -q '^policy: generation 2'"
[[ $(authorize POST) == 200 ]] || fail "B: POST /charge-points should be 200, got $(authorize POST)"

# Signed by a stranger: refused, B serves on, still ready.
bundle "$tmp/a.txtpb" "$tmp/keys/stranger.jwk"
wait_for "the refusal" sh -c "curl -s http://127.0.0.1:$authz_port/readyz | grep -q 'unknown key \"k-stranger\"'"
readyz | grep -q "^ready$" || fail "not ready after a refused bundle: $(readyz)"
[[ $(authorize POST) == 200 ]] || fail "after the refusal: POST should still be 200"
grep -q "policy reload rejected.*$url: the bundle is signed by unknown key" "$tmp/portcullis.log" ||
  fail "the refusal is not logged with the URL"

# Restart with the bundle server down: the last good bundle (B) serves.
kill "$(cat "$tmp/nginx/nginx.pid")"
stop_portcullis
[[ -f $tmp/state/last-good.bundle ]] || fail "no last-good.bundle in the state directory"
start_portcullis "$portcullis"
readyz | grep -q "(the last good bundle on disk)" || fail "/readyz after restart: $(readyz)"
[[ $(authorize POST) == 200 ]] || fail "after restart: POST should be 200 (policy B), got $(authorize POST)"
echo "PASS"
