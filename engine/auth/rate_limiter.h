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
// a compare-and-swap loop, and its limit in one 64-bit word, both in a
// RateCell: a check is O(1), lock-free (not wait-free: a CAS may retry while
// other threads check the same credential), and allocates nothing.
//
// ClientRateLimits keeps one cell per client id for as long as it lives,
// whatever policies come and go: a reload sets the cells' limits, never
// their state, so a caller holding a grant across a reload spends the same
// allowance as everyone else (issue 14: with a limiter per policy, a grant
// of the old policy and one of the new could each spend a full burst).

#ifndef PORTCULLIS_ENGINE_AUTH_RATE_LIMITER_H_
#define PORTCULLIS_ENGINE_AUTH_RATE_LIMITER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

// One credential's rate-limit state and limit. alignas(64): two cells never
// share a cache line, so a CAS on one never invalidates the line another
// thread is checking. Thread-safe: CheckRate and SetLimit may race.
struct alignas(64) RateCell {
  // The limit in one word, so that a check never sees half of a change:
  // count << 32 | interval_seconds. 0 is unlimited; kAbsent refuses every
  // request (a client no longer in the policy).
  static constexpr uint64_t kUnlimited = 0;
  static constexpr uint64_t kAbsent = uint64_t{1} << 32;  // count 1, 0 s

  // Theoretical arrival time in nanoseconds since the Unix epoch: when the
  // credential's allowance is fully spent. INT64_MIN for one never seen.
  std::atomic<int64_t> tat{std::numeric_limits<int64_t>::min()};
  std::atomic<uint64_t> limit{kUnlimited};

  // The state of a front for a limiter shared by several processes (the
  // server's distributed limiter, server/ratelimit/distributed_rate_limiter.h),
  // kept here so that it lives as long as the client's cell, whatever
  // snapshots come and go. CheckRate never reads it.
  //   * `lease`: admissions the shared limiter already counted for this
  //     process, which it may hand out without asking again. The lower 32
  //     bits are the front's; the upper 32 are the lease epoch, which
  //     SetLimit advances (and the lower bits it clears) whenever the limit
  //     changes, so admissions leased under one limit are never handed out
  //     under another.
  //   * `refused_until`: nanoseconds since the Unix epoch until which the
  //     shared limiter said no (a cached refusal); SetLimit clears it when
  //     the limit changes.
  static constexpr uint64_t kLeaseEpochOne = uint64_t{1} << 32;
  std::atomic<uint64_t> lease{0};
  std::atomic<int64_t> refused_until{std::numeric_limits<int64_t>::min()};

  // Sets the limit (a valid config: interval positive when count is); the
  // state is kept, and judged against the new limit from the next check.
  // A change of limit also voids the lease and the cached refusal (above).
  void SetLimit(const RateLimitConfig& config) {
    SetLimitWord((uint64_t{config.count} << 32) | config.interval_seconds);
  }
  // The same with a limit word (kAbsent, kUnlimited or count << 32 |
  // interval_seconds).
  void SetLimitWord(uint64_t word) {
    if (limit.exchange(word, std::memory_order_relaxed) == word) return;
    uint64_t current = lease.load(std::memory_order_relaxed);
    while (!lease.compare_exchange_weak(
        current, (current & ~uint64_t{0xffffffff}) + kLeaseEpochOne,
        std::memory_order_relaxed)) {
    }
    refused_until.store(std::numeric_limits<int64_t>::min(),
                        std::memory_order_relaxed);
  }
};

// Counts one request against `cell` at `now`, with the semantics of
// RateLimiter::Check. Lock-free, allocation-free, O(1).
RateDecision CheckRate(RateCell& cell, absl::Time now);

static_assert(sizeof(RateCell) == 64 && alignof(RateCell) == 64,
              "one credential per cache line");

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
  size_t size() const { return size_; }

 private:
  explicit RateLimiter(size_t size);

  // Cells do not move: an array on the heap, so the limiter does.
  std::unique_ptr<RateCell[]> slots_;
  size_t size_ = 0;
};

// Rate-limit state per client id, shared by every policy snapshot a service
// publishes: the cell of a client id is created the first time a policy
// lists it and lives, at a stable address, as long as the table (grants
// hold it by shared_ptr); the limit comes from the current policy (SetLimits).
// Thread-safe: SetLimits and Find take a reader-writer lock (Find shares
// it); CheckRate on a found cell takes none. Memory: 64 bytes per client id
// ever listed, plus the id.
class ClientRateLimits {
 public:
  ClientRateLimits() = default;
  ClientRateLimits(const ClientRateLimits&) = delete;
  ClientRateLimits& operator=(const ClientRateLimits&) = delete;

  // Applies a policy's limits, all or nothing: each listed client gets its
  // limit (its state kept), every other known client is refused until
  // listed again (its state kept too). InvalidArgument listing every bad
  // limit, e.g. `client "c-1": interval_seconds must be positive when count
  // is 5`; nothing changes then.
  absl::Status SetLimits(
      const std::vector<std::pair<std::string, RateLimitConfig>>& limits);

  // The client's cell, or null for a client id no policy listed.
  std::shared_ptr<RateCell> Find(absl::string_view client_id) const;

  // CheckRate on the client's cell; a client no policy listed is refused
  // with retry_after InfiniteDuration.
  RateDecision Check(absl::string_view client_id, absl::Time now) const;

 private:
  mutable std::shared_mutex mu_;
  // Guarded by mu_; cells are never removed.
  absl::flat_hash_map<std::string, std::shared_ptr<RateCell>> cells_;
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_RATE_LIMITER_H_
