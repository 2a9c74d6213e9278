#include "server/redis/redis_token_store.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace portcullis::redis {
namespace {

using auth::Digest;
using auth::TokenKind;
using auth::TokenRecord;

// KEYS: token, family. ARGV: record, kind, expiry ms, digest hex, revoked,
// rotated, family id, rotated_at (Unix ns). -1: the digest is stored; -2:
// the family is revoked.
const RedisScript kInsert(R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
if redis.call('HGET', KEYS[2], 'revoked') == '1' then return -2 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'k', ARGV[2], 'rv', ARGV[5],
           'ro', ARGV[6], 'f', ARGV[7], 'ra', ARGV[8])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[4], '1')
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
end
return 1
)lua");

// KEYS: refresh token, access token, family. ARGV: family id, then for the
// refresh token and again for the access token: record, kind, expiry ms,
// digest hex, revoked, rotated, rotated_at (Unix ns). kInsert for both in
// one script: both or neither, one round trip, one AOF write. -1: a digest
// is stored; -2: the family is revoked.
const RedisScript kInsertPair(R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1
then
  return -1
end
if redis.call('HGET', KEYS[3], 'revoked') == '1' then return -2 end
local function put(key, i)
  redis.call('HSET', key, 'r', ARGV[i], 'k', ARGV[i + 1], 'rv', ARGV[i + 4],
             'ro', ARGV[i + 5], 'f', ARGV[1], 'ra', ARGV[i + 6])
  redis.call('PEXPIREAT', key, ARGV[i + 2])
  redis.call('HSET', KEYS[3], ARGV[i + 3], '1')
  if redis.call('PEXPIRETIME', KEYS[3]) < tonumber(ARGV[i + 2]) then
    redis.call('PEXPIREAT', KEYS[3], ARGV[i + 2])
  end
end
put(KEYS[1], 2)
put(KEYS[2], 9)
return 1
)lua");

// KEYS: token. ARGV: channel. 1 if stored (now revoked), else 0.
const RedisScript kRevoke(R"lua(
local family = redis.call('HGET', KEYS[1], 'f')
if not family then return 0 end
redis.call('HSET', KEYS[1], 'rv', '1')
redis.call('PUBLISH', ARGV[1], 'f ' .. family)
return 1
)lua");

// KEYS: family. ARGV: token key prefix, channel, message. How many stored
// tokens this call revoked; a family without stored tokens is forgotten.
const RedisScript kRevokeFamily(R"lua(
local stored, revoked = 0, 0
for _, member in ipairs(redis.call('HKEYS', KEYS[1])) do
  if member ~= 'revoked' then
    local key = ARGV[1] .. member
    local rv = redis.call('HGET', key, 'rv')
    if rv then
      stored = stored + 1
      if rv == '0' then
        redis.call('HSET', key, 'rv', '1')
        revoked = revoked + 1
      end
    end
  end
end
if stored == 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HSET', KEYS[1], 'revoked', '1')
redis.call('PUBLISH', ARGV[2], ARGV[3])
return revoked
)lua");

// KEYS: token. ARGV: now (Unix ns). 1: rotated now, at ARGV[1]; a string:
// rotated before (reuse), at that time (Unix ns; "0" if not recorded); -1:
// not stored; -2: not a refresh token; -3: revoked. The rotation time is
// written in the same script as the mark, so every replica that loses the
// race reads the winner's time.
const RedisScript kMarkRotated(R"lua(
local fields = redis.call('HMGET', KEYS[1], 'k', 'rv', 'ro', 'ra')
if not fields[1] then return -1 end
if fields[1] ~= 'r' then return -2 end
if fields[2] == '1' then return -3 end
if fields[3] == '1' then return fields[4] or '0' end
redis.call('HSET', KEYS[1], 'ro', '1', 'ra', ARGV[1])
return 1
)lua");

// KEYS: user counter. ARGV: channel, message. The new counter.
const RedisScript kRevokeUser(R"lua(
local value = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return value
)lua");

// The reply of a script that returns an integer.
absl::StatusOr<int64_t> Integer(absl::StatusOr<RedisReply> reply) {
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kInteger) {
    return absl::InternalError("token store: unexpected reply from redis");
  }
  return reply->integer;
}

// Unix milliseconds at or after `t`: the record lives at least as long as
// the token.
int64_t CeilUnixMillis(absl::Time t) {
  const int64_t nanos = absl::ToUnixNanos(t);
  return nanos / 1'000'000 + (nanos % 1'000'000 > 0 ? 1 : 0);
}

// A token hash's `ra` field: Unix nanoseconds; nil (a record rotated before
// the field existed) is the epoch, which reads as "long ago".
absl::StatusOr<absl::Time> ParseRotatedAt(const RedisReply& field) {
  if (field.type == RedisReply::Type::kNil) return absl::UnixEpoch();
  int64_t nanos = 0;
  if (field.type != RedisReply::Type::kString ||
      !absl::SimpleAtoi(field.string, &nanos)) {
    return absl::InternalError(
        "token store: a rotation time in redis is not a number");
  }
  return absl::FromUnixNanos(nanos);
}

std::string FamilyMessage(uint64_t family_id) {
  return absl::StrCat("f ", family_id);
}

}  // namespace

std::string RedisTokenStore::TokenKey(const Digest& digest) const {
  const auto& bytes = digest.bytes();
  return client_.Key(absl::StrCat(
      "t:", absl::BytesToHexString(absl::string_view(
                reinterpret_cast<const char*>(bytes.data()), bytes.size()))));
}

std::string RedisTokenStore::FamilyKey(uint64_t family_id) const {
  return client_.Key(absl::StrCat("f:", family_id));
}

absl::Status RedisTokenStore::Insert(TokenRecord record) {
  if (absl::Status valid = auth::ValidateTokenRecord(record); !valid.ok()) {
    return valid;
  }
  const std::string token_key = TokenKey(record.digest);
  const std::string family_key = FamilyKey(record.family_id);
  const std::string digest_hex = token_key.substr(client_.Key("t:").size());
  const std::string bytes = auth::SerializeTokenRecord(record);
  const std::string expiry = absl::StrCat(CeilUnixMillis(record.expires_at));
  const std::string family = absl::StrCat(record.family_id);
  const std::string rotated_at =
      absl::StrCat(absl::ToUnixNanos(record.rotated_at));
  const absl::string_view keys[] = {token_key, family_key};
  const absl::string_view args[] = {
      bytes,
      record.kind == TokenKind::kRefresh ? "r" : "a",
      expiry,
      digest_hex,
      record.revoked ? "1" : "0",
      record.rotated ? "1" : "0",
      family,
      rotated_at};
  absl::StatusOr<int64_t> result = Integer(client_.Eval(kInsert, keys, args));
  if (!result.ok()) return result.status();
  if (*result == -1) {
    return absl::AlreadyExistsError(
        "token store: a token with this digest is stored");
  }
  if (*result == -2) {
    return absl::FailedPreconditionError(
        "token store: the token's family is revoked");
  }
  return absl::OkStatus();
}

absl::Status RedisTokenStore::InsertPair(TokenRecord refresh,
                                         TokenRecord access) {
  if (absl::Status valid = auth::ValidateTokenPair(refresh, access);
      !valid.ok()) {
    return valid;
  }
  // The script's arguments for one record (kInsertPair's order).
  struct Fields {
    std::string key, bytes, expiry, digest_hex, rotated_at;
  };
  const size_t hex_offset = client_.Key("t:").size();
  const auto fields = [&](const TokenRecord& record) {
    Fields f;
    f.key = TokenKey(record.digest);
    f.bytes = auth::SerializeTokenRecord(record);
    f.expiry = absl::StrCat(CeilUnixMillis(record.expires_at));
    f.digest_hex = f.key.substr(hex_offset);
    f.rotated_at = absl::StrCat(absl::ToUnixNanos(record.rotated_at));
    return f;
  };
  const Fields r = fields(refresh);
  const Fields a = fields(access);
  const std::string family_key = FamilyKey(refresh.family_id);
  const std::string family = absl::StrCat(refresh.family_id);
  const absl::string_view keys[] = {r.key, a.key, family_key};
  const absl::string_view args[] = {family,
                                    r.bytes,
                                    "r",
                                    r.expiry,
                                    r.digest_hex,
                                    refresh.revoked ? "1" : "0",
                                    refresh.rotated ? "1" : "0",
                                    r.rotated_at,
                                    a.bytes,
                                    "a",
                                    a.expiry,
                                    a.digest_hex,
                                    access.revoked ? "1" : "0",
                                    "0",
                                    a.rotated_at};
  absl::StatusOr<int64_t> result =
      Integer(client_.Eval(kInsertPair, keys, args));
  if (!result.ok()) return result.status();
  if (*result == -1) {
    return absl::AlreadyExistsError(
        "token store: a token with this digest is stored");
  }
  if (*result == -2) {
    return absl::FailedPreconditionError(
        "token store: the token's family is revoked");
  }
  return absl::OkStatus();
}

absl::StatusOr<TokenRecord> RedisTokenStore::Find(const Digest& digest) const {
  const std::string key = TokenKey(digest);
  const absl::string_view argv[] = {"HMGET", key, "r", "rv", "ro", "ra"};
  absl::StatusOr<RedisReply> reply = client_.Command(argv);
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kArray || reply->elements.size() != 4) {
    return absl::InternalError("token store: unexpected reply from redis");
  }
  if (reply->elements[0].type != RedisReply::Type::kString) {
    return absl::NotFoundError("token store: no token with this digest");
  }
  absl::StatusOr<TokenRecord> record =
      auth::ParseTokenRecord(reply->elements[0].string);
  if (!record.ok()) {
    return absl::InternalError(
        absl::StrCat("token store: a record in redis does not parse: ",
                     record.status().message()));
  }
  if (record->digest != digest) {
    return absl::InternalError(
        "token store: a record in redis is stored under another digest");
  }
  record->revoked = reply->elements[1].string == "1";
  record->rotated = reply->elements[2].string == "1";
  record->rotated_at = absl::UnixEpoch();
  if (record->rotated) {
    absl::StatusOr<absl::Time> rotated_at = ParseRotatedAt(reply->elements[3]);
    if (!rotated_at.ok()) return rotated_at.status();
    record->rotated_at = *rotated_at;
  }
  return record;
}

absl::StatusOr<bool> RedisTokenStore::Revoke(const Digest& digest) {
  const std::string key = TokenKey(digest);
  const std::string channel = RevocationChannel::Name(client_);
  const absl::string_view keys[] = {key};
  const absl::string_view args[] = {channel};
  absl::StatusOr<int64_t> result = Integer(client_.Eval(kRevoke, keys, args));
  if (!result.ok()) return result.status();
  return *result == 1;
}

absl::StatusOr<size_t> RedisTokenStore::RevokeFamily(uint64_t family_id) {
  const std::string family_key = FamilyKey(family_id);
  const std::string token_prefix = client_.Key("t:");
  const std::string channel = RevocationChannel::Name(client_);
  const std::string message = FamilyMessage(family_id);
  const absl::string_view keys[] = {family_key};
  const absl::string_view args[] = {token_prefix, channel, message};
  absl::StatusOr<int64_t> result =
      Integer(client_.Eval(kRevokeFamily, keys, args));
  if (!result.ok()) return result.status();
  return static_cast<size_t>(*result);
}

absl::StatusOr<auth::Rotation> RedisTokenStore::MarkRotated(
    const Digest& digest, absl::Time now) {
  const std::string key = TokenKey(digest);
  const std::string now_nanos = absl::StrCat(absl::ToUnixNanos(now));
  const absl::string_view keys[] = {key};
  const absl::string_view args[] = {now_nanos};
  absl::StatusOr<RedisReply> reply = client_.Eval(kMarkRotated, keys, args);
  if (!reply.ok()) return reply.status();
  if (reply->type == RedisReply::Type::kString) {
    absl::StatusOr<absl::Time> rotated_at = ParseRotatedAt(*reply);
    if (!rotated_at.ok()) return rotated_at.status();
    return auth::Rotation{false, *rotated_at};
  }
  absl::StatusOr<int64_t> result = Integer(std::move(reply));
  if (!result.ok()) return result.status();
  switch (*result) {
    case 1:
      return auth::Rotation{true, now};
    case -1:
      return absl::NotFoundError("token store: no token with this digest");
    case -2:
      return absl::FailedPreconditionError("token store: not a refresh token");
    default:
      return absl::FailedPreconditionError("token store: the token is revoked");
  }
}

size_t RedisTokenStore::RemoveExpired(absl::Time /*now*/) { return 0; }

absl::StatusOr<uint64_t> RedisTokenStore::RevokeUser(
    absl::string_view user_id) {
  const std::string key = client_.Key(absl::StrCat("u:", user_id));
  const std::string channel = RevocationChannel::Name(client_);
  const absl::string_view keys[] = {key};
  const absl::string_view args[] = {channel, "u"};
  absl::StatusOr<int64_t> result =
      Integer(client_.Eval(kRevokeUser, keys, args));
  if (!result.ok()) return result.status();
  return static_cast<uint64_t>(*result);
}

absl::StatusOr<uint64_t> RedisTokenStore::UserRevocation(
    absl::string_view user_id) const {
  const std::string key = client_.Key(absl::StrCat("u:", user_id));
  const absl::string_view argv[] = {"GET", key};
  absl::StatusOr<RedisReply> reply = client_.Command(argv);
  if (!reply.ok()) return reply.status();
  if (reply->type == RedisReply::Type::kNil) return uint64_t{0};
  uint64_t value = 0;
  if (reply->type != RedisReply::Type::kString ||
      !absl::SimpleAtoi(reply->string, &value)) {
    return absl::InternalError(
        "token store: a user revocation counter in redis is not a number");
  }
  return value;
}

size_t RedisTokenStore::size() const {
  const std::string pattern = client_.Key("t:*");
  std::string cursor = "0";
  size_t count = 0;
  do {
    const absl::string_view argv[] = {"SCAN",  cursor,  "MATCH",
                                      pattern, "COUNT", "1000"};
    absl::StatusOr<RedisReply> reply = client_.Command(argv);
    if (!reply.ok() || reply->type != RedisReply::Type::kArray ||
        reply->elements.size() != 2) {
      return 0;
    }
    cursor = reply->elements[0].string;
    count += reply->elements[1].elements.size();
  } while (cursor != "0");
  return count;
}

absl::StatusOr<std::string> RedisTokenStore::Export(
    const auth::SecretKey& /*key*/) const {
  return absl::FailedPreconditionError(
      "token store: a Redis store is not exported: its state lives in Redis");
}

absl::Status RedisTokenStore::Import(absl::string_view /*serialized*/,
                                     const auth::SecretKey& /*key*/) {
  return absl::FailedPreconditionError(
      "token store: a Redis store is not imported: its state lives in Redis");
}

}  // namespace portcullis::redis
