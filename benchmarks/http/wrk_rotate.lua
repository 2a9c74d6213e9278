-- wrk script for benchmarks/http/run_http_bench.sh. Every request carries
-- one of the tokens of $BENCH_TOKENS (one per line; 1,000 distinct ones
-- issued beforehand through /auth/token), in turn, and the entity header, so
-- that every target is sent requests of the same size:
--   BENCH_MODE=authorize  GET /v1/authorize with X-Original-Method/-URI
--                         (nginx auth_request's shape), straight to the server
--   BENCH_MODE=path       GET /charge-points (through nginx, or nginx static)
--   BENCH_MODE=token      POST /auth/token, bodies of $BENCH_BODIES in turn
-- done() prints one line "RESULT {json}" with the figures.
local mode = os.getenv("BENCH_MODE") or "path"

local function lines(path)
  local out = {}
  if path then
    for line in io.lines(path) do
      if #line > 0 then out[#out + 1] = line end
    end
  end
  return out
end

local requests = {}
local next_request = 0

function setup(thread)
  -- Threads start at different places in the rotation.
  setup_count = (setup_count or 0) + 1
  thread:set("offset", (setup_count - 1) * 499)
end

function init(args)
  local tokens = lines(os.getenv("BENCH_TOKENS"))
  if mode == "token" then
    for _, body in ipairs(lines(os.getenv("BENCH_BODIES"))) do
      requests[#requests + 1] = wrk.format("POST", "/auth/token",
        {["Content-Type"] = "application/json"}, body)
    end
  else
    for _, token in ipairs(tokens) do
      local headers = {
        ["Authorization"] = "Bearer " .. token,
        ["x-monite-entity-id"] = "team-north",
      }
      local path = "/charge-points"
      if mode == "authorize" then
        headers["X-Original-Method"] = "GET"
        headers["X-Original-URI"] = "/charge-points"
        path = "/v1/authorize"
      end
      requests[#requests + 1] = wrk.format("GET", path, headers)
    end
  end
  if #requests == 0 then error("no requests: BENCH_TOKENS/BENCH_BODIES empty") end
  next_request = (tonumber(offset) or 0) % #requests
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function done(summary, latency, requests_stats)
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d,' ..
    '"latency_p50_us":%d,"latency_p99_us":%d,"latency_mean_us":%.1f,' ..
    '"latency_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean,
    latency.max))
end
