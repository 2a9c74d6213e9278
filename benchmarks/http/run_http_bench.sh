#!/usr/bin/env bash
# HTTP benchmarks of `portcullis serve` with wrk, all on 127.0.0.1 with
# keep-alive (issue 16; BENCHMARKS.md, section "HTTP"):
#   (a) /v1/authorize straight to the server, 1,000 distinct tokens in turn,
#       beside nginx serving a static 200 (goal: ≥ 0.5× nginx's requests/s);
#   (b) end to end through nginx auth_request (examples/server/nginx.conf,
#       upstream keep-alive to the authorizer) to an application, beside the
#       same nginx proxying to it without auth_request (goal: auth costs at
#       most half of the throughput, i.e. ≥ 0.5×);
#   (c) POST /auth/token issues/s.
# wrk: 2 threads, 100 connections, 10 s per run (--duration to change),
# every run repeated --repeat times (default 3) in rounds of all five, so that
# a shared machine's bursts of load fall on every run alike; the report has
# the median of each figure over the rounds and each round's ratios. The
# server is the opt build (`bazel build -c opt //tools:portcullis`), with the
# examples/server configuration and the example policy's rate limits raised
# out of reach. Writes benchmarks/plots/http.json, http.md, http_*.svg/png,
# and the "HTTP" section of BENCHMARKS.md. About 1 minute per round plus the
# build. Not part of `bazel test`.
#
# usage: benchmarks/http/run_http_bench.sh [--duration SECONDS] [--repeat N]
#                                          [--no-build]
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"
duration=10
repeat=3
build=true
while (($#)); do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --no-build) build=false; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run_http_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $duration =~ ^[1-9][0-9]*$ ]] || { echo "--duration: a positive integer" >&2; exit 2; }
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "--repeat: a positive integer" >&2; exit 2; }

fail() {
  echo "run_http_bench.sh: $*" >&2
  exit 1
}
# The server and nginx on loopback (and PATH with /usr/sbin).
# shellcheck source=tests/server/nginx_env.sh
source tests/server/nginx_env.sh
for tool in bazel nginx wrk curl python3 gnuplot; do
  command -v "$tool" >/dev/null || fail "$tool is not installed: run tools/setup.sh"
done

if $build; then
  bazel build -c opt //tools:portcullis >&2
fi
nginx_env_init /tmp/http_bench
# The binary copied now: a later build cannot change what is measured.
# The optimized build's own output: bazel-bin follows whatever was built last
# (a fastbuild test run moves it), which --no-build would otherwise measure.
binary="$(bazel info -c opt bazel-bin 2>/dev/null)/tools/portcullis"
[[ -x $binary ]] || fail "no optimized build at $binary: run without --no-build"
cp "$binary" "$tmp/portcullis"

# --- the authorizer: examples/server, rate limits out of reach.
sed 's/count: 1000 /count: 1000000000 /' examples/monta/policy.txtpb >"$tmp/examples/monta/policy.txtpb"
grep -q "count: 1000000000 " "$tmp/examples/monta/policy.txtpb" || fail "no rate limit to raise in examples/monta/policy.txtpb"
start_portcullis "$tmp/portcullis" --log-level info

# --- 1,000 distinct tokens (client_credentials, four demo clients that may
# read charge points in team-north), over one keep-alive connection.
python3 - "$authz_port" "$tmp" <<'EOF'
import http.client, json, re, sys
port, tmp = int(sys.argv[1]), sys.argv[2]
readme = open("examples/server/README.md").read()
clients = ["monta-cp-reader", "monta-cp-admin", "monta-full-access", "monta-member-app"]
secrets = {}
for c in clients:
    m = re.search(r"^\| `%s` \| `([0-9a-f-]+)` \|" % re.escape(c), readme, re.M)
    if not m:
        sys.exit(f"no demo secret for {c} in examples/server/README.md")
    secrets[c] = m.group(1)
bodies = [json.dumps({"clientId": c, "clientSecret": secrets[c]}, separators=(",", ":"))
          for c in clients]
with open(f"{tmp}/bodies.txt", "w") as f:
    f.write("\n".join(bodies) + "\n")
conn = http.client.HTTPConnection("127.0.0.1", port)
tokens = []
for i in range(1000):
    conn.request("POST", "/auth/token", bodies[i % len(bodies)],
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"/auth/token answered {r.status}: {body[:200]!r}")
    tokens.append(json.loads(body)["accessToken"])
assert len(set(tokens)) == 1000
with open(f"{tmp}/tokens.txt", "w") as f:
    f.write("\n".join(tokens) + "\n")
EOF

# --- nginx: the example configuration (auth_request in front of an
# application) plus a static 200 server, the application itself (a static
# 200 too) and the same proxy without auth_request.
static_port=$(free_port)
app_port=$(free_port)
auth_port=$(free_port)
plain_port=$(free_port)
write_nginx_conf "$authz_port" "$app_port" "$auth_port" off
python3 - "$conf" "$static_port" "$app_port" "$plain_port" <<'EOF'
import sys
conf, static_port, app_port, plain_port = sys.argv[1:]
text = open(conf).read()
servers = f"""
    # Benchmark only: nginx serving a static 200 (the baseline of (a)).
    server {{
        listen 127.0.0.1:{static_port};
        location / {{ return 200 "ok\\n"; }}
    }}
    # The application behind the proxies: a static 200.
    server {{
        listen 127.0.0.1:{app_port};
        location / {{ return 200 "ok\\n"; }}
    }}
    # The same proxy as the example's, without auth_request (baseline of (b)).
    server {{
        listen 127.0.0.1:{plain_port};
        location / {{
            proxy_pass http://application;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""
end = text.rstrip().rfind("}")
text = text[:end] + servers.lstrip("\n")
open(conf, "w").write(text)
EOF
start_nginx 2
wait_for "nginx" curl -sf "http://127.0.0.1:$static_port/"

# A correctness check of each target before measuring it.
token=$(head -1 "$tmp/tokens.txt")
check() {  # url, expected status, extra curl args
  local url=$1 expected=$2 got
  shift 2
  got=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
  [[ $got == "$expected" ]] || fail "$url answered $got, expected $expected"
}
auth_headers=(-H "Authorization: Bearer $token" -H "x-monite-entity-id: team-north")
check "http://127.0.0.1:$authz_port/v1/authorize" 200 "${auth_headers[@]}" \
  -H "X-Original-Method: GET" -H "X-Original-URI: /charge-points"
check "http://127.0.0.1:$auth_port/charge-points" 200 "${auth_headers[@]}"
check "http://127.0.0.1:$auth_port/charge-points" 401 -H "x-monite-entity-id: team-north"
check "http://127.0.0.1:$plain_port/charge-points" 200

# --- the runs.
date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
wrk_args=(-t 2 -c 100 -d "${duration}s" --timeout 5s -s benchmarks/http/wrk_rotate.lua)
commands=()
run() {  # name, mode, url (uses $round)
  local name=$1 mode=$2 url=$3 cmd out=$tmp/$1.$round
  cmd=(wrk "${wrk_args[@]}" "$url")
  if ((round == 1)); then
    commands+=("BENCH_MODE=$mode BENCH_TOKENS=tokens.txt BENCH_BODIES=bodies.txt ${cmd[*]}")
  fi
  echo "run_http_bench.sh: round $round/$repeat: $name: ${cmd[*]}" >&2
  BENCH_MODE=$mode BENCH_TOKENS=$tmp/tokens.txt BENCH_BODIES=$tmp/bodies.txt \
    "${cmd[@]}" >"$out.out" 2>&1 || { cat "$out.out" >&2; fail "wrk failed on $name"; }
  grep '^RESULT ' "$out.out" | sed 's/^RESULT //' >"$out.json" ||
    fail "no RESULT line from wrk for $name"
}
for ((round = 1; round <= repeat; round++)); do
  run nginx_static path "http://127.0.0.1:$static_port/charge-points"
  run authorize authorize "http://127.0.0.1:$authz_port/v1/authorize"
  run nginx_proxy path "http://127.0.0.1:$plain_port/charge-points"
  run nginx_auth_request path "http://127.0.0.1:$auth_port/charge-points"
  run auth_token token "http://127.0.0.1:$authz_port/auth/token"
done

# --- machine and results.
printf '%s\n' "${commands[@]}" >"$tmp/commands.txt"
BENCH_TMP=$tmp BENCH_DATE=$date_utc BENCH_DURATION=$duration BENCH_REPEAT=$repeat \
  BENCH_LOAD_BEFORE="$load_before" \
  BENCH_NGINX=$(nginx -v 2>&1 | sed 's/^nginx version: //') \
  BENCH_WRK=$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo unknown) \
  BENCH_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown) \
  BENCH_DIRTY=$( [[ -n $(git status --porcelain 2>/dev/null) ]] && echo true || echo false) \
  python3 benchmarks/http/http_report.py
