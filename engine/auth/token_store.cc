#include "engine/auth/token_store.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/auth/crypto.h"
#include "engine/auth/sealed_snapshot.h"
#include "engine/auth/token_store.pb.h"
#include "engine/common/status_macros.h"
#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"

namespace portcullis::auth {
namespace {

// Version 1 records carried no revocation counters.
constexpr uint32_t kSnapshotVersion = 2;

using internal::HasUnknownFields;
using internal::ProblemList;

bool IsKnown(TokenKind kind) {
  switch (kind) {
    case TokenKind::kAccess:
    case TokenKind::kRefresh:
      return true;
  }
  return false;
}

bool IsKnown(GrantKind grant) {
  switch (grant) {
    case GrantKind::kPartner:
    case GrantKind::kEntityUser:
      return true;
  }
  return false;
}

// Whether `time` survives the trip through int64 Unix nanoseconds that Export
// makes: whole nanoseconds, within about 1677-09-21 .. 2262-04-11.
bool IsStorableTime(absl::Time time) {
  return time != absl::InfiniteFuture() && time != absl::InfinitePast() &&
         absl::FromUnixNanos(absl::ToUnixNanos(time)) == time;
}

constexpr absl::string_view kTimeRange =
    "a whole number of nanoseconds within the int64 Unix range "
    "(1677-09-21 to 2262-04-11)";

// Adds every invariant `record` breaks to `problems`, each after `path`.
void CollectRecordProblems(const TokenRecord& record, absl::string_view path,
                           ProblemList& problems) {
  if (!IsKnown(record.kind)) {
    problems.Add(absl::StrCat(path, "kind ", static_cast<int>(record.kind),
                              " is not a token kind"));
  }
  if (!IsKnown(record.grant)) {
    problems.Add(absl::StrCat(path, "grant ", static_cast<int>(record.grant),
                              " is not a grant kind"));
  }
  if (record.digest.IsZero())
    problems.Add(absl::StrCat(path, "digest is unset"));
  if (record.client_id.empty()) {
    problems.Add(absl::StrCat(path, "client_id is empty"));
  }
  if (record.grant == GrantKind::kEntityUser) {
    if (record.user_id.empty()) {
      problems.Add(
          absl::StrCat(path, "user_id is empty in an entity_user grant"));
    }
    if (record.entity_id.empty()) {
      problems.Add(
          absl::StrCat(path, "entity_id is empty in an entity_user grant"));
    }
  } else if (record.grant == GrantKind::kPartner) {
    if (!record.user_id.empty() || !record.entity_id.empty() ||
        !record.role_id.empty()) {
      problems.Add(absl::StrCat(
          path, "a partner grant has no user_id, entity_id or role_id"));
    }
    if (record.user_revocation != 0) {
      problems.Add(
          absl::StrCat(path, "a partner grant has no user_revocation"));
    }
  }
  if (record.family_id == 0) problems.Add(absl::StrCat(path, "family_id is 0"));
  const bool issued_ok = IsStorableTime(record.issued_at);
  const bool expires_ok = IsStorableTime(record.expires_at);
  if (!issued_ok) {
    problems.Add(absl::StrCat(path, "issued_at is not ", kTimeRange));
  }
  if (!expires_ok) {
    problems.Add(absl::StrCat(path, "expires_at is not ", kTimeRange));
  }
  if (issued_ok && expires_ok && record.expires_at <= record.issued_at) {
    problems.Add(absl::StrCat(path, "expires_at is not after issued_at"));
  }
  if (record.rotated && record.kind == TokenKind::kAccess) {
    problems.Add(absl::StrCat(path, "an access token cannot be rotated"));
  }
  if (!record.rotated && record.rotated_at != absl::UnixEpoch()) {
    problems.Add(absl::StrCat(path, "rotated_at is set but not rotated"));
  }
  if (!IsStorableTime(record.rotated_at)) {
    problems.Add(absl::StrCat(path, "rotated_at is not ", kTimeRange));
  }
  if (record.kind == TokenKind::kAccess && !record.access_digest.IsZero()) {
    problems.Add(absl::StrCat(path, "an access token has no access_digest"));
  }
}

v1::TokenKind ToProto(TokenKind kind) {
  switch (kind) {
    case TokenKind::kAccess:
      return v1::TOKEN_KIND_ACCESS;
    case TokenKind::kRefresh:
      return v1::TOKEN_KIND_REFRESH;
  }
  return v1::TOKEN_KIND_UNSPECIFIED;  // Unreachable for a validated record.
}

v1::GrantKind ToProto(GrantKind grant) {
  switch (grant) {
    case GrantKind::kPartner:
      return v1::GRANT_KIND_PARTNER;
    case GrantKind::kEntityUser:
      return v1::GRANT_KIND_ENTITY_USER;
  }
  return v1::GRANT_KIND_UNSPECIFIED;  // Unreachable for a validated record.
}

void ToProto(const TokenRecord& record, v1::TokenRecord& proto) {
  proto.set_kind(ToProto(record.kind));
  proto.set_digest(record.digest.bytes().data(), record.digest.bytes().size());
  proto.set_client_id(record.client_id);
  proto.set_grant(ToProto(record.grant));
  proto.set_user_id(record.user_id);
  proto.set_entity_id(record.entity_id);
  proto.set_role_id(record.role_id);
  proto.set_family_id(record.family_id);
  proto.set_issued_at_unix_nanos(absl::ToUnixNanos(record.issued_at));
  proto.set_expires_at_unix_nanos(absl::ToUnixNanos(record.expires_at));
  proto.set_revoked(record.revoked);
  proto.set_rotated(record.rotated);
  proto.set_rotated_at_unix_nanos(absl::ToUnixNanos(record.rotated_at));
  proto.set_client_revocation(record.client_revocation);
  if (!record.access_digest.IsZero()) {
    proto.set_access_digest(record.access_digest.bytes().data(),
                            record.access_digest.bytes().size());
  }
  proto.set_user_revocation(record.user_revocation);
}

std::optional<TokenKind> FromProto(v1::TokenKind kind) {
  switch (kind) {
    case v1::TOKEN_KIND_ACCESS:
      return TokenKind::kAccess;
    case v1::TOKEN_KIND_REFRESH:
      return TokenKind::kRefresh;
    case v1::TOKEN_KIND_UNSPECIFIED:
    case v1::TokenKind_INT_MIN_SENTINEL_DO_NOT_USE_:
    case v1::TokenKind_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return std::nullopt;
}

std::optional<GrantKind> FromProto(v1::GrantKind grant) {
  switch (grant) {
    case v1::GRANT_KIND_PARTNER:
      return GrantKind::kPartner;
    case v1::GRANT_KIND_ENTITY_USER:
      return GrantKind::kEntityUser;
    case v1::GRANT_KIND_UNSPECIFIED:
    case v1::GrantKind_INT_MIN_SENTINEL_DO_NOT_USE_:
    case v1::GrantKind_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return std::nullopt;
}

// The record `proto` describes, or nullopt after adding its problems (each
// after `path`) to `problems`.
std::optional<TokenRecord> FromProto(const v1::TokenRecord& proto,
                                     absl::string_view path,
                                     ProblemList& problems) {
  const size_t problems_before = problems.count();
  TokenRecord record;
  if (HasUnknownFields(proto)) {
    problems.Add(absl::StrCat(path, "unknown fields"));
  }
  if (std::optional<TokenKind> kind = FromProto(proto.kind())) {
    record.kind = *kind;
  } else if (proto.kind() == v1::TOKEN_KIND_UNSPECIFIED) {
    problems.Add(absl::StrCat(path, "kind is unspecified"));
  } else {
    problems.Add(absl::StrCat(path, "kind ", static_cast<int>(proto.kind()),
                              " is unknown"));
  }
  if (std::optional<GrantKind> grant = FromProto(proto.grant())) {
    record.grant = *grant;
  } else if (proto.grant() == v1::GRANT_KIND_UNSPECIFIED) {
    problems.Add(absl::StrCat(path, "grant is unspecified"));
  } else {
    problems.Add(absl::StrCat(path, "grant ", static_cast<int>(proto.grant()),
                              " is unknown"));
  }
  absl::StatusOr<Digest> digest = Digest::FromBytes(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(proto.digest().data()),
      proto.digest().size()));
  if (digest.ok()) {
    record.digest = *digest;
  } else {
    problems.Add(absl::StrCat(path, digest.status().message()));
  }
  if (!proto.access_digest().empty()) {
    absl::StatusOr<Digest> access = Digest::FromBytes(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(proto.access_digest().data()),
        proto.access_digest().size()));
    if (!access.ok()) {
      problems.Add(
          absl::StrCat(path, "access_digest: ", access.status().message()));
    } else if (access->IsZero()) {
      problems.Add(absl::StrCat(path, "access_digest is all zero"));
    } else {
      record.access_digest = *access;
    }
  }
  // Checking the record's invariants only makes sense once every field was
  // read: a missing digest would otherwise also be reported as unset.
  if (problems.count() != problems_before) return std::nullopt;
  record.client_id = proto.client_id();
  record.user_id = proto.user_id();
  record.entity_id = proto.entity_id();
  record.role_id = proto.role_id();
  record.family_id = proto.family_id();
  record.issued_at = absl::FromUnixNanos(proto.issued_at_unix_nanos());
  record.expires_at = absl::FromUnixNanos(proto.expires_at_unix_nanos());
  record.revoked = proto.revoked();
  record.rotated = proto.rotated();
  record.rotated_at = absl::FromUnixNanos(proto.rotated_at_unix_nanos());
  record.client_revocation = proto.client_revocation();
  record.user_revocation = proto.user_revocation();
  CollectRecordProblems(record, path, problems);
  if (problems.count() != problems_before) return std::nullopt;
  return record;
}

}  // namespace

bool operator==(const TokenRecord& a, const TokenRecord& b) {
  return a.kind == b.kind && a.digest == b.digest &&
         a.client_id == b.client_id && a.grant == b.grant &&
         a.user_id == b.user_id && a.entity_id == b.entity_id &&
         a.role_id == b.role_id && a.family_id == b.family_id &&
         a.issued_at == b.issued_at && a.expires_at == b.expires_at &&
         a.revoked == b.revoked && a.rotated == b.rotated &&
         a.rotated_at == b.rotated_at &&
         a.client_revocation == b.client_revocation &&
         a.access_digest == b.access_digest &&
         a.user_revocation == b.user_revocation;
}

uint64_t GenerateFamilyId() {
  uint64_t id = 0;
  while (id == 0) {
    std::array<uint8_t, sizeof(id)> bytes;
    RandomBytes(absl::MakeSpan(bytes));
    std::memcpy(&id, bytes.data(), sizeof(id));
  }
  return id;
}

absl::Status ValidateTokenRecord(const TokenRecord& record) {
  ProblemList problems;
  CollectRecordProblems(record, "", problems);
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("token record: ", problems.Join()));
}

std::string SerializeTokenRecord(const TokenRecord& record) {
  v1::TokenRecord proto;
  ToProto(record, proto);
  std::string bytes;
  proto.SerializeToString(&bytes);
  return bytes;
}

absl::StatusOr<TokenRecord> ParseTokenRecord(absl::string_view bytes) {
  v1::TokenRecord proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        "token record: not a portcullis.auth.v1.TokenRecord");
  }
  ProblemList problems;
  std::optional<TokenRecord> record = FromProto(proto, "", problems);
  if (!record.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token record: ", problems.Join()));
  }
  return *std::move(record);
}

InMemoryTokenStore::InMemoryTokenStore()
    : shards_(std::make_unique<Shards>()) {}

absl::Status InMemoryTokenStore::Insert(TokenRecord record) {
  if (absl::Status valid = ValidateTokenRecord(record); !valid.ok()) {
    return valid;
  }
  const Digest digest = record.digest;
  const uint64_t family_id = record.family_id;
  FamilyShard& family_shard = shards_->by_family[FamilyShardIndex(family_id)];
  // The family lock is held across the record's insertion so that a
  // concurrent RevokeFamily either sees the new member or makes this Insert
  // fail: no token can slip into a revoked family.
  std::lock_guard<std::mutex> family_lock(family_shard.mu);
  auto family = family_shard.families.find(family_id);
  if (family != family_shard.families.end() && family->second.revoked) {
    return absl::FailedPreconditionError(
        "token store: the token's family is revoked");
  }
  {
    TokenShard& token_shard = shards_->by_digest[TokenShardIndex(digest)];
    std::lock_guard<std::mutex> token_lock(token_shard.mu);
    if (!token_shard.records.try_emplace(digest, std::move(record)).second) {
      return absl::AlreadyExistsError(
          "token store: a token with this digest is already stored");
    }
  }
  family_shard.families[family_id].members.push_back(digest);
  return absl::OkStatus();
}

absl::Status ValidateTokenPair(const TokenRecord& refresh,
                               const TokenRecord& access) {
  if (absl::Status valid = ValidateTokenRecord(refresh); !valid.ok()) {
    return valid;
  }
  if (absl::Status valid = ValidateTokenRecord(access); !valid.ok()) {
    return valid;
  }
  if (refresh.kind != TokenKind::kRefresh ||
      access.kind != TokenKind::kAccess) {
    return absl::InvalidArgumentError(
        "token store: a pair is a refresh token and an access token");
  }
  if (refresh.family_id != access.family_id) {
    return absl::InvalidArgumentError(
        "token store: a pair's tokens belong to one family");
  }
  if (refresh.digest == access.digest) {
    return absl::InvalidArgumentError(
        "token store: a pair's tokens have distinct digests");
  }
  return absl::OkStatus();
}

absl::Status InMemoryTokenStore::InsertPair(TokenRecord refresh,
                                            TokenRecord access) {
  if (absl::Status valid = ValidateTokenPair(refresh, access); !valid.ok()) {
    return valid;
  }
  const uint64_t family_id = refresh.family_id;
  FamilyShard& family_shard = shards_->by_family[FamilyShardIndex(family_id)];
  // As Insert, the family lock is held across both insertions: a concurrent
  // RevokeFamily sees both members or neither.
  std::lock_guard<std::mutex> family_lock(family_shard.mu);
  auto family = family_shard.families.find(family_id);
  if (family != family_shard.families.end() && family->second.revoked) {
    return absl::FailedPreconditionError(
        "token store: the token's family is revoked");
  }
  const Digest refresh_digest = refresh.digest;
  const Digest access_digest = access.digest;
  TokenShard& refresh_shard =
      shards_->by_digest[TokenShardIndex(refresh_digest)];
  {
    std::lock_guard<std::mutex> token_lock(refresh_shard.mu);
    if (!refresh_shard.records.try_emplace(refresh_digest, std::move(refresh))
             .second) {
      return absl::AlreadyExistsError(
          "token store: a token with this digest is already stored");
    }
  }
  bool access_inserted = false;
  {
    TokenShard& access_shard =
        shards_->by_digest[TokenShardIndex(access_digest)];
    std::lock_guard<std::mutex> token_lock(access_shard.mu);
    access_inserted =
        access_shard.records.try_emplace(access_digest, std::move(access))
            .second;
  }
  if (!access_inserted) {
    // Both or neither. One token shard lock at a time (both digests may
    // share a shard); the family lock keeps RevokeFamily from seeing the
    // refresh record, which is not a member yet.
    std::lock_guard<std::mutex> token_lock(refresh_shard.mu);
    refresh_shard.records.erase(refresh_digest);
    return absl::AlreadyExistsError(
        "token store: a token with this digest is already stored");
  }
  auto& members = family_shard.families[family_id].members;
  members.push_back(refresh_digest);
  members.push_back(access_digest);
  return absl::OkStatus();
}

absl::StatusOr<TokenRecord> InMemoryTokenStore::Find(
    const Digest& digest) const {
  const TokenShard& shard = shards_->by_digest[TokenShardIndex(digest)];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.records.find(digest);
  if (it == shard.records.end()) {
    return absl::NotFoundError("token store: no token with this digest");
  }
  return it->second;
}

absl::StatusOr<bool> InMemoryTokenStore::Revoke(const Digest& digest) {
  TokenShard& shard = shards_->by_digest[TokenShardIndex(digest)];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.records.find(digest);
  if (it == shard.records.end()) return false;
  it->second.revoked = true;
  return true;
}

absl::StatusOr<size_t> InMemoryTokenStore::RevokeFamily(uint64_t family_id) {
  FamilyShard& family_shard = shards_->by_family[FamilyShardIndex(family_id)];
  std::lock_guard<std::mutex> family_lock(family_shard.mu);
  auto family = family_shard.families.find(family_id);
  if (family == family_shard.families.end()) return size_t{0};
  family->second.revoked = true;
  size_t revoked = 0;
  for (const Digest& digest : family->second.members) {
    TokenShard& token_shard = shards_->by_digest[TokenShardIndex(digest)];
    std::lock_guard<std::mutex> token_lock(token_shard.mu);
    auto it = token_shard.records.find(digest);
    if (it != token_shard.records.end() && !it->second.revoked) {
      it->second.revoked = true;
      ++revoked;
    }
  }
  return revoked;
}

absl::StatusOr<Rotation> InMemoryTokenStore::MarkRotated(const Digest& digest,
                                                         absl::Time now) {
  TokenShard& shard = shards_->by_digest[TokenShardIndex(digest)];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.records.find(digest);
  if (it == shard.records.end()) {
    return absl::NotFoundError("token store: no token with this digest");
  }
  TokenRecord& record = it->second;
  if (record.kind != TokenKind::kRefresh) {
    return absl::FailedPreconditionError("token store: not a refresh token");
  }
  if (record.revoked) {
    return absl::FailedPreconditionError("token store: the token is revoked");
  }
  if (record.rotated) return Rotation{false, record.rotated_at};
  record.rotated = true;
  record.rotated_at = now;
  return Rotation{true, now};
}

size_t InMemoryTokenStore::RemoveExpired(absl::Time now) {
  size_t removed = 0;
  // Walks the family index rather than the token shards, so that a record and
  // its family membership disappear together under the family lock.
  for (FamilyShard& family_shard : shards_->by_family) {
    std::lock_guard<std::mutex> family_lock(family_shard.mu);
    for (auto family = family_shard.families.begin();
         family != family_shard.families.end();) {
      auto& members = family->second.members;
      auto expired = [&](const Digest& digest) {
        TokenShard& token_shard = shards_->by_digest[TokenShardIndex(digest)];
        std::lock_guard<std::mutex> token_lock(token_shard.mu);
        auto it = token_shard.records.find(digest);
        if (it == token_shard.records.end()) return true;
        if (it->second.expires_at > now) return false;
        token_shard.records.erase(it);
        ++removed;
        return true;
      };
      members.erase(std::remove_if(members.begin(), members.end(), expired),
                    members.end());
      if (members.empty()) {
        family_shard.families.erase(family++);
      } else {
        ++family;
      }
    }
  }
  return removed;
}

absl::StatusOr<uint64_t> InMemoryTokenStore::RevokeUser(
    absl::string_view user_id) {
  Users& users = shards_->users;
  std::lock_guard<std::mutex> lock(users.mu);
  return ++users.revocations[user_id];
}

absl::StatusOr<uint64_t> InMemoryTokenStore::UserRevocation(
    absl::string_view user_id) const {
  const Users& users = shards_->users;
  std::lock_guard<std::mutex> lock(users.mu);
  auto it = users.revocations.find(user_id);
  return it == users.revocations.end() ? uint64_t{0} : it->second;
}

size_t InMemoryTokenStore::size() const {
  size_t total = 0;
  for (const TokenShard& shard : shards_->by_digest) {
    std::lock_guard<std::mutex> lock(shard.mu);
    total += shard.records.size();
  }
  return total;
}

absl::StatusOr<std::string> InMemoryTokenStore::Export(
    const SecretKey& key) const {
  std::vector<TokenRecord> records;
  std::vector<uint64_t> revoked_families;
  std::vector<std::pair<std::string, uint64_t>> users;
  {
    // Holding every family lock stops Insert, RevokeFamily and RemoveExpired
    // for the duration, so the snapshot never shows a family half revoked.
    std::array<std::unique_lock<std::mutex>, kShards> family_locks;
    for (size_t i = 0; i < kShards; ++i) {
      family_locks[i] = std::unique_lock<std::mutex>(shards_->by_family[i].mu);
    }
    for (const FamilyShard& family_shard : shards_->by_family) {
      for (const auto& [family_id, family] : family_shard.families) {
        if (family.revoked) revoked_families.push_back(family_id);
      }
    }
    for (const TokenShard& token_shard : shards_->by_digest) {
      std::lock_guard<std::mutex> token_lock(token_shard.mu);
      for (const auto& [digest, record] : token_shard.records) {
        records.push_back(record);
      }
    }
    std::lock_guard<std::mutex> users_lock(shards_->users.mu);
    users.assign(shards_->users.revocations.begin(),
                 shards_->users.revocations.end());
  }
  std::sort(users.begin(), users.end());
  std::sort(records.begin(), records.end(),
            [](const TokenRecord& a, const TokenRecord& b) {
              return a.digest.bytes() < b.digest.bytes();
            });
  std::sort(revoked_families.begin(), revoked_families.end());

  v1::TokenStoreSnapshot snapshot;
  snapshot.set_version(kSnapshotVersion);
  snapshot.mutable_tokens()->Reserve(static_cast<int>(
      std::min<size_t>(records.size(), static_cast<size_t>(INT_MAX))));
  for (const TokenRecord& record : records) {
    ToProto(record, *snapshot.add_tokens());
  }
  for (uint64_t family_id : revoked_families) {
    snapshot.add_revoked_families(family_id);
  }
  for (const auto& [user_id, revocation] : users) {
    v1::UserRevocation& user = *snapshot.add_user_revocations();
    user.set_user_id(user_id);
    user.set_revocation(revocation);
  }
  return internal::SealSnapshot(snapshot, key, "token store export");
}

absl::Status InMemoryTokenStore::Import(absl::string_view serialized,
                                        const SecretKey& key) {
  constexpr absl::string_view kPrefix = "token store import: ";
  v1::TokenStoreSnapshot snapshot;
  PORTCULLIS_RETURN_IF_ERROR(internal::UnsealSnapshot(
      serialized, key, kPrefix, kSnapshotVersion, snapshot,
      "version 1 tokens carry no revocation counters and cannot be "
      "converted: clients must authenticate again"));

  ProblemList problems;
  if (HasUnknownFields(snapshot)) {
    problems.Add("unknown fields (written by a newer version?)");
  }
  absl::flat_hash_set<uint64_t> revoked_families;
  for (int i = 0; i < snapshot.revoked_families_size(); ++i) {
    const uint64_t family_id = snapshot.revoked_families(i);
    if (family_id == 0) {
      problems.Add(absl::StrCat("revoked_families[", i, "]: family_id is 0"));
    } else if (!revoked_families.insert(family_id).second) {
      problems.Add(absl::StrCat("revoked_families[", i, "]: duplicate family"));
    }
  }
  absl::flat_hash_map<std::string, uint64_t> users;
  for (int i = 0; i < snapshot.user_revocations_size(); ++i) {
    const v1::UserRevocation& user = snapshot.user_revocations(i);
    const std::string path = absl::StrCat("user_revocations[", i, "]: ");
    if (HasUnknownFields(user)) problems.Add(path + "unknown fields");
    if (user.user_id().empty()) problems.Add(path + "user_id is empty");
    if (user.revocation() == 0) problems.Add(path + "revocation is 0");
    if (!users.try_emplace(user.user_id(), user.revocation()).second) {
      problems.Add(path + "duplicate user_id");
    }
  }
  std::vector<TokenRecord> records;
  records.reserve(static_cast<size_t>(snapshot.tokens_size()));
  absl::flat_hash_map<Digest, int> first_index;
  for (int i = 0; i < snapshot.tokens_size(); ++i) {
    const std::string path = absl::StrCat("tokens[", i, "]: ");
    std::optional<TokenRecord> record =
        FromProto(snapshot.tokens(i), path, problems);
    if (!record.has_value()) continue;
    auto [it, inserted] = first_index.try_emplace(record->digest, i);
    if (!inserted) {
      problems.Add(absl::StrCat(path, "duplicate digest (also tokens[",
                                it->second, "])"));
      continue;
    }
    if (revoked_families.contains(record->family_id) && !record->revoked) {
      problems.Add(
          absl::StrCat(path, "the token's family is revoked but it is not"));
      continue;
    }
    records.push_back(*std::move(record));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kPrefix, problems.Join()));
  }

  // Every lock, in the documented order, so that the emptiness check and the
  // load are one atomic step.
  std::array<std::unique_lock<std::mutex>, kShards> family_locks;
  for (size_t i = 0; i < kShards; ++i) {
    family_locks[i] = std::unique_lock<std::mutex>(shards_->by_family[i].mu);
  }
  std::array<std::unique_lock<std::mutex>, kShards> token_locks;
  for (size_t i = 0; i < kShards; ++i) {
    token_locks[i] = std::unique_lock<std::mutex>(shards_->by_digest[i].mu);
  }
  std::lock_guard<std::mutex> users_lock(shards_->users.mu);
  for (size_t i = 0; i < kShards; ++i) {
    if (!shards_->by_digest[i].records.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(kPrefix, "the store is not empty"));
    }
  }
  if (!shards_->users.revocations.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kPrefix, "the store is not empty"));
  }
  shards_->users.revocations = std::move(users);
  for (TokenRecord& record : records) {
    const Digest digest = record.digest;
    const uint64_t family_id = record.family_id;
    shards_->by_digest[TokenShardIndex(digest)].records.emplace(
        digest, std::move(record));
    Family& family =
        shards_->by_family[FamilyShardIndex(family_id)].families[family_id];
    family.members.push_back(digest);
    // A revoked family without stored tokens is dropped, as RevokeFamily
    // would not have remembered it either.
    if (revoked_families.contains(family_id)) family.revoked = true;
  }
  return absl::OkStatus();
}

}  // namespace portcullis::auth
