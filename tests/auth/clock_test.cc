#include "engine/auth/clock.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace portcullis::auth {
namespace {

TEST(SystemClockTest, InstanceIsShared) {
  EXPECT_EQ(&SystemClock::Instance(), &SystemClock::Instance());
}

TEST(SystemClockTest, ReadsTheWallClock) {
  const Clock& clock = SystemClock::Instance();
  const absl::Time before = absl::Now();
  const absl::Time now = clock.Now();
  const absl::Time after = absl::Now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
}

TEST(ManualClockTest, StartsAtTheEpochByDefault) {
  ManualClock clock;
  EXPECT_EQ(clock.Now(), absl::UnixEpoch());
}

TEST(ManualClockTest, StartsWhereTold) {
  const absl::Time start = absl::FromUnixSeconds(1'700'000'000);
  ManualClock clock(start);
  EXPECT_EQ(clock.Now(), start);
  EXPECT_EQ(clock.Now(), start) << "reading must not move the clock";
}

TEST(ManualClockTest, Advance) {
  const absl::Time start = absl::FromUnixSeconds(1'700'000'000);
  struct Case {
    const char* name;
    absl::Duration delta;
  };
  const Case cases[] = {
      {"zero", absl::ZeroDuration()},
      {"one nanosecond", absl::Nanoseconds(1)},
      {"one hour", absl::Hours(1)},
      {"backwards", -absl::Minutes(5)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ManualClock clock(start);
    clock.Advance(c.delta);
    EXPECT_EQ(clock.Now(), start + c.delta);
    clock.Advance(c.delta);
    EXPECT_EQ(clock.Now(), start + 2 * c.delta);
  }
}

TEST(ManualClockTest, SetMovesEitherWay) {
  ManualClock clock(absl::FromUnixSeconds(100));
  clock.Set(absl::FromUnixSeconds(50));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(50));
  clock.Set(absl::FromUnixSeconds(1'000));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1'000));
}

TEST(ManualClockTest, UsableThroughTheInterface) {
  ManualClock manual(absl::FromUnixSeconds(7));
  const Clock& clock = manual;
  manual.Advance(absl::Seconds(3));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(10));
}

// Several writers advance while readers watch: every advance is counted once
// and readers never see time go backwards. Run under TSAN, it also checks the
// locking.
TEST(ManualClockTest, ConcurrentAdvanceAndRead) {
  constexpr int kWriters = 4;
  constexpr int kReaders = 2;
  constexpr int kAdvancesPerWriter = 2'000;
  const absl::Time start = absl::FromUnixSeconds(1'700'000'000);
  ManualClock clock(start);
  std::atomic<bool> done{false};
  std::atomic<int> backwards{0};

  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&] {
      absl::Time last = clock.Now();
      while (!done.load(std::memory_order_acquire)) {
        const absl::Time now = clock.Now();
        if (now < last) backwards.fetch_add(1, std::memory_order_relaxed);
        last = now;
      }
    });
  }
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&] {
      for (int j = 0; j < kAdvancesPerWriter; ++j) {
        clock.Advance(absl::Nanoseconds(1));
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  done.store(true, std::memory_order_release);
  for (std::thread& reader : readers) reader.join();

  EXPECT_EQ(clock.Now(),
            start + absl::Nanoseconds(kWriters * kAdvancesPerWriter));
  EXPECT_EQ(backwards.load(), 0);
}

}  // namespace
}  // namespace portcullis::auth
