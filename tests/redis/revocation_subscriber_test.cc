// RevocationSubscriber against a real redis-server: messages reach their
// callbacks; a paused Redis is noticed within half the staleness bound and
// the caches are then told every bound / 4; the subscription comes back.
#include "server/redis/revocation_subscriber.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/redis/redis_client.h"
#include "tests/redis/redis_server.h"

namespace portcullis::redis {
namespace {

using ::portcullis::test::RedisServer;

constexpr absl::Duration kBound = absl::Milliseconds(400);

struct Counts {
  std::atomic<uint64_t> last_family{0};
  std::atomic<int> families{0};
  std::atomic<int> all{0};
  std::atomic<int> clients{0};
};

template <typename Predicate>
bool Eventually(Predicate predicate, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (predicate()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return predicate();
}

TEST(RevocationSubscriberTest, MessagesLossAndRecovery) {
  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  RedisOptions options;
  options.port = (*server)->port();
  options.command_timeout = absl::Milliseconds(50);
  options.connect_timeout = absl::Milliseconds(50);
  absl::StatusOr<std::unique_ptr<RedisClient>> client =
      RedisClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();

  Counts counts;
  RevocationCallbacks callbacks;
  callbacks.on_family = [&](uint64_t family) {
    counts.last_family = family;
    ++counts.families;
  };
  callbacks.on_all = [&] { ++counts.all; };
  callbacks.on_clients = [&] { ++counts.clients; };
  absl::StatusOr<std::unique_ptr<RevocationSubscriber>> subscriber =
      RevocationSubscriber::Start(options, "chan", kBound, callbacks);
  ASSERT_TRUE(subscriber.ok()) << subscriber.status();
  ASSERT_TRUE(Eventually([&] { return (*subscriber)->subscribed(); },
                         absl::Seconds(5)));
  const int all_at_start = counts.all.load();
  EXPECT_GE(all_at_start, 1) << "told once subscribed";

  ASSERT_TRUE((*client)->Command({"PUBLISH", "chan", "f 42"}).ok());
  ASSERT_TRUE((*client)->Command({"PUBLISH", "chan", "u"}).ok());
  ASSERT_TRUE((*client)->Command({"PUBLISH", "chan", "c"}).ok());
  ASSERT_TRUE((*client)->Command({"PUBLISH", "chan", "garbage"}).ok());
  ASSERT_TRUE(Eventually([&] { return (*subscriber)->messages() == 4; },
                         absl::Seconds(2)));
  EXPECT_EQ(counts.families.load(), 1);
  EXPECT_EQ(counts.last_family.load(), 42u);
  EXPECT_GE(counts.clients.load(), 2) << "once subscribed, once for 'c'";
  EXPECT_EQ(counts.all.load(), all_at_start + 2)
      << "'u' and anything unknown: everything";
  // Heartbeats keep a quiet subscription alive past the bound.
  absl::SleepFor(2 * kBound);
  EXPECT_TRUE((*subscriber)->subscribed());
  EXPECT_EQ((*subscriber)->losses(), 0u);

  // Paused: lost within bound / 2 (+ bound / 16 polling, + scheduling).
  const int all_before_pause = counts.all.load();
  ASSERT_TRUE((*server)->Pause().ok());
  const absl::Time paused = absl::Now();
  ASSERT_TRUE(Eventually([&] { return !(*subscriber)->subscribed(); },
                         absl::Seconds(2)));
  EXPECT_LT(absl::Now() - paused, kBound) << "noticed within the bound";
  EXPECT_GT(counts.all.load(), all_before_pause);
  // Told again every bound / 4 while not subscribed.
  const int all_after_loss = counts.all.load();
  absl::SleepFor(kBound);
  EXPECT_GE(counts.all.load(), all_after_loss + 2);
  ASSERT_TRUE((*server)->Resume().ok());
  EXPECT_TRUE(Eventually([&] { return (*subscriber)->subscribed(); },
                         absl::Seconds(5)));
  EXPECT_GE((*subscriber)->losses(), 1u);
}

TEST(RevocationSubscriberTest, BadArguments) {
  RedisOptions options;
  RevocationCallbacks callbacks;
  callbacks.on_family = [](uint64_t) {};
  callbacks.on_all = [] {};
  callbacks.on_clients = [] {};
  EXPECT_EQ(
      RevocationSubscriber::Start(options, "c", absl::Milliseconds(10),
                                  callbacks)
          .status(),
      absl::InvalidArgumentError("redis: staleness_bound: 10ms is under 20ms"));
  callbacks.on_all = nullptr;
  EXPECT_EQ(
      RevocationSubscriber::Start(options, "c", absl::Seconds(1), callbacks)
          .status(),
      absl::InvalidArgumentError("redis: a revocation callback is unset"));
}

}  // namespace
}  // namespace portcullis::redis
