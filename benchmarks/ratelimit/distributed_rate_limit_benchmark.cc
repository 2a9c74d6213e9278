// The cost of a rate-limit check counted in Redis (server/ratelimit), with
// and without the local front, against a real redis-server on loopback
// (started by the benchmark, //tests/redis:redis_server), beside the
// single-process check (engine/auth/rate_limiter.h) it replaces.
//
//   BM_LocalRateLimit                  CheckRate on one cell: the "local"
//                                      mode, no Redis
//   BM_DistributedRateLimit/lease:L    DistributedRateLimiter::Check with
//                                      leases of L admissions (L = 1: no
//                                      front, one round trip per check;
//                                      L = 65536: nearly every check is
//                                      served by the front, its own cost)
//
// Every request is allowed: the limit is 4e9 per second (held to one per
// microsecond by the script's units) and each thread's clock moves 1 us per
// check, so every check spends an admission. Counters: round_trips per
// check (Redis calls / checks). Real time per check; with 2 threads, two
// replicas' worth of checks on one client (each thread its own cell, as two
// replicas would have).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "benchmarks/fixed_iterations.h"
#include "engine/auth/rate_limiter.h"
#include "server/ratelimit/distributed_rate_limiter.h"
#include "server/ratelimit/rate_limit_options.h"
#include "server/redis/redis_client.h"
#include "tests/redis/redis_server.h"

namespace portcullis::ratelimit {
namespace {

constexpr auth::RateLimitConfig kLimit = {4'000'000'000u, 1};

test::RedisServer& Server() {
  static test::RedisServer* server = [] {
    absl::StatusOr<std::unique_ptr<test::RedisServer>> started =
        test::RedisServer::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "redis-server: %s\n",
                   std::string(started.status().message()).c_str());
      std::abort();
    }
    return started->release();
  }();
  return *server;
}

void BM_LocalRateLimit(benchmark::State& state) {
  auth::RateCell cell;
  cell.SetLimit(kLimit);
  absl::Time now = absl::Now();
  int64_t allowed = 0;
  for (auto _ : state) {
    allowed += auth::CheckRate(cell, now).allowed;
    now += absl::Microseconds(1);
  }
  if (allowed != state.iterations()) state.SkipWithError("refused");
}

void BM_DistributedRateLimit(benchmark::State& state) {
  redis::RedisOptions redis_options;
  redis_options.port = Server().port();
  redis_options.key_prefix = "bench:";
  absl::StatusOr<std::unique_ptr<redis::RedisClient>> client =
      redis::RedisClient::Create(redis_options);
  if (!client.ok()) {
    state.SkipWithError("no redis");
    return;
  }
  RateLimitOptions options;
  options.mode = RateLimitMode::kRedis;
  options.clock = GcraClock::kCaller;
  options.max_lease = static_cast<uint32_t>(state.range(0));
  options.lease_share = 1;
  absl::StatusOr<std::unique_ptr<DistributedRateLimiter>> limiter =
      DistributedRateLimiter::Create(options, **client);
  if (!limiter.ok()) {
    state.SkipWithError("limiter");
    return;
  }
  auth::RateCell cell;
  cell.SetLimit(kLimit);
  // Each thread its own client, so that threads never refuse each other.
  const std::string client_id = "c-" + std::to_string(state.thread_index()) +
                                "-" +
                                std::to_string(absl::ToUnixNanos(absl::Now()));
  absl::Time now = absl::Now();
  int64_t allowed = 0;
  for (auto _ : state) {
    allowed += (*limiter)->Check(client_id, &cell, now).allowed;
    now += absl::Microseconds(1);
  }
  if (allowed != state.iterations()) state.SkipWithError("refused");
  state.counters["round_trips"] =
      benchmark::Counter(static_cast<double>((*limiter)->Stats().redis_calls),
                         benchmark::Counter::kAvgIterations);
}

BENCHMARK(BM_LocalRateLimit)->Apply(internal::FixedIterationsFromEnv);
BENCHMARK(BM_DistributedRateLimit)
    ->ArgName("lease")
    ->Arg(1)
    ->Arg(10)
    ->Arg(100)
    ->Arg(65536)
    ->UseRealTime()
    ->Threads(1)
    ->Threads(2)
    ->Apply(internal::FixedIterationsFromEnv);

}  // namespace
}  // namespace portcullis::ratelimit
