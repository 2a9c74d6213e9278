#!/usr/bin/env bash
# The cost of sharing state through Redis (issue 17; BENCHMARKS.md, section
# "Replicas on Redis"; docs/replicas.md): one `portcullis serve` (the opt
# build, examples/server, rate limits out of reach) with the in-memory token
# store, then the same with token_store.kind "redis" against a redis-server
# on loopback (its own temp dir, appendonly yes, appendfsync always):
#   (a) GET /v1/authorize, 1,000 distinct tokens in turn, warm caches (every
#       token introspected on every worker before measuring): requests/s,
#       redis / memory (goal: >= 0.8x);
#   (b) POST /auth/token: tokens issued/s, redis / memory.
#   (c) revocation propagation p50/p99 over 1,000 revocations between two
#       of three replicas (//tests/redis:replicas_test's
#       RevocationPropagationOver1000Revocations, run here uncached).
# wrk: 2 threads, 100 connections, 10 s per run (--duration to change),
# benchmarks/http/wrk_rotate.lua. Writes benchmarks/plots/redis.md, the
# "Replicas on Redis" section of BENCHMARKS.md (benchmarks/report.py keeps
# it). About 2 minutes plus the builds. Not part of `bazel test`.
#
# --appendfsync always (default: every acknowledged write is on disk, as
# tests/redis runs Redis) or everysec (Redis's default: up to a second of
# writes lost if Redis's machine crashes); it bounds issuing, which writes.
#
# usage: benchmarks/redis/run_redis_bench.sh [--duration SECONDS] [--no-build]
#            [--appendfsync always|everysec]
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"
duration=10
build=true
appendfsync=always
while (($#)); do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --no-build) build=false; shift ;;
    --appendfsync) appendfsync=$2; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "run_redis_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $duration =~ ^[1-9][0-9]*$ ]] || { echo "--duration: a positive integer" >&2; exit 2; }
[[ $appendfsync == always || $appendfsync == everysec ]] ||
  { echo "--appendfsync: always or everysec" >&2; exit 2; }

fail() {
  echo "run_redis_bench.sh: $*" >&2
  exit 1
}
# shellcheck source=tests/server/nginx_env.sh
source tests/server/nginx_env.sh
for tool in bazel redis-server wrk curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed: run tools/setup.sh"
done
if $build; then
  bazel build -c opt //tools:portcullis >&2
fi
nginx_env_init /tmp/redis_bench
# The optimized build's own output: bazel-bin follows whatever was built last
# (a fastbuild test run moves it), which --no-build would otherwise measure.
binary="$(bazel info -c opt bazel-bin 2>/dev/null)/tools/portcullis"
[[ -x $binary ]] || fail "no optimized build at $binary: run without --no-build"
cp "$binary" "$tmp/portcullis"
sed 's/count: 1000 /count: 1000000000 /' examples/monta/policy.txtpb >"$tmp/examples/monta/policy.txtpb"
grep -q "count: 1000000000 " "$tmp/examples/monta/policy.txtpb" || fail "no rate limit to raise"
cp "$tmp/examples/server/server.txtpb" "$tmp/server.memory.txtpb"

# --- redis-server on a free loopback port, stopped by the exit trap.
redis_port=$(free_port)
mkdir -p "$tmp/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp/redis" \
  --appendonly yes --appendfsync "$appendfsync" --save "" --daemonize no \
  --logfile "$tmp/redis/redis.log" &
pids+=($!)
wait_for "redis-server" redis-cli -p "$redis_port" ping

tokens_and_warm() {  # issues 1,000 tokens into $tmp/tokens.txt, warms caches
  python3 - "$authz_port" "$tmp" <<'PY'
import http.client, json, re, sys
port, tmp = int(sys.argv[1]), sys.argv[2]
readme = open("examples/server/README.md").read()
clients = ["monta-cp-reader", "monta-cp-admin", "monta-full-access", "monta-member-app"]
bodies = []
for c in clients:
    m = re.search(r"^\| `%s` \| `([0-9a-f-]+)` \|" % re.escape(c), readme, re.M)
    if not m:
        sys.exit(f"no demo secret for {c} in examples/server/README.md")
    bodies.append(json.dumps({"clientId": c, "clientSecret": m.group(1)}, separators=(",", ":")))
open(f"{tmp}/bodies.txt", "w").write("\n".join(bodies) + "\n")
conn = http.client.HTTPConnection("127.0.0.1", port)
tokens = []
for i in range(1000):
    conn.request("POST", "/auth/token", bodies[i % len(bodies)], {"Content-Type": "application/json"})
    r = conn.getresponse(); body = r.read()
    if r.status != 200:
        sys.exit(f"/auth/token answered {r.status}: {body[:200]!r}")
    tokens.append(json.loads(body)["accessToken"])
open(f"{tmp}/tokens.txt", "w").write("\n".join(tokens) + "\n")
PY
  # Warm: every token through every worker's cache (several connections, so
  # that both event loops see each token), checked to be 200.
  python3 - "$authz_port" "$tmp" <<'PY'
import http.client, sys
port, tmp = int(sys.argv[1]), sys.argv[2]
tokens = open(f"{tmp}/tokens.txt").read().split()
conns = [http.client.HTTPConnection("127.0.0.1", port) for _ in range(8)]
for c in conns:
    for t in tokens:
        c.request("GET", "/v1/authorize", headers={"Authorization": "Bearer " + t,
                  "x-monite-entity-id": "team-north", "X-Original-Method": "GET",
                  "X-Original-URI": "/charge-points"})
        r = c.getresponse(); r.read()
        if r.status != 200:
            sys.exit(f"/v1/authorize answered {r.status}")
PY
}

wrk_args=(-t 2 -c 100 -d "${duration}s" --timeout 5s -s benchmarks/http/wrk_rotate.lua)
measure() {  # store kind -> $tmp/<kind>_{authorize,token}.json
  local kind=$1 mode url
  cp "$tmp/server.$kind.txtpb" "$tmp/examples/server/server.txtpb"
  rm -rf "$tmp/state" && mkdir -p "$tmp/state"
  start_portcullis "$tmp/portcullis" --log-level info
  tokens_and_warm
  for mode in authorize token; do
    url="http://127.0.0.1:$authz_port/v1/authorize"
    [[ $mode == token ]] && url="http://127.0.0.1:$authz_port/auth/token"
    echo "run_redis_bench.sh: $kind $mode: BENCH_MODE=$mode wrk ${wrk_args[*]} $url" >&2
    BENCH_MODE=$mode BENCH_TOKENS=$tmp/tokens.txt BENCH_BODIES=$tmp/bodies.txt \
      wrk "${wrk_args[@]}" "$url" >"$tmp/$kind.$mode.out" 2>&1 ||
      { cat "$tmp/$kind.$mode.out" >&2; fail "wrk failed"; }
    grep '^RESULT ' "$tmp/$kind.$mode.out" | sed 's/^RESULT //' >"$tmp/$kind.$mode.json"
  done
  kill "$portcullis_pid"
  wait "$portcullis_pid" 2>/dev/null || true
}

measure memory
{
  cat "$tmp/server.memory.txtpb"
  printf 'token_store { kind: "redis" }\nredis { address: "127.0.0.1:%s" key_prefix: "bench:" }\n' "$redis_port"
} >"$tmp/server.redis.txtpb"
measure redis

kill "${pids[0]}" 2>/dev/null || true  # redis-server: the test starts its own
echo "run_redis_bench.sh: bazel test //tests/redis:replicas_test (propagation)" >&2
bazel test //tests/redis:replicas_test --nocache_test_results --test_output=all \
  --test_filter='*Propagation*' >"$tmp/propagation.out" 2>&1 ||
  { tail -30 "$tmp/propagation.out" >&2; fail "replicas_test failed"; }
propagation=$(grep -m1 '^revocation propagation over' "$tmp/propagation.out") ||
  fail "no propagation line in the test's output"

BENCH_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
  BENCH_COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown) \
  BENCH_DIRTY=$([[ -n $(git status --porcelain 2>/dev/null) ]] && echo " (with uncommitted changes)" || echo "") \
  BENCH_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) \
  BENCH_CORES=$(nproc) BENCH_LOAD=$(cut -d' ' -f1-3 /proc/loadavg) \
  BENCH_REDIS=$(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/') \
  BENCH_PROPAGATION=$propagation BENCH_FSYNC=$appendfsync \
  python3 - "$tmp" "$duration" <<'PY' | tee "$tmp/section.md"
import json, os, re, sys
tmp, duration = sys.argv[1], sys.argv[2]
env = os.environ
def get(kind, mode):
    return json.load(open(f"{tmp}/{kind}.{mode}.json"))
rows = []
for mode, what in [("authorize", "/v1/authorize, 1,000 tokens, warm caches (requests/s)"),
                   ("token", "POST /auth/token (tokens issued/s)")]:
    m, r = get("memory", mode), get("redis", mode)
    rate = lambda x: x["requests"] / (x["duration_us"] / 1e6)
    errors = lambda x: sum(v for k, v in x.items() if k.startswith("errors_"))
    rows.append((what, rate(m), rate(r), rate(r) / rate(m), errors(m), errors(r)))
print(f"### appendfsync {env['BENCH_FSYNC']}")
print()
print(f"One `portcullis serve` (opt build, examples/server, rate limits out of reach) with the "
      f"in-memory token store, then with `token_store.kind: \"redis\"` against redis-server "
      f"{env['BENCH_REDIS']} on 127.0.0.1 (appendonly yes, appendfsync {env['BENCH_FSYNC']}); wrk -t 2 -c 100 "
      f"-d {duration}s, 1,000 distinct tokens in turn (`benchmarks/http/wrk_rotate.lua`), every "
      f"token introspected on every worker first (warm caches). Measured {env['BENCH_DATE']} at "
      f"commit `{env['BENCH_COMMIT']}`{env['BENCH_DIRTY']}, {env['BENCH_CPU']} ×{env['BENCH_CORES']}, "
      f"load average at the end {env['BENCH_LOAD']}: server, Redis and wrk share these cores.")
print()
print("| what | in-memory store | Redis store | Redis / memory |")
print("| --- | ---: | ---: | ---: |")
for what, m, r, ratio, _, _ in rows:
    print(f"| {what} | {m:,.0f} | {r:,.0f} | {ratio:.2f}x |")
m = re.search(r"p50 ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms", env["BENCH_PROPAGATION"])
print(f"| revocation propagation, 1,000 revocations (B's `/auth/revoke` answer to A's 401, A polled over HTTP) "
      f"| | p50 {m.group(1)} ms, p99 {m.group(2)} ms, max {m.group(3)} ms | |")
print()
ratio = rows[0][3]
print("| goal (issue 17) | measured | status |")
print("| --- | ---: | --- |")
print(f"| proxy authorization with the Redis store ≥ 0.8× the in-memory store, warm caches | {ratio:.2f}× | "
      f"**{'pass' if ratio >= 0.8 else 'OVER'}** |")
print(f"| revocation reaches every replica within the staleness bound (1 s) | p99 {m.group(2)} ms | "
      f"**{'pass' if float(m.group(2)) < 1000 else 'OVER'}** |")
print()
print("Errors (non-2xx or socket) memory/redis: " +
      ", ".join(f"{a}/{b}" for _, _, _, _, a, b in rows) + ".")
print()
print("Command (from the repository root; it builds `bazel build -c opt //tools:portcullis`, starts "
      "redis-server and the server, runs wrk and the propagation test, and stops them): "
      f"`benchmarks/redis/run_redis_bench.sh --appendfsync {env['BENCH_FSYNC']}`.")
PY
# Written only now: an untracked file would mark the commit above dirty.
cp "$tmp/section.md" "benchmarks/plots/redis_$appendfsync.md"
# The section: both variants, whichever ran last kept.
{
  printf '## Replicas on Redis\n\n'
  printf '<!-- Written by benchmarks/redis/run_redis_bench.sh; benchmarks/report.py keeps this section. -->\n\n'
  printf 'Issuing writes the access and refresh records in one script (one round trip, one AOF write: one fsync with appendfsync always); cached proxy authorization asks nothing of Redis. docs/replicas.md has the guarantees.\n'
  for variant in always everysec; do
    f=benchmarks/plots/redis_$variant.md
    [[ -f $f ]] && { printf '\n'; cat "$f"; }
  done
} >benchmarks/plots/redis.md
