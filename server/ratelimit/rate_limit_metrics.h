// The distributed rate limiter's counters on /metrics (docs/replicas.md,
// "Rate limits across replicas"): registered in the server's registry in
// rate-limit mode "redis" only, brought up to date from
// DistributedRateLimiter::Stats before each scrape. Thread-safe.
#ifndef PORTCULLIS_SERVER_RATELIMIT_RATE_LIMIT_METRICS_H_
#define PORTCULLIS_SERVER_RATELIMIT_RATE_LIMIT_METRICS_H_

#include <mutex>

#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "server/ratelimit/distributed_rate_limiter.h"

namespace portcullis::ratelimit {

class RateLimitMetrics {
 public:
  explicit RateLimitMetrics(prometheus::Registry& registry);
  RateLimitMetrics(const RateLimitMetrics&) = delete;
  RateLimitMetrics& operator=(const RateLimitMetrics&) = delete;

  // Adds what `stats` counted since the last call.
  void Update(const DistributedRateLimiterStats& stats);

 private:
  prometheus::Counter& redis_calls_;
  prometheus::Counter& leases_;
  prometheus::Counter& redis_refusals_;
  prometheus::Counter& cached_refusals_;
  prometheus::Counter& redis_errors_;
  prometheus::Counter& outage_decisions_;
  std::mutex mu_;
  DistributedRateLimiterStats last_;  // Guarded by mu_.
};

}  // namespace portcullis::ratelimit

#endif  // PORTCULLIS_SERVER_RATELIMIT_RATE_LIMIT_METRICS_H_
