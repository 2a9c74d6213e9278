// Three `portcullis serve` replicas (in-process, each its own listener and
// state directory, as tests/redis/replicas_test.cc runs them) with
// token_store.kind and rate_limit.mode "redis" against one redis-server: one
// client's rate limit holds across all of them under concurrent load, a Redis
// outage never lets the client past its limit, and once Redis is back the
// replicas count there again without a restart. Also the configuration:
// mode "redis" needs the token store in Redis.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/config.h"
#include "server/ratelimit/distributed_rate_limiter.h"
#include "server/ratelimit/rate_limit_options.h"
#include "server/service.h"
#include "tests/redis/redis_server.h"
#include "tests/server/test_http.h"

namespace portcullis::server::testing {
namespace {

using ::portcullis::test::RedisServer;

constexpr int kCount = 60;  // per 600 s (the Monta example's interval): T 10 s
constexpr int kReplicas = 3;
constexpr int kLease = 6;  // lease_share 0.1

std::string AuthorizeHeaders(const std::string& token) {
  return absl::StrCat(
      "X-Original-Method: GET\r\nX-Original-URI: /charge-points\r\n"
      "Authorization: Bearer ",
      token, "\r\nx-monite-entity-id: team-north\r\n");
}

class RateLimitReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    for (int i = 0; i < kReplicas; ++i) {
      TestServerOptions options;
      options.admin = true;
      options.policy = MontaPolicy(kCount);
      options.config = absl::StrCat(
          "token_store { kind: \"redis\" }\n"
          "redis { address: \"127.0.0.1:",
          redis_->port(),
          "\" key_prefix: \"test:\" command_timeout_ms: 2000 }\n"
          "rate_limit { mode: \"redis\" lease_share: 0.1 "
          "outage_retry_ms: 100 }\n");
      replicas_.push_back(TestServer::Start(options));
      ASSERT_NE(replicas_.back(), nullptr);
    }
  }

  void TearDown() override {
    replicas_.clear();  // before Redis goes
    redis_.reset();
  }

  // Registers `client` through replica 0's admin listener (every replica
  // knows it then) and returns an access token issued by replica 0.
  std::string RegisterAndIssue(const std::string& client) {
    Response r =
        replicas_[0]->Admin("POST", absl::StrCat("/admin/clients/", client));
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    r = replicas_[0]->TokenAnswer(client, JsonField(r.body(), "client_secret"));
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    return JsonField(r.body(), "accessToken");
  }

  int Authorize(int replica, const std::string& token) {
    return static_cast<int>(Exchange(replicas_[replica]->port(), "GET",
                                     "/v1/authorize", AuthorizeHeaders(token))
                                .result_int());
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<std::unique_ptr<TestServer>> replicas_;
};

TEST_F(RateLimitReplicasTest, OneLimitAcrossReplicasThroughAnOutage) {
  const std::string token = RegisterAndIssue("monta-cp-reader");
  const std::string other = RegisterAndIssue("monta-cp-admin");

  // Two keep-alive connections per replica, kCount requests each: 6 x the
  // limit in well under T.
  std::atomic<int> allowed{0};
  std::atomic<int> limited{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, i] {
        HttpClient client(replicas_[i]->port());
        for (int n = 0; n < kCount; ++n) {
          Response r =
              client.Send("GET", "/v1/authorize", AuthorizeHeaders(token));
          if (r.result_int() == 200) {
            allowed.fetch_add(1);
          } else if (r.result_int() == 429 &&
                     !Header(r, "Retry-After").empty()) {
            limited.fetch_add(1);
          } else {
            unexpected.fetch_add(1);
          }
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();
  // Redis counted exactly kCount; what was not handed out sits in the
  // replicas' stock, at most kLease - 1 each. (Per-replica limits would
  // have admitted kReplicas * kCount.)
  EXPECT_LE(allowed.load(), kCount);
  EXPECT_GE(allowed.load(), kCount - kReplicas * (kLease - 1));
  EXPECT_EQ(limited.load(), 2 * kReplicas * kCount - allowed.load());
  EXPECT_EQ(unexpected.load(), 0);

  // Redis killed: a replica answers from its stock, its cached refusal, its
  // own limit (on_outage "local", for grants still trusted from its cache)
  // or 503 (a token it cannot look up). Never past the limit: within T the
  // client never gets more than kCount in all.
  ASSERT_TRUE(redis_->Kill().ok());
  int outage_allowed = 0;
  for (int n = 0; n < 10; ++n) {
    for (int i = 0; i < kReplicas; ++i) {
      const int status = Authorize(i, token);
      EXPECT_TRUE(status == 200 || status == 429 || status == 503) << status;
      outage_allowed += status == 200;
    }
  }
  EXPECT_LE(allowed.load() + outage_allowed, kCount);

  // Restarted (AOF replayed), replicas untouched: once replica 0's limiter
  // reaches Redis again, monta-cp-admin's requests, spread over replicas 0
  // and 1, are counted once in Redis: at most kCount in all (each replica's
  // own limit would have admitted kCount on each).
  ASSERT_TRUE(redis_->Restart().ok());
  ratelimit::DistributedRateLimiter* limiter =
      replicas_[0]->server().service().distributed_rate_limiter();
  ASSERT_NE(limiter, nullptr);
  bool recovered = false;
  for (int attempt = 0; attempt < 100 && !recovered; ++attempt) {
    const ratelimit::DistributedRateLimiterStats before = limiter->Stats();
    Authorize(0, other);
    const ratelimit::DistributedRateLimiterStats after = limiter->Stats();
    recovered = after.redis_calls - before.redis_calls >
                after.redis_errors - before.redis_errors;
    if (!recovered) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(recovered) << limiter->LastError();
  absl::SleepFor(absl::Milliseconds(150));  // replica 1's outage_retry too
  int other_allowed = 1;                    // the probe that recovered
  for (int n = 0; n < 2 * kCount; ++n) {
    other_allowed += Authorize(n % 2, other) == 200;
  }
  EXPECT_LE(other_allowed, kCount);
  EXPECT_GE(other_allowed, kCount - 2 * (kLease - 1));

  // /metrics counts what happened on replica 0 (its outage requests may all
  // have been answered before the rate limit: errors may be 0).
  const std::string metrics =
      Exchange(replicas_[0]->port(), "GET", "/metrics", "").body();
  for (const char* name : {"portcullis_rate_limit_redis_calls_total",
                           "portcullis_rate_limit_leases_total",
                           "portcullis_rate_limit_redis_refusals_total",
                           "portcullis_rate_limit_cached_refusals_total",
                           "portcullis_rate_limit_redis_errors_total",
                           "portcullis_rate_limit_outage_decisions_total"}) {
    EXPECT_TRUE(absl::StrContains(metrics, absl::StrCat(name, " "))) << name;
  }
  for (const char* name : {"portcullis_rate_limit_redis_calls_total",
                           "portcullis_rate_limit_leases_total",
                           "portcullis_rate_limit_redis_refusals_total"}) {
    EXPECT_FALSE(absl::StrContains(metrics, absl::StrCat(name, " 0\n")))
        << name;
  }
}

TEST(RateLimitConfigTest, RedisModeNeedsTheRedisTokenStore) {
  const std::string base = R"pb(
    listen: "127.0.0.1:0"
    policy { files: "policy.txtpb" }
    keys { token_key_file: "t.key" registry_key_file: "r.key" }
    tokens { oauth_token_format: "opaque" }
  )pb";
  absl::StatusOr<ServerSettings> settings =
      ParseServerConfig(base + "rate_limit { mode: \"redis\" }", "/tmp");
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(settings.status().message(),
            "rate_limit.mode: \"redis\" needs token_store.kind \"redis\" (and "
            "the redis section)");
  settings = ParseServerConfig(
      base +
          "token_store { kind: \"redis\" } redis { address: \"127.0.0.1:1\" }"
          "rate_limit { mode: \"redis\" on_outage: \"deny\" lease_share: 0.5 "
          "max_lease: 7 outage_retry_ms: 250 }",
      "/tmp");
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->rate_limit.mode, ratelimit::RateLimitMode::kRedis);
  EXPECT_EQ(settings->rate_limit.on_outage, ratelimit::OutagePolicy::kDeny);
  EXPECT_EQ(settings->rate_limit.lease_share, 0.5);
  EXPECT_EQ(settings->rate_limit.max_lease, 7u);
  EXPECT_EQ(settings->rate_limit.outage_retry, absl::Milliseconds(250));
  settings =
      ParseServerConfig(base + "rate_limit { mode: \"cluster\" }", "/tmp");
  EXPECT_EQ(settings.status().message(),
            "rate_limit.mode: unknown \"cluster\" (expected \"local\" or "
            "\"redis\")");
  settings = ParseServerConfig(base, "/tmp");
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->rate_limit.mode, ratelimit::RateLimitMode::kLocal);
}

}  // namespace
}  // namespace portcullis::server::testing
