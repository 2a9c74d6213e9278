// RedisTokenStore against a real redis-server: the TokenStore contract, two
// stores (two replicas) sharing one Redis, atomic rotation across them,
// announcements on the revocation channel, expiry, outages.
#include "server/redis/redis_token_store.h"

#include <hiredis/hiredis.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/auth/crypto.h"
#include "engine/auth/token_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/redis/redis_client.h"
#include "tests/redis/redis_server.h"

namespace portcullis::redis {
namespace {

using auth::Digest;
using auth::GrantKind;
using auth::TokenKind;
using auth::TokenRecord;
using ::portcullis::test::RedisServer;

const auth::SecretKey& TestKey() {
  static const auth::SecretKey* const key =
      new auth::SecretKey(auth::SecretKey::Generate());
  return *key;
}

Digest NewDigest() {
  return auth::KeyedHash(TestKey(), auth::GenerateToken().bytes());
}

TokenRecord Record(TokenKind kind, uint64_t family_id,
                   absl::Duration ttl = absl::Hours(1)) {
  TokenRecord record;
  record.kind = kind;
  record.digest = NewDigest();
  record.client_id = "c-finance";
  record.grant = GrantKind::kEntityUser;
  record.user_id = "u-7";
  record.entity_id = "e-1";
  record.family_id = family_id;
  // Whole milliseconds: Redis keeps expiry in milliseconds, the record its
  // own nanoseconds.
  record.issued_at = absl::FromUnixMillis(absl::ToUnixMillis(absl::Now()));
  record.expires_at = record.issued_at + ttl;
  record.client_revocation = 7;
  record.user_revocation = 2;
  if (kind == TokenKind::kRefresh) record.access_digest = NewDigest();
  return record;
}

template <typename T>
T Ok(absl::StatusOr<T> result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : T();
}

class RedisTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    for (auto* client : {&client_a_, &client_b_}) {
      RedisOptions options;
      options.port = server_->port();
      options.key_prefix = "deploy-1:";
      absl::StatusOr<std::unique_ptr<RedisClient>> made =
          RedisClient::Create(options);
      ASSERT_TRUE(made.ok()) << made.status();
      *client = std::move(*made);
    }
    a_ = std::make_unique<RedisTokenStore>(*client_a_);
    b_ = std::make_unique<RedisTokenStore>(*client_b_);
  }

  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisClient> client_a_, client_b_;
  std::unique_ptr<RedisTokenStore> a_, b_;
};

TEST_F(RedisTokenStoreTest, InsertedOnOneFoundOnTheOther) {
  const TokenRecord access = Record(TokenKind::kAccess, 11);
  const TokenRecord refresh = Record(TokenKind::kRefresh, 11);
  ASSERT_TRUE(a_->Insert(access).ok());
  ASSERT_TRUE(a_->Insert(refresh).ok());
  EXPECT_EQ(Ok(b_->Find(access.digest)), access);
  EXPECT_EQ(Ok(b_->Find(refresh.digest)), refresh);
  EXPECT_TRUE(absl::IsNotFound(b_->Find(NewDigest()).status()));
  EXPECT_TRUE(absl::IsAlreadyExists(b_->Insert(access)));
  EXPECT_EQ(b_->size(), 2u);

  TokenRecord bad = access;
  bad.client_id.clear();
  EXPECT_EQ(a_->Insert(bad),
            absl::InvalidArgumentError("token record: client_id is empty"));
}

TEST_F(RedisTokenStoreTest, KeysHoldDigestsAndExpireWithTheToken) {
  const TokenRecord record =
      Record(TokenKind::kAccess, 12, absl::Milliseconds(400));
  ASSERT_TRUE(a_->Insert(record).ok());
  absl::StatusOr<RedisReply> keys = client_a_->Command({"KEYS", "*"});
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->elements.size(), 2u);  // the token and its family
  for (const RedisReply& key : keys->elements) {
    EXPECT_TRUE(absl::StartsWith(key.string, "deploy-1:t:") ||
                key.string == "deploy-1:f:12")
        << key.string;
  }
  absl::StatusOr<RedisReply> expiry = client_a_->Command(
      {"PEXPIRETIME",
       absl::StrCat("deploy-1:t:", absl::BytesToHexString(absl::string_view(
                                       reinterpret_cast<const char*>(
                                           record.digest.bytes().data()),
                                       32)))});
  ASSERT_TRUE(expiry.ok());
  EXPECT_EQ(expiry->integer, absl::ToUnixMillis(record.expires_at));
  absl::SleepFor(absl::Milliseconds(600));
  EXPECT_TRUE(absl::IsNotFound(b_->Find(record.digest).status()));
}

TEST_F(RedisTokenStoreTest, RevocationsHoldAcrossStores) {
  const TokenRecord access = Record(TokenKind::kAccess, 21);
  const TokenRecord refresh = Record(TokenKind::kRefresh, 21);
  const TokenRecord other = Record(TokenKind::kAccess, 22);
  for (const TokenRecord& r : {access, refresh, other}) {
    ASSERT_TRUE(a_->Insert(r).ok());
  }
  EXPECT_TRUE(Ok(b_->Revoke(access.digest)));
  EXPECT_TRUE(Ok(a_->Find(access.digest)).revoked);
  EXPECT_FALSE(Ok(b_->Revoke(NewDigest())));
  EXPECT_EQ(Ok(b_->RevokeFamily(21)), 1u) << "the access token was revoked";
  EXPECT_TRUE(Ok(a_->Find(refresh.digest)).revoked);
  EXPECT_FALSE(Ok(a_->Find(other.digest)).revoked);
  EXPECT_TRUE(
      absl::IsFailedPrecondition(a_->Insert(Record(TokenKind::kAccess, 21))))
      << "a revoked family takes no new token";
  EXPECT_EQ(Ok(a_->RevokeFamily(99)), 0u);
  EXPECT_TRUE(a_->Insert(Record(TokenKind::kAccess, 99)).ok())
      << "a family without tokens is not remembered";

  EXPECT_EQ(Ok(a_->UserRevocation("u-7")), 0u);
  EXPECT_EQ(Ok(a_->RevokeUser("u-7")), 1u);
  EXPECT_EQ(Ok(b_->RevokeUser("u-7")), 2u);
  EXPECT_EQ(Ok(b_->UserRevocation("u-7")), 2u);
}

// InsertPair: one script, both records or neither, seen by the other store.
TEST_F(RedisTokenStoreTest, InsertPair) {
  const TokenRecord refresh = Record(TokenKind::kRefresh, 61);
  const TokenRecord access = Record(TokenKind::kAccess, 61);
  // One script run for the pair (Insert twice took two): the calls Redis
  // counted, before and after.
  const auto scripts_run = [&] {
    absl::StatusOr<RedisReply> info =
        client_b_->Command({"INFO", "commandstats"});
    EXPECT_TRUE(info.ok()) << info.status();
    int64_t calls = 0;
    for (absl::string_view line :
         absl::StrSplit(info.ok() ? info->string : "", "\r\n")) {
      for (absl::string_view command :
           {"cmdstat_eval:calls=", "cmdstat_evalsha:calls="}) {
        if (absl::ConsumePrefix(&line, command)) {
          int64_t n = 0;
          EXPECT_TRUE(absl::SimpleAtoi(line.substr(0, line.find(',')), &n));
          calls += n;
        }
      }
    }
    return calls;
  };
  ASSERT_TRUE(a_->InsertPair(Record(TokenKind::kRefresh, 60),
                             Record(TokenKind::kAccess, 60))
                  .ok());  // loads the script
  const int64_t before = scripts_run();
  ASSERT_TRUE(a_->InsertPair(refresh, access).ok());
  EXPECT_EQ(scripts_run() - before, 1);
  EXPECT_EQ(Ok(b_->Find(refresh.digest)), refresh);
  EXPECT_EQ(Ok(b_->Find(access.digest)), access);
  EXPECT_EQ(Ok(b_->RevokeFamily(61)), 2u) << "both joined the family";
  EXPECT_TRUE(absl::IsFailedPrecondition(a_->InsertPair(
      Record(TokenKind::kRefresh, 61), Record(TokenKind::kAccess, 61))));

  const TokenRecord stored = Record(TokenKind::kAccess, 62);
  ASSERT_TRUE(a_->Insert(stored).ok());
  const TokenRecord refused = Record(TokenKind::kRefresh, 62);
  EXPECT_TRUE(absl::IsAlreadyExists(b_->InsertPair(refused, stored)));
  EXPECT_TRUE(absl::IsNotFound(a_->Find(refused.digest).status()))
      << "neither stored";
  EXPECT_TRUE(absl::IsInvalidArgument(a_->InsertPair(
      Record(TokenKind::kRefresh, 63), Record(TokenKind::kAccess, 64))));
  // Expiry: each record with its own token's, the family with the later.
  const TokenRecord long_refresh =
      Record(TokenKind::kRefresh, 65, absl::Hours(24));
  const TokenRecord short_access = Record(TokenKind::kAccess, 65);
  ASSERT_TRUE(a_->InsertPair(long_refresh, short_access).ok());
  const auto expiry = [&](const std::string& key) {
    absl::StatusOr<RedisReply> reply =
        client_a_->Command({"PEXPIRETIME", absl::StrCat("deploy-1:", key)});
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? reply->integer : -3;
  };
  const auto hex = [](const Digest& digest) {
    return absl::BytesToHexString(absl::string_view(
        reinterpret_cast<const char*>(digest.bytes().data()), 32));
  };
  EXPECT_EQ(expiry(absl::StrCat("t:", hex(long_refresh.digest))),
            absl::ToUnixMillis(long_refresh.expires_at));
  EXPECT_EQ(expiry(absl::StrCat("t:", hex(short_access.digest))),
            absl::ToUnixMillis(short_access.expires_at));
  EXPECT_EQ(expiry("f:65"), absl::ToUnixMillis(long_refresh.expires_at));
}

TEST_F(RedisTokenStoreTest, RotationIsOnceAcrossStores) {
  const TokenRecord refresh = Record(TokenKind::kRefresh, 31);
  const TokenRecord access = Record(TokenKind::kAccess, 31);
  ASSERT_TRUE(a_->Insert(refresh).ok());
  ASSERT_TRUE(a_->Insert(access).ok());
  EXPECT_TRUE(
      absl::IsNotFound(b_->MarkRotated(NewDigest(), absl::Now()).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      b_->MarkRotated(access.digest, absl::Now()).status()));

  // Many racers on two stores (two replicas' pools): exactly one wins.
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    const TokenRecord token = Record(TokenKind::kRefresh, 100 + round);
    ASSERT_TRUE(a_->Insert(token).ok());
    std::atomic<int> winners{0}, losers{0};
    // Each racer rotates at its own time; every loser must read the
    // winner's, and so must Find.
    std::array<std::atomic<int64_t>, 6> seen{};
    std::atomic<int64_t> winner_at{-1};
    const absl::Time base = absl::FromUnixSeconds(1'800'000'000);
    std::vector<std::thread> racers;
    for (int i = 0; i < 6; ++i) {
      RedisTokenStore* store = i % 2 == 0 ? a_.get() : b_.get();
      racers.emplace_back([&, store, i] {
        absl::StatusOr<auth::Rotation> rotated =
            store->MarkRotated(token.digest, base + absl::Milliseconds(i));
        ASSERT_TRUE(rotated.ok()) << rotated.status();
        (rotated->won ? winners : losers).fetch_add(1);
        if (rotated->won) winner_at = i;
        seen[i] = absl::ToInt64Milliseconds(rotated->rotated_at - base);
      });
    }
    for (std::thread& t : racers) t.join();
    EXPECT_EQ(winners.load(), 1) << "round " << round;
    EXPECT_EQ(losers.load(), 5) << "round " << round;
    for (const auto& s : seen) EXPECT_EQ(s.load(), winner_at.load());
    const TokenRecord found = Ok(b_->Find(token.digest));
    EXPECT_TRUE(found.rotated);
    EXPECT_EQ(found.rotated_at, base + absl::Milliseconds(winner_at.load()));
  }
  ASSERT_TRUE(Ok(a_->Revoke(refresh.digest)));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      a_->MarkRotated(refresh.digest, absl::Now()).status()));
}

TEST_F(RedisTokenStoreTest, RevocationsAreAnnounced) {
  redisContext* subscriber =
      redisConnectWithTimeout("127.0.0.1", server_->port(), {2, 0});
  ASSERT_TRUE(subscriber != nullptr && subscriber->err == 0);
  auto* reply = static_cast<redisReply*>(
      redisCommand(subscriber, "SUBSCRIBE %s", "deploy-1:revocations"));
  ASSERT_NE(reply, nullptr);
  freeReplyObject(reply);
  const TokenRecord access = Record(TokenKind::kAccess, 41);
  ASSERT_TRUE(a_->Insert(access).ok());
  ASSERT_TRUE(Ok(b_->Revoke(access.digest)));
  ASSERT_EQ(Ok(b_->RevokeFamily(41)), 0u);
  ASSERT_EQ(Ok(b_->RevokeUser("u-7")), 1u);
  std::vector<std::string> messages;
  for (int i = 0; i < 3; ++i) {
    void* message = nullptr;
    ASSERT_EQ(redisGetReply(subscriber, &message), REDIS_OK);
    auto* m = static_cast<redisReply*>(message);
    ASSERT_EQ(m->type, REDIS_REPLY_ARRAY);
    ASSERT_EQ(m->elements, 3u);
    messages.emplace_back(m->element[2]->str, m->element[2]->len);
    freeReplyObject(m);
  }
  redisFree(subscriber);
  EXPECT_THAT(messages, ::testing::ElementsAre("f 41", "f 41", "u"));
}

TEST_F(RedisTokenStoreTest, OutageIsUnavailableAndAofKeepsEverything) {
  const TokenRecord access = Record(TokenKind::kAccess, 51);
  const TokenRecord revoked = Record(TokenKind::kAccess, 52);
  ASSERT_TRUE(a_->Insert(access).ok());
  ASSERT_TRUE(a_->Insert(revoked).ok());
  ASSERT_TRUE(Ok(a_->Revoke(revoked.digest)));
  ASSERT_EQ(Ok(a_->RevokeUser("u-9")), 1u);

  ASSERT_TRUE(server_->Kill().ok());
  EXPECT_TRUE(absl::IsUnavailable(b_->Find(access.digest).status()));
  EXPECT_TRUE(absl::IsUnavailable(b_->Revoke(access.digest).status()));
  EXPECT_TRUE(absl::IsUnavailable(b_->RevokeFamily(51).status()));
  EXPECT_TRUE(absl::IsUnavailable(
      b_->MarkRotated(access.digest, absl::Now()).status()));
  EXPECT_TRUE(absl::IsUnavailable(b_->UserRevocation("u-9").status()));
  EXPECT_TRUE(absl::IsUnavailable(b_->Insert(Record(TokenKind::kAccess, 53))));

  ASSERT_TRUE(server_->Restart().ok());
  absl::StatusOr<TokenRecord> found = absl::UnavailableError("not tried");
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (absl::Now() < deadline && !found.ok()) {
    found = b_->Find(access.digest);
    if (!found.ok()) absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, access);
  EXPECT_TRUE(Ok(b_->Find(revoked.digest)).revoked);
  EXPECT_EQ(Ok(b_->UserRevocation("u-9")), 1u);
}

TEST_F(RedisTokenStoreTest, ExportAndImportAreRefused) {
  EXPECT_TRUE(absl::IsFailedPrecondition(a_->Export(TestKey()).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(a_->Import("", TestKey())));
  EXPECT_EQ(a_->RemoveExpired(absl::Now()), 0u);
}

}  // namespace
}  // namespace portcullis::redis
