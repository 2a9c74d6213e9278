#include "server/redis/redis_client.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/redis/redis_server.h"

namespace portcullis::redis {
namespace {

using ::portcullis::test::RedisServer;
using ::testing::HasSubstr;
using ::testing::Not;

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  RedisOptions Options() const {
    RedisOptions options;
    options.port = server_->port();
    options.key_prefix = "test:";
    return options;
  }

  std::unique_ptr<RedisClient> Client(RedisOptions options) {
    absl::StatusOr<std::unique_ptr<RedisClient>> client =
        RedisClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::unique_ptr<RedisServer> server_;
};

TEST_F(RedisClientTest, CommandsAreBinarySafeAndRepliesAreCopied) {
  std::unique_ptr<RedisClient> client = Client(Options());
  ASSERT_NE(client, nullptr);
  const std::string key = client->Key("k");
  EXPECT_EQ(key, "test:k");
  const std::string value("a\0b\r\nc", 6);
  absl::StatusOr<RedisReply> set = client->Command({"SET", key, value});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->type, RedisReply::Type::kStatus);
  EXPECT_EQ(set->string, "OK");

  absl::StatusOr<RedisReply> get = client->Command({"GET", key});
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->type, RedisReply::Type::kString);
  EXPECT_EQ(get->string, value);

  absl::StatusOr<RedisReply> missing = client->Command({"GET", "test:none"});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->type, RedisReply::Type::kNil);

  absl::StatusOr<RedisReply> pushed =
      client->Command({"RPUSH", "test:list", "x", "y"});
  ASSERT_TRUE(pushed.ok());
  EXPECT_EQ(pushed->type, RedisReply::Type::kInteger);
  EXPECT_EQ(pushed->integer, 2);
  absl::StatusOr<RedisReply> range =
      client->Command({"LRANGE", "test:list", "0", "-1"});
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->type, RedisReply::Type::kArray);
  ASSERT_EQ(range->elements.size(), 2u);
  EXPECT_EQ(range->elements[1].string, "y");
}

TEST_F(RedisClientTest, ErrorRepliesAreInternalAndQuoteNoArguments) {
  std::unique_ptr<RedisClient> client = Client(Options());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Command({"SET", "test:secret-key", "v"}).ok());
  absl::StatusOr<RedisReply> wrong =
      client->Command({"LPUSH", "test:secret-key", "secret-value"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(wrong.status().message(), HasSubstr("LPUSH: WRONGTYPE"));
  EXPECT_THAT(wrong.status().message(), Not(HasSubstr("secret")));

  EXPECT_EQ(client->Command({}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RedisClientTest, ScriptsRunByShaAndReloadAfterFlush) {
  std::unique_ptr<RedisClient> client = Client(Options());
  ASSERT_NE(client, nullptr);
  const RedisScript script(
      "return redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))");
  absl::StatusOr<RedisReply> first =
      client->Eval(script, {client->Key("n")}, {"5"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->integer, 5);
  // Redis forgets its scripts (as after a restart): NOSCRIPT, then reload.
  ASSERT_TRUE(client->Command({"SCRIPT", "FLUSH"}).ok());
  absl::StatusOr<RedisReply> second =
      client->Eval(script, {client->Key("n")}, {"2"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->integer, 7);

  const RedisScript broken("return redis.call('NOSUCHCOMMAND')");
  absl::StatusOr<RedisReply> error = client->Eval(broken, {}, {});
  EXPECT_EQ(error.status().code(), absl::StatusCode::kInternal);
}

TEST_F(RedisClientTest, OutageIsUnavailableAndRecoversWithoutNewClient) {
  RedisOptions options = Options();
  options.pool_size = 2;
  std::unique_ptr<RedisClient> client = Client(options);
  ASSERT_NE(client, nullptr);
  const RedisScript script("return redis.call('INCR', KEYS[1])");
  ASSERT_TRUE(client->Eval(script, {client->Key("c")}, {}).ok());
  ASSERT_TRUE(client->Command({"SET", "test:kept", "1"}).ok());

  ASSERT_TRUE(server_->Kill().ok());
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<RedisReply> down = client->Command({"GET", "test:kept"});
    ASSERT_FALSE(down.ok());
    EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable)
        << down.status();
  }
  ASSERT_TRUE(server_->Restart().ok());
  // Within the maximum backoff (1 s), the pool reconnects; the AOF kept the
  // acknowledged write, and the script is loaded again.
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  absl::StatusOr<RedisReply> kept = absl::UnavailableError("not tried");
  while (absl::Now() < deadline) {
    kept = client->Command({"GET", "test:kept"});
    if (kept.ok()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->string, "1");
  absl::StatusOr<RedisReply> counted =
      client->Eval(script, {client->Key("c")}, {});
  ASSERT_TRUE(counted.ok()) << counted.status();
  EXPECT_EQ(counted->integer, 2);
}

TEST_F(RedisClientTest, PausedServerTimesOut) {
  RedisOptions options = Options();
  options.command_timeout = absl::Milliseconds(100);
  std::unique_ptr<RedisClient> client = Client(options);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(server_->Pause().ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<RedisReply> stalled = client->Command({"PING"});
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(server_->Resume().ok());
  EXPECT_EQ(stalled.status().code(), absl::StatusCode::kUnavailable);
  // Generous: the timeout is 100 ms, plus one retry on a fresh connection
  // (its connect succeeds: the kernel accepts for a stopped process).
  EXPECT_LT(took, absl::Seconds(2));
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  absl::StatusOr<RedisReply> pong = absl::UnavailableError("not tried");
  while (absl::Now() < deadline && !pong.ok()) {
    pong = client->Command({"PING"});
  }
  EXPECT_TRUE(pong.ok()) << pong.status();
}

TEST_F(RedisClientTest, ManyThreadsShareThePool) {
  RedisOptions options = Options();
  options.pool_size = 3;
  std::unique_ptr<RedisClient> client = Client(options);
  ASSERT_NE(client, nullptr);
  constexpr int kThreads = 8;
  constexpr int kEach = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        if (!client->Command({"INCR", "test:shared"}).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  absl::StatusOr<RedisReply> total = client->Command({"GET", "test:shared"});
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(total->string, absl::StrCat(kThreads * kEach));
}

TEST(RedisClientPasswordTest, AuthenticatesOrIsRefused) {
  absl::StatusOr<std::unique_ptr<RedisServer>> server =
      RedisServer::Start({"--requirepass", "s3cret-pass"});
  ASSERT_TRUE(server.ok()) << server.status();
  RedisOptions options;
  options.port = (*server)->port();
  options.password = "wrong-pass";
  absl::StatusOr<std::unique_ptr<RedisClient>> refused =
      RedisClient::Create(options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("pass")));
  options.password = "s3cret-pass";
  absl::StatusOr<std::unique_ptr<RedisClient>> accepted =
      RedisClient::Create(options);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_TRUE((*accepted)->Command({"PING"}).ok());
}

TEST(RedisClientOptionsTest, BadOptionsNameEveryField) {
  RedisOptions options;
  options.host = "";
  options.port = 0;
  options.pool_size = 0;
  options.connect_timeout = absl::ZeroDuration();
  options.command_timeout = -absl::Seconds(1);
  options.reconnect_backoff_min = absl::Seconds(2);
  options.reconnect_backoff_max = absl::Seconds(1);
  EXPECT_EQ(ValidateRedisOptions(options),
            absl::InvalidArgumentError(
                "redis: host: empty; port: 0 is out of range [1, 65535]; "
                "connect_timeout: 0 is not positive; command_timeout: -1s is "
                "not positive; pool_size: 0 is out of range [1, 1024]; "
                "reconnect_backoff_max: 1s is less than "
                "reconnect_backoff_min (2s)"));
  EXPECT_EQ(RedisClient::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RedisClientDownTest, CreateFailsAndCreateLazyDoesNot) {
  RedisOptions options;
  options.port = 1;  // Nothing listens there.
  EXPECT_EQ(RedisClient::Create(options).status().code(),
            absl::StatusCode::kUnavailable);
  absl::StatusOr<std::unique_ptr<RedisClient>> lazy =
      RedisClient::CreateLazy(options);
  ASSERT_TRUE(lazy.ok());
  EXPECT_EQ((*lazy)->Command({"PING"}).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace portcullis::redis
