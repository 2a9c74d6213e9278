// The distributed rate limiter against a real redis-server
// (//tests/redis:redis_server): the script against its C++ model, the local
// front and its bound across in-process replicas under concurrent load,
// outages (SIGKILL, SIGSTOP) with each outage policy, and recovery.
#include "server/ratelimit/distributed_rate_limiter.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/auth/rate_limiter.h"
#include "gtest/gtest.h"
#include "server/ratelimit/gcra_lease.h"
#include "server/ratelimit/rate_limit_options.h"
#include "server/redis/redis_client.h"
#include "tests/redis/redis_server.h"

namespace portcullis::ratelimit {
namespace {

using ::portcullis::test::RedisServer;

// Caller-clock tests run in 2100, so that keys (which expire by Redis's
// clock at their TAT) never expire while a test runs: the model, which has
// no expiry, then describes Redis exactly.
const absl::Time kStart = absl::FromUnixMicros(4'102'444'800'000'000);
constexpr int64_t kStartUs = 4'102'444'800'000'000;

// One replica: its own Redis connections, its own per-client cell (as its
// TokenService's ClientRateLimits would hold it) and its limiter.
struct Replica {
  std::unique_ptr<redis::RedisClient> redis;
  auth::RateCell cell;
  std::unique_ptr<DistributedRateLimiter> limiter;

  auth::RateDecision Check(absl::Time now) {
    return limiter->Check("c-1", &cell, now);
  }
  int64_t Stock() const { return cell.lease.load() & 0x7fffffff; }
};

class DistributedRateLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  redis::RedisOptions RedisOptionsForTest() const {
    redis::RedisOptions options;
    options.port = server_->port();
    options.key_prefix = "test:";
    // Generous: CI shares two cores with everything else, and a timed-out
    // call would fall back (and may even have run). Only the SIGSTOP test
    // waits for one timeout.
    options.command_timeout = absl::Seconds(2);
    options.connect_timeout = absl::Seconds(2);
    return options;
  }

  std::unique_ptr<redis::RedisClient> Client() {
    absl::StatusOr<std::unique_ptr<redis::RedisClient>> client =
        redis::RedisClient::Create(RedisOptionsForTest());
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::unique_ptr<Replica> MakeReplica(const RateLimitOptions& options,
                                       auth::RateLimitConfig limit) {
    auto replica = std::make_unique<Replica>();
    replica->redis = Client();
    if (replica->redis == nullptr) return nullptr;
    replica->cell.SetLimit(limit);
    absl::StatusOr<std::unique_ptr<DistributedRateLimiter>> limiter =
        DistributedRateLimiter::Create(options, *replica->redis);
    EXPECT_TRUE(limiter.ok()) << limiter.status();
    if (!limiter.ok()) return nullptr;
    replica->limiter = std::move(*limiter);
    return replica;
  }

  static RateLimitOptions CallerClock(double lease_share) {
    RateLimitOptions options;
    options.mode = RateLimitMode::kRedis;
    options.clock = GcraClock::kCaller;
    options.lease_share = lease_share;
    options.max_lease = 65536;
    return options;
  }

  std::unique_ptr<RedisServer> server_;
};

// The script, run by Redis, against the C++ model on the same inputs: a
// table of named steps, then a seeded random walk (forward, same instant,
// steps back), for several limits and lease sizes.
TEST_F(DistributedRateLimiterTest, ScriptIsTheModel) {
  std::unique_ptr<redis::RedisClient> client = Client();
  ASSERT_NE(client, nullptr);
  const redis::RedisScript script{std::string(kGcraLeaseScript)};
  auto lease = [&](const std::string& key, const GcraParams& p, int64_t now,
                   int64_t want) -> GcraLeaseAnswer {
    const std::string args[] = {absl::StrCat(p.emission_us),
                                absl::StrCat(p.tolerance_us),
                                absl::StrCat(want), absl::StrCat(now)};
    const absl::string_view keys[] = {key};
    const absl::string_view argv[] = {args[0], args[1], args[2], args[3]};
    absl::StatusOr<redis::RedisReply> reply = client->Eval(script, keys, argv);
    EXPECT_TRUE(reply.ok()) << reply.status();
    GcraLeaseAnswer a;
    if (!reply.ok() || reply->elements.size() != 3) {
      ADD_FAILURE() << "bad reply";
      return a;
    }
    a.granted = reply->elements[0].integer;
    a.remaining = reply->elements[1].integer;
    a.retry_after_us = reply->elements[2].integer;
    return a;
  };

  {
    const GcraParams p = GcraParamsFor(5, 10);  // T = 2 s, burst 5
    const int64_t T = 2'000'000;
    struct Step {
      const char* name;
      int64_t at_us;
      int64_t want, granted, remaining, retry_after_us;
    };
    const Step steps[] = {
        {"fresh: 3 of a burst of 5", 0, 3, 3, 2, 0},
        {"more than is free: what is free", 0, 10, 2, 0, 0},
        {"spent: refused, retry after exactly T", 0, 1, 0, 0, T},
        {"just before T", T - 1, 4, 0, 0, 1},
        {"at T: one", T, 4, 1, 0, 0},
        {"idle an interval: the whole burst", 20 * T, 9, 5, 0, 0},
        {"clock back an hour: at most T lost", 20 * T - 3'600'000'000, 1, 0, 0,
         T},
        {"T later on that clock", 20 * T - 3'600'000'000 + T, 2, 1, 0, 0},
    };
    const std::string key = client->Key("table");
    for (const Step& s : steps) {
      SCOPED_TRACE(s.name);
      const GcraLeaseAnswer a = lease(key, p, kStartUs + s.at_us, s.want);
      EXPECT_EQ(a.granted, s.granted);
      EXPECT_EQ(a.remaining, s.remaining);
      EXPECT_EQ(a.retry_after_us, s.retry_after_us);
    }
  }

  struct Limit {
    uint32_t count, interval_seconds;
  };
  const Limit limits[] = {{1000, 600},
                          {3, 10},
                          {7, 1},
                          {1, 3600},
                          {4'000'000'000u, 4'000'000'000u}};
  std::mt19937_64 random(23);
  for (const Limit& limit : limits) {
    SCOPED_TRACE(absl::StrCat(limit.count, "/", limit.interval_seconds));
    const GcraParams p = GcraParamsFor(limit.count, limit.interval_seconds);
    const std::string key = client->Key(
        absl::StrCat("walk:", limit.count, "/", limit.interval_seconds));
    std::optional<int64_t> tat;
    int64_t now = kStartUs;
    for (int i = 0; i < 300; ++i) {
      const uint64_t move = random() % 8;
      if (move == 0) {
        // Back, but not before 2070: keys expire by Redis's clock, and one
        // whose TAT is already past would vanish at once.
        now = std::max(
            now - static_cast<int64_t>(random() % (2 * p.tolerance_us)),
            kStartUs - 30 * 365 * 86'400'000'000);
      } else if (move > 2) {
        now += static_cast<int64_t>(random() % (3 * p.emission_us + 1));
      }
      const int64_t want = 1 + static_cast<int64_t>(random() % 20);
      const GcraLeaseAnswer model = GcraLease(tat, now, p, want);
      const GcraLeaseAnswer redis = lease(key, p, now, want);
      ASSERT_EQ(redis.granted, model.granted) << "step " << i;
      ASSERT_EQ(redis.remaining, model.remaining) << "step " << i;
      ASSERT_EQ(redis.retry_after_us, model.retry_after_us) << "step " << i;
    }
  }
}

// On Redis's clock, a key lives exactly as long as its TAT is ahead: an idle
// client's key vanishes.
TEST_F(DistributedRateLimiterTest, IdleKeysVanish) {
  RateLimitOptions options;
  options.mode = RateLimitMode::kRedis;
  options.lease_share = 0;
  std::unique_ptr<Replica> replica = MakeReplica(options, {10, 1});  // T 0.1 s
  ASSERT_NE(replica, nullptr);
  EXPECT_TRUE(replica->Check(absl::Now()).allowed);
  const std::string key = replica->redis->Key("ratelimit:c-1");
  absl::StatusOr<redis::RedisReply> ttl =
      replica->redis->Command({"PTTL", key});
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_GT(ttl->integer, 0);
  // T is 100 ms; the expiry is the TAT in microseconds rounded up to a whole
  // millisecond and PTTL counts from Redis's millisecond clock: up to 101.
  EXPECT_LE(ttl->integer, 101);
  absl::SleepFor(absl::Milliseconds(150));
  absl::StatusOr<redis::RedisReply> exists =
      replica->redis->Command({"EXISTS", key});
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_EQ(exists->integer, 0);
}

// One replica: the burst, the refusal (cached: no round trip per refused
// request), one admission per T, the round trips the front saves, and a limit
// change voiding the stock.
TEST_F(DistributedRateLimiterTest, FrontSemantics) {
  // 100 per 100 s: T = 1 s; leases of 10.
  std::unique_ptr<Replica> r = MakeReplica(CallerClock(0.1), {100, 100});
  ASSERT_NE(r, nullptr);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(r->Check(kStart).allowed) << i;
  }
  EXPECT_EQ(r->limiter->Stats().redis_calls, 10u);
  EXPECT_EQ(r->limiter->Stats().leases, 10u);
  const auth::RateDecision refused = r->Check(kStart);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, absl::Seconds(1));
  for (int i = 0; i < 50; ++i) {
    const auth::RateDecision again =
        r->Check(kStart + absl::Milliseconds(10 * i));
    EXPECT_FALSE(again.allowed);
    EXPECT_EQ(again.retry_after, absl::Seconds(1) - absl::Milliseconds(10 * i));
  }
  EXPECT_EQ(r->limiter->Stats().redis_calls, 11u);  // one refusal asked
  EXPECT_EQ(r->limiter->Stats().cached_refusals, 50u);
  // At T: one (a lease of 10 gets the one that is free).
  EXPECT_TRUE(r->Check(kStart + absl::Seconds(1)).allowed);
  EXPECT_FALSE(r->Check(kStart + absl::Seconds(1)).allowed);
  // A clock step back does not stretch a cached refusal beyond T.
  const auth::RateDecision back = r->Check(kStart - absl::Hours(1));
  EXPECT_FALSE(back.allowed);
  EXPECT_LE(back.retry_after, absl::Seconds(1));

  // Stock left by a lease is voided by a change of limit.
  std::unique_ptr<Replica> s = MakeReplica(CallerClock(0.1), {100, 100});
  ASSERT_NE(s, nullptr);
  const absl::Time later = kStart + absl::Hours(1);
  ASSERT_TRUE(s->Check(later).allowed);
  EXPECT_EQ(s->Stock(), 9);
  s->cell.SetLimit({100, 100});  // unchanged: kept
  EXPECT_EQ(s->Stock(), 9);
  s->cell.SetLimit({50, 100});
  EXPECT_EQ(s->Stock(), 0);
  const uint64_t calls = s->limiter->Stats().redis_calls;
  EXPECT_TRUE(s->Check(later).allowed);
  EXPECT_EQ(s->limiter->Stats().redis_calls, calls + 1);
}

TEST_F(DistributedRateLimiterTest, UnlimitedAndUnknownClientsNeverAskRedis) {
  std::unique_ptr<Replica> r = MakeReplica(CallerClock(0.1), {0, 0});
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->Check(kStart).allowed);
  r->cell.SetLimitWord(auth::RateCell::kAbsent);
  const auth::RateDecision absent = r->Check(kStart);
  EXPECT_FALSE(absent.allowed);
  EXPECT_EQ(absent.retry_after, absl::InfiniteDuration());
  EXPECT_FALSE(r->limiter->Check("c-1", nullptr, kStart).allowed);
  EXPECT_FALSE(r->Check(absl::InfiniteFuture()).allowed);
  EXPECT_EQ(r->limiter->Stats().redis_calls, 0u);
}

// Three replicas, two threads each, hammering one client: Redis counts
// exactly `count` admissions in a span shorter than T, and every one is
// either handed out or still in a replica's stock; so the client gets at
// most its limit, and at least its limit minus the stock left behind.
TEST_F(DistributedRateLimiterTest, ReplicasShareOneLimitUnderLoad) {
  RateLimitOptions options;
  options.mode = RateLimitMode::kRedis;  // Redis's clock
  options.lease_share = 0.05;            // leases of 10
  constexpr int kCount = 200;            // per hour: T = 18 s
  std::vector<std::unique_ptr<Replica>> replicas;
  for (int i = 0; i < 3; ++i) {
    replicas.push_back(MakeReplica(options, {kCount, 3600}));
    ASSERT_NE(replicas.back(), nullptr);
  }
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (auto& replica : replicas) {
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&replica, &admitted] {
        for (int i = 0; i < 400; ++i) {
          if (replica->Check(absl::Now()).allowed) admitted.fetch_add(1);
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();
  int64_t stock = 0;
  uint64_t calls = 0;
  for (auto& replica : replicas) {
    stock += replica->Stock();
    calls += replica->limiter->Stats().redis_calls;
    EXPECT_EQ(replica->limiter->Stats().redis_errors, 0u);
  }
  EXPECT_EQ(admitted.load() + stock, kCount);
  EXPECT_LE(stock, 3 * 9);
  // The front saved round trips: far fewer than one per admission (the
  // refusals are cached too).
  EXPECT_LT(calls, static_cast<uint64_t>(kCount));
}

// The bound is tight: replicas holding stock when Redis's state has drained
// admit count + R * (L - 1) at one instant, never more.
TEST_F(DistributedRateLimiterTest, TheBoundHoldsAndIsReached) {
  constexpr int kCount = 100;  // per 100 s: T = 1 s
  constexpr int kReplicas = 3;
  constexpr int kLease = 10;  // lease_share 0.1
  std::vector<std::unique_ptr<Replica>> replicas;
  for (int i = 0; i < kReplicas; ++i) {
    replicas.push_back(MakeReplica(CallerClock(0.1), {kCount, 100}));
    ASSERT_NE(replicas.back(), nullptr);
  }
  // Each replica takes one admission and stocks L - 1.
  for (auto& replica : replicas) {
    ASSERT_TRUE(replica->Check(kStart).allowed);
    ASSERT_EQ(replica->Stock(), kLease - 1);
  }
  // A whole interval later Redis has a full burst again; the stock is still
  // there.
  const absl::Time later = kStart + absl::Seconds(100);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (auto& replica : replicas) {
    threads.emplace_back([&replica, &admitted, later] {
      for (int i = 0; i < 2 * kCount; ++i) {
        if (replica->Check(later).allowed) admitted.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  int64_t stock = 0;
  for (auto& replica : replicas) stock += replica->Stock();
  // Redis counted count at `later`, and the old stock was spent too: the
  // bound, exactly. (Each replica asked until Redis refused, so no stock is
  // left.)
  EXPECT_EQ(stock, 0);
  EXPECT_EQ(admitted.load(), kCount + kReplicas * (kLease - 1));
}

// Redis killed (SIGKILL): on_outage "local" falls back to the replica's own
// cell (the per-replica limit), without asking Redis again before
// outage_retry; restarted (AOF), the replica uses Redis again, state intact,
// without a restart of its own.
TEST_F(DistributedRateLimiterTest, OutageFallsBackToTheLocalLimitAndRecovers) {
  RateLimitOptions options = CallerClock(0);  // every request asks Redis
  options.outage_retry = absl::Milliseconds(200);
  std::unique_ptr<Replica> r = MakeReplica(options, {5, 3600});
  ASSERT_NE(r, nullptr);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(r->Check(kStart).allowed);
  ASSERT_FALSE(r->Check(kStart).allowed);  // refused (cached for T = 720 s)

  ASSERT_TRUE(server_->Kill().ok());
  // The cached refusal still answers; a client with no cached refusal (a
  // fresh cell of another client) meets the outage: its own local limit of
  // 5, whatever Redis said before.
  EXPECT_FALSE(r->Check(kStart).allowed);
  auth::RateCell other;
  other.SetLimit({5, 3600});
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(r->limiter->Check("c-2", &other, kStart).allowed) << i;
  }
  EXPECT_FALSE(r->limiter->Check("c-2", &other, kStart).allowed);
  const DistributedRateLimiterStats down = r->limiter->Stats();
  EXPECT_EQ(down.redis_errors, 1u);  // one failed call, then no retry
  EXPECT_EQ(down.outage_decisions, 6u);
  EXPECT_EQ(r->limiter->LastError().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(server_->Restart().ok());
  // After outage_retry (on the callers' clock), Redis is asked again; the
  // AOF kept c-1's spent burst, and c-2 has Redis's fresh burst of 5.
  const absl::Time after = kStart + absl::Milliseconds(250);
  bool recovered = false;
  for (int attempt = 0; attempt < 50 && !recovered; ++attempt) {
    // The client's pool may need its reconnect backoff to pass.
    auth::RateCell probe;
    probe.SetLimit({1000, 1});
    r->limiter->Check("probe", &probe, after + absl::Seconds(attempt));
    recovered =
        r->limiter->Stats().redis_calls >
        r->limiter->Stats().redis_errors + down.redis_calls - down.redis_errors;
    if (!recovered) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(recovered) << r->limiter->LastError();
  const absl::Time t = after + absl::Seconds(60);
  EXPECT_FALSE(r->Check(t).allowed);  // c-1: still spent in Redis (AOF)
  auth::RateCell c2_elsewhere;        // c-2 on another replica
  c2_elsewhere.SetLimit({5, 3600});
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(r->limiter->Check("c-2", &c2_elsewhere, t).allowed) << i;
  }
  EXPECT_FALSE(r->limiter->Check("c-2", &c2_elsewhere, t).allowed);
}

// on_outage "deny": while Redis cannot be asked every request is refused,
// with retry_after outage_retry; Redis paused (SIGSTOP) times out like a
// dead one; resumed, requests are admitted again.
TEST_F(DistributedRateLimiterTest, OutageDenyFailsClosed) {
  RateLimitOptions options = CallerClock(0);
  options.on_outage = OutagePolicy::kDeny;
  options.outage_retry = absl::Milliseconds(300);
  std::unique_ptr<Replica> r = MakeReplica(options, {1000, 1});
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(r->Check(kStart).allowed);
  ASSERT_TRUE(server_->Pause().ok());
  const auth::RateDecision denied = r->Check(kStart);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after, absl::Milliseconds(300));
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(r->Check(kStart + absl::Milliseconds(i)).allowed);
  }
  EXPECT_EQ(r->limiter->Stats().redis_errors, 1u);
  ASSERT_TRUE(server_->Resume().ok());
  bool admitted = false;
  for (int attempt = 0; attempt < 50 && !admitted; ++attempt) {
    admitted = r->Check(kStart + absl::Seconds(1 + attempt)).allowed;
    if (!admitted) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(admitted) << r->limiter->LastError();
}

// A key that is not a TAT (someone wrote to it) is an error reply: the
// outage policy decides, nothing crashes, and LastError says why.
TEST_F(DistributedRateLimiterTest, ACorruptKeyIsAnError) {
  std::unique_ptr<Replica> r = MakeReplica(CallerClock(0), {5, 60});
  ASSERT_NE(r, nullptr);
  const std::string key = r->redis->Key("ratelimit:c-1");
  ASSERT_TRUE(r->redis->Command({"SET", key, "not a number"}).ok());
  EXPECT_TRUE(r->Check(kStart).allowed);  // on_outage local: its own cell
  EXPECT_EQ(r->limiter->Stats().redis_errors, 1u);
  EXPECT_EQ(r->limiter->LastError().code(), absl::StatusCode::kInternal);
}

// on_availability hears each change once: down (with the failed call's
// status), then up again.
TEST_F(DistributedRateLimiterTest, AvailabilityChangesAreReportedOnce) {
  std::unique_ptr<redis::RedisClient> client = Client();
  ASSERT_NE(client, nullptr);
  std::mutex mu;
  std::vector<absl::StatusCode> changes;
  RateLimitOptions options = CallerClock(0);
  options.outage_retry = absl::Milliseconds(1);
  absl::StatusOr<std::unique_ptr<DistributedRateLimiter>> limiter =
      DistributedRateLimiter::Create(options, *client,
                                     [&](const absl::Status& status) {
                                       std::lock_guard<std::mutex> lock(mu);
                                       changes.push_back(status.code());
                                     });
  ASSERT_TRUE(limiter.ok()) << limiter.status();
  auth::RateCell cell;
  cell.SetLimit({1000, 1});
  absl::Time now = kStart;
  EXPECT_TRUE((*limiter)->Check("c-1", &cell, now).allowed);
  ASSERT_TRUE(server_->Kill().ok());
  for (int i = 0; i < 5; ++i) {
    now += absl::Milliseconds(2);  // past outage_retry: Redis asked again
    (*limiter)->Check("c-1", &cell, now);
  }
  EXPECT_GE((*limiter)->Stats().redis_errors, 2u);
  ASSERT_TRUE(server_->Restart().ok());
  bool up = false;
  for (int attempt = 0; attempt < 100 && !up; ++attempt) {
    now += absl::Milliseconds(2);
    (*limiter)->Check("c-1", &cell, now);
    std::lock_guard<std::mutex> lock(mu);
    up = changes.size() == 2;
    if (!up) absl::SleepFor(absl::Milliseconds(20));
  }
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(changes,
            (std::vector<absl::StatusCode>{absl::StatusCode::kUnavailable,
                                           absl::StatusCode::kOk}));
}

}  // namespace
}  // namespace portcullis::ratelimit
