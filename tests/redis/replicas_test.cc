// Three `portcullis serve` replicas (in-process, each its own listener,
// caches, subscriber and state directory) sharing one real redis-server, as
// docs/replicas.md deploys them: tokens issued anywhere accepted everywhere,
// revocations reaching every replica within the staleness bound (measured),
// refresh reuse and races across replicas, the shared client registry, and
// faults (SIGKILL + AOF restart under load, SIGSTOP past the bound, a replica
// restarted mid-traffic).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/redis/redis_server.h"
#include "tests/server/test_http.h"

namespace portcullis::server::testing {
namespace {

using ::portcullis::test::RedisServer;

// The staleness bound the replicas run with (the default).
constexpr absl::Duration kBound = absl::Seconds(1);
// The refresh reuse interval they run with: shorter than the default (3 s)
// so the reuse test waits less, long enough that two requests sent at once
// on a loaded 2-core machine (sanitizers) land within it.
constexpr absl::Duration kReuseInterval = absl::Milliseconds(1500);

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    for (int i = 0; i < 3; ++i) {
      TestServerOptions options;
      options.admin = true;
      options.config = absl::StrCat(
          "token_store { kind: \"redis\" }\n"
          "redis { address: \"127.0.0.1:",
          redis_->port(), "\" key_prefix: \"test:\" staleness_bound_ms: ",
          absl::ToInt64Milliseconds(kBound), " }\n");
      options.tokens = absl::StrCat(
          "tokens { oauth_token_format: \"opaque\" "
          "refresh_reuse_interval_ms: ",
          absl::ToInt64Milliseconds(kReuseInterval), " }");
      replicas_.push_back(TestServer::Start(options));
      ASSERT_NE(replicas_.back(), nullptr);
    }
  }

  void TearDown() override {
    replicas_.clear();  // before Redis goes
    redis_.reset();
  }

  TestServer& A() { return *replicas_[0]; }
  TestServer& B() { return *replicas_[1]; }
  TestServer& C() { return *replicas_[2]; }

  // Registers `client` through `replica`'s admin listener (so every replica
  // knows it) and returns the secret.
  static std::string Register(TestServer& replica, const std::string& client) {
    Response r = replica.Admin("POST", absl::StrCat("/admin/clients/", client));
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    return JsonField(r.body(), "client_secret");
  }

  static Response Issue(TestServer& replica, const std::string& client,
                        const std::string& secret) {
    return replica.TokenAnswer(client, secret);
  }

  static std::string Basic(const std::string& id, const std::string& secret) {
    return absl::StrCat("Authorization: Basic ",
                        absl::Base64Escape(absl::StrCat(id, ":", secret)),
                        "\r\n");
  }

  static int Authorize(TestServer& replica, const std::string& token) {
    return static_cast<int>(
        replica
            .Send("GET", "/v1/authorize",
                  absl::StrCat("X-Original-Method: GET\r\n"
                               "X-Original-URI: /charge-points\r\n"
                               "x-monite-entity-id: team-north\r\n"
                               "Authorization: Bearer ",
                               token, "\r\n"))
            .result_int());
  }

  static int Revoke(TestServer& replica, const std::string& client,
                    const std::string& secret, const std::string& token) {
    return static_cast<int>(
        replica
            .Send("POST", "/auth/revoke",
                  absl::StrCat(
                      "Content-Type: application/x-www-form-urlencoded\r\n",
                      Basic(client, secret)),
                  absl::StrCat("token=", token))
            .result_int());
  }

  static Response Refresh(TestServer& replica, const std::string& refresh) {
    return replica.Send("POST", "/auth/refresh",
                        "Content-Type: application/json\r\n",
                        absl::StrCat("{\"refreshToken\":\"", refresh, "\"}"));
  }

  // Polls `replica` until `token` answers `status`, up to `limit`; the time
  // it took, or InfiniteDuration.
  static absl::Duration Until(TestServer& replica, const std::string& token,
                              int status, absl::Duration limit) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < limit) {
      if (Authorize(replica, token) == status) return absl::Now() - start;
    }
    return absl::InfiniteDuration();
  }

  // Polls `replica` until issuing with `secret` answers `status`, up to
  // `limit`; the time it took, or InfiniteDuration. A registry change made
  // on another replica reaches this one when it hears the announcement.
  static absl::Duration IssueUntil(TestServer& replica,
                                   const std::string& client,
                                   const std::string& secret, int status,
                                   absl::Duration limit) {
    const absl::Time start = absl::Now();
    while (absl::Now() - start < limit) {
      if (static_cast<int>(Issue(replica, client, secret).result_int()) ==
          status) {
        return absl::Now() - start;
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
    return absl::InfiniteDuration();
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<std::unique_ptr<TestServer>> replicas_;
};

TEST_F(ReplicasTest, IssuedAnywhereAcceptedEverywhereRevokedEverywhere) {
  const std::string secret = Register(A(), "monta-cp-reader");
  Response issued = Issue(A(), "monta-cp-reader", secret);
  ASSERT_EQ(issued.result_int(), 200u) << issued.body();
  const std::string token = JsonField(issued.body(), "accessToken");
  for (TestServer* replica : {&A(), &B(), &C()}) {
    EXPECT_EQ(Authorize(*replica, token), 200);  // and cached there
  }
  ASSERT_EQ(Revoke(B(), "monta-cp-reader", secret, token), 200);
  for (TestServer* replica : {&A(), &B(), &C()}) {
    EXPECT_LT(Until(*replica, token, 401, kBound), kBound);
  }
}

TEST_F(ReplicasTest, RevocationPropagationOver1000Revocations) {
  const std::string secret = Register(A(), "monta-cp-reader");
  constexpr int kRevocations = 1000;
  std::vector<double> millis;
  millis.reserve(kRevocations);
  for (int i = 0; i < kRevocations; ++i) {
    Response issued = Issue(A(), "monta-cp-reader", secret);
    ASSERT_EQ(issued.result_int(), 200u) << issued.body();
    const std::string token = JsonField(issued.body(), "accessToken");
    ASSERT_EQ(Authorize(A(), token), 200);  // cached on A
    ASSERT_EQ(Revoke(B(), "monta-cp-reader", secret, token), 200);
    // From B's answer to A's refusal: what a client sees.
    const absl::Duration took = Until(A(), token, 401, 2 * kBound);
    ASSERT_LT(took, 2 * kBound) << "revocation " << i;
    millis.push_back(absl::ToDoubleMilliseconds(took));
  }
  std::sort(millis.begin(), millis.end());
  const double p50 = millis[kRevocations / 2];
  const double p99 = millis[kRevocations * 99 / 100];
  // For docs/replicas.md and BENCHMARKS.md.
  std::printf(
      "revocation propagation over %d revocations: p50 %.3f ms, "
      "p99 %.3f ms, max %.3f ms\n",
      kRevocations, p50, p99, millis.back());
  RecordProperty("propagation_p50_ms", absl::StrCat(p50));
  RecordProperty("propagation_p99_ms", absl::StrCat(p99));
  // Generous: pub/sub takes well under a millisecond; the bound is 1 s.
  EXPECT_LT(p99, absl::ToDoubleMilliseconds(kBound));
}

TEST_F(ReplicasTest, RefreshReuseAcrossReplicasRevokesTheFamilyEverywhere) {
  const std::string secret = Register(A(), "monta-cp-reader");
  Response first = Issue(A(), "monta-cp-reader", secret);
  ASSERT_EQ(first.result_int(), 200u);
  const std::string refresh = JsonField(first.body(), "refreshToken");
  Response second = Refresh(B(), refresh);
  ASSERT_EQ(second.result_int(), 200u) << second.body();
  const std::string access = JsonField(second.body(), "accessToken");
  EXPECT_EQ(Authorize(A(), access), 200);
  EXPECT_EQ(Authorize(C(), access), 200);
  // The spent refresh token again at once, on a third replica: within the
  // reuse interval, a lost race: refused, the family intact everywhere.
  Response race = Refresh(C(), refresh);
  EXPECT_EQ(race.result_int(), 400u) << race.body();
  EXPECT_TRUE(absl::StrContains(race.body(), "invalid_grant")) << race.body();
  for (TestServer* replica : {&A(), &B(), &C()}) {
    EXPECT_EQ(Authorize(*replica, access), 200);
  }
  // After the interval (measured from B's rotation, recorded in Redis):
  // theft, on whichever replica.
  absl::SleepFor(kReuseInterval + absl::Milliseconds(100));
  Response reuse = Refresh(C(), refresh);
  EXPECT_EQ(reuse.result_int(), 400u) << reuse.body();
  EXPECT_TRUE(absl::StrContains(reuse.body(), "invalid_grant")) << reuse.body();
  for (TestServer* replica : {&A(), &B(), &C()}) {
    EXPECT_LT(Until(*replica, access, 401, kBound), kBound);
  }
  EXPECT_EQ(Refresh(A(), JsonField(second.body(), "refreshToken")).result_int(),
            400u);
}

// Two replicas refreshing one token at once: exactly one wins the rotation
// (the store's script marks it spent once, with its time:
// RedisTokenStoreTest.RotationIsOnceAcrossStores races six callers on two
// stores), and the other reads the winner's rotation time in the same script:
// within the reuse interval, a lost race, so 400 invalid_grant without
// revoking the family. The winner's new pair works on every replica, and
// refreshes again; the pair it replaced is revoked everywhere.
TEST_F(ReplicasTest, ConcurrentRefreshOnTwoReplicas) {
  const std::string secret = Register(A(), "monta-cp-reader");
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    Response issued = Issue(C(), "monta-cp-reader", secret);
    ASSERT_EQ(issued.result_int(), 200u);
    const std::string refresh = JsonField(issued.body(), "refreshToken");
    const std::string access = JsonField(issued.body(), "accessToken");
    Response on_a_answer, on_b_answer;
    std::atomic<bool> go{false};
    std::thread on_a([&] {
      while (!go.load()) std::this_thread::yield();
      on_a_answer = Refresh(A(), refresh);
    });
    std::thread on_b([&] {
      while (!go.load()) std::this_thread::yield();
      on_b_answer = Refresh(B(), refresh);
    });
    go.store(true);
    on_a.join();
    on_b.join();
    const Response* winner = nullptr;
    for (const Response* r : {&on_a_answer, &on_b_answer}) {
      if (r->result_int() == 200) {
        EXPECT_EQ(winner, nullptr) << "two winners";
        winner = r;
      } else {
        EXPECT_EQ(r->result_int(), 400u) << r->body();
        EXPECT_TRUE(absl::StrContains(r->body(), "invalid_grant")) << r->body();
      }
    }
    ASSERT_NE(winner, nullptr)
        << "no winner: " << on_a_answer.body() << " / " << on_b_answer.body();
    const std::string new_access = JsonField(winner->body(), "accessToken");
    for (TestServer* replica : {&A(), &B(), &C()}) {
      EXPECT_EQ(Authorize(*replica, new_access), 200);
      EXPECT_LT(Until(*replica, access, 401, kBound), kBound)
          << "the replaced access token";
    }
    EXPECT_EQ(
        Refresh(C(), JsonField(winner->body(), "refreshToken")).result_int(),
        200u);
  }
}

TEST_F(ReplicasTest, ClientRegistryChangesReachEveryReplica) {
  const std::string secret = Register(A(), "monta-cp-reader");
  Response issued = Issue(C(), "monta-cp-reader", secret);
  ASSERT_EQ(issued.result_int(), 200u) << "registered on A, accepted on C";
  const std::string token = JsonField(issued.body(), "accessToken");
  ASSERT_EQ(Authorize(A(), token), 200);
  ASSERT_EQ(
      B().Admin("POST", "/admin/clients/monta-cp-reader/suspend").result_int(),
      200u);
  EXPECT_LT(Until(A(), token, 401, kBound), kBound);
  EXPECT_EQ(Issue(C(), "monta-cp-reader", secret).result_int(), 401u);
  ASSERT_EQ(
      C().Admin("POST", "/admin/clients/monta-cp-reader/resume").result_int(),
      200u);
  EXPECT_LT(Until(A(), token, 200, kBound), kBound);
  Response rotated = B().Admin("POST", "/admin/clients/monta-cp-reader/rotate");
  ASSERT_EQ(rotated.result_int(), 200u);
  const std::string new_secret = JsonField(rotated.body(), "client_secret");
  // The rotated-out secret stops working on A once A has loaded the change
  // (announced when B answered), within the staleness bound; the new one
  // works at once (a failed authentication reloads the registry first).
  EXPECT_EQ(Issue(A(), "monta-cp-reader", new_secret).result_int(), 200u);
  EXPECT_LT(IssueUntil(A(), "monta-cp-reader", secret, 401, kBound), kBound);
  // Concurrent changes on different replicas: none is lost.
  std::thread register_on_a([&] { Register(A(), "monta-cp-admin"); });
  std::thread register_on_b([&] { Register(B(), "monta-full-access"); });
  register_on_a.join();
  register_on_b.join();
  Response list = C().Admin("GET", "/admin/clients");
  EXPECT_TRUE(absl::StrContains(list.body(), "\"monta-cp-admin\"") &&
              absl::StrContains(list.body(), "\"monta-full-access\""))
      << list.body();
}

TEST_F(ReplicasTest, RedisKilledUnderLoadAndRestartedFromItsAof) {
  const std::string secret = Register(A(), "monta-cp-reader");
  std::vector<std::string> valid, revoked;
  for (int i = 0; i < 6; ++i) {
    Response issued = Issue(*replicas_[i % 3], "monta-cp-reader", secret);
    ASSERT_EQ(issued.result_int(), 200u);
    (i % 2 == 0 ? valid : revoked)
        .push_back(JsonField(issued.body(), "accessToken"));
  }
  for (const std::string& token : revoked) {
    ASSERT_EQ(Authorize(A(), token), 200);  // cached first
    ASSERT_EQ(Revoke(B(), "monta-cp-reader", secret, token), 200);
  }
  // Load on every replica: revoked tokens must never pass, whatever Redis
  // does; valid ones pass or get a clear 503, nothing else.
  std::atomic<bool> stop{false};
  std::atomic<int> revoked_accepted{0}, unexpected{0}, unavailable{0};
  std::vector<std::thread> load;
  for (int r = 0; r < 3; ++r) {
    load.emplace_back([&, r] {
      TestServer& replica = *replicas_[r];
      while (!stop.load()) {
        for (const std::string& token : revoked) {
          if (Authorize(replica, token) == 200) ++revoked_accepted;
        }
        for (const std::string& token : valid) {
          const int status = Authorize(replica, token);
          if (status == 503) ++unavailable;
          if (status != 200 && status != 503) ++unexpected;
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(200));
  ASSERT_TRUE(redis_->Kill().ok());
  // Down for longer than the bound: caches stop being trusted, every
  // replica answers 503 for what needs Redis.
  absl::SleepFor(kBound + absl::Milliseconds(500));
  EXPECT_EQ(Authorize(A(), valid[0]), 503);
  EXPECT_EQ(Issue(B(), "monta-cp-reader", secret).result_int(), 503u);
  ASSERT_TRUE(redis_->Restart().ok());
  // Recovery without restarting any replica.
  for (TestServer* replica : {&A(), &B(), &C()}) {
    EXPECT_LT(Until(*replica, valid[0], 200, 3 * kBound), 3 * kBound);
  }
  absl::SleepFor(absl::Milliseconds(300));
  stop.store(true);
  for (std::thread& t : load) t.join();
  EXPECT_EQ(revoked_accepted.load(), 0);
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GT(unavailable.load(), 0);
  // Nothing lost: every token issued before is valid, every revocation holds.
  for (TestServer* replica : {&A(), &B(), &C()}) {
    for (const std::string& token : valid)
      EXPECT_EQ(Authorize(*replica, token), 200);
    for (const std::string& token : revoked)
      EXPECT_EQ(Authorize(*replica, token), 401);
  }
  EXPECT_EQ(Issue(C(), "monta-cp-reader", secret).result_int(), 200u)
      << "the registry survived too";
}

TEST_F(ReplicasTest, RedisPausedPastTheBoundStopsCachedGrants) {
  const std::string secret = Register(A(), "monta-cp-reader");
  Response issued = Issue(A(), "monta-cp-reader", secret);
  const std::string token = JsonField(issued.body(), "accessToken");
  ASSERT_EQ(Authorize(A(), token), 200);
  ASSERT_TRUE(redis_->Pause().ok());
  const absl::Time paused = absl::Now();
  // Within the bound a cached grant may still answer; past it, never.
  const absl::Duration untrusted = Until(A(), token, 503, 2 * kBound);
  const absl::Duration since_pause = absl::Now() - paused;
  EXPECT_LE(since_pause, kBound + absl::Milliseconds(300))
      << "took " << untrusted;
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(Authorize(A(), token), 503);
  ASSERT_TRUE(redis_->Resume().ok());
  EXPECT_LT(Until(A(), token, 200, 3 * kBound), 3 * kBound);
}

TEST_F(ReplicasTest, ReplicaRestartedMidTrafficServesAtOnce) {
  const std::string secret = Register(A(), "monta-cp-reader");
  Response issued = Issue(A(), "monta-cp-reader", secret);
  const std::string token = JsonField(issued.body(), "accessToken");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  // Paced and bounded: the credential's rate limit (1,000 per 600 s) must
  // not be what answers, however long the restart takes on a loaded machine.
  std::thread load([&] {
    for (int sent = 0; sent < 600 && !stop.load(); ++sent) {
      if (Authorize(A(), token) != 200) ++failures;
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  ASSERT_TRUE(B().Stop());
  ASSERT_TRUE(B().Restart());
  EXPECT_EQ(Authorize(B(), token), 200) << "at once, from Redis";
  EXPECT_EQ(Issue(B(), "monta-cp-reader", secret).result_int(), 200u);
  stop.store(true);
  load.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace portcullis::server::testing
