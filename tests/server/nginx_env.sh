# Sourced (bash) by tests/server/nginx_test.sh and
# benchmarks/http/run_http_bench.sh: `portcullis serve` over a copy of
# examples/server and nginx with examples/server/nginx.conf (its ports and
# paths replaced), all on 127.0.0.1, stopped when the script exits. Run from
# the repository root (or Bazel's runfiles); the sourcing script defines
# `fail MESSAGE` (prints and exits 1).
#
#   nginx_env_init PREFIX       a temp dir ($tmp) PREFIX.XXXXXX, the exit trap,
#                               $tmp/examples/server as a copy of the example
#                               (the caller writes
#                               $tmp/examples/monta/policy.txtpb)
#   start_portcullis BINARY [ARG...]   serve it on a free port: $authz_port,
#                               $portcullis_pid; log in $tmp/portcullis.log
#   write_nginx_conf AUTHZ_PORT APP_PORT LISTEN_PORT ACCESS_LOG
#                               the example as $conf ($tmp/nginx/nginx.conf),
#                               ACCESS_LOG its access_log ("off" or a path)
#   start_nginx WORKERS         nginx -t, then nginx in the foreground
#   wait_for WHAT COMMAND...    until COMMAND succeeds (10 s at most)
#   free_port                   a free loopback port
# Every process started is in $pids (killed at exit, nginx by its pid file);
# on a failure the last lines of the logs are printed.

# Bazel's strict action environment leaves /usr/sbin out of PATH.
export PATH="$PATH:/usr/sbin:/sbin"

nginx_env_init() {
  tmp=$(mktemp -d "$1.XXXXXX")
  pids=()
  trap nginx_env_cleanup EXIT INT TERM
  mkdir -p "$tmp/examples/server" "$tmp/examples/monta" "$tmp/state" "$tmp/nginx"
  cp examples/server/server.txtpb examples/server/users.txtpb \
    examples/server/*.key examples/server/*.sealed "$tmp/examples/server/"
}

nginx_env_cleanup() {
  local status=$?
  if [[ -f $tmp/nginx/nginx.pid ]]; then
    kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((status != 0)); then
    for log in "$tmp"/portcullis.log "$tmp"/nginx/error.log; do
      [[ -f $log ]] && { echo "--- $log" >&2; tail -n 30 "$log" >&2; }
    done
  fi
  rm -rf "$tmp"
  exit "$status"
}

wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "timed out waiting for $what"
}

# Bound, then released: nginx binds it right after.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_portcullis() {
  local binary=$1
  shift
  # A restart's log replaces the last one: removed here, not by the child's
  # redirection, so the wait below cannot read the old "listening on" line.
  rm -f "$tmp/portcullis.log"
  "$binary" serve --config "$tmp/examples/server/server.txtpb" \
    --listen 127.0.0.1:0 --state-dir "$tmp/state" "$@" 2>"$tmp/portcullis.log" &
  portcullis_pid=$!
  pids+=("$portcullis_pid")
  wait_for "portcullis to listen" grep -q "listening on 127.0.0.1:" "$tmp/portcullis.log"
  authz_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/portcullis.log" | head -1)
  wait_for "portcullis to be ready" curl -sf "http://127.0.0.1:$authz_port/readyz"
}

# SIGTERM, then the exit within 30 s (drain and save are bounded well
# under that); a server that hangs is killed and named instead of stalling the
# test until Bazel's timeout.
stop_portcullis() {
  kill "$portcullis_pid" 2>/dev/null || true
  (sleep 30 && kill -9 "$portcullis_pid" 2>/dev/null) &
  local watchdog=$! status=0
  wait "$portcullis_pid" || status=$?
  kill "$watchdog" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
  ((status != 137)) || fail "portcullis did not stop within 30 s of SIGTERM"
}

# Main-level directives are given on the command line (start_nginx); the
# temporary files go to $tmp/nginx, after `http {`.
write_nginx_conf() {
  local authz=$1 app=$2 listen=$3 access_log=$4 port
  conf=$tmp/nginx/nginx.conf
  sed -e "s/127\.0\.0\.1:8181/127.0.0.1:$authz/" \
    -e "s/127\.0\.0\.1:8080/127.0.0.1:$app/" \
    -e "s/127\.0\.0\.1:8000/127.0.0.1:$listen/" \
    -e '/^worker_processes /d' \
    examples/server/nginx.conf >"$conf"
  for port in "$authz" "$app" "$listen"; do
    grep -q "127.0.0.1:$port;" "$conf" || fail "examples/server/nginx.conf: no 127.0.0.1 port to replace with $port"
  done
  sed -i "/^http {/a\\
    access_log $access_log;\\
    client_body_temp_path $tmp/nginx/client_body;\\
    proxy_temp_path $tmp/nginx/proxy;\\
    fastcgi_temp_path $tmp/nginx/fastcgi;\\
    uwsgi_temp_path $tmp/nginx/uwsgi;\\
    scgi_temp_path $tmp/nginx/scgi;" "$conf"
}

start_nginx() {
  local globals="daemon off; worker_processes $1; pid $tmp/nginx/nginx.pid;"
  if [[ $(id -u) == 0 ]]; then globals+=" user root;"; fi
  nginx -p "$tmp/nginx" -c "$conf" -e "$tmp/nginx/error.log" -g "$globals" -t \
    >"$tmp/nginx/check.log" 2>&1 || { cat "$tmp/nginx/check.log" >&2; fail "nginx -t refused the configuration"; }
  nginx -p "$tmp/nginx" -c "$conf" -e "$tmp/nginx/error.log" -g "$globals" &
  pids+=("$!")
}
