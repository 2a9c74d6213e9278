// How `portcullis serve` counts rate limits: in each replica (the default)
// or in Redis for all replicas at once, with a local front and an outage
// policy (proto/server.proto's RateLimitConfig; docs/replicas.md, "Rate
// limits across replicas").
#ifndef PORTCULLIS_SERVER_RATELIMIT_RATE_LIMIT_OPTIONS_H_
#define PORTCULLIS_SERVER_RATELIMIT_RATE_LIMIT_OPTIONS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/server.pb.h"

namespace portcullis::ratelimit {

enum class RateLimitMode : uint8_t {
  kLocal,  // each replica counts on its own (TokenService::CheckRateLimit)
  kRedis,  // DistributedRateLimiter
};

// What a replica does when Redis cannot be asked.
enum class OutagePolicy : uint8_t {
  kLocal,  // count in the replica's own cell: the per-replica limit
  kDeny,   // refuse (fail closed)
};

// Whose clock the shared GCRA runs on.
enum class GcraClock : uint8_t {
  // Redis's (TIME, in the script): one clock for every replica, so clock
  // skew between replicas neither grants nor costs anything.
  kRedis,
  // The `now` given to Check. Every replica's clock must then agree with
  // the others' and with Redis's (keys expire by Redis's clock at the TAT):
  // for tests, which drive time themselves.
  kCaller,
};

// Every field states its default; the defaults are the configuration's.
struct RateLimitOptions {
  RateLimitMode mode = RateLimitMode::kLocal;
  OutagePolicy on_outage = OutagePolicy::kLocal;
  // A replica leases LeaseSize(count) admissions per round trip and admits
  // at most LeaseSize(count) - 1 ahead of Redis. In [0, 1]. Default 0.01.
  double lease_share = 0.01;
  // The largest lease, 1 to 65536. Default 100.
  uint32_t max_lease = 100;
  // After a failed call, Redis is not asked again for this long (the outage
  // policy answers). 1 ms to 60 s. Default 500 ms.
  absl::Duration outage_retry = absl::Milliseconds(500);
  // Not configurable in serve: always kRedis there.
  GcraClock clock = GcraClock::kRedis;
};

// OK, or InvalidArgument naming every bad field and its value, e.g.
// "rate_limit.lease_share: 1.5 is outside [0, 1]".
absl::Status ValidateRateLimitOptions(const RateLimitOptions& options);

// The options of a RateLimitConfig (defaults for unset fields), validated.
// InvalidArgument naming the field and the value: `rate_limit.mode: unknown
// "redis2" (expected "local" or "redis")`.
absl::StatusOr<RateLimitOptions> RateLimitOptionsFromConfig(
    const server::v1::RateLimitConfig& config);

// Admissions per lease for a limit of `count` (> 0):
// max(1, min(max_lease, floor(count * lease_share))).
uint32_t LeaseSize(const RateLimitOptions& options, uint32_t count);

}  // namespace portcullis::ratelimit

#endif  // PORTCULLIS_SERVER_RATELIMIT_RATE_LIMIT_OPTIONS_H_
