// Where issued tokens live between /auth/token and their expiry: a record per
// token, found by the keyed digest of the token (see crypto.h), never by its
// text. Refresh tokens form families (one /auth/token call and the refreshes
// descending from it) so that a reused refresh token can take its whole
// family down.
//
// Example, the refresh flow (reuse detection) on top of a store:
//   absl::StatusOr<TokenRecord> old = store.Find(KeyedHash(key, presented));
//   if (absl::IsUnavailable(old.status())) return old.status();  // fail closed
//   ... check kind, revoked and expires_at against clock.Now() ...
//   absl::StatusOr<Rotation> rotation = store.MarkRotated(old->digest, now);
//   if (!rotation.ok()) return Unauthenticated;           // revoked meanwhile
//   if (!rotation->won) {                                 // used twice
//     // Within the reuse interval of rotation->rotated_at: a concurrent
//     // refresh lost the race, refuse it alone. After it: stolen.
//     store.RevokeFamily(old->family_id);
//     return Unauthenticated;
//   }
//   ... InsertPair the new refresh and access tokens with old->family_id;
//   it fails with FailedPrecondition if the family was revoked in between ...

#ifndef PORTCULLIS_ENGINE_AUTH_TOKEN_STORE_H_
#define PORTCULLIS_ENGINE_AUTH_TOKEN_STORE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/crypto.h"

namespace portcullis::auth {

enum class TokenKind : uint8_t {
  // Presented as `Authorization: Bearer <token>` on API calls.
  kAccess,
  // Exchanged once, at /auth/refresh, for a new access and refresh token.
  kRefresh,
};

enum class GrantKind : uint8_t {
  // client_credentials: a partner token; RBAC does not apply.
  kPartner,
  // entity_user: a token for one user of one entity.
  kEntityUser,
};

// One issued token. A plain value type.
//
// The client is named by client_id, not by a dense credential index: indexes
// belong to one compiled policy and change when it is reloaded, while tokens
// outlive reloads and restarts. Binding to a snapshot's ids happens when a
// token is introspected.
struct TokenRecord {
  TokenKind kind = TokenKind::kAccess;
  // KeyedHash of the token's bytes. Never the zero digest.
  Digest digest;
  // The client (credential) the token was issued to. Required.
  std::string client_id;
  GrantKind grant = GrantKind::kPartner;
  // kEntityUser only (empty for kPartner): user_id and entity_id are
  // required; an empty role_id means the entity's default role.
  std::string user_id;
  std::string entity_id;
  std::string role_id;
  // The refresh chain the token belongs to (GenerateFamilyId). Never 0.
  uint64_t family_id = 0;
  // Whole nanoseconds within the int64 Unix nanosecond range, 1677-09-21 to
  // 2262-04-11 (the Export format's); issued_at < expires_at. The token is
  // valid while now < expires_at.
  absl::Time issued_at;
  absl::Time expires_at;
  bool revoked = false;
  // kRefresh only: already exchanged at /auth/refresh.
  bool rotated = false;
  // When the token was rotated (MarkRotated's `now`), set in the same atomic
  // step as `rotated`, never changed after: how long ago a spent refresh
  // token was spent (TokenServiceOptions::refresh_reuse_interval). The Unix
  // epoch (absl::Time()) when not rotated; for a rotated token, the epoch
  // means "long ago" (records from before this field).
  absl::Time rotated_at;
  // The client's revocation counter when the token was issued
  // (ClientRegistry::Authentication::revocation): the token is valid only
  // while the client's counter still has this value. An integer, not a
  // time, so that revocation does not depend on the clock.
  uint64_t client_revocation = 0;
  // kRefresh only (zero for kAccess): the digest of the access token issued
  // with this refresh token, revoked when the refresh token is exchanged.
  // Zero: none recorded.
  Digest access_digest;
  // kEntityUser only (0 for kPartner): the user's revocation counter when
  // the token was issued (TokenStore::UserRevocation); the token is valid
  // only while the user's counter still has this value.
  uint64_t user_revocation = 0;

  friend bool operator==(const TokenRecord& a, const TokenRecord& b);
  friend bool operator!=(const TokenRecord& a, const TokenRecord& b) {
    return !(a == b);
  }
};

// What TokenStore::MarkRotated did.
struct Rotation {
  // This call rotated the token (of concurrent calls for one token, exactly
  // one wins); false: it was rotated before (the token is being reused).
  bool won = false;
  // When the token was rotated: the winning call's `now` (this call's, if it
  // won). Decided in the same atomic step as the rotation.
  absl::Time rotated_at;
};

// OK if `refresh` and `access` are valid records (ValidateTokenRecord) and a
// pair for TokenStore::InsertPair: kRefresh and kAccess, one family, distinct
// digests. Else InvalidArgument.
absl::Status ValidateTokenPair(const TokenRecord& refresh,
                               const TokenRecord& access);

// A fresh random family id, never 0. Thread-safe.
uint64_t GenerateFamilyId();

// OK if `record` meets the invariants stated on TokenRecord's fields, else
// InvalidArgument listing every violation, separated by "; ", e.g.
// "token record: client_id is empty; family_id is 0".
absl::Status ValidateTokenRecord(const TokenRecord& record);

// `record` as a portcullis.auth.v1.TokenRecord (token_store.proto), for
// stores that keep records outside this process.
std::string SerializeTokenRecord(const TokenRecord& record);

// The record SerializeTokenRecord wrote. InvalidArgument, starting "token
// record: ", for bytes that are not a TokenRecord message, carry unknown
// fields or break an invariant (ValidateTokenRecord's messages).
absl::StatusOr<TokenRecord> ParseTokenRecord(absl::string_view bytes);

// A set of token records keyed by digest. Every implementation is
// thread-safe: all methods may be called concurrently. A store interprets time
// only in RemoveExpired; Find returns expired and revoked records too, and the
// caller decides what they mean.
//
// Outages. A store may live in another process (RedisTokenStore,
// server/redis/redis_token_store.h). Every method that answers about or
// changes token state returns Unavailable when the store could not be asked
// (connection refused or lost, timeout): the answer is then unknown, and
// callers fail closed (a token is not accepted, a revocation is reported as
// not done, the server answers 503). An in-memory store never returns
// Unavailable.
class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // Adds `record`. Returns InvalidArgument if it is malformed
  // (ValidateTokenRecord), AlreadyExists if a record with its digest is
  // stored, FailedPrecondition if its family was revoked with RevokeFamily,
  // Unavailable on an outage.
  virtual absl::Status Insert(TokenRecord record) = 0;

  // Adds a refresh token and the access token issued with it, both or
  // neither (what /auth/token and /auth/refresh store): Insert's checks and
  // errors for each, and InvalidArgument unless `refresh` is kRefresh,
  // `access` kAccess, of one family. One round trip (one script, one AOF
  // write) in RedisTokenStore, instead of two Inserts.
  virtual absl::Status InsertPair(TokenRecord refresh, TokenRecord access) = 0;

  // The record with this digest: NotFound if none is stored, Unavailable on
  // an outage.
  virtual absl::StatusOr<TokenRecord> Find(const Digest& digest) const = 0;

  // Marks the token revoked. Idempotent. Returns whether it is stored, or
  // Unavailable on an outage (the revocation may or may not have happened).
  virtual absl::StatusOr<bool> Revoke(const Digest& digest) = 0;

  // Revokes every stored token of the family, and refuses any later Insert
  // into it for as long as one of its tokens is stored. Returns how many
  // tokens this call revoked (0 for a family with no stored token, which is
  // then not remembered), or Unavailable on an outage.
  virtual absl::StatusOr<size_t> RevokeFamily(uint64_t family_id) = 0;

  // Marks a refresh token rotated at `now` (recorded as rotated_at in the
  // same atomic step), atomically: of concurrent calls for one token (from
  // any number of processes sharing the store), exactly one returns
  // won = true. A call that finds it rotated already returns won = false
  // and the stored rotated_at (the token is being reused). NotFound if no
  // such token is stored, FailedPrecondition if it is not a refresh token
  // or is revoked, Unavailable on an outage. `now` is stored as given: with
  // replicas, it is the winning replica's clock.
  virtual absl::StatusOr<Rotation> MarkRotated(const Digest& digest,
                                               absl::Time now) = 0;

  // Removes every token with expires_at <= now; returns how many. A store
  // whose records expire by themselves (Redis PXAT) returns 0.
  virtual size_t RemoveExpired(absl::Time now) = 0;

  // Revokes every token of the entity user `user_id` issued so far (logout
  // everywhere; the user removed or their role downgraded) by adding one to
  // the user's revocation counter, and returns the new value. Tokens record
  // the counter at their issue (TokenRecord::user_revocation); the caller
  // (TokenService) refuses those whose value differs. The counter never goes
  // back; it is kept (and exported) for as long as the store lives, whatever
  // the user's tokens, so a user id that leaves and returns does not revive
  // them. Use TokenService::RevokeUserTokens, which also tells the
  // introspection caches. Unavailable on an outage.
  virtual absl::StatusOr<uint64_t> RevokeUser(absl::string_view user_id) = 0;

  // The user's revocation counter: 0 for a user never revoked. Unavailable
  // on an outage.
  virtual absl::StatusOr<uint64_t> UserRevocation(
      absl::string_view user_id) const = 0;

  // The number of stored tokens.
  virtual size_t size() const = 0;

  // The whole store as a portcullis.auth.v1.TokenStoreSnapshot sealed under
  // `key` (a SealedSnapshot: the snapshot's bytes and a keyed MAC over
  // them). Use the token key the TokenService makes digests with: it must be
  // kept secret and persisted anyway, and the MAC is made under a subkey
  // derived from it, never the key itself. Digests only: no token can be
  // recovered from the export. Returns ResourceExhausted if it would exceed
  // protobuf's 2 GiB message limit.
  virtual absl::StatusOr<std::string> Export(const SecretKey& key) const = 0;

  // Loads an Export sealed under `key` into this store, which must be empty
  // (FailedPrecondition otherwise). All or nothing: on error the store is
  // unchanged. The MAC is verified (in constant time) over the stored
  // payload bytes before anything in them is read: an export edited without
  // the key (an un-revoked token, a later expiry, another role), re-sealed
  // with an unkeyed checksum or sealed under another key is refused.
  // Returns InvalidArgument, starting "token store import: ", for input that
  // is not a sealed snapshot or has another format version (version 1, the
  // unkeyed checksum, is refused), whose MAC is missing or does not match
  // ("MAC mismatch: edited, corrupted or sealed under another key"), that
  // holds another kind of snapshot, or whose snapshot has another version
  // than 2 (version 1, without revocation counters, is refused:
  // "unsupported version 1 (expected 2): ..."),
  // carries unknown fields or breaks an invariant, listing the problems
  // (first 10) with paths, e.g.
  // "token store import: tokens[3]: digest: expected 32 bytes, got 31".
  virtual absl::Status Import(absl::string_view serialized,
                              const SecretKey& key) = 0;
};

// A TokenStore in memory, split into 16 shards by digest, each with its own
// mutex and hash map, so concurrent lookups of different tokens rarely
// contend. Find, Revoke and MarkRotated lock one shard; Insert and
// RevokeFamily also lock the family's shard of a separate family index.
// Costs: O(1) for those (RevokeFamily: O(family size)); O(n) for
// RemoveExpired, size, Export and Import. RevokeUser and UserRevocation take
// a separate lock and one hash lookup (about 40 bytes per revoked user, kept
// for the store's lifetime). Memory: 300 to 600 bytes per token
// (a 256-byte hash-table slot at 44-88% load, plus its family-index entry),
// plus its strings beyond 15 characters. Export is a consistent snapshot with
// respect to family operations.
class InMemoryTokenStore final : public TokenStore {
 public:
  InMemoryTokenStore();
  InMemoryTokenStore(const InMemoryTokenStore&) = delete;
  InMemoryTokenStore& operator=(const InMemoryTokenStore&) = delete;

  absl::Status Insert(TokenRecord record) override;
  absl::Status InsertPair(TokenRecord refresh, TokenRecord access) override;
  absl::StatusOr<TokenRecord> Find(const Digest& digest) const override;
  absl::StatusOr<bool> Revoke(const Digest& digest) override;
  absl::StatusOr<size_t> RevokeFamily(uint64_t family_id) override;
  absl::StatusOr<Rotation> MarkRotated(const Digest& digest,
                                       absl::Time now) override;
  size_t RemoveExpired(absl::Time now) override;
  absl::StatusOr<uint64_t> RevokeUser(absl::string_view user_id) override;
  absl::StatusOr<uint64_t> UserRevocation(
      absl::string_view user_id) const override;
  size_t size() const override;
  absl::StatusOr<std::string> Export(const SecretKey& key) const override;
  absl::Status Import(absl::string_view serialized,
                      const SecretKey& key) override;

 private:
  static constexpr size_t kShards = 16;

  // Locks are std::mutex rather than absl::Mutex because Debian's prebuilt
  // Abseil is not compiled with ThreadSanitizer, which then cannot see
  // absl::Mutex's synchronization. Lock order: family shards before token
  // shards, each kind in ascending index order, then the users' lock.
  struct alignas(64) TokenShard {
    mutable std::mutex mu;
    absl::flat_hash_map<Digest, TokenRecord> records;  // Guarded by mu.
  };

  // A family's stored tokens. Exists exactly while `members` is non-empty:
  // every stored record is listed in its family, and removing a record
  // removes it there under the same family lock.
  struct Family {
    bool revoked = false;
    absl::InlinedVector<Digest, 2> members;
  };

  struct alignas(64) FamilyShard {
    mutable std::mutex mu;
    absl::flat_hash_map<uint64_t, Family> families;  // Guarded by mu.
  };

  // Digests and family ids are uniformly random (keyed-hash outputs and
  // CSPRNG draws a client cannot choose), so any few of their bits spread
  // the load evenly.
  static size_t TokenShardIndex(const Digest& digest) {
    return digest.bytes()[0] % kShards;
  }
  static size_t FamilyShardIndex(uint64_t family_id) {
    return family_id % kShards;
  }

  struct alignas(64) Users {
    mutable std::mutex mu;
    absl::flat_hash_map<std::string, uint64_t> revocations;  // Guarded by mu.
  };

  struct Shards {
    std::array<TokenShard, kShards> by_digest;
    std::array<FamilyShard, kShards> by_family;
    Users users;
  };

  // On the heap: 4 KiB is a lot for a stack, and freeing it tells
  // ThreadSanitizer the mutexes are gone (libstdc++'s std::mutex has a
  // trivial destructor, so mutexes on a reused stack would inherit the
  // lock-order history of dead ones and yield false deadlock reports).
  const std::unique_ptr<Shards> shards_;
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_TOKEN_STORE_H_
