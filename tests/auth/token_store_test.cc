#include "engine/auth/token_store.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/crypto.h"
#include "engine/auth/sealed_snapshot.pb.h"
#include "engine/auth/token_format.h"
#include "engine/auth/token_store.pb.h"
#include "gtest/gtest.h"
#include "tests/auth/sealed_snapshot_testing.h"

namespace portcullis::auth {
namespace {

// The value of a store call that must succeed (an in-memory store never has
// an outage); a failure is reported and a default value returned.
template <typename T>
T Ok(absl::StatusOr<T> result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : T();
}

const absl::Time kIssued = absl::FromUnixSeconds(1'706'700'000);
const absl::Time kExpires = kIssued + absl::Hours(1);

// A key shared by the whole test binary: digests only need to be distinct.
const SecretKey& TestKey() {
  static const SecretKey* const key = new SecretKey(SecretKey::Generate());
  return *key;
}

Digest NewDigest() { return KeyedHash(TestKey(), GenerateToken().bytes()); }

TokenRecord PartnerRecord(TokenKind kind, uint64_t family_id,
                          absl::Time expires_at = kExpires) {
  TokenRecord record;
  record.kind = kind;
  record.digest = NewDigest();
  record.client_id = "c-finance";
  record.grant = GrantKind::kPartner;
  record.family_id = family_id;
  record.issued_at = kIssued;
  record.expires_at = expires_at;
  record.client_revocation = 7;
  // A refresh token names the access token issued with it.
  if (kind == TokenKind::kRefresh) record.access_digest = NewDigest();
  return record;
}

TokenRecord EntityUserRecord(TokenKind kind, uint64_t family_id) {
  TokenRecord record = PartnerRecord(kind, family_id);
  record.grant = GrantKind::kEntityUser;
  record.user_id = "u-7";
  record.entity_id = "e-1";
  record.role_id = "r-approver";
  return record;
}

void InsertOrDie(TokenStore& store, const TokenRecord& record) {
  const absl::Status status = store.Insert(record);
  ASSERT_TRUE(status.ok()) << status;
}

// The key exports are sealed under: another key than the digests', as a
// service would use its token key.
const SecretKey& SealKey() {
  static const SecretKey* const key = new SecretKey(SecretKey::Generate());
  return *key;
}

// A snapshot sealed under SealKey(), computed independently of the library.
std::string Seal(const v1::TokenStoreSnapshot& snapshot) {
  return testing::Seal(snapshot, SealKey());
}

v1::TokenRecord ValidProtoRecord(uint8_t digest_byte) {
  v1::TokenRecord record;
  record.set_kind(v1::TOKEN_KIND_ACCESS);
  record.set_digest(std::string(32, static_cast<char>(digest_byte)));
  record.set_client_id("c-finance");
  record.set_grant(v1::GRANT_KIND_PARTNER);
  record.set_family_id(42);
  record.set_issued_at_unix_nanos(absl::ToUnixNanos(kIssued));
  record.set_expires_at_unix_nanos(absl::ToUnixNanos(kExpires));
  return record;
}

TEST(ValidateTokenRecordTest, AcceptsWellFormedRecords) {
  TokenRecord default_role = EntityUserRecord(TokenKind::kAccess, 1);
  default_role.role_id.clear();
  TokenRecord rotated = PartnerRecord(TokenKind::kRefresh, 1);
  rotated.rotated = true;
  rotated.revoked = true;
  for (const TokenRecord& record :
       {PartnerRecord(TokenKind::kAccess, 1),
        EntityUserRecord(TokenKind::kRefresh, 2), default_role, rotated}) {
    EXPECT_TRUE(ValidateTokenRecord(record).ok())
        << ValidateTokenRecord(record);
  }
}

TEST(ValidateTokenRecordTest, Errors) {
  struct Case {
    const char* name;
    TokenRecord record;
    const char* message;
  };
  auto partner = [](auto mutate) {
    TokenRecord record = PartnerRecord(TokenKind::kAccess, 1);
    mutate(record);
    return record;
  };
  auto entity_user = [](auto mutate) {
    TokenRecord record = EntityUserRecord(TokenKind::kAccess, 1);
    mutate(record);
    return record;
  };
  const std::string range =
      "a whole number of nanoseconds within the int64 Unix range "
      "(1677-09-21 to 2262-04-11)";
  const std::string issued_range = "token record: issued_at is not " + range;
  const std::string expires_range = "token record: expires_at is not " + range;
  const Case cases[] = {
      {"zero digest", partner([](TokenRecord& r) { r.digest = Digest(); }),
       "token record: digest is unset"},
      {"no client", partner([](TokenRecord& r) { r.client_id.clear(); }),
       "token record: client_id is empty"},
      {"entity user without user",
       entity_user([](TokenRecord& r) { r.user_id.clear(); }),
       "token record: user_id is empty in an entity_user grant"},
      {"entity user without entity",
       entity_user([](TokenRecord& r) { r.entity_id.clear(); }),
       "token record: entity_id is empty in an entity_user grant"},
      {"partner with a user", partner([](TokenRecord& r) { r.user_id = "u"; }),
       "token record: a partner grant has no user_id, entity_id or role_id"},
      {"partner with a role", partner([](TokenRecord& r) { r.role_id = "r"; }),
       "token record: a partner grant has no user_id, entity_id or role_id"},
      {"family 0", partner([](TokenRecord& r) { r.family_id = 0; }),
       "token record: family_id is 0"},
      {"expires when issued",
       partner([](TokenRecord& r) { r.expires_at = r.issued_at; }),
       "token record: expires_at is not after issued_at"},
      {"expires before issued", partner([](TokenRecord& r) {
         r.expires_at = r.issued_at - absl::Seconds(1);
       }),
       "token record: expires_at is not after issued_at"},
      {"infinite issued_at",
       partner([](TokenRecord& r) { r.issued_at = absl::InfinitePast(); }),
       issued_range.c_str()},
      {"infinite expires_at",
       partner([](TokenRecord& r) { r.expires_at = absl::InfiniteFuture(); }),
       expires_range.c_str()},
      {"expires_at past 2262", partner([](TokenRecord& r) {
         r.expires_at = absl::FromUnixSeconds(10'000'000'000);
       }),
       expires_range.c_str()},
      {"sub-nanosecond expires_at", partner([](TokenRecord& r) {
         r.expires_at += absl::Nanoseconds(1) / 4;
       }),
       expires_range.c_str()},
      {"rotated access token",
       partner([](TokenRecord& r) { r.rotated = true; }),
       "token record: an access token cannot be rotated"},
      {"rotated_at without rotated", partner([](TokenRecord& r) {
         r.rotated_at = absl::FromUnixSeconds(1'800'000'000);
       }),
       "token record: rotated_at is set but not rotated"},
      {"access token naming an access token",
       partner([](TokenRecord& r) { r.access_digest = NewDigest(); }),
       "token record: an access token has no access_digest"},
      {"unknown kind",
       partner([](TokenRecord& r) { r.kind = static_cast<TokenKind>(7); }),
       "token record: kind 7 is not a token kind"},
      {"unknown grant",
       partner([](TokenRecord& r) { r.grant = static_cast<GrantKind>(9); }),
       "token record: grant 9 is not a grant kind"},
      {"every problem is listed", partner([](TokenRecord& r) {
         r.client_id.clear();
         r.family_id = 0;
       }),
       "token record: client_id is empty; family_id is 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Status status = ValidateTokenRecord(c.record);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), c.message);
  }
}

TEST(GenerateFamilyIdTest, NonZeroAndDistinct) {
  const uint64_t a = GenerateFamilyId();
  const uint64_t b = GenerateFamilyId();
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_NE(a, b);  // 2^-64 odds of a false failure.
}

TEST(InMemoryTokenStoreTest, InsertAndFind) {
  InMemoryTokenStore store;
  const TokenRecord partner = PartnerRecord(TokenKind::kAccess, 1);
  const TokenRecord user = EntityUserRecord(TokenKind::kRefresh, 2);
  InsertOrDie(store, partner);
  InsertOrDie(store, user);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(Ok(store.Find(partner.digest)), partner);
  EXPECT_EQ(Ok(store.Find(user.digest)), user);
  EXPECT_TRUE(absl::IsNotFound(store.Find(NewDigest()).status()));
}

TEST(InMemoryTokenStoreTest, InsertErrors) {
  InMemoryTokenStore store;
  const TokenRecord stored = PartnerRecord(TokenKind::kAccess, 1);
  InsertOrDie(store, stored);
  TokenRecord same_digest = PartnerRecord(TokenKind::kRefresh, 2);
  same_digest.digest = stored.digest;
  TokenRecord invalid = PartnerRecord(TokenKind::kAccess, 1);
  invalid.client_id.clear();
  struct Case {
    const char* name;
    TokenRecord record;
    absl::StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {"duplicate digest", same_digest, absl::StatusCode::kAlreadyExists,
       "token store: a token with this digest is already stored"},
      {"invalid record", invalid, absl::StatusCode::kInvalidArgument,
       "token record: client_id is empty"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Status status = store.Insert(c.record);
    EXPECT_EQ(status.code(), c.code);
    EXPECT_EQ(status.message(), c.message);
  }
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(Ok(store.Find(stored.digest)), stored);
}

TEST(InMemoryTokenStoreTest, Revoke) {
  InMemoryTokenStore store;
  const TokenRecord a = PartnerRecord(TokenKind::kAccess, 1);
  const TokenRecord b = PartnerRecord(TokenKind::kRefresh, 1);
  InsertOrDie(store, a);
  InsertOrDie(store, b);
  EXPECT_TRUE(Ok(store.Revoke(a.digest)));
  EXPECT_TRUE(store.Find(a.digest)->revoked);
  EXPECT_TRUE(Ok(store.Revoke(a.digest))) << "idempotent";
  EXPECT_FALSE(store.Find(b.digest)->revoked) << "same family, not revoked";
  EXPECT_FALSE(Ok(store.Revoke(NewDigest())));
  EXPECT_TRUE(store.Insert(PartnerRecord(TokenKind::kAccess, 1)).ok())
      << "revoking one token does not close its family";
}

TEST(InMemoryTokenStoreTest, RevokeFamily) {
  InMemoryTokenStore store;
  const TokenRecord access = PartnerRecord(TokenKind::kAccess, 1);
  TokenRecord old_refresh = PartnerRecord(TokenKind::kRefresh, 1);
  old_refresh.rotated = true;
  const TokenRecord refresh = PartnerRecord(TokenKind::kRefresh, 1);
  const TokenRecord other = PartnerRecord(TokenKind::kAccess, 2);
  for (const TokenRecord& record : {access, old_refresh, refresh, other}) {
    InsertOrDie(store, record);
  }
  ASSERT_TRUE(Ok(store.Revoke(access.digest)));

  EXPECT_EQ(Ok(store.RevokeFamily(1)), 2u) << "access was already revoked";
  for (const TokenRecord& record : {access, old_refresh, refresh}) {
    EXPECT_TRUE(store.Find(record.digest)->revoked);
  }
  EXPECT_FALSE(store.Find(other.digest)->revoked);
  EXPECT_EQ(Ok(store.RevokeFamily(1)), 0u);

  const absl::Status late = store.Insert(PartnerRecord(TokenKind::kAccess, 1));
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(late.message(), "token store: the token's family is revoked");

  // A family with no stored token is not remembered.
  EXPECT_EQ(Ok(store.RevokeFamily(3)), 0u);
  EXPECT_TRUE(store.Insert(PartnerRecord(TokenKind::kAccess, 3)).ok());
}

// InsertPair: both records or neither, under Insert's rules.
TEST(InMemoryTokenStoreTest, InsertPair) {
  InMemoryTokenStore store;
  const TokenRecord refresh = PartnerRecord(TokenKind::kRefresh, 1);
  const TokenRecord access = PartnerRecord(TokenKind::kAccess, 1);
  ASSERT_TRUE(store.InsertPair(refresh, access).ok());
  EXPECT_EQ(Ok(store.Find(refresh.digest)), refresh);
  EXPECT_EQ(Ok(store.Find(access.digest)), access);
  EXPECT_EQ(Ok(store.RevokeFamily(1)), 2u) << "both joined the family";

  struct Case {
    const char* name;
    TokenRecord refresh;
    TokenRecord access;
    absl::StatusCode code;
    const char* message;
  };
  const TokenRecord stored = PartnerRecord(TokenKind::kAccess, 2);
  InsertOrDie(store, stored);
  const TokenRecord stored_refresh = PartnerRecord(TokenKind::kRefresh, 2);
  InsertOrDie(store, stored_refresh);
  const TokenRecord fresh_refresh = PartnerRecord(TokenKind::kRefresh, 2);
  TokenRecord other_family = PartnerRecord(TokenKind::kAccess, 3);
  TokenRecord malformed = PartnerRecord(TokenKind::kAccess, 2);
  malformed.client_id.clear();
  const Case cases[] = {
      {"family revoked", PartnerRecord(TokenKind::kRefresh, 1),
       PartnerRecord(TokenKind::kAccess, 1),
       absl::StatusCode::kFailedPrecondition,
       "token store: the token's family is revoked"},
      {"access digest stored", fresh_refresh, stored,
       absl::StatusCode::kAlreadyExists,
       "token store: a token with this digest is already stored"},
      {"refresh digest stored", stored_refresh,
       PartnerRecord(TokenKind::kAccess, 2), absl::StatusCode::kAlreadyExists,
       "token store: a token with this digest is already stored"},
      {"kinds swapped", PartnerRecord(TokenKind::kAccess, 2),
       PartnerRecord(TokenKind::kRefresh, 2),
       absl::StatusCode::kInvalidArgument,
       "token store: a pair is a refresh token and an access token"},
      {"two families", PartnerRecord(TokenKind::kRefresh, 2), other_family,
       absl::StatusCode::kInvalidArgument,
       "token store: a pair's tokens belong to one family"},
      {"malformed access", PartnerRecord(TokenKind::kRefresh, 2), malformed,
       absl::StatusCode::kInvalidArgument, "token record: client_id is empty"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const size_t before = store.size();
    const absl::Status status = store.InsertPair(c.refresh, c.access);
    EXPECT_EQ(status.code(), c.code);
    EXPECT_EQ(status.message(), c.message);
    EXPECT_EQ(store.size(), before) << "neither stored";
  }
  // The refresh record of the refused "access digest stored" pair is gone.
  EXPECT_TRUE(absl::IsNotFound(store.Find(fresh_refresh.digest).status()));
  EXPECT_EQ(Ok(store.RevokeFamily(2)), 2u) << "only the tokens stored alone";
}

TEST(InMemoryTokenStoreTest, MarkRotated) {
  InMemoryTokenStore store;
  const TokenRecord refresh = PartnerRecord(TokenKind::kRefresh, 1);
  const TokenRecord access = PartnerRecord(TokenKind::kAccess, 1);
  const TokenRecord revoked = PartnerRecord(TokenKind::kRefresh, 2);
  for (const TokenRecord& record : {refresh, access, revoked}) {
    InsertOrDie(store, record);
  }
  ASSERT_TRUE(Ok(store.Revoke(revoked.digest)));

  const absl::Time t1 = absl::FromUnixSeconds(1'800'000'000);
  const absl::Time t2 = t1 + absl::Seconds(7);
  absl::StatusOr<Rotation> first = store.MarkRotated(refresh.digest, t1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->won);
  EXPECT_EQ(first->rotated_at, t1);
  EXPECT_TRUE(store.Find(refresh.digest)->rotated);
  EXPECT_EQ(store.Find(refresh.digest)->rotated_at, t1);
  absl::StatusOr<Rotation> second = store.MarkRotated(refresh.digest, t2);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->won) << "reuse";
  EXPECT_EQ(second->rotated_at, t1) << "the winner's time, not the loser's";
  EXPECT_EQ(store.Find(refresh.digest)->rotated_at, t1);

  struct Case {
    const char* name;
    Digest digest;
    absl::StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {"access token", access.digest, absl::StatusCode::kFailedPrecondition,
       "token store: not a refresh token"},
      {"revoked", revoked.digest, absl::StatusCode::kFailedPrecondition,
       "token store: the token is revoked"},
      {"unknown", NewDigest(), absl::StatusCode::kNotFound,
       "token store: no token with this digest"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Rotation> rotated = store.MarkRotated(c.digest, t2);
    EXPECT_EQ(rotated.status().code(), c.code);
    EXPECT_EQ(rotated.status().message(), c.message);
  }
  ASSERT_TRUE(Ok(store.Revoke(refresh.digest)));
  EXPECT_EQ(store.MarkRotated(refresh.digest, t2).status().message(),
            "token store: the token is revoked")
      << "revocation wins over rotation";
}

TEST(InMemoryTokenStoreTest, RemoveExpired) {
  InMemoryTokenStore store;
  const TokenRecord one =
      PartnerRecord(TokenKind::kAccess, 1, kIssued + absl::Hours(1));
  const TokenRecord two =
      PartnerRecord(TokenKind::kRefresh, 1, kIssued + absl::Hours(2));
  const TokenRecord three =
      PartnerRecord(TokenKind::kAccess, 2, kIssued + absl::Hours(3));
  for (const TokenRecord& record : {one, two, three}) {
    InsertOrDie(store, record);
  }
  EXPECT_EQ(store.RemoveExpired(kIssued), 0u);
  EXPECT_EQ(
      store.RemoveExpired(kIssued + absl::Hours(1) - absl::Nanoseconds(1)), 0u);
  // expires_at == now is expired.
  EXPECT_EQ(store.RemoveExpired(kIssued + absl::Hours(2)), 2u);
  EXPECT_TRUE(absl::IsNotFound(store.Find(one.digest).status()));
  EXPECT_TRUE(absl::IsNotFound(store.Find(two.digest).status()));
  EXPECT_EQ(Ok(store.Find(three.digest)), three);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(Ok(store.RevokeFamily(1)), 0u) << "family 1 has no tokens left";
}

TEST(InMemoryTokenStoreTest, RevokedFamilyLastsAsLongAsItsTokens) {
  InMemoryTokenStore store;
  InsertOrDie(store,
              PartnerRecord(TokenKind::kAccess, 1, kIssued + absl::Hours(1)));
  InsertOrDie(store,
              PartnerRecord(TokenKind::kRefresh, 1, kIssued + absl::Hours(2)));
  ASSERT_EQ(Ok(store.RevokeFamily(1)), 2u);

  EXPECT_EQ(store.RemoveExpired(kIssued + absl::Hours(1)), 1u);
  EXPECT_EQ(store.Insert(PartnerRecord(TokenKind::kAccess, 1)).code(),
            absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(store.RemoveExpired(kIssued + absl::Hours(2)), 1u);
  EXPECT_TRUE(store
                  .Insert(PartnerRecord(TokenKind::kAccess, 1,
                                        kIssued + absl::Hours(5)))
                  .ok());
}

// Fills a store with one token of every shape.
std::vector<TokenRecord> PopulateVariedStore(TokenStore& store) {
  std::vector<TokenRecord> records;
  records.push_back(PartnerRecord(TokenKind::kAccess, 10));
  TokenRecord rotated = PartnerRecord(TokenKind::kRefresh, 10);
  rotated.rotated = true;
  rotated.rotated_at = rotated.issued_at + absl::Seconds(90);
  records.push_back(rotated);
  records.push_back(PartnerRecord(TokenKind::kRefresh, 10));
  records.push_back(EntityUserRecord(TokenKind::kAccess, 20));
  TokenRecord default_role = EntityUserRecord(TokenKind::kRefresh, 20);
  default_role.role_id.clear();
  records.push_back(default_role);
  TokenRecord revoked = EntityUserRecord(TokenKind::kAccess, 30);
  revoked.revoked = true;
  records.push_back(revoked);
  records.push_back(PartnerRecord(TokenKind::kAccess, 40));
  records.push_back(PartnerRecord(TokenKind::kRefresh, 40));
  // Extreme but storable times.
  TokenRecord extreme = PartnerRecord(TokenKind::kAccess, 50);
  extreme.issued_at = absl::FromUnixNanos(std::numeric_limits<int64_t>::min());
  extreme.expires_at = absl::FromUnixNanos(std::numeric_limits<int64_t>::max());
  records.push_back(extreme);
  for (const TokenRecord& record : records) {
    EXPECT_TRUE(store.Insert(record).ok());
  }
  EXPECT_EQ(Ok(store.RevokeFamily(40)), 2u);
  for (TokenRecord& record : records) {
    if (record.family_id == 40) record.revoked = true;
  }
  // User revocation counters, one of a user without tokens.
  EXPECT_EQ(Ok(store.RevokeUser("u-ann")), 1u);
  EXPECT_EQ(Ok(store.RevokeUser("u-ann")), 2u);
  EXPECT_EQ(Ok(store.RevokeUser("u-gone")), 1u);
  return records;
}

TEST(InMemoryTokenStoreTest, UserRevocationCounters) {
  InMemoryTokenStore store;
  EXPECT_EQ(Ok(store.UserRevocation("u-ann")), 0u);
  EXPECT_EQ(Ok(store.RevokeUser("u-ann")), 1u);
  EXPECT_EQ(Ok(store.RevokeUser("u-ann")), 2u);
  EXPECT_EQ(Ok(store.UserRevocation("u-ann")), 2u);
  EXPECT_EQ(Ok(store.UserRevocation("u-bob")), 0u);
  // Kept whatever the tokens: nothing to expire.
  EXPECT_EQ(store.RemoveExpired(absl::InfiniteFuture()), 0u);
  EXPECT_EQ(Ok(store.UserRevocation("u-ann")), 2u);
}

TEST(InMemoryTokenStoreTest, ExportImportRoundTrip) {
  InMemoryTokenStore original;
  const std::vector<TokenRecord> records = PopulateVariedStore(original);
  absl::StatusOr<std::string> exported = original.Export(SealKey());
  ASSERT_TRUE(exported.ok()) << exported.status();

  InMemoryTokenStore restored;
  const absl::Status imported = restored.Import(*exported, SealKey());
  ASSERT_TRUE(imported.ok()) << imported;
  EXPECT_EQ(Ok(restored.UserRevocation("u-ann")), 2u);
  EXPECT_EQ(Ok(restored.UserRevocation("u-gone")), 1u);
  EXPECT_EQ(Ok(restored.UserRevocation("u-bob")), 0u);
  EXPECT_EQ(restored.size(), records.size());
  for (const TokenRecord& record : records) {
    EXPECT_EQ(Ok(restored.Find(record.digest)), record);
  }
  EXPECT_EQ(restored.Export(SealKey()).value_or(""), *exported);

  // The family revocation survives: nothing joins family 40.
  EXPECT_EQ(restored.Insert(PartnerRecord(TokenKind::kAccess, 40)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(restored.Insert(PartnerRecord(TokenKind::kAccess, 10)).ok());
  // Rotation state survives too.
  for (const TokenRecord& record : records) {
    if (record.kind == TokenKind::kRefresh && !record.revoked) {
      absl::StatusOr<Rotation> rotation =
          restored.MarkRotated(record.digest, absl::Now());
      ASSERT_TRUE(rotation.ok()) << rotation.status();
      EXPECT_EQ(rotation->won, !record.rotated);
      if (record.rotated) {
        EXPECT_EQ(rotation->rotated_at, record.rotated_at);
      }
    }
  }
}

TEST(InMemoryTokenStoreTest, EmptyStoreRoundTrip) {
  InMemoryTokenStore empty;
  absl::StatusOr<std::string> exported = empty.Export(SealKey());
  ASSERT_TRUE(exported.ok()) << exported.status();
  InMemoryTokenStore restored;
  EXPECT_TRUE(restored.Import(*exported, SealKey()).ok());
  EXPECT_EQ(restored.size(), 0u);
}

TEST(InMemoryTokenStoreTest, ExportIsDeterministic) {
  std::vector<TokenRecord> records;
  for (int i = 0; i < 50; ++i) {
    records.push_back(PartnerRecord(TokenKind::kAccess, 1 + i % 5));
  }
  InMemoryTokenStore forward;
  InMemoryTokenStore backward;
  for (const TokenRecord& record : records) InsertOrDie(forward, record);
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    InsertOrDie(backward, *it);
  }
  EXPECT_TRUE(forward.RevokeFamily(3).ok());
  EXPECT_TRUE(backward.RevokeFamily(3).ok());
  EXPECT_EQ(forward.Export(SealKey()).value_or("a"),
            backward.Export(SealKey()).value_or("b"));
}

TEST(InMemoryTokenStoreTest, ExportHoldsNoTokenMaterial) {
  InMemoryTokenStore store;
  std::vector<std::string> secrets;
  for (int i = 0; i < 20; ++i) {
    const TokenBytes token = GenerateToken();
    TokenRecord record = PartnerRecord(TokenKind::kAccess, 1);
    record.digest = KeyedHash(TestKey(), token.bytes());
    InsertOrDie(store, record);
    secrets.push_back(FormatToken(token));
    secrets.emplace_back(reinterpret_cast<const char*>(token.bytes().data()),
                         token.bytes().size());
  }
  const std::string exported = store.Export(SealKey()).value_or("");
  ASSERT_FALSE(exported.empty());
  for (const std::string& secret : secrets) {
    EXPECT_FALSE(absl::StrContains(exported, secret));
  }
}

constexpr char kTokenStoreType[] = "portcullis.auth.v1.TokenStoreSnapshot";

TEST(InMemoryTokenStoreTest, ImportRejectsCorruptInput) {
  v1::TokenStoreSnapshot version_three;
  version_three.set_version(3);
  v1::TokenStoreSnapshot version_one;
  version_one.set_version(1);
  v1::TokenStoreSnapshot snapshot;
  snapshot.set_version(2);
  *snapshot.add_tokens() = ValidProtoRecord(1);
  const std::string payload = snapshot.SerializeAsString();
  // What Export wrote before exports were sealed with a key: the snapshot
  // with an unkeyed BLAKE2b of itself in field 4.
  v1::TokenStoreSnapshot legacy = snapshot;
  legacy.set_version(1);
  const std::string legacy_payload = legacy.SerializeAsString();
  v1::TokenStoreSnapshot checksum_field;
  checksum_field.GetReflection()
      ->MutableUnknownFields(&checksum_field)
      ->AddLengthDelimited(4, testing::UnkeyedChecksum(legacy_payload));
  const std::string format_one =
      legacy_payload + checksum_field.SerializeAsString();
  auto edited_seal = [&](auto edit) {
    v1::SealedSnapshot sealed = testing::OpenSeal(Seal(snapshot));
    edit(sealed);
    return sealed.SerializeAsString();
  };
  const SecretKey other_key = SecretKey::Generate();
  struct Case {
    const char* name;
    std::string input;
    const char* message;
  };
  const Case cases[] = {
      {"not protobuf", "\xff",
       "token store import: not a serialized SealedSnapshot"},
      {"truncated varint", "\x08",
       "token store import: not a serialized SealedSnapshot"},
      {"empty input", "",
       "token store import: unsupported format version 0 (expected 2)"},
      {"a format 1 export (unkeyed checksum)", format_one,
       "token store import: unsupported format version 1 (expected 2): "
       "version 1 exports carry an unkeyed checksum that anyone can "
       "recompute, so nothing shows they were not edited"},
      {"future format",
       testing::SealPayload(SealKey(), kTokenStoreType, payload, 3),
       "token store import: unsupported format version 3 (expected 2)"},
      {"unknown field in the seal", edited_seal([](v1::SealedSnapshot& s) {
         s.GetReflection()->MutableUnknownFields(&s)->AddVarint(9, 1);
       }),
       "token store import: unknown fields in the seal (written by a newer "
       "version?)"},
      {"no MAC", edited_seal([](v1::SealedSnapshot& s) { s.clear_mac(); }),
       "token store import: MAC is missing (truncated?)"},
      {"short MAC", edited_seal([](v1::SealedSnapshot& s) {
         s.set_mac(s.mac().substr(0, 31));
       }),
       "token store import: MAC: expected 32 bytes, got 31"},
      {"sealed under another key", testing::Seal(snapshot, other_key),
       "token store import: MAC mismatch: edited, corrupted or sealed under "
       "another key"},
      {"another type named", edited_seal([](v1::SealedSnapshot& s) {
         s.set_payload_type("portcullis.auth.v1.ClientRegistrySnapshot");
       }),
       "token store import: MAC mismatch: edited, corrupted or sealed under "
       "another key"},
      {"another kind of snapshot",
       testing::SealPayload(
           SealKey(), "portcullis.auth.v1.ClientRegistrySnapshot", payload),
       "token store import: holds a portcullis.auth.v1.ClientRegistrySnapshot, "
       "not a portcullis.auth.v1.TokenStoreSnapshot"},
      {"payload that does not parse",
       testing::SealPayload(SealKey(), kTokenStoreType, "\xff"),
       "token store import: payload is not a serialized TokenStoreSnapshot"},
      {"future snapshot version", Seal(version_three),
       "token store import: unsupported version 3 (expected 2)"},
      {"older snapshot version", Seal(version_one),
       "token store import: unsupported version 1 (expected 2): version 1 "
       "tokens carry no revocation counters and cannot be converted: clients "
       "must authenticate again"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    InMemoryTokenStore store;
    const absl::Status status = store.Import(c.input, SealKey());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), c.message);
    EXPECT_EQ(store.size(), 0u);
  }
  InMemoryTokenStore store;
  EXPECT_TRUE(store.Import(Seal(snapshot), SealKey()).ok());
}

// Whoever can write an export but does not hold the key cannot change what
// it says: each edit below is refused whether the MAC is left alone,
// replaced by an unkeyed checksum of the new payload, or made under another
// key; only the key's holder can seal it (the last check, which shows the
// edits themselves import fine).
TEST(InMemoryTokenStoreTest, ImportRejectsTampering) {
  InMemoryTokenStore original;
  TokenRecord revoked = EntityUserRecord(TokenKind::kAccess, 7);
  revoked.revoked = true;
  TokenRecord rotated = PartnerRecord(TokenKind::kRefresh, 8);
  rotated.rotated = true;
  InsertOrDie(original, revoked);
  InsertOrDie(original, rotated);
  const std::string exported = original.Export(SealKey()).value_or("");
  ASSERT_FALSE(exported.empty());
  const v1::SealedSnapshot sealed = testing::OpenSeal(exported);
  v1::TokenStoreSnapshot snapshot;
  ASSERT_TRUE(snapshot.ParseFromString(sealed.payload()));
  ASSERT_EQ(snapshot.tokens_size(), 2);
  const int r = snapshot.tokens(0).revoked() ? 0 : 1;  // the revoked token
  struct Edit {
    const char* name;
    void (*apply)(v1::TokenRecord& record);
    int token;
  };
  const Edit edits[] = {
      {"un-revoke a token", [](v1::TokenRecord& t) { t.set_revoked(false); },
       r},
      {"extend an expiry",
       [](v1::TokenRecord& t) {
         t.set_expires_at_unix_nanos(t.expires_at_unix_nanos() +
                                     absl::ToInt64Nanoseconds(absl::Hours(24)));
       },
       r},
      {"change the role", [](v1::TokenRecord& t) { t.set_role_id("r-admin"); },
       r},
      {"change the entity", [](v1::TokenRecord& t) { t.set_entity_id("e-2"); },
       r},
      {"un-rotate a refresh token",
       [](v1::TokenRecord& t) { t.set_rotated(false); }, 1 - r},
  };
  const SecretKey other_key = SecretKey::Generate();
  const std::string mismatch =
      "token store import: MAC mismatch: edited, corrupted or sealed under "
      "another key";
  for (const Edit& edit : edits) {
    SCOPED_TRACE(edit.name);
    v1::TokenStoreSnapshot changed = snapshot;
    edit.apply(*changed.mutable_tokens(edit.token));
    const std::string payload = changed.SerializeAsString();
    ASSERT_NE(payload, sealed.payload());

    v1::SealedSnapshot same_mac = sealed;
    same_mac.set_payload(payload);
    v1::SealedSnapshot unkeyed = same_mac;
    unkeyed.set_mac(testing::UnkeyedChecksum(payload));
    for (const std::string& input :
         {same_mac.SerializeAsString(), unkeyed.SerializeAsString(),
          testing::SealPayload(other_key, kTokenStoreType, payload)}) {
      InMemoryTokenStore store;
      const absl::Status status = store.Import(input, SealKey());
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(status.message(), mismatch);
      EXPECT_EQ(store.size(), 0u);
    }
    InMemoryTokenStore store;
    EXPECT_TRUE(
        store
            .Import(testing::SealPayload(SealKey(), kTokenStoreType, payload),
                    SealKey())
            .ok());
  }

  // Any one byte of the payload changed and re-checksummed without the key.
  for (size_t i = 0; i < sealed.payload().size(); ++i) {
    v1::SealedSnapshot edited = sealed;
    edited.mutable_payload()->at(i) ^= 0x20;
    edited.set_mac(testing::UnkeyedChecksum(edited.payload()));
    InMemoryTokenStore store;
    const absl::Status status =
        store.Import(edited.SerializeAsString(), SealKey());
    ASSERT_EQ(status.message(), mismatch) << "payload byte " << i;
  }
}

// The MAC covers the payload's bytes as stored, and those bytes are what is
// parsed: a payload protobuf would serialize differently (here the version
// after the tokens) imports, because nothing is serialized again.
TEST(InMemoryTokenStoreTest, ImportVerifiesTheStoredBytes) {
  v1::TokenStoreSnapshot tokens;
  *tokens.add_tokens() = ValidProtoRecord(1);
  v1::TokenStoreSnapshot version;
  version.set_version(2);
  const std::string payload =
      tokens.SerializeAsString() + version.SerializeAsString();
  v1::TokenStoreSnapshot parsed;
  ASSERT_TRUE(parsed.ParseFromString(payload));
  ASSERT_NE(parsed.SerializeAsString(), payload);
  InMemoryTokenStore store;
  const absl::Status status = store.Import(
      testing::SealPayload(SealKey(), kTokenStoreType, payload), SealKey());
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(store.size(), 1u);
}

// Every proper prefix of an export fails, whichever field it ends in: no
// truncated file imports as a smaller store.
TEST(InMemoryTokenStoreTest, ImportRejectsEveryTruncation) {
  InMemoryTokenStore original;
  PopulateVariedStore(original);
  const std::string exported = original.Export(SealKey()).value_or("");
  ASSERT_FALSE(exported.empty());
  for (size_t length = 0; length < exported.size(); ++length) {
    InMemoryTokenStore store;
    const absl::Status status =
        store.Import(exported.substr(0, length), SealKey());
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
        << "prefix of " << length << " bytes";
    ASSERT_EQ(store.size(), 0u);
  }
}

// Every single-bit flip either fails or (for the few encodings of one value,
// such as a bool stored as 3) imports exactly the original content.
TEST(InMemoryTokenStoreTest, ImportNeverChangesContentSilently) {
  InMemoryTokenStore original;
  PopulateVariedStore(original);
  const std::string exported = original.Export(SealKey()).value_or("");
  ASSERT_FALSE(exported.empty());
  int accepted = 0;
  for (size_t byte = 0; byte < exported.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string corrupted = exported;
      corrupted[byte] = static_cast<char>(corrupted[byte] ^ (1 << bit));
      InMemoryTokenStore store;
      const absl::Status status = store.Import(corrupted, SealKey());
      if (status.ok()) {
        ++accepted;
        ASSERT_EQ(store.Export(SealKey()).value_or(""), exported)
            << "byte " << byte << " bit " << bit;
      } else {
        ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
        ASSERT_EQ(store.size(), 0u);
      }
    }
  }
  // Value-preserving flips exist (a `true` bool read back from 0x03) but are
  // rare; each one was checked above.
  EXPECT_LT(accepted, static_cast<int>(exported.size()));
}

TEST(InMemoryTokenStoreTest, ImportRejectsInvalidContent) {
  struct Case {
    const char* name;
    void (*build)(v1::TokenStoreSnapshot&);
    const char* message;
  };
  const Case cases[] = {
      {"short digest",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(0)->set_digest(std::string(31, 'x'));
       },
       "token store import: tokens[0]: digest: expected 32 bytes, got 31"},
      {"zero digest",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(0)->set_digest(std::string(32, '\0'));
       },
       "token store import: tokens[0]: digest is unset"},
      {"short access_digest",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(0)->set_access_digest(std::string(31, 'x'));
       },
       "token store import: tokens[0]: access_digest: digest: expected 32 "
       "bytes, got 31"},
      {"empty user id in user_revocations",
       [](v1::TokenStoreSnapshot& s) {
         s.add_user_revocations()->set_revocation(1);
       },
       "token store import: user_revocations[0]: user_id is empty"},
      {"zero user revocation",
       [](v1::TokenStoreSnapshot& s) {
         s.add_user_revocations()->set_user_id("u-ann");
       },
       "token store import: user_revocations[0]: revocation is 0"},
      {"duplicate user revocation",
       [](v1::TokenStoreSnapshot& s) {
         for (int i = 0; i < 2; ++i) {
           v1::UserRevocation& user = *s.add_user_revocations();
           user.set_user_id("u-ann");
           user.set_revocation(1);
         }
       },
       "token store import: user_revocations[1]: duplicate user_id"},
      {"partner token with a user revocation",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(0)->set_user_revocation(1);
       },
       "token store import: tokens[0]: a partner grant has no "
       "user_revocation"},
      {"zero access_digest",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(0)->set_access_digest(std::string(32, '\0'));
       },
       "token store import: tokens[0]: access_digest is all zero"},
      {"unspecified kind",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(1)->set_kind(v1::TOKEN_KIND_UNSPECIFIED);
       },
       "token store import: tokens[1]: kind is unspecified"},
      {"unknown kind",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(0)->set_kind(static_cast<v1::TokenKind>(7));
       },
       "token store import: tokens[0]: kind 7 is unknown"},
      {"unspecified grant",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(0)->set_grant(v1::GRANT_KIND_UNSPECIFIED);
       },
       "token store import: tokens[0]: grant is unspecified"},
      {"unknown grant",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(0)->set_grant(static_cast<v1::GrantKind>(9));
       },
       "token store import: tokens[0]: grant 9 is unknown"},
      {"fields are read before invariants are checked",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(0)->set_kind(v1::TOKEN_KIND_UNSPECIFIED);
         s.mutable_tokens(0)->clear_digest();
         s.mutable_tokens(0)->clear_client_id();
       },
       "token store import: tokens[0]: kind is unspecified; tokens[0]: "
       "digest: expected 32 bytes, got 0"},
      {"record invariants",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(1)->clear_client_id();
         s.mutable_tokens(1)->set_expires_at_unix_nanos(
             s.tokens(1).issued_at_unix_nanos());
       },
       "token store import: tokens[1]: client_id is empty; tokens[1]: "
       "expires_at is not after issued_at"},
      {"duplicate digest",
       [](v1::TokenStoreSnapshot& s) {
         s.mutable_tokens(1)->set_digest(s.tokens(0).digest());
       },
       "token store import: tokens[1]: duplicate digest (also tokens[0])"},
      {"revoked family with a live token",
       [](v1::TokenStoreSnapshot& s) { s.add_revoked_families(42); },
       "token store import: tokens[0]: the token's family is revoked but it "
       "is not; tokens[1]: the token's family is revoked but it is not"},
      {"revoked family 0",
       [](v1::TokenStoreSnapshot& s) { s.add_revoked_families(0); },
       "token store import: revoked_families[0]: family_id is 0"},
      {"duplicate revoked family",
       [](v1::TokenStoreSnapshot& s) {
         s.add_revoked_families(7);
         s.add_revoked_families(7);
       },
       "token store import: revoked_families[1]: duplicate family"},
      {"unknown field in the snapshot",
       [](v1::TokenStoreSnapshot& s) {
         s.GetReflection()->MutableUnknownFields(&s)->AddVarint(100, 1);
       },
       "token store import: unknown fields (written by a newer version?)"},
      {"unknown field in a token",
       [](v1::TokenStoreSnapshot& s) {
         v1::TokenRecord& record = *s.mutable_tokens(1);
         record.GetReflection()->MutableUnknownFields(&record)->AddFixed32(99,
                                                                           1);
       },
       "token store import: tokens[1]: unknown fields"},
      {"at most 10 problems are listed",
       [](v1::TokenStoreSnapshot& s) {
         for (int i = 0; i < 13; ++i) {
           *s.add_tokens() = ValidProtoRecord(static_cast<uint8_t>(10 + i));
           s.mutable_tokens(s.tokens_size() - 1)->clear_client_id();
         }
       },
       "token store import: tokens[2]: client_id is empty; tokens[3]: "
       "client_id is empty; tokens[4]: client_id is empty; tokens[5]: "
       "client_id is empty; tokens[6]: client_id is empty; tokens[7]: "
       "client_id is empty; tokens[8]: client_id is empty; tokens[9]: "
       "client_id is empty; tokens[10]: client_id is empty; tokens[11]: "
       "client_id is empty; and 3 more"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::TokenStoreSnapshot snapshot;
    snapshot.set_version(2);
    *snapshot.add_tokens() = ValidProtoRecord(1);
    *snapshot.add_tokens() = ValidProtoRecord(2);
    c.build(snapshot);
    InMemoryTokenStore store;
    const absl::Status status = store.Import(Seal(snapshot), SealKey());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), c.message);
    EXPECT_EQ(store.size(), 0u) << "all or nothing";
  }
}

TEST(InMemoryTokenStoreTest, ImportAcceptsAHandWrittenSnapshot) {
  v1::TokenStoreSnapshot snapshot;
  snapshot.set_version(2);
  *snapshot.add_tokens() = ValidProtoRecord(1);
  v1::TokenRecord& revoked = *snapshot.add_tokens() = ValidProtoRecord(2);
  revoked.set_family_id(43);
  revoked.set_revoked(true);
  snapshot.add_revoked_families(43);
  snapshot.add_revoked_families(44);  // No tokens: dropped.
  InMemoryTokenStore store;
  const absl::Status status = store.Import(Seal(snapshot), SealKey());
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(store.size(), 2u);
  std::array<uint8_t, 32> bytes;
  bytes.fill(1);
  const absl::StatusOr<TokenRecord> found = store.Find(Digest(bytes));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->client_id, "c-finance");
  EXPECT_EQ(found->expires_at, kExpires);
  EXPECT_EQ(store.Insert(PartnerRecord(TokenKind::kAccess, 43)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store.Insert(PartnerRecord(TokenKind::kAccess, 44)).ok());
}

TEST(InMemoryTokenStoreTest, ImportNeedsAnEmptyStore) {
  InMemoryTokenStore source;
  PopulateVariedStore(source);
  const std::string exported = source.Export(SealKey()).value_or("");
  InMemoryTokenStore store;
  const TokenRecord existing = PartnerRecord(TokenKind::kAccess, 1);
  InsertOrDie(store, existing);
  const absl::Status status = store.Import(exported, SealKey());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "token store import: the store is not empty");
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(Ok(store.Find(existing.digest)), existing);
}

// Waits until every thread is ready, then releases them together.
class StartLine {
 public:
  void Wait() {
    while (!go_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  void Go() { go_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool> go_{false};
};

// Of several threads rotating the same refresh tokens at once, exactly one
// wins each token.
TEST(InMemoryTokenStoreConcurrencyTest, RotateOnce) {
  constexpr int kTokens = 64;
  constexpr int kThreads = 8;
  InMemoryTokenStore store;
  std::vector<Digest> digests;
  for (int i = 0; i < kTokens; ++i) {
    const TokenRecord record = PartnerRecord(TokenKind::kRefresh, 1 + i);
    InsertOrDie(store, record);
    digests.push_back(record.digest);
  }
  std::vector<std::atomic<int>> wins(kTokens);
  std::atomic<int> errors{0};
  StartLine start;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.Wait();
      for (int i = 0; i < kTokens; ++i) {
        // Threads walk the tokens from different offsets to vary the races.
        const int index = (i + t * 7) % kTokens;
        absl::StatusOr<Rotation> rotated =
            store.MarkRotated(digests[index], absl::FromUnixSeconds(t));
        if (!rotated.ok()) {
          errors.fetch_add(1);
        } else if (rotated->won) {
          wins[index].fetch_add(1);
        }
      }
    });
  }
  start.Go();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  for (int i = 0; i < kTokens; ++i) {
    EXPECT_EQ(wins[i].load(), 1) << "token " << i;
    EXPECT_TRUE(store.Find(digests[i])->rotated);
  }
}

// Inserts into a family race with its revocation: afterwards every stored
// token of the family is revoked, and once an Insert was refused, every later
// one was too.
TEST(InMemoryTokenStoreConcurrencyTest, InsertRacesRevokeFamily) {
  constexpr int kRounds = 20;
  constexpr int kInserts = 200;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    InMemoryTokenStore store;
    const uint64_t family = 1000 + round;
    InsertOrDie(store, PartnerRecord(TokenKind::kRefresh, family));
    std::vector<TokenRecord> records;
    for (int i = 0; i < kInserts; ++i) {
      records.push_back(PartnerRecord(TokenKind::kAccess, family));
    }
    std::vector<absl::StatusCode> results(kInserts);
    StartLine start;
    std::thread inserter([&] {
      start.Wait();
      for (int i = 0; i < kInserts; ++i) {
        results[i] = store.Insert(records[i]).code();
      }
    });
    std::thread revoker([&] {
      start.Wait();
      for (int spin = 0; spin < round * 50; ++spin) std::this_thread::yield();
      EXPECT_TRUE(store.RevokeFamily(family).ok());
    });
    start.Go();
    inserter.join();
    revoker.join();

    bool refused = false;
    for (int i = 0; i < kInserts; ++i) {
      if (results[i] == absl::StatusCode::kFailedPrecondition) {
        refused = true;
        EXPECT_TRUE(absl::IsNotFound(store.Find(records[i].digest).status()));
      } else {
        ASSERT_EQ(results[i], absl::StatusCode::kOk);
        EXPECT_FALSE(refused) << "insert " << i << " after a refusal";
        ASSERT_TRUE(store.Find(records[i].digest).ok());
        EXPECT_TRUE(store.Find(records[i].digest)->revoked) << "insert " << i;
      }
    }
  }
}

// Everything at once, for TSAN and for the consistency of Export: while
// families are being revoked and tokens inserted, rotated and swept, every
// export imports cleanly.
TEST(InMemoryTokenStoreConcurrencyTest, MixedWorkloadExportsConsistently) {
  constexpr int kFamilies = 40;
  constexpr int kTokensPerFamily = 6;
  // Every third family is revoked while being filled. Its tokens outlive the
  // sweeps, so its revocation is remembered until the end.
  auto revoked_family = [](int f) { return f % 3 == 0; };
  InMemoryTokenStore store;
  std::vector<std::vector<TokenRecord>> families(kFamilies);
  for (int f = 0; f < kFamilies; ++f) {
    for (int i = 0; i < kTokensPerFamily; ++i) {
      const absl::Time expires_at =
          revoked_family(f)
              ? kIssued + absl::Hours(1)
              : kIssued + absl::Minutes(1 + (f * kTokensPerFamily + i) % 30);
      families[f].push_back(
          PartnerRecord(i % 2 == 0 ? TokenKind::kAccess : TokenKind::kRefresh,
                        1 + f, expires_at));
    }
  }
  StartLine start;
  std::atomic<int> bad_exports{0};
  std::vector<std::thread> threads;
  // Two inserters, each owning half the families.
  for (int half = 0; half < 2; ++half) {
    threads.emplace_back([&, half] {
      start.Wait();
      for (int f = half; f < kFamilies; f += 2) {
        for (const TokenRecord& record : families[f]) {
          (void)store.Insert(record);
        }
      }
    });
  }
  threads.emplace_back([&] {  // Revokes each such family once it exists.
    start.Wait();
    for (int f = 0; f < kFamilies; ++f) {
      if (!revoked_family(f)) continue;
      while (!store.Find(families[f].front().digest).ok()) {
        std::this_thread::yield();
      }
      EXPECT_TRUE(store.RevokeFamily(1 + f).ok());
    }
  });
  threads.emplace_back([&] {  // Rotates and finds refresh tokens.
    start.Wait();
    for (const std::vector<TokenRecord>& family : families) {
      for (const TokenRecord& record : family) {
        (void)store.Find(record.digest);
        if (record.kind == TokenKind::kRefresh) {
          (void)store.MarkRotated(record.digest, absl::Now());
        }
      }
    }
  });
  threads.emplace_back([&] {  // Sweeps, minute by minute.
    start.Wait();
    for (int minute = 0; minute <= 10; ++minute) {
      store.RemoveExpired(kIssued + absl::Minutes(minute));
    }
  });
  threads.emplace_back([&] {  // Exports and checks each export imports.
    start.Wait();
    for (int i = 0; i < 10; ++i) {
      absl::StatusOr<std::string> exported = store.Export(SealKey());
      InMemoryTokenStore copy;
      if (!exported.ok() || !copy.Import(*exported, SealKey()).ok()) {
        bad_exports.fetch_add(1);
      }
    }
  });
  start.Go();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(bad_exports.load(), 0);

  // Quiescent now: no token of a revoked family escaped revocation, whether
  // it was inserted before the revocation (revoked) or after (refused).
  for (int f = 0; f < kFamilies; ++f) {
    if (!revoked_family(f)) continue;
    for (const TokenRecord& record : families[f]) {
      absl::StatusOr<TokenRecord> found = store.Find(record.digest);
      if (found.ok()) {
        EXPECT_TRUE(found->revoked) << "family " << f;
      }
    }
  }
  absl::StatusOr<std::string> exported = store.Export(SealKey());
  ASSERT_TRUE(exported.ok());
  InMemoryTokenStore copy;
  EXPECT_TRUE(copy.Import(*exported, SealKey()).ok());
  EXPECT_EQ(copy.size(), store.size());
}

}  // namespace
}  // namespace portcullis::auth
