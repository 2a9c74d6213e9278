// Rate limits counted in Redis for every replica at once (issue 17;
// docs/replicas.md, "Rate limits across replicas"): one GCRA state per client
// (gcra_lease.h) shared by all replicas, a local front so that a client far
// under its limit does not pay a round trip per request, and a fallback for
// when Redis cannot be asked.
//
// The local front. A replica asks Redis for a lease of L = LeaseSize(count)
// admissions at once (the same Lua call, one round trip, atomic); Redis
// counts all L then, and the replica hands the L - 1 it does not use at once
// out from the client's RateCell (RateCell::lease) without asking again. One
// lease per client is in flight per replica at a time (a flag in the same
// word): other threads that find no stock meanwhile ask Redis for one
// admission each. So a replica never holds more than L - 1 admissions that
// Redis counted and it has not handed out yet, and:
//
//   Bound. Over any span of length D, all R replicas together admit at most
//   count + floor(D / T) + R * (L - 1) requests of a client: the GCRA's own
//   bound for the admissions Redis counted during the span, plus what the
//   replicas held at its start. (Admissions of round trips are dated when
//   Redis counts them.) With the default lease_share of 1%, L - 1 < 1% of
//   the limit per replica. Conversely a client may get up to R * (L - 1)
//   fewer than its limit: a replica's stock is only spent by requests that
//   reach that replica.
//
// A refusal from Redis is cached in the cell until its retry_after has passed
// (never longer than T, so a clock step back cannot stretch it), so a client
// over its limit does not cost a round trip per request either. A change of
// the client's limit (SetLimit) voids both the stock and the refusal.
//
// Outages. When Redis cannot be asked (Unavailable: down, timed out, in its
// reconnect backoff) or answers an error, the request is decided by the
// outage policy: kLocal counts it in the replica's own cell with CheckRate
// (the per-replica limit of rate_limiter.h; R replicas then admit up to R
// times the limit), kDeny refuses it with retry_after outage_retry. Redis is
// then not asked again for outage_retry (one timeout per period, not per
// request); the first request after it tries Redis again, so recovery needs
// no restart. Stock leased before the outage is still handed out: Redis
// counted it.
//
// Thread-safe: any number of threads may Check concurrently, for the same or
// different clients. A check served by the stock is lock-free and
// allocation-free: a few loads and one CAS on the client's cell (about 10 ns,
// BENCHMARKS.md). A check that asks Redis blocks for one round trip through
// the RedisClient's pool (tens of microseconds on loopback) and allocates.
#ifndef PORTCULLIS_SERVER_RATELIMIT_DISTRIBUTED_RATE_LIMITER_H_
#define PORTCULLIS_SERVER_RATELIMIT_DISTRIBUTED_RATE_LIMITER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/rate_limiter.h"
#include "engine/auth/token_service.h"
#include "server/ratelimit/rate_limit_options.h"
#include "server/redis/redis_client.h"

namespace portcullis::ratelimit {

// Counters, updated on the slow paths only (never by a check the stock
// serves). Plain values.
struct DistributedRateLimiterStats {
  uint64_t redis_calls = 0;       // round trips, leases included
  uint64_t leases = 0;            // calls asking for more than one admission
  uint64_t redis_refusals = 0;    // calls Redis answered with no admission
  uint64_t cached_refusals = 0;   // refusals answered from a cached one
  uint64_t redis_errors = 0;      // failed calls (Unavailable, error replies)
  uint64_t outage_decisions = 0;  // checks decided by the outage policy
};

class DistributedRateLimiter {
 public:
  // `options` must pass ValidateRateLimitOptions (InvalidArgument otherwise);
  // its mode is not read. `redis` must outlive the limiter. Keys are
  // redis.Key("ratelimit:" + client id).
  //
  // `on_availability`, if set, is called (from a checking thread, on the
  // slow path) when Redis stops answering (with the failed call's status) and
  // when it answers again after that (with OK): once per change, for logs.
  // It must be thread-safe and must not call the limiter.
  using AvailabilityCallback = std::function<void(const absl::Status&)>;
  static absl::StatusOr<std::unique_ptr<DistributedRateLimiter>> Create(
      const RateLimitOptions& options, redis::RedisClient& redis,
      AvailabilityCallback on_availability = nullptr);

  DistributedRateLimiter(const DistributedRateLimiter&) = delete;
  DistributedRateLimiter& operator=(const DistributedRateLimiter&) = delete;

  // Counts one request of the client whose rate-limit cell is `cell` (the
  // cell's limit is the client's; its lease fields hold the front's state)
  // at `now` and says whether it may proceed, with RateDecision's meaning:
  // retry_after is when Redis will admit one (or InfiniteDuration for a
  // client no policy lists, outage_retry when denied for an outage);
  // `remaining` is what this replica could admit at once (its stock plus
  // what Redis had free at its last answer), an estimate. A null cell, a
  // client no policy lists or an infinite `now` is refused with retry_after
  // InfiniteDuration; an unlimited client is admitted without Redis.
  auth::RateDecision Check(absl::string_view client_id, auth::RateCell* cell,
                           absl::Time now);
  // The same for the grant's client.
  auth::RateDecision Check(const auth::AccessGrant& grant, absl::Time now) {
    return Check(grant.client_id(), grant.rate_cell(), now);
  }

  DistributedRateLimiterStats Stats() const;
  // The last failed call's status (OK if none): what went wrong, for logs.
  absl::Status LastError() const;

 private:
  DistributedRateLimiter(const RateLimitOptions& options,
                         redis::RedisClient& redis,
                         AvailabilityCallback on_availability);

  auth::RateDecision CheckSlow(absl::string_view client_id,
                               auth::RateCell& cell, uint64_t limit,
                               int64_t now_ns, absl::Time now);
  auth::RateDecision Outage(auth::RateCell& cell, absl::Time now);

  const RateLimitOptions options_;
  const int64_t outage_retry_ns_;
  redis::RedisClient& redis_;
  const redis::RedisScript script_;
  const AvailabilityCallback on_availability_;
  // Whether the last call failed (for on_availability_'s changes).
  std::atomic<bool> failing_{false};

  // Until when (ns since the epoch, the callers' clock) Redis is not asked.
  std::atomic<int64_t> skip_redis_until_{0};
  std::atomic<uint64_t> redis_calls_{0};
  std::atomic<uint64_t> leases_{0};
  std::atomic<uint64_t> redis_refusals_{0};
  std::atomic<uint64_t> cached_refusals_{0};
  std::atomic<uint64_t> redis_errors_{0};
  std::atomic<uint64_t> outage_decisions_{0};
  mutable std::mutex error_mu_;
  absl::Status last_error_;  // Guarded by error_mu_.
};

// The server's rate-limit check of a grant: `distributed`'s when it is not
// null (mode "redis"), the token service's per-replica one otherwise.
inline auth::RateDecision CheckClientRateLimit(
    const auth::TokenService& tokens, DistributedRateLimiter* distributed,
    const auth::AccessGrant& grant, absl::Time now) {
  if (distributed != nullptr) return distributed->Check(grant, now);
  return tokens.CheckRateLimit(grant, now);
}

}  // namespace portcullis::ratelimit

#endif  // PORTCULLIS_SERVER_RATELIMIT_DISTRIBUTED_RATE_LIMITER_H_
