// A TokenStore in Redis, shared by every replica of a deployment
// (docs/replicas.md): a token issued by one replica is found by the others,
// and a revocation on one holds on all.
//
// Layout, under RedisOptions::key_prefix (P):
//   P t:<digest hex>   a hash: r = the record (SerializeTokenRecord, its
//                      revoked/rotated fields ignored), k = "a" | "r" (kind),
//                      rv = "0" | "1" (revoked), ro = "0" | "1" (rotated),
//                      ra = rotated_at in Unix nanoseconds (set with ro);
//                      expires with the token (PEXPIREAT, rounded up to the
//                      millisecond).
//   P f:<family id>    a hash: a field per member's digest hex, and
//                      revoked = "1" once RevokeFamily ran; expires with its
//                      last member.
//   P u:<user id>      the user's revocation counter (INCR); never expires.
//   P revocations      the pub/sub channel (RevocationChannel) on which every
//                      revocation is announced, in the same script that
//                      makes it.
// Keys come from keyed digests, family ids and user ids only: never a token.
// Every change is one Lua script (atomic on the server), so replicas racing on
// one token see one order: of concurrent MarkRotated calls for one token,
// exactly one, on whichever replica, wins, and the rotation time is written
// with the mark, so the losers read the winner's time.
//
// Needs one Redis server (or a primary with replicas for failover), Redis 7.0
// or later (PEXPIRETIME); not Redis Cluster: the family scripts reach keys
// found at run time.
//
// Thread-safe (the client's pool). Every call is one round trip (about 30-60
// us on loopback); an outage returns Unavailable (token_store.h: callers
// fail closed). Records expire by themselves, so RemoveExpired returns 0.
// Export and Import are refused: the state lives in Redis, persisted by its
// AOF, and is not the replica's to save.
#ifndef PORTCULLIS_SERVER_REDIS_REDIS_TOKEN_STORE_H_
#define PORTCULLIS_SERVER_REDIS_REDIS_TOKEN_STORE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/crypto.h"
#include "engine/auth/token_store.h"
#include "server/redis/redis_client.h"

namespace portcullis::redis {

// What the revocation channel carries: one message per revocation, so that
// every replica drops what its introspection caches hold of it.
//   "f <family id>"  a token or a family was revoked (the family's bucket)
//   "u"              a user's tokens were revoked (every cached token is
//                    validated again once)
//   "c"              the client registry changed (RedisClientState)
struct RevocationChannel {
  static std::string Name(const RedisClient& client) {
    return client.Key("revocations");
  }
};

class RedisTokenStore final : public auth::TokenStore {
 public:
  // `client` is not owned and must outlive the store.
  explicit RedisTokenStore(RedisClient& client) : client_(client) {}
  RedisTokenStore(const RedisTokenStore&) = delete;
  RedisTokenStore& operator=(const RedisTokenStore&) = delete;

  absl::Status Insert(auth::TokenRecord record) override;
  absl::StatusOr<auth::TokenRecord> Find(
      const auth::Digest& digest) const override;
  absl::StatusOr<bool> Revoke(const auth::Digest& digest) override;
  absl::StatusOr<size_t> RevokeFamily(uint64_t family_id) override;
  absl::Status InsertPair(auth::TokenRecord refresh,
                          auth::TokenRecord access) override;
  absl::StatusOr<auth::Rotation> MarkRotated(const auth::Digest& digest,
                                             absl::Time now) override;
  // 0: Redis expires records itself (PEXPIREAT).
  size_t RemoveExpired(absl::Time now) override;
  absl::StatusOr<uint64_t> RevokeUser(absl::string_view user_id) override;
  absl::StatusOr<uint64_t> UserRevocation(
      absl::string_view user_id) const override;
  // The number of token records under the prefix (SCAN: O(keys in Redis));
  // 0 when Redis is unreachable. For monitoring only.
  size_t size() const override;
  // FailedPrecondition: see the file comment.
  absl::StatusOr<std::string> Export(const auth::SecretKey& key) const override;
  absl::Status Import(absl::string_view serialized,
                      const auth::SecretKey& key) override;

 private:
  std::string TokenKey(const auth::Digest& digest) const;
  std::string FamilyKey(uint64_t family_id) const;

  RedisClient& client_;
};

}  // namespace portcullis::redis

#endif  // PORTCULLIS_SERVER_REDIS_REDIS_TOKEN_STORE_H_
