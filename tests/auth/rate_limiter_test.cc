#include "engine/auth/rate_limiter.h"

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/auth/clock.h"
#include "gtest/gtest.h"

namespace portcullis::auth {
namespace {

constexpr uint32_t kUnlimitedRemaining = std::numeric_limits<uint32_t>::max();

// An arbitrary, not round, starting instant.
const absl::Time kStart = absl::FromUnixNanos(1'706'700'000'123'456'789);

RateLimiter MakeLimiter(std::vector<RateLimitConfig> configs) {
  absl::StatusOr<RateLimiter> limiter = RateLimiter::Create(configs);
  EXPECT_TRUE(limiter.ok()) << limiter.status();
  return *std::move(limiter);
}

TEST(RateLimiterCreateTest, Errors) {
  struct Case {
    const char* name;
    std::vector<RateLimitConfig> configs;
    const char* message;
  };
  const Case cases[] = {
      {"zero interval",
       {{5, 0}},
       "credential 0: interval_seconds must be positive when count is 5"},
      {"every bad config is listed",
       {{1, 1}, {5, 0}, {0, 0}, {7, 0}},
       "credential 1: interval_seconds must be positive when count is 5; "
       "credential 3: interval_seconds must be positive when count is 7"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<RateLimiter> limiter = RateLimiter::Create(c.configs);
    EXPECT_EQ(limiter.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(limiter.status().message(), c.message);
  }
}

TEST(RateLimiterCreateTest, Sizes) {
  EXPECT_EQ(MakeLimiter({}).size(), 0u);
  EXPECT_EQ(MakeLimiter({{1000, 600}, {0, 0}, {1, 1}}).size(), 3u);
}

TEST(RateLimiterTest, CountZeroIsUnlimited) {
  RateLimiter limiter = MakeLimiter({{0, 0}, {0, 600}});
  for (size_t credential : {0, 1}) {
    SCOPED_TRACE(credential);
    for (int i = 0; i < 10'000; ++i) {
      const RateDecision decision = limiter.Check(credential, kStart);
      ASSERT_TRUE(decision.allowed);
      ASSERT_EQ(decision.retry_after, absl::ZeroDuration());
      ASSERT_EQ(decision.remaining, kUnlimitedRemaining);
    }
  }
}

TEST(RateLimiterTest, FailsClosed) {
  RateLimiter limiter = MakeLimiter({{10, 1}, {0, 0}});
  struct Case {
    const char* name;
    size_t credential;
    absl::Time now;
  };
  const Case cases[] = {
      {"unknown credential", 2, kStart},
      {"far unknown credential", std::numeric_limits<size_t>::max(), kStart},
      {"infinite future", 0, absl::InfiniteFuture()},
      {"infinite past", 0, absl::InfinitePast()},
      {"infinite time, unlimited credential", 1, absl::InfiniteFuture()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const RateDecision decision = limiter.Check(c.credential, c.now);
    EXPECT_FALSE(decision.allowed);
    EXPECT_EQ(decision.retry_after, absl::InfiniteDuration());
    EXPECT_EQ(decision.remaining, 0u);
  }
}

struct EdgeCase {
  std::string name;
  RateLimitConfig config;
  // The emission interval the limiter must use.
  absl::Duration emission;
  // When the test starts: early enough that every TAT it creates stays
  // within the int64 nanosecond range.
  absl::Time start = kStart;
};

class RateLimiterEdgeTest : public testing::TestWithParam<EdgeCase> {};

// The documented edges, nanosecond-exact, for one credential.
TEST_P(RateLimiterEdgeTest, WindowEdges) {
  const EdgeCase& c = GetParam();
  const uint32_t count = c.config.count;
  const absl::Duration t = c.emission;
  RateLimiter limiter = MakeLimiter({c.config});
  ManualClock clock(c.start);

  // A fresh credential bursts `count` requests at once.
  for (uint32_t i = 1; i <= count; ++i) {
    const RateDecision decision = limiter.Check(0, clock.Now());
    ASSERT_TRUE(decision.allowed) << "request " << i;
    ASSERT_EQ(decision.retry_after, absl::ZeroDuration());
    ASSERT_EQ(decision.remaining, count - i);
  }
  // The (count+1)-th is refused for exactly one emission interval, and a
  // refusal consumes nothing.
  for (int i = 0; i < 3; ++i) {
    const RateDecision refused = limiter.Check(0, clock.Now());
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after, t);
    EXPECT_EQ(refused.remaining, 0u);
  }
  // One nanosecond early: still refused, for exactly that nanosecond.
  clock.Advance(t - absl::Nanoseconds(1));
  RateDecision decision = limiter.Check(0, clock.Now());
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.retry_after, absl::Nanoseconds(1));
  // Exactly at the retry_after moment: allowed, and nothing is left.
  clock.Advance(absl::Nanoseconds(1));
  decision = limiter.Check(0, clock.Now());
  EXPECT_TRUE(decision.allowed);
  EXPECT_EQ(decision.remaining, 0u);
  decision = limiter.Check(0, clock.Now());
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.retry_after, t);

  // Half an interval later only half a request has accrued.
  clock.Advance(t / 2);
  decision = limiter.Check(0, clock.Now());
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.retry_after, t - t / 2);

  // count * T after the last allowed request the full burst is back, and
  // not one request more.
  clock.Advance(count * t - t / 2);
  for (uint32_t i = 1; i <= count; ++i) {
    decision = limiter.Check(0, clock.Now());
    ASSERT_TRUE(decision.allowed) << "request " << i;
    ASSERT_EQ(decision.remaining, count - i);
  }
  decision = limiter.Check(0, clock.Now());
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.retry_after, t);
}

// Requests spaced exactly T apart are never refused, and never dig into the
// burst.
TEST_P(RateLimiterEdgeTest, SteadyRateIsAlwaysAllowed) {
  const EdgeCase& c = GetParam();
  RateLimiter limiter = MakeLimiter({c.config});
  ManualClock clock(c.start);
  for (uint32_t i = 0; i < c.config.count + 3; ++i) {
    const RateDecision decision = limiter.Check(0, clock.Now());
    ASSERT_TRUE(decision.allowed) << "request " << i;
    ASSERT_EQ(decision.remaining, c.config.count - 1);
    clock.Advance(c.emission);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Configs, RateLimiterEdgeTest,
    testing::Values(
        EdgeCase{"OnePerSecond", {1, 1}, absl::Seconds(1)},
        EdgeCase{"TenPerSecond", {10, 1}, absl::Milliseconds(100)},
        EdgeCase{"Monta1000Per600s", {1000, 600}, absl::Milliseconds(600)},
        // 1 s / 3 is not whole nanoseconds: T rounds up, so the rate never
        // exceeds the configured one.
        EdgeCase{
            "ThreePerSecondRoundsUp", {3, 1}, absl::Nanoseconds(333'333'334)},
        // T = 136 years: starts in 1677 so that four intervals fit.
        EdgeCase{"OnePerLongestInterval",
                 {1, std::numeric_limits<uint32_t>::max()},
                 absl::Seconds(std::numeric_limits<uint32_t>::max()),
                 absl::FromUnixNanos(std::numeric_limits<int64_t>::min())}),
    [](const testing::TestParamInfo<EdgeCase>& info) {
      return info.param.name;
    });

// Arrivals every T/3 for five intervals: the allowed requests are the burst
// plus one per T, which is the documented bound count + floor(D / T).
TEST(RateLimiterTest, DenseArrivalsMeetTheBound) {
  constexpr uint32_t kCount = 100;
  const absl::Duration t = absl::Milliseconds(60);  // 100 per 6 s.
  RateLimiter limiter = MakeLimiter({{kCount, 6}});
  ManualClock clock(kStart);
  std::vector<absl::Time> allowed;
  while (clock.Now() <= kStart + 5 * 100 * t) {
    if (limiter.Check(0, clock.Now()).allowed) allowed.push_back(clock.Now());
    clock.Advance(t / 3);
  }
  EXPECT_EQ(allowed.size(), kCount + 5 * 100);
  // Every window [allowed[i], allowed[i] + D] holds at most count + D/T.
  for (const absl::Duration window : {t, 10 * t, 100 * t, 250 * t}) {
    SCOPED_TRACE(window);
    const int64_t bound = kCount + window / t;
    for (size_t i = 0, j = 0; i < allowed.size(); ++i) {
      while (j < allowed.size() && allowed[j] <= allowed[i] + window) ++j;
      ASSERT_LE(static_cast<int64_t>(j - i), bound) << "window at " << i;
    }
  }
}

TEST(RateLimiterTest, CredentialsAreIndependent) {
  RateLimiter limiter = MakeLimiter({{2, 60}, {2, 60}, {0, 0}});
  EXPECT_TRUE(limiter.Check(0, kStart).allowed);
  EXPECT_TRUE(limiter.Check(0, kStart).allowed);
  EXPECT_FALSE(limiter.Check(0, kStart).allowed);
  const RateDecision other = limiter.Check(1, kStart);
  EXPECT_TRUE(other.allowed);
  EXPECT_EQ(other.remaining, 1u);
  EXPECT_TRUE(limiter.Check(2, kStart).allowed);
}

// A step back grants nothing, and costs at most one interval: the burst is
// judged fully spent, however far back the clock went.
TEST(RateLimiterTest, ClockSteppingBackGrantsNothing) {
  RateLimiter limiter = MakeLimiter({{2, 2}});  // T = 1 s.
  EXPECT_TRUE(limiter.Check(0, kStart).allowed);
  EXPECT_TRUE(limiter.Check(0, kStart).allowed);
  const absl::Time back = kStart - absl::Hours(1);
  const RateDecision decision = limiter.Check(0, back);
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.retry_after, absl::Seconds(1));
  EXPECT_TRUE(limiter.Check(0, back + absl::Seconds(1)).allowed);
  EXPECT_FALSE(limiter.Check(0, back + absl::Seconds(1)).allowed);
}

// The finding of the deployment-safety issue: a day's forward jump, a burst
// spent in it, and the clock's return locked the client out for the day.
TEST(RateLimiterTest, AForwardJumpAndReturnCostsAtMostOneInterval) {
  RateLimiter limiter = MakeLimiter({{1000, 600}});  // T = 0.6 s.
  const absl::Time jumped = kStart + absl::Hours(24);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Check(0, jumped).allowed);
  const RateDecision refused = limiter.Check(0, kStart);
  EXPECT_FALSE(refused.allowed);
  EXPECT_LE(refused.retry_after, absl::Seconds(600));
  EXPECT_TRUE(limiter.Check(0, kStart + refused.retry_after).allowed);
  // A full burst again one interval after the return.
  const absl::Time later = kStart + absl::Seconds(600) + refused.retry_after;
  for (int i = 0; i < 999; ++i) ASSERT_TRUE(limiter.Check(0, later).allowed);
}

TEST(RateLimiterTest, WorksAtTheEpochAndBeforeIt) {
  RateLimiter limiter = MakeLimiter({{1, 1}, {1, 1}});
  for (size_t credential : {0, 1}) {
    const absl::Time start = credential == 0
                                 ? absl::UnixEpoch()
                                 : absl::UnixEpoch() - absl::Hours(24 * 365);
    SCOPED_TRACE(start);
    EXPECT_TRUE(limiter.Check(credential, start).allowed);
    const RateDecision refused = limiter.Check(credential, start);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after, absl::Seconds(1));
    EXPECT_TRUE(limiter.Check(credential, start + absl::Seconds(1)).allowed);
  }
}

// Near the end of the int64 nanosecond range (2262-04-11): a request whose
// TAT would pass it is refused rather than recorded wrongly.
TEST(RateLimiterTest, RefusesWhatItCannotRecord) {
  const absl::Time end =
      absl::FromUnixNanos(std::numeric_limits<int64_t>::max());
  RateLimiter limiter = MakeLimiter({{1, 60}, {1, 60}, {1, 60}});
  const RateDecision last_fit = limiter.Check(0, end - absl::Seconds(60));
  EXPECT_TRUE(last_fit.allowed);
  struct Case {
    const char* name;
    size_t credential;
    absl::Time now;
  };
  const Case cases[] = {
      {"TAT one nanosecond too late", 1,
       end - absl::Seconds(60) + absl::Nanoseconds(1)},
      {"finite time past the range", 2, absl::FromUnixSeconds(10'000'000'000)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const RateDecision decision = limiter.Check(c.credential, c.now);
    EXPECT_FALSE(decision.allowed);
    EXPECT_EQ(decision.retry_after, absl::InfiniteDuration());
  }
}

TEST(RateLimiterTest, MoveKeepsState) {
  RateLimiter limiter = MakeLimiter({{1, 1}});
  EXPECT_TRUE(limiter.Check(0, kStart).allowed);
  RateLimiter moved = std::move(limiter);
  EXPECT_FALSE(moved.Check(0, kStart).allowed);
}

// Many threads hammering one credential at one instant: exactly `count`
// requests get through, however the CAS races resolve. Other threads on other
// credentials are unaffected. Under TSAN this also checks the atomics.
TEST(RateLimiterTest, ConcurrentChecksNeverOverAdmit) {
  constexpr uint32_t kCount = 1000;
  constexpr int kThreads = 8;
  constexpr int kChecksPerThread = 500;
  RateLimiter limiter = MakeLimiter({{kCount, 60}, {kCount, 60}});
  std::atomic<bool> go{false};
  std::atomic<int> allowed_shared{0};
  std::atomic<int> allowed_own{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int j = 0; j < kChecksPerThread; ++j) {
        if (limiter.Check(0, kStart).allowed) allowed_shared.fetch_add(1);
        // One thread spends exactly the other credential's burst.
        if (i == 0 && j < static_cast<int>(kCount) &&
            limiter.Check(1, kStart).allowed) {
          allowed_own.fetch_add(1);
        }
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed_shared.load(), static_cast<int>(kCount));
  EXPECT_EQ(allowed_own.load(), kChecksPerThread);
  const RateDecision next = limiter.Check(0, kStart);
  EXPECT_FALSE(next.allowed);
  EXPECT_EQ(next.retry_after, absl::Milliseconds(60));
}

// The state lives per client id; policies only set the limits.
TEST(ClientRateLimitsTest, StateIsPerClientIdAcrossPolicies) {
  ClientRateLimits limits;
  ASSERT_TRUE(limits.SetLimits({{"c-1", {3, 30}}, {"c-2", {0, 0}}}).ok());
  const std::shared_ptr<RateCell> cell = limits.Find("c-1");
  ASSERT_NE(cell, nullptr);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(CheckRate(*cell, kStart).allowed);
  EXPECT_FALSE(limits.Check("c-1", kStart).allowed);

  // The next policy lists c-1 later, with 6 per 30 s (T = 5 s): the same
  // cell, its spent burst kept and judged against the new limit.
  ASSERT_TRUE(limits.SetLimits({{"c-2", {0, 0}}, {"c-1", {6, 30}}}).ok());
  EXPECT_EQ(limits.Find("c-1"), cell);
  const RateDecision d = CheckRate(*cell, kStart);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, absl::Seconds(5));
  EXPECT_TRUE(CheckRate(*cell, kStart + absl::Seconds(5)).allowed);

  // A policy without c-1: refused, state kept; listed again: as it was.
  ASSERT_TRUE(limits.SetLimits({{"c-2", {0, 0}}}).ok());
  EXPECT_EQ(CheckRate(*cell, kStart + absl::Seconds(5)).retry_after,
            absl::InfiniteDuration());
  EXPECT_FALSE(limits.Check("c-1", kStart + absl::Seconds(5)).allowed);
  ASSERT_TRUE(limits.SetLimits({{"c-1", {6, 30}}}).ok());
  EXPECT_FALSE(CheckRate(*cell, kStart + absl::Seconds(5)).allowed);
  EXPECT_TRUE(CheckRate(*cell, kStart + absl::Seconds(10)).allowed);

  // Unlimited, then limited: an unlimited client spends nothing.
  ASSERT_TRUE(limits.SetLimits({{"c-2", {0, 0}}}).ok());
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(limits.Check("c-2", kStart).allowed);
  }
  ASSERT_TRUE(limits.SetLimits({{"c-2", {2, 10}}}).ok());
  EXPECT_TRUE(limits.Check("c-2", kStart).allowed);
  EXPECT_TRUE(limits.Check("c-2", kStart).allowed);
  EXPECT_FALSE(limits.Check("c-2", kStart).allowed);

  // Never listed: refused for ever.
  EXPECT_EQ(limits.Find("c-nobody"), nullptr);
  EXPECT_EQ(limits.Check("c-nobody", kStart).retry_after,
            absl::InfiniteDuration());
}

TEST(ClientRateLimitsTest, BadLimitsChangeNothing) {
  ClientRateLimits limits;
  ASSERT_TRUE(limits.SetLimits({{"c-1", {1, 30}}}).ok());
  EXPECT_EQ(limits.SetLimits({{"c-1", {0, 0}}, {"c-\n", {5, 0}}}).ToString(),
            "INVALID_ARGUMENT: client \"c-\\n\": interval_seconds must be "
            "positive when count is 5");
  EXPECT_TRUE(limits.Check("c-1", kStart).allowed);
  EXPECT_FALSE(limits.Check("c-1", kStart).allowed);  // still 1 per 30 s
  EXPECT_EQ(limits.Find("c-\n"), nullptr);
}

// The front of a shared limiter keeps its lease and cached refusal in the
// cell; a change of limit voids both (advancing the lease epoch), an
// unchanged limit (every reload sets every limit) keeps them.
TEST(RateCellTest, ALimitChangeVoidsTheLease) {
  RateCell cell;
  cell.SetLimit({10, 60});
  const uint64_t epoch = cell.lease.load() >> 32;
  cell.lease.store((epoch << 32) | 7);
  cell.refused_until.store(123);
  cell.SetLimit({10, 60});
  EXPECT_EQ(cell.lease.load(), (epoch << 32) | 7);
  EXPECT_EQ(cell.refused_until.load(), 123);
  cell.SetLimit({11, 60});
  EXPECT_EQ(cell.lease.load(), (epoch + 1) << 32);
  EXPECT_EQ(cell.refused_until.load(), std::numeric_limits<int64_t>::min());
  ClientRateLimits limits;
  ASSERT_TRUE(limits.SetLimits({{"c-1", {5, 1}}}).ok());
  std::shared_ptr<RateCell> c1 = limits.Find("c-1");
  c1->lease.fetch_add(3);
  ASSERT_TRUE(limits.SetLimits({}).ok());  // c-1 no longer listed
  EXPECT_EQ(c1->lease.load() & 0xffffffff, 0u);
}

}  // namespace
}  // namespace portcullis::auth
