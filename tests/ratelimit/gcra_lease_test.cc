// The GCRA lease's C++ model (the script's specification) against the
// single-process limiter it must agree with, and the options.
#include "server/ratelimit/gcra_lease.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/auth/rate_limiter.h"
#include "gtest/gtest.h"
#include "proto/server.pb.h"
#include "server/ratelimit/rate_limit_options.h"

namespace portcullis::ratelimit {
namespace {

TEST(GcraParamsTest, EmissionRoundsUpToAMicrosecond) {
  struct Case {
    uint32_t count, interval_seconds;
    int64_t emission_us, tolerance_us;
  };
  const Case cases[] = {
      {1000, 600, 600'000, 600'000'000},  // Monta's example
      {1, 1, 1'000'000, 1'000'000},
      {3, 10, 3'333'334, 10'000'002},  // rounded up: never above the rate
      {2'000'000, 1, 1, 2'000'000},    // held to one per microsecond
      {1, 4'294'967'295u, 4'294'967'295'000'000, 4'294'967'295'000'000},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.count, "/", c.interval_seconds));
    const GcraParams params = GcraParamsFor(c.count, c.interval_seconds);
    EXPECT_EQ(params.emission_us, c.emission_us);
    EXPECT_EQ(params.tolerance_us, c.tolerance_us);
  }
}

constexpr int64_t kNow = 4'102'444'800'000'000;  // 2100-01-01, in us

TEST(GcraLeaseModelTest, Table) {
  const GcraParams p = GcraParamsFor(5, 10);  // T = 2 s, burst 5
  const int64_t T = 2'000'000;
  struct Step {
    const char* name;
    int64_t at_us;  // since kNow
    int64_t want;
    int64_t granted, remaining, retry_after_us;
  };
  const Step steps[] = {
      {"a fresh client leases 3 of its burst of 5", 0, 3, 3, 2, 0},
      {"a lease larger than what is free gets what is free", 0, 10, 2, 0, 0},
      {"spent: refused, retry after exactly T", 0, 1, 0, 0, T},
      {"just before T: still refused", T - 1, 4, 0, 0, 1},
      {"at T: one", T, 4, 1, 0, 0},
      {"idle for a whole interval: the full burst again", 20 * T, 9, 5, 0, 0},
      {"clock stepped back an hour: clamped, refused for at most T",
       20 * T - 3'600'000'000, 1, 0, 0, T},
      {"and T later (on the stepped-back clock) one is free",
       20 * T - 3'600'000'000 + T, 2, 1, 0, 0},
  };
  std::optional<int64_t> tat;
  for (const Step& s : steps) {
    SCOPED_TRACE(s.name);
    const GcraLeaseAnswer a = GcraLease(tat, kNow + s.at_us, p, s.want);
    EXPECT_EQ(a.granted, s.granted);
    EXPECT_EQ(a.remaining, s.remaining);
    EXPECT_EQ(a.retry_after_us, s.retry_after_us);
  }
}

// With leases of one and whole-microsecond emission intervals, the model
// decides exactly as the single-process limiter (rate_limiter.h): same
// admissions, same retry_after, same remaining, clock steps back included.
TEST(GcraLeaseModelTest, OneAtATimeIsTheSingleProcessLimiter) {
  const auth::RateLimitConfig limits[] = {
      {1000, 600}, {3, 6}, {7, 7}, {10, 1}, {1, 1}, {250, 1}, {1, 3600}};
  std::mt19937_64 random(17);
  for (const auth::RateLimitConfig& limit : limits) {
    SCOPED_TRACE(absl::StrCat(limit.count, "/", limit.interval_seconds));
    const GcraParams p = GcraParamsFor(limit.count, limit.interval_seconds);
    auth::RateCell cell;
    cell.SetLimit(limit);
    std::optional<int64_t> tat;
    int64_t now = kNow;
    int admitted = 0;
    for (int i = 0; i < 4000; ++i) {
      switch (random() % 8) {
        case 0:  // a step back, up to two intervals
          now -= static_cast<int64_t>(random() % (2 * p.tolerance_us));
          break;
        case 1:
        case 2:  // same instant
          break;
        default:  // forward, up to 3 T
          now += static_cast<int64_t>(random() % (3 * p.emission_us + 1));
      }
      const auth::RateDecision single =
          auth::CheckRate(cell, absl::FromUnixMicros(now));
      const GcraLeaseAnswer lease = GcraLease(tat, now, p, 1);
      ASSERT_EQ(single.allowed, lease.granted == 1) << "step " << i;
      if (single.allowed) {
        ++admitted;
        ASSERT_EQ(single.remaining, lease.remaining) << "step " << i;
      } else {
        ASSERT_EQ(single.retry_after, absl::Microseconds(lease.retry_after_us))
            << "step " << i;
      }
    }
    EXPECT_GT(admitted, 100);  // the sequence exercised both answers
  }
}

// A lease of k at one instant is k leases of one at that instant.
TEST(GcraLeaseModelTest, ALeaseIsThatManyChecksAtOnce) {
  std::mt19937_64 random(18);
  const GcraParams p = GcraParamsFor(100, 60);
  std::optional<int64_t> batched;
  std::optional<int64_t> single;
  int64_t now = kNow;
  for (int i = 0; i < 2000; ++i) {
    now += static_cast<int64_t>(random() % (4 * p.emission_us));
    const int64_t want = 1 + static_cast<int64_t>(random() % 12);
    const GcraLeaseAnswer lease = GcraLease(batched, now, p, want);
    int64_t granted = 0;
    for (int64_t k = 0; k < want; ++k) {
      granted += GcraLease(single, now, p, 1).granted;
    }
    ASSERT_EQ(lease.granted, granted) << "step " << i;
    ASSERT_EQ(batched, single) << "step " << i;
  }
}

TEST(RateLimitOptionsTest, Defaults) {
  absl::StatusOr<RateLimitOptions> options =
      RateLimitOptionsFromConfig(server::v1::RateLimitConfig());
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->mode, RateLimitMode::kLocal);
  EXPECT_EQ(options->on_outage, OutagePolicy::kLocal);
  EXPECT_EQ(options->lease_share, 0.01);
  EXPECT_EQ(options->max_lease, 100u);
  EXPECT_EQ(options->outage_retry, absl::Milliseconds(500));
  EXPECT_EQ(options->clock, GcraClock::kRedis);
}

TEST(RateLimitOptionsTest, Parsed) {
  server::v1::RateLimitConfig config;
  config.set_mode("redis");
  config.set_on_outage("deny");
  config.set_lease_share(0);
  config.set_max_lease(7);
  config.set_outage_retry_ms(60000);
  absl::StatusOr<RateLimitOptions> options = RateLimitOptionsFromConfig(config);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->mode, RateLimitMode::kRedis);
  EXPECT_EQ(options->on_outage, OutagePolicy::kDeny);
  EXPECT_EQ(options->lease_share, 0);
  EXPECT_EQ(options->max_lease, 7u);
  EXPECT_EQ(options->outage_retry, absl::Seconds(60));
}

TEST(RateLimitOptionsTest, Errors) {
  server::v1::RateLimitConfig config;
  config.set_mode("redis2");
  config.set_on_outage("allow");
  config.set_lease_share(1.5);
  config.set_max_lease(70000);
  config.set_outage_retry_ms(60001);
  absl::StatusOr<RateLimitOptions> options = RateLimitOptionsFromConfig(config);
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(options.status().message(),
            "rate_limit.mode: unknown \"redis2\" (expected \"local\" or "
            "\"redis\"); rate_limit.on_outage: unknown \"allow\" (expected "
            "\"local\" or \"deny\"); rate_limit.outage_retry_ms: 60001 is "
            "outside [1, 60000]; rate_limit.lease_share: 1.5 is outside [0, "
            "1]; rate_limit.max_lease: 70000 is outside [1, 65536]");
  server::v1::RateLimitConfig nan;
  nan.set_lease_share(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(RateLimitOptionsFromConfig(nan).status().message(),
            "rate_limit.lease_share: nan is outside [0, 1]");
}

TEST(RateLimitOptionsTest, LeaseSize) {
  RateLimitOptions options;  // 1%, at most 100
  EXPECT_EQ(LeaseSize(options, 1000), 10u);
  EXPECT_EQ(LeaseSize(options, 199), 1u);
  EXPECT_EQ(LeaseSize(options, 1), 1u);
  EXPECT_EQ(LeaseSize(options, 4'000'000'000u), 100u);
  options.lease_share = 0;
  EXPECT_EQ(LeaseSize(options, 4'000'000'000u), 1u);
  options.lease_share = 1;
  options.max_lease = 65536;
  EXPECT_EQ(LeaseSize(options, 5), 5u);
}

}  // namespace
}  // namespace portcullis::ratelimit
