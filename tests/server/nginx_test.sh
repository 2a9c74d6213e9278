#!/usr/bin/env bash
# A real nginx (Debian's, with ngx_http_auth_request_module) in front of
# `portcullis serve` and a small application (echo_upstream.py), all on
# 127.0.0.1, with examples/server/nginx.conf as shipped (only its ports and
# paths replaced). Checks what a client sees through nginx: allowed requests
# reach the application with the X-Portcullis-* headers, denied ones never
# do; 401 with WWW-Authenticate, 403 with the reason, 429 with Retry-After,
# 400 for a missing entity; /auth/* proxied; a stopped authorizer fails
# closed.
#
# nginx is required (tools/setup.sh installs it): without it the test FAILS.
# Run by `bazel test //tests/server:nginx_test`, or from the repository root
# after `bazel build //tools:portcullis`: tests/server/nginx_test.sh
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The server and nginx on loopback (and PATH with /usr/sbin).
# shellcheck source=tests/server/nginx_env.sh
source tests/server/nginx_env.sh || fail "no tests/server/nginx_env.sh (run from the repository root or with bazel test)"
command -v nginx >/dev/null ||
  fail "nginx is not installed: run tools/setup.sh (Debian package nginx)"
command -v curl >/dev/null ||
  fail "curl is not installed: run tools/setup.sh (Debian package curl)"
command -v python3 >/dev/null || fail "python3 is not installed: run tools/setup.sh"
nginx -V 2>&1 | grep -q -- --with-http_auth_request_module ||
  fail "this nginx is built without http_auth_request_module"

portcullis=tools/portcullis
[[ -x $portcullis ]] || portcullis=bazel-bin/tools/portcullis
[[ -x $portcullis ]] || fail "no portcullis binary: bazel build //tools:portcullis"
for f in examples/server/nginx.conf examples/server/server.txtpb \
  examples/server/README.md examples/monta/policy.txtpb \
  tests/server/echo_upstream.py; do
  [[ -f $f ]] || fail "missing $f (run from the repository root or with bazel test)"
done

nginx_env_init "${TEST_TMPDIR:-/tmp}/nginx_test"

# --- the demo configuration, with the rate limit of one client small enough
# to reach: monta-op7-full-access may make 3 requests.
python3 - examples/monta/policy.txtpb "$tmp/examples/monta/policy.txtpb" <<'EOF'
import sys
text = open(sys.argv[1]).read()
at = text.index('"monta-op7-full-access"')
limit = text.index("count: 1000 ", at)
text = text[:limit] + "count: 3 " + text[limit + len("count: 1000 "):]
open(sys.argv[2], "w").write(text)
EOF

secret_of() {
  local s
  s=$(sed -n "s/^| \`$1\` | \`\([0-9a-f-]*\)\` |.*/\1/p" examples/server/README.md)
  [[ -n $s ]] || fail "no demo secret for $1 in examples/server/README.md"
  echo "$s"
}

# --- the authorizer, on a port of its own choosing.
start_portcullis "$portcullis"

# --- the application.
python3 tests/server/echo_upstream.py "$tmp/app.port" "$tmp/app.log" &
pids+=("$!")
wait_for "the application" test -s "$tmp/app.port"
app_port=$(cat "$tmp/app.port")

# --- nginx with the example configuration: the example's ports replaced,
# main-level directives given on the command line, paths in the temp dir.
nginx_port=$(free_port)
write_nginx_conf "$authz_port" "$app_port" "$nginx_port" "$tmp/nginx/access.log"
start_nginx 1
base=http://127.0.0.1:$nginx_port
wait_for "nginx" curl -s -o /dev/null "$base/auth/me"

# --- helpers. Each request: status code in $status, headers in $tmp/h, body
# in $tmp/b.
request() {
  status=$(curl -s --max-time 20 -o "$tmp/b" -D "$tmp/h" -w '%{http_code}' "$@")
}
header() {  # the value of header $1 in the last answer ("" if none)
  { grep -i "^$1:" "$tmp/h" || true; } | head -1 | cut -d' ' -f2- | tr -d '\r'
}
header_count() {
  { grep -ci "^$1:" "$tmp/h" || true; }
}
expect_status() {
  [[ $status == "$1" ]] || fail "$2: status $status, expected $1; body: $(cat "$tmp/b")"
}
expect_header() {  # name, expected value, what
  local got
  got=$(header "$1")
  [[ $got == "$2" ]] || fail "$3: header $1 is '$got', expected '$2'"
}
body_has() {  # the application echoed this line
  grep -qxF "$1" "$tmp/b" || fail "$2: the application did not see '$1'; it saw: $(cat "$tmp/b")"
}
reached_app() {  # the request line reached the application
  grep -qxF "$1" "$tmp/app.log"
}
token_of() {  # client_credentials through nginx's /auth/token
  request -X POST "$base/auth/token" -H 'Content-Type: application/json' \
    -d "{\"clientId\":\"$1\",\"clientSecret\":\"$(secret_of "$1")\"}"
  expect_status 200 "token of $1 through /auth/*"
  sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p' "$tmp/b"
}

reader=$(token_of monta-cp-reader)
[[ -n $reader ]] || fail "no access token in the /auth/token answer"
echo "ok   /auth/token through nginx"

# Allowed: reaches the application with the decision headers; a forged
# X-Portcullis-Owner from the client is dropped; the entity header is passed.
request "$base/charge-points?case=allowed" -H "Authorization: Bearer $reader" \
  -H 'x-monite-entity-id: team-north' -H 'X-Portcullis-Owner: forged' \
  -H 'X-Portcullis-Decision: forged'
expect_status 200 "allowed GET /charge-points"
body_has "GET /charge-points?case=allowed" "allowed"
body_has "x-portcullis-decision: allowed" "allowed"
body_has "x-portcullis-principal: client:monta-cp-reader" "allowed"
body_has "x-portcullis-reason: granted" "allowed"
body_has "x-monite-entity-id: team-north" "allowed"
if grep -qi "^x-portcullis-owner:" "$tmp/b"; then fail "a forged X-Portcullis-Owner reached the application"; fi
grep -c "^x-portcullis-decision:" "$tmp/b" | grep -qx 1 || fail "X-Portcullis-Decision reached the application twice"
echo "ok   allowed: reaches the application with X-Portcullis-Decision/Principal/Reason"

# allowed_for_own: X-Portcullis-Owner is the user.
request -X POST "$base/auth/token" -H 'Content-Type: application/json' \
  -d "{\"grant_type\":\"entity_user\",\"client_id\":\"monta-member-app\",\"client_secret\":\"$(secret_of monta-member-app)\",\"entity_user_id\":\"u-anna\"}"
expect_status 200 "entity_user token through /auth/token"
anna=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$tmp/b")
request "$base/charges?case=own" -H "Authorization: Bearer $anna" -H 'x-monite-entity-id: team-north'
expect_status 200 "allowed_for_own GET /charges"
body_has "x-portcullis-decision: allowed_for_own" "allowed_for_own"
body_has "x-portcullis-owner: u-anna" "allowed_for_own"
body_has "x-portcullis-principal: user:u-anna" "allowed_for_own"
echo "ok   allowed_for_own: X-Portcullis-Owner reaches the application"

# 403: scope, with the reason; never reaches the application.
request -X POST "$base/charge-points?case=denied" -H "Authorization: Bearer $reader" \
  -H 'x-monite-entity-id: team-north' -H 'Content-Type: application/json' -d '{}'
expect_status 403 "POST /charge-points with a read scope"
expect_header X-Portcullis-Reason scope "403"
request "$base/charge-points?case=tenant" -H "Authorization: Bearer $reader" -H 'x-monite-entity-id: team-west'
expect_status 403 "another operator's team"
expect_header X-Portcullis-Reason tenant "403 tenant"
request "$base/nowhere?case=unrouted" -H "Authorization: Bearer $reader" -H 'x-monite-entity-id: team-north'
expect_status 403 "an unknown route"
expect_header X-Portcullis-Reason unknown_route "403 unknown_route"
echo "ok   403 with X-Portcullis-Reason"

# 401: no token, a bad token; WWW-Authenticate (once) as the authorizer wrote it.
request "$base/charge-points?case=notoken" -H 'x-monite-entity-id: team-north'
expect_status 401 "no token"
expect_header WWW-Authenticate 'Bearer realm="portcullis"' "401 without a token"
[[ $(header_count WWW-Authenticate) == 1 ]] || fail "WWW-Authenticate sent $(header_count WWW-Authenticate) times"
request "$base/charge-points?case=badtoken" -H 'Authorization: Bearer nonsense' -H 'x-monite-entity-id: team-north'
expect_status 401 "a bad token"
expect_header WWW-Authenticate 'Bearer realm="portcullis", error="invalid_token"' "401 with a bad token"
echo "ok   401 with WWW-Authenticate"

# 400: no entity header (nginx alone would have made it a 500).
request "$base/charge-points?case=noentity" -H "Authorization: Bearer $reader"
expect_status 400 "no entity header"
expect_header X-Portcullis-Reason missing_entity "400"
request "$base/charge-points?case=twoentities" -H "Authorization: Bearer $reader" \
  -H 'x-monite-entity-id: team-north' -H 'x-monite-entity-id: team-south'
expect_status 400 "two entity headers"
echo "ok   400 for a missing entity header"

# Keep-alive to the authorizer: nginx returns a connection to its pool only
# after an answer without a body, so /v1/authorize answers have none (with
# one, nginx closed the connection after every subrequest). 20 subrequests,
# allowed and denied, must leave no connection to the authorizer closed on
# nginx's side (in TIME-WAIT there); entries from before only expire. Read
# from /proc/net/tcp (state 06 is TIME_WAIT; the remote port in hex).
closed_to_authorizer() {
  awk -v port="$(printf ':%04X' "$authz_port")" \
    '$4 == "06" && substr($3, length($3) - 4) == port { n++ } END { print n + 0 }' /proc/net/tcp
}
closed_before=$(closed_to_authorizer)
for round in $(seq 1 10); do
  request "$base/charge-points?case=keepalive" -H "Authorization: Bearer $reader" -H 'x-monite-entity-id: team-north'
  expect_status 200 "keep-alive round $round, allowed"
  request "$base/charge-points?case=keepalive" -H "Authorization: Bearer $reader" -H 'x-monite-entity-id: team-west'
  expect_status 403 "keep-alive round $round, denied"
done
closed_after=$(closed_to_authorizer)
((closed_after <= closed_before)) ||
  fail "nginx closed $((closed_after - closed_before)) connections to the authorizer in 20 subrequests: keep-alive to it is broken (does /v1/authorize answer with a body?)"
echo "ok   keep-alive: 20 subrequests, no connection to the authorizer closed"

# 429: monta-op7-full-access has 3 requests (the test's policy copy).
op7=$(token_of monta-op7-full-access)
for i in 1 2 3; do
  request "$base/charge-points?case=op7-$i" -H "Authorization: Bearer $op7" -H 'x-monite-entity-id: team-west'
  expect_status 200 "op7 request $i of its 3"
done
request "$base/charge-points?case=limited" -H "Authorization: Bearer $op7" -H 'x-monite-entity-id: team-west'
expect_status 429 "op7 beyond its limit"
retry=$(header Retry-After)
[[ $retry =~ ^[1-9][0-9]*$ ]] || fail "429 without a positive Retry-After (got '$retry')"
echo "ok   429 with Retry-After: $retry"

# Nothing denied reached the application; everything allowed did.
for line in "GET /charge-points?case=allowed" "GET /charges?case=own" \
  "GET /charge-points?case=op7-1" "GET /charge-points?case=op7-3"; do
  reached_app "$line" || fail "allowed '$line' did not reach the application"
done
for c in denied tenant unrouted notoken badtoken noentity twoentities limited; do
  if grep -q "case=$c\b" "$tmp/app.log"; then fail "denied request case=$c reached the application"; fi
done
if grep -q "_portcullis" "$tmp/app.log"; then fail "the authorization location reached the application"; fi
echo "ok   denied requests never reached the application"

# The internal location cannot be called from outside.
request "$base/_portcullis/authorize" -H "Authorization: Bearer $reader"
[[ $status == 404 ]] || fail "/_portcullis/authorize is reachable from outside (status $status)"

# The authorizer stopped: nginx fails closed (503), nothing reaches the app.
stop_portcullis
request "$base/charge-points?case=authzdown" -H "Authorization: Bearer $reader" -H 'x-monite-entity-id: team-north'
expect_status 503 "the authorizer stopped"
if grep -q "case=authzdown" "$tmp/app.log"; then fail "a request reached the application with the authorizer down"; fi
echo "ok   authorizer down: 503, fail closed"
echo "PASS"
