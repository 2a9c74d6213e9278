#include "engine/auth/rate_limiter.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace portcullis::auth {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// A duration of `nanos` nanoseconds, capped at the largest int64 count
// (292 years): only reachable after the clock stepped back by centuries.
absl::Duration NanosecondsCapped(absl::int128 nanos) {
  return absl::Nanoseconds(static_cast<int64_t>(
      std::min(nanos, absl::int128(std::numeric_limits<int64_t>::max()))));
}

}  // namespace

absl::StatusOr<RateLimiter> RateLimiter::Create(
    const std::vector<RateLimitConfig>& configs) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < configs.size(); ++i) {
    if (configs[i].count > 0 && configs[i].interval_seconds == 0) {
      errors.push_back(
          absl::StrCat("credential ", i,
                       ": interval_seconds must be positive when count is ",
                       configs[i].count));
    }
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  }
  std::vector<Slot> slots(configs.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    const RateLimitConfig& config = configs[i];
    if (config.count == 0) continue;  // Unlimited: emission_ns stays 0.
    // interval_seconds < 2^32, so interval_ns < 4.3e18 fits in int64, and
    // count * emission_ns < interval_ns + count does too.
    const int64_t interval_ns =
        static_cast<int64_t>(config.interval_seconds) * kNanosPerSecond;
    const int64_t count = config.count;
    slots[i].emission_ns = (interval_ns + count - 1) / count;
    slots[i].limit_ns = count * slots[i].emission_ns;
  }
  return RateLimiter(std::move(slots));
}

RateLimiter::RateLimiter(std::vector<Slot> slots) : slots_(std::move(slots)) {}

RateDecision RateLimiter::Check(size_t credential, absl::Time now) {
  if (credential >= slots_.size() || now == absl::InfiniteFuture() ||
      now == absl::InfinitePast()) {
    return {false, absl::InfiniteDuration(), 0};
  }
  Slot& slot = slots_[credential];
  if (slot.emission_ns == 0) {
    return {true, absl::ZeroDuration(), std::numeric_limits<uint32_t>::max()};
  }
  const int64_t t = absl::ToUnixNanos(now);
  // Relaxed ordering suffices: the TAT publishes no other data, and every
  // read-modify-write of one atomic is totally ordered whatever the memory
  // order, so each allowed request advances the TAT exactly once.
  int64_t tat = slot.tat.load(std::memory_order_relaxed);
  while (true) {
    // A TAT further ahead than the burst tolerance cannot come from requests
    // (each allowed one leaves a backlog within it): the clock stepped back,
    // after a forward jump perhaps. Judged as is, it would refuse the client
    // for as long as the jump was; clamped to a fully spent burst, a step
    // back costs at most one interval of allowance.
    if (absl::int128(tat) > absl::int128(t) + slot.limit_ns) {
      const int64_t clamped = static_cast<int64_t>(
          std::min(absl::int128(t) + slot.limit_ns,
                   absl::int128(std::numeric_limits<int64_t>::max())));
      if (!slot.tat.compare_exchange_weak(tat, clamped,
                                          std::memory_order_relaxed)) {
        continue;
      }
      tat = clamped;
    }
    // GCRA: this request is scheduled at new_tat; it conforms when the
    // backlog it leaves (new_tat - t) fits within the burst tolerance. The
    // arithmetic is 128-bit because a TAT near the end of the int64 range
    // plus T must neither wrap nor saturate (a saturated TAT would be too
    // early and admit extra requests).
    const absl::int128 new_tat =
        absl::int128(std::max(tat, t)) + slot.emission_ns;
    const absl::int128 backlog = new_tat - t;
    if (backlog > slot.limit_ns) {
      return {false, NanosecondsCapped(backlog - slot.limit_ns), 0};
    }
    if (new_tat > std::numeric_limits<int64_t>::max()) {
      // Conforming, but its TAT lies past 2262 and cannot be recorded:
      // refuse rather than forget it.
      return {false, absl::InfiniteDuration(), 0};
    }
    if (slot.tat.compare_exchange_weak(tat, static_cast<int64_t>(new_tat),
                                       std::memory_order_relaxed)) {
      return {true, absl::ZeroDuration(),
              static_cast<uint32_t>(
                  (slot.limit_ns - static_cast<int64_t>(backlog)) /
                  slot.emission_ns)};
    }
    // The CAS failed because another check moved the TAT; `tat` now holds the
    // new value. Recompute against it.
  }
}

void RateLimiter::CarryOver(size_t credential, const RateLimiter& previous,
                            size_t previous_credential) {
  if (credential >= slots_.size() ||
      previous_credential >= previous.slots_.size()) {
    return;
  }
  slots_[credential].tat.store(
      previous.slots_[previous_credential].tat.load(std::memory_order_relaxed),
      std::memory_order_relaxed);
}

}  // namespace portcullis::auth
