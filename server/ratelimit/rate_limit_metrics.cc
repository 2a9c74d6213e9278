#include "server/ratelimit/rate_limit_metrics.h"

#include <cstdint>
#include <mutex>

#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace portcullis::ratelimit {
namespace {

prometheus::Counter& Counter(prometheus::Registry& registry, const char* name,
                             const char* help) {
  return prometheus::BuildCounter()
      .Name(name)
      .Help(help)
      .Register(registry)
      .Add({});
}

}  // namespace

RateLimitMetrics::RateLimitMetrics(prometheus::Registry& registry)
    : redis_calls_(Counter(registry, "portcullis_rate_limit_redis_calls_total",
                           "Rate-limit round trips to Redis, leases included")),
      leases_(Counter(registry, "portcullis_rate_limit_leases_total",
                      "Rate-limit round trips asking for more than one "
                      "admission (the local front's leases)")),
      redis_refusals_(
          Counter(registry, "portcullis_rate_limit_redis_refusals_total",
                  "Rate-limit round trips Redis answered with no admission")),
      cached_refusals_(
          Counter(registry, "portcullis_rate_limit_cached_refusals_total",
                  "Requests refused from a cached refusal of Redis's, "
                  "without a round trip")),
      redis_errors_(Counter(registry,
                            "portcullis_rate_limit_redis_errors_total",
                            "Rate-limit calls to Redis that failed "
                            "(unavailable, timed out, error replies)")),
      outage_decisions_(
          Counter(registry, "portcullis_rate_limit_outage_decisions_total",
                  "Requests decided by rate_limit.on_outage because Redis "
                  "could not be asked")) {}

void RateLimitMetrics::Update(const DistributedRateLimiterStats& stats) {
  std::lock_guard<std::mutex> lock(mu_);
  auto add = [](prometheus::Counter& counter, uint64_t now, uint64_t& last) {
    if (now > last) counter.Increment(static_cast<double>(now - last));
    last = now;
  };
  add(redis_calls_, stats.redis_calls, last_.redis_calls);
  add(leases_, stats.leases, last_.leases);
  add(redis_refusals_, stats.redis_refusals, last_.redis_refusals);
  add(cached_refusals_, stats.cached_refusals, last_.cached_refusals);
  add(redis_errors_, stats.redis_errors, last_.redis_errors);
  add(outage_decisions_, stats.outage_decisions, last_.outage_decisions);
}

}  // namespace portcullis::ratelimit
