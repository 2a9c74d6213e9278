#include "server/ratelimit/distributed_rate_limiter.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/rate_limiter.h"
#include "server/ratelimit/gcra_lease.h"
#include "server/ratelimit/rate_limit_options.h"
#include "server/redis/redis_client.h"

namespace portcullis::ratelimit {
namespace {

using auth::RateCell;
using auth::RateDecision;

// RateCell::lease, lower half (the upper half is the epoch SetLimit
// advances): the stock of leased admissions, and whether a lease is in
// flight (then only the thread that set the flag adds stock, so the stock
// never exceeds one lease).
constexpr uint64_t kStockMask = 0x7fffffff;
constexpr uint64_t kLeaseInFlight = uint64_t{1} << 31;
constexpr uint64_t kEpochMask = ~uint64_t{0xffffffff};

RateDecision Refused() { return {false, absl::InfiniteDuration(), 0}; }

// a + b for b >= 0, capped at the int64 range (a `now` near year 2262).
int64_t SaturatingAdd(int64_t a, int64_t b) {
  return a > std::numeric_limits<int64_t>::max() - b
             ? std::numeric_limits<int64_t>::max()
             : a + b;
}

uint32_t Saturated(int64_t n) {
  return static_cast<uint32_t>(
      std::clamp<int64_t>(n, 0, std::numeric_limits<uint32_t>::max()));
}

// The script's answer, or InternalError for a reply of another shape.
absl::StatusOr<GcraLeaseAnswer> ParseAnswer(const redis::RedisReply& reply,
                                            int64_t want) {
  using Type = redis::RedisReply::Type;
  if (reply.type != Type::kArray || reply.elements.size() != 3 ||
      reply.elements[0].type != Type::kInteger ||
      reply.elements[1].type != Type::kInteger ||
      reply.elements[2].type != Type::kInteger) {
    return absl::InternalError("rate limit script: unexpected reply");
  }
  GcraLeaseAnswer answer;
  answer.granted = reply.elements[0].integer;
  answer.remaining = reply.elements[1].integer;
  answer.retry_after_us = reply.elements[2].integer;
  if (answer.granted < 0 || answer.granted > want || answer.remaining < 0 ||
      (answer.granted == 0 && answer.retry_after_us <= 0)) {
    return absl::InternalError(
        absl::StrCat("rate limit script: impossible answer {", answer.granted,
                     ", ", answer.remaining, ", ", answer.retry_after_us, "}"));
  }
  return answer;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DistributedRateLimiter>>
DistributedRateLimiter::Create(const RateLimitOptions& options,
                               redis::RedisClient& redis,
                               AvailabilityCallback on_availability) {
  if (absl::Status status = ValidateRateLimitOptions(options); !status.ok()) {
    return status;
  }
  return std::unique_ptr<DistributedRateLimiter>(
      new DistributedRateLimiter(options, redis, std::move(on_availability)));
}

DistributedRateLimiter::DistributedRateLimiter(
    const RateLimitOptions& options, redis::RedisClient& redis,
    AvailabilityCallback on_availability)
    : options_(options),
      outage_retry_ns_(absl::ToInt64Nanoseconds(options.outage_retry)),
      redis_(redis),
      script_(std::string(kGcraLeaseScript)),
      on_availability_(std::move(on_availability)) {}

RateDecision DistributedRateLimiter::Check(absl::string_view client_id,
                                           RateCell* cell, absl::Time now) {
  if (cell == nullptr) return Refused();
  const uint64_t limit = cell->limit.load(std::memory_order_relaxed);
  if (limit == RateCell::kAbsent || now == absl::InfiniteFuture() ||
      now == absl::InfinitePast()) {
    return Refused();
  }
  if ((limit >> 32) == 0) {
    return {true, absl::ZeroDuration(), std::numeric_limits<uint32_t>::max()};
  }
  // The front: an admission Redis already counted for this replica.
  uint64_t lease = cell->lease.load(std::memory_order_relaxed);
  while ((lease & kStockMask) != 0) {
    if (cell->lease.compare_exchange_weak(lease, lease - 1,
                                          std::memory_order_relaxed)) {
      return {true, absl::ZeroDuration(),
              static_cast<uint32_t>((lease & kStockMask) - 1)};
    }
  }
  return CheckSlow(client_id, *cell, limit, absl::ToUnixNanos(now), now);
}

RateDecision DistributedRateLimiter::CheckSlow(absl::string_view client_id,
                                               RateCell& cell, uint64_t limit,
                                               int64_t now_ns, absl::Time now) {
  const uint32_t count = static_cast<uint32_t>(limit >> 32);
  const GcraParams params =
      GcraParamsFor(count, static_cast<uint32_t>(limit & 0xffffffff));
  // A refusal of Redis's, until it expires. One further ahead than a
  // refusal can be (T) comes from a clock that stepped back: ignored.
  const int64_t refused_until =
      cell.refused_until.load(std::memory_order_relaxed);
  if (now_ns < refused_until &&
      refused_until - now_ns <= params.emission_us * 1000) {
    cached_refusals_.fetch_add(1, std::memory_order_relaxed);
    return {false, absl::Nanoseconds(refused_until - now_ns), 0};
  }
  const int64_t skip_until = skip_redis_until_.load(std::memory_order_relaxed);
  if (now_ns < skip_until && skip_until - now_ns <= outage_retry_ns_) {
    return Outage(cell, now);
  }

  // Lease when no other thread of this replica is leasing for the client;
  // otherwise ask for this request alone. Stock may have arrived meanwhile.
  const uint32_t lease_size = LeaseSize(options_, count);
  int64_t want = 1;
  bool leasing = false;
  uint64_t lease = cell.lease.load(std::memory_order_relaxed);
  while (true) {
    if ((lease & kStockMask) != 0) {
      if (cell.lease.compare_exchange_weak(lease, lease - 1,
                                           std::memory_order_relaxed)) {
        return {true, absl::ZeroDuration(),
                static_cast<uint32_t>((lease & kStockMask) - 1)};
      }
      continue;
    }
    if (lease_size <= 1 || (lease & kLeaseInFlight) != 0) break;
    if (cell.lease.compare_exchange_weak(lease, lease | kLeaseInFlight,
                                         std::memory_order_relaxed)) {
      leasing = true;
      want = lease_size;
      break;
    }
  }
  const uint64_t epoch = lease & kEpochMask;
  // Ends this thread's lease: adds `stock` unless the limit changed since
  // (SetLimit then cleared the flag and the stock itself).
  auto end_lease = [&](int64_t stock) {
    if (!leasing) return;
    uint64_t current = cell.lease.load(std::memory_order_relaxed);
    while ((current & kEpochMask) == epoch &&
           !cell.lease.compare_exchange_weak(
               current, ((current & ~kLeaseInFlight) + stock),
               std::memory_order_relaxed)) {
    }
  };

  const std::string key = redis_.Key(absl::StrCat("ratelimit:", client_id));
  const std::string emission = absl::StrCat(params.emission_us);
  const std::string tolerance = absl::StrCat(params.tolerance_us);
  const std::string want_text = absl::StrCat(want);
  const std::string now_text = options_.clock == GcraClock::kCaller
                                   ? absl::StrCat(absl::ToUnixMicros(now))
                                   : std::string();
  const absl::string_view keys[] = {key};
  const absl::string_view args[] = {emission, tolerance, want_text, now_text};
  redis_calls_.fetch_add(1, std::memory_order_relaxed);
  if (leasing) leases_.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<redis::RedisReply> reply = redis_.Eval(script_, keys, args);
  absl::StatusOr<GcraLeaseAnswer> answer =
      reply.ok() ? ParseAnswer(*reply, want) : reply.status();
  if (!answer.ok()) {
    end_lease(0);
    redis_errors_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(error_mu_);
      last_error_ = answer.status();
    }
    skip_redis_until_.store(SaturatingAdd(now_ns, outage_retry_ns_),
                            std::memory_order_relaxed);
    if (!failing_.exchange(true, std::memory_order_relaxed) &&
        on_availability_) {
      on_availability_(answer.status());
    }
    return Outage(cell, now);
  }
  if (failing_.load(std::memory_order_relaxed) &&
      failing_.exchange(false, std::memory_order_relaxed) && on_availability_) {
    on_availability_(absl::OkStatus());
  }
  if (answer->granted == 0) {
    end_lease(0);
    redis_refusals_.fetch_add(1, std::memory_order_relaxed);
    cell.refused_until.store(
        SaturatingAdd(now_ns, answer->retry_after_us * 1000),
        std::memory_order_relaxed);
    return {false, absl::Microseconds(answer->retry_after_us), 0};
  }
  end_lease(answer->granted - 1);
  return {true, absl::ZeroDuration(),
          Saturated(answer->remaining + answer->granted - 1)};
}

RateDecision DistributedRateLimiter::Outage(RateCell& cell, absl::Time now) {
  outage_decisions_.fetch_add(1, std::memory_order_relaxed);
  switch (options_.on_outage) {
    case OutagePolicy::kLocal:
      return auth::CheckRate(cell, now);
    case OutagePolicy::kDeny:
      return {false, options_.outage_retry, 0};
  }
  return {false, options_.outage_retry, 0};
}

DistributedRateLimiterStats DistributedRateLimiter::Stats() const {
  DistributedRateLimiterStats stats;
  stats.redis_calls = redis_calls_.load(std::memory_order_relaxed);
  stats.leases = leases_.load(std::memory_order_relaxed);
  stats.redis_refusals = redis_refusals_.load(std::memory_order_relaxed);
  stats.cached_refusals = cached_refusals_.load(std::memory_order_relaxed);
  stats.redis_errors = redis_errors_.load(std::memory_order_relaxed);
  stats.outage_decisions = outage_decisions_.load(std::memory_order_relaxed);
  return stats;
}

absl::Status DistributedRateLimiter::LastError() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return last_error_;
}

}  // namespace portcullis::ratelimit
