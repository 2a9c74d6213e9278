// Three `portcullis serve` replicas (in-process Servers over one
// configuration, each with its own state directory) with rate_limit.mode
// "redis" against one redis-server: one client's rate limit holds across all
// of them under concurrent load; with Redis killed each falls back to its
// own limit, and uses Redis again once it is back. Also the configuration:
// mode "redis" needs the Redis connection.
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
#include "server/redis/redis_client.h"
#include "server/service.h"
#include "tests/redis/redis_server.h"
#include "tests/server/test_http.h"

namespace portcullis::server {
namespace {

using ::portcullis::server::testing::Exchange;
using ::portcullis::server::testing::Header;
using ::portcullis::server::testing::HttpClient;
using ::portcullis::server::testing::JsonField;
using ::portcullis::server::testing::MontaPolicy;
using ::portcullis::server::testing::ReadFile;
using ::portcullis::server::testing::Response;
using ::portcullis::server::testing::TestServer;
using ::portcullis::server::testing::WriteFileAtomically;

constexpr int kCount = 60;  // per 600 s (the Monta example's interval): T 10 s
constexpr int kReplicas = 3;
constexpr int kLease = 6;  // lease_share 0.1

std::string AuthorizeHeaders(const std::string& token) {
  return absl::StrCat(
      "X-Original-Method: GET\r\nX-Original-URI: /charge-points\r\n"
      "Authorization: Bearer ",
      token, "\r\nx-monite-entity-id: team-north\r\n");
}

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<test::RedisServer>> redis =
        test::RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    // A first server writes the configuration, registers the client and
    // saves the registry; every replica starts from a copy of that state.
    std::unique_ptr<TestServer> seed =
        TestServer::Start(MontaPolicy(kCount), "");
    ASSERT_NE(seed, nullptr);
    secret_ = seed->Secret("monta-cp-reader");
    other_secret_ = seed->Secret("monta-cp-admin");
    probe_secret_ = seed->Secret("monta-full-access");
    dir_ = seed->dir();
    ASSERT_TRUE(seed->Stop());
    const std::string clients = ReadFile(dir_ + "/state/clients.sealed");
    ASSERT_FALSE(clients.empty());
    for (int i = 0; i < kReplicas; ++i) {
      absl::StatusOr<ServerSettings> settings =
          LoadServerConfig(dir_ + "/server.txtpb");
      ASSERT_TRUE(settings.ok()) << settings.status();
      settings->log_level = LogLevel::kError;
      settings->state_dir = absl::StrCat(dir_, "/state-", i);
      ASSERT_EQ(::mkdir(settings->state_dir.c_str(), 0700), 0);
      WriteFileAtomically(settings->state_dir + "/clients.sealed", clients);
      redis::RedisOptions redis_options;
      redis_options.port = redis_->port();
      redis_options.key_prefix = "replicas-test:";
      settings->redis = redis_options;
      settings->rate_limit.mode = ratelimit::RateLimitMode::kRedis;
      settings->rate_limit.lease_share = 0.1;
      settings->rate_limit.outage_retry = absl::Milliseconds(100);
      absl::StatusOr<std::unique_ptr<Server>> server =
          Server::Start(std::move(*settings));
      ASSERT_TRUE(server.ok()) << server.status();
      ports_.push_back((*server)->endpoints()[0].port());
      replicas_.push_back(std::move(*server));
    }
    for (int i = 0; i < kReplicas; ++i) {
      tokens_.push_back(Token(i, "monta-cp-reader", secret_));
    }
  }

  // An access token from replica i. Each replica has its own token store
  // here (not the point of this test): a client gets its token from the
  // replica it talks to.
  std::string Token(int i, const std::string& client,
                    const std::string& secret) {
    Response r = Exchange(
        ports_[i], "POST", "/auth/token", "Content-Type: application/json\r\n",
        absl::StrCat("{\"clientId\":\"", client, "\",\"clientSecret\":\"",
                     secret, "\"}"));
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    return JsonField(r.body(), "accessToken");
  }

  void TearDown() override {
    for (auto& replica : replicas_) EXPECT_TRUE(replica->Shutdown().ok());
  }

  std::unique_ptr<test::RedisServer> redis_;
  std::string dir_;
  std::string secret_;
  std::string other_secret_;  // monta-cp-admin's
  std::string probe_secret_;  // monta-full-access's
  std::vector<std::unique_ptr<Server>> replicas_;
  std::vector<unsigned short> ports_;
  std::vector<std::string> tokens_;
};

TEST_F(ReplicasTest, OneLimitAcrossReplicasThenOutageAndRecovery) {
  std::atomic<int> allowed{0};
  std::atomic<int> limited{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, i] {
        HttpClient client(ports_[i]);
        for (int n = 0; n < kCount; ++n) {
          Response r =
              client.Send("GET", "/v1/authorize", AuthorizeHeaders(tokens_[i]));
          if (r.result_int() == 200) {
            allowed.fetch_add(1);
          } else if (r.result_int() == 429 &&
                     !Header(r, "Retry-After").empty()) {
            limited.fetch_add(1);
          } else {
            other.fetch_add(1);
          }
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();
  // Redis counted exactly kCount (the run is far shorter than T); some may
  // sit in a replica's stock: at most kLease - 1 each.
  EXPECT_LE(allowed.load(), kCount);
  EXPECT_GE(allowed.load(), kCount - kReplicas * (kLease - 1));
  EXPECT_EQ(limited.load(), 2 * kReplicas * kCount - allowed.load());
  EXPECT_EQ(other.load(), 0);
  // (Per-replica limits would have let 3 * kCount through.)

  // Redis killed (SIGKILL): each replica falls back to its own limit
  // (on_outage "local"). monta-cp-reader stays refused (its refusal is
  // cached for up to T); monta-cp-admin, never seen, is admitted by each
  // replica from its own cell.
  ASSERT_TRUE(redis_->Kill().ok());
  std::vector<std::string> admin_tokens;
  for (int i = 0; i < kReplicas; ++i) {
    admin_tokens.push_back(Token(i, "monta-cp-admin", other_secret_));
    EXPECT_EQ(Exchange(ports_[i], "GET", "/v1/authorize",
                       AuthorizeHeaders(tokens_[i]))
                  .result_int(),
              429u)
        << "replica " << i;
    EXPECT_EQ(Exchange(ports_[i], "GET", "/v1/authorize",
                       AuthorizeHeaders(admin_tokens[i]))
                  .result_int(),
              200u)
        << "replica " << i;
  }

  // Restarted (its AOF replayed), without restarting the replicas: after
  // outage_retry, Redis counts again. On replica 0, monta-cp-admin gets
  // exactly Redis's fresh burst of kCount (its own cell, one request spent
  // during the outage, would have given kCount - 1), then 429.
  ASSERT_TRUE(redis_->Restart().ok());
  // Wait until replica 0's limiter has reached Redis again (its connection
  // pool may be in its reconnect backoff), probing with a third client.
  const std::string probe = Token(0, "monta-full-access", probe_secret_);
  ratelimit::DistributedRateLimiter* limiter =
      replicas_[0]->service().distributed_rate_limiter();
  ASSERT_NE(limiter, nullptr);
  bool recovered = false;
  for (int attempt = 0; attempt < 100 && !recovered; ++attempt) {
    const ratelimit::DistributedRateLimiterStats before = limiter->Stats();
    Exchange(ports_[0], "GET", "/v1/authorize", AuthorizeHeaders(probe));
    const ratelimit::DistributedRateLimiterStats after = limiter->Stats();
    recovered = after.redis_calls - before.redis_calls >
                after.redis_errors - before.redis_errors;
    if (!recovered) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(recovered) << limiter->LastError();
  HttpClient client(ports_[0]);
  int admitted = 0;
  for (int n = 0; n < 2 * kCount; ++n) {
    Response r =
        client.Send("GET", "/v1/authorize", AuthorizeHeaders(admin_tokens[0]));
    if (r.result_int() != 200) {
      EXPECT_EQ(r.result_int(), 429u) << r.body();
      break;
    }
    ++admitted;
  }
  EXPECT_EQ(admitted, kCount);

  // /metrics counts what happened on replica 0.
  const std::string metrics = Exchange(ports_[0], "GET", "/metrics", "").body();
  for (const char* name : {"portcullis_rate_limit_redis_calls_total",
                           "portcullis_rate_limit_leases_total",
                           "portcullis_rate_limit_redis_refusals_total",
                           "portcullis_rate_limit_cached_refusals_total",
                           "portcullis_rate_limit_redis_errors_total",
                           "portcullis_rate_limit_outage_decisions_total"}) {
    EXPECT_TRUE(absl::StrContains(metrics, absl::StrCat(name, " "))) << name;
    EXPECT_FALSE(absl::StrContains(metrics, absl::StrCat(name, " 0\n")))
        << name;
  }
}

TEST(RateLimitConfigTest, RedisModeNeedsTheConnection) {
  absl::StatusOr<ServerSettings> settings = ParseServerConfig(
      R"pb(
        listen: "127.0.0.1:0"
        policy { files: "policy.txtpb" }
        keys { token_key_file: "t.key" registry_key_file: "r.key" }
        tokens { oauth_token_format: "opaque" }
        rate_limit { mode: "redis" }
      )pb",
      "/tmp");
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(settings.status().message(),
            "rate_limit.mode: \"redis\" needs the Redis connection (the redis "
            "section)");
  settings = ParseServerConfig(
      R"pb(
        listen: "127.0.0.1:0"
        policy { files: "policy.txtpb" }
        keys { token_key_file: "t.key" registry_key_file: "r.key" }
        tokens { oauth_token_format: "opaque" }
        rate_limit { mode: "local" on_outage: "deny" lease_share: 0.5 }
      )pb",
      "/tmp");
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->rate_limit.mode, ratelimit::RateLimitMode::kLocal);
  EXPECT_EQ(settings->rate_limit.on_outage, ratelimit::OutagePolicy::kDeny);
  EXPECT_EQ(settings->rate_limit.lease_share, 0.5);
  settings = ParseServerConfig(
      R"pb(
        listen: "127.0.0.1:0"
        policy { files: "policy.txtpb" }
        keys { token_key_file: "t.key" registry_key_file: "r.key" }
        tokens { oauth_token_format: "opaque" }
        rate_limit { mode: "cluster" }
      )pb",
      "/tmp");
  EXPECT_EQ(settings.status().message(),
            "rate_limit.mode: unknown \"cluster\" (expected \"local\" or "
            "\"redis\")");
}

}  // namespace
}  // namespace portcullis::server
