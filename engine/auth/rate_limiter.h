// Per-credential rate limits ({count, interval_seconds}, e.g. 1000 requests
// per 600 s as Monta's /auth/me reports them), enforced with the generic cell
// rate algorithm (GCRA).
//
// Semantics, for a limit of `count` requests per `interval`:
//   * Emission interval T = interval / count, rounded up to a whole
//     nanosecond, so the long-run rate never exceeds count per interval.
//   * Burst = count: an idle credential may make `count` requests at once.
//   * The (count+1)-th immediate request is refused with retry_after exactly
//     T; a request made exactly at that moment is allowed. In general one
//     request becomes available every T, and an idle credential regains its
//     full burst after count * T (= interval, up to rounding).
//   * Over any span of length D, at most count + floor(D / T) requests are
//     allowed. Refused requests consume nothing.
// Each credential has one 64-bit theoretical arrival time (TAT), updated with
// a compare-and-swap loop: a check is O(1), lock-free (not wait-free: a CAS
// may retry while other threads check the same credential), and allocates
// nothing.

#ifndef PORTCULLIS_ENGINE_AUTH_RATE_LIMITER_H_
#define PORTCULLIS_ENGINE_AUTH_RATE_LIMITER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace portcullis::auth {

// One credential's limit, as the policy's RateLimit message states it.
struct RateLimitConfig {
  // Requests per interval. 0 means unlimited (interval_seconds is ignored).
  uint32_t count = 0;
  // The interval in seconds; must be positive when count is.
  uint32_t interval_seconds = 0;
};

// The answer to one Check.
struct RateDecision {
  // Whether the request may proceed.
  bool allowed = false;
  // When refused: how long until a request would be allowed (the value of an
  // HTTP Retry-After header, before rounding up to whole seconds). Zero when
  // allowed; InfiniteDuration for an unknown credential.
  absl::Duration retry_after;
  // Requests that could still be made at once after this one (0 when
  // refused; UINT32_MAX for an unlimited credential).
  uint32_t remaining = 0;
};

// Rate limits for a fixed set of credentials, indexed densely from 0.
// Thread-safe: any number of threads may call Check concurrently, for the same
// or different credentials, with no lock. Each credential's state sits on its
// own cache line, so checks of different credentials never contend. Memory:
// 64 bytes per credential.
class RateLimiter {
 public:
  // One limiter slot per config, in order: configs[i] is credential i.
  // Returns InvalidArgument listing every bad config, separated by "; ", e.g.
  // "credential 2: interval_seconds must be positive when count is 5".
  static absl::StatusOr<RateLimiter> Create(
      const std::vector<RateLimitConfig>& configs);

  RateLimiter(RateLimiter&&) = default;
  RateLimiter& operator=(RateLimiter&&) = default;
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Counts one request of `credential` at time `now` (from a Clock) and says
  // whether it may proceed. Times should be non-decreasing per credential; a
  // request dated before earlier ones is judged against the state they left
  // (a clock step back never grants extra requests), but never worse than a
  // fully spent burst: after a forward jump and return, a client waits at
  // most one interval (count * T), not the length of the jump. Fails closed: an
  // out-of-range credential, an infinite `now`, or a request whose TAT would
  // fall after the int64 nanosecond range (year 2262) is refused with
  // retry_after = InfiniteDuration.
  RateDecision Check(size_t credential, absl::Time now);

  // The number of credentials.
  size_t size() const { return slots_.size(); }

  // Starts `credential` where `previous_credential` of `previous` stands: the
  // allowance it has spent carries over, so a client keeps its state when the
  // limiter is rebuilt for a reloaded policy. The state is a time (the TAT),
  // so it stays meaningful if the limit changed: the backlog it leaves is
  // judged against the new limit. Out-of-range indexes are ignored. Meant for
  // a limiter not yet shared with other threads; checks made on `previous`
  // after the copy are not carried. O(1).
  void CarryOver(size_t credential, const RateLimiter& previous,
                 size_t previous_credential);

 private:
  // One credential. alignas(64): two credentials never share a cache line, so
  // a CAS on one never invalidates the line another thread is checking.
  struct alignas(64) Slot {
    // Theoretical arrival time in nanoseconds since the Unix epoch: when the
    // credential's allowance is fully spent. INT64_MIN for a credential never
    // seen.
    std::atomic<int64_t> tat{std::numeric_limits<int64_t>::min()};
    // Emission interval T in nanoseconds; 0 means unlimited.
    int64_t emission_ns = 0;
    // Burst tolerance: count * T in nanoseconds.
    int64_t limit_ns = 0;
  };
  static_assert(sizeof(Slot) == 64 && alignof(Slot) == 64,
                "one credential per cache line");

  explicit RateLimiter(std::vector<Slot> slots);

  std::vector<Slot> slots_;
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_RATE_LIMITER_H_
