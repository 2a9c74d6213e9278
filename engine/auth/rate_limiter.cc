#include "engine/auth/rate_limiter.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
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

namespace {

// `what: interval_seconds must be positive when count is N`, or empty.
std::string ConfigProblem(const RateLimitConfig& config) {
  if (config.count > 0 && config.interval_seconds == 0) {
    return absl::StrCat("interval_seconds must be positive when count is ",
                        config.count);
  }
  return std::string();
}

}  // namespace

absl::StatusOr<RateLimiter> RateLimiter::Create(
    const std::vector<RateLimitConfig>& configs) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string problem = ConfigProblem(configs[i]);
    if (!problem.empty()) {
      errors.push_back(absl::StrCat("credential ", i, ": ", problem));
    }
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  }
  RateLimiter limiter(configs.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    limiter.slots_[i].SetLimit(configs[i]);
  }
  return limiter;
}

RateLimiter::RateLimiter(size_t size)
    : slots_(std::make_unique<RateCell[]>(size)), size_(size) {}

RateDecision RateLimiter::Check(size_t credential, absl::Time now) {
  if (credential >= size_) return {false, absl::InfiniteDuration(), 0};
  return CheckRate(slots_[credential], now);
}

RateDecision CheckRate(RateCell& cell, absl::Time now) {
  const uint64_t limit = cell.limit.load(std::memory_order_relaxed);
  if (limit == RateCell::kAbsent || now == absl::InfiniteFuture() ||
      now == absl::InfinitePast()) {
    return {false, absl::InfiniteDuration(), 0};
  }
  const int64_t count = static_cast<int64_t>(limit >> 32);
  if (count == 0) {
    return {true, absl::ZeroDuration(), std::numeric_limits<uint32_t>::max()};
  }
  // interval_seconds < 2^32, so interval_ns < 4.3e18 fits in int64, and
  // count * emission_ns < interval_ns + count does too. Emission interval T
  // rounded up, so the long-run rate never exceeds count per interval.
  const int64_t interval_ns =
      static_cast<int64_t>(limit & 0xffffffffu) * kNanosPerSecond;
  const int64_t emission_ns = (interval_ns + count - 1) / count;
  const int64_t limit_ns = count * emission_ns;
  const int64_t t = absl::ToUnixNanos(now);
  // Relaxed ordering suffices: the TAT publishes no other data, and every
  // read-modify-write of one atomic is totally ordered whatever the memory
  // order, so each allowed request advances the TAT exactly once.
  int64_t tat = cell.tat.load(std::memory_order_relaxed);
  while (true) {
    // A TAT further ahead than the burst tolerance cannot come from requests
    // (each allowed one leaves a backlog within it): the clock stepped back,
    // after a forward jump perhaps (or the limit was lowered). Judged as is,
    // it would refuse the client for as long as the jump was; clamped to a
    // fully spent burst, a step back costs at most one interval of
    // allowance.
    if (absl::int128(tat) > absl::int128(t) + limit_ns) {
      const int64_t clamped = static_cast<int64_t>(
          std::min(absl::int128(t) + limit_ns,
                   absl::int128(std::numeric_limits<int64_t>::max())));
      if (!cell.tat.compare_exchange_weak(tat, clamped,
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
    const absl::int128 new_tat = absl::int128(std::max(tat, t)) + emission_ns;
    const absl::int128 backlog = new_tat - t;
    if (backlog > limit_ns) {
      return {false, NanosecondsCapped(backlog - limit_ns), 0};
    }
    if (new_tat > std::numeric_limits<int64_t>::max()) {
      // Conforming, but its TAT lies past 2262 and cannot be recorded:
      // refuse rather than forget it.
      return {false, absl::InfiniteDuration(), 0};
    }
    if (cell.tat.compare_exchange_weak(tat, static_cast<int64_t>(new_tat),
                                       std::memory_order_relaxed)) {
      return {true, absl::ZeroDuration(),
              static_cast<uint32_t>((limit_ns - static_cast<int64_t>(backlog)) /
                                    emission_ns)};
    }
    // The CAS failed because another check moved the TAT; `tat` now holds the
    // new value. Recompute against it.
  }
}

absl::Status ClientRateLimits::SetLimits(
    const std::vector<std::pair<std::string, RateLimitConfig>>& limits) {
  std::vector<std::string> errors;
  for (const auto& [client_id, config] : limits) {
    const std::string problem = ConfigProblem(config);
    if (!problem.empty()) {
      errors.push_back(absl::StrCat("client \"", absl::CHexEscape(client_id),
                                    "\": ", problem));
    }
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  }
  absl::flat_hash_map<absl::string_view, const RateLimitConfig*> listed;
  for (const auto& [client_id, config] : limits) {
    listed[client_id] = &config;
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (const auto& [client_id, config] : limits) {
    std::shared_ptr<RateCell>& cell = cells_[client_id];
    if (cell == nullptr) cell = std::make_shared<RateCell>();
  }
  for (auto& [client_id, cell] : cells_) {
    const auto it = listed.find(client_id);
    if (it == listed.end()) {
      cell->SetLimitWord(RateCell::kAbsent);
    } else {
      cell->SetLimit(*it->second);
    }
  }
  return absl::OkStatus();
}

std::shared_ptr<RateCell> ClientRateLimits::Find(
    absl::string_view client_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const auto it = cells_.find(client_id);
  return it == cells_.end() ? nullptr : it->second;
}

RateDecision ClientRateLimits::Check(absl::string_view client_id,
                                     absl::Time now) const {
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    const auto it = cells_.find(client_id);
    if (it != cells_.end()) return CheckRate(*it->second, now);
  }
  return {false, absl::InfiniteDuration(), 0};
}

}  // namespace portcullis::auth
