// The token service: the endpoints of Monite's and Monta's authentication APIs
// (/auth/token, /auth/refresh, /auth/revoke, /auth/me) over a client registry
// and a token store, and the introspection that turns a bearer token into a
// Principal bound to the current policy snapshot, fast enough for every
// request.
//
// Example (a middleware):
//   // At startup:
//   ClientRegistry clients(std::move(secret_key), SystemClock::Instance());
//   InMemoryTokenStore store;
//   absl::StatusOr<std::unique_ptr<TokenService>> service =
//       TokenService::Create(TokenServiceOptions(), std::move(token_key),
//                            clients, store, users, SystemClock::Instance());
//   (*service)->SetPolicy(policy);  // and after every PolicyStore::Publish;
//   // with a PolicyWatcher, from its callback (ReloadEvent::policy is the
//   // snapshot just published, null when the reload was rejected):
//   watcher_options.on_reload = [&](const ReloadEvent& e) {
//     if (e.policy) (void)(*service)->SetPolicy(e.policy);
//   };
//
//   // POST /auth/token:
//   absl::StatusOr<IssuedTokens> tokens = (*service)->IssueToken(
//       {"client_credentials", client_id, client_secret,
//       /*entity_user_id=*/""});
//   reply(MontaTokenJson(*tokens));
//
//   // Every API request (the grant lent until this thread's next
//   // introspection; IntrospectHeader shares one instead):
//   absl::StatusOr<const AccessGrant*> grant =
//       (*service)->IntrospectHeaderLent(authorization_header, now);
//   if (!grant.ok()) return reply_401(grant.status().message());
//   if (!(*service)->CheckRateLimit(**grant, now).allowed) return reply_429();
//   RequestNames request;  // from the route and the entity header
//   request.object_type = "charge-points";
//   request.action = "read";
//   request.entity_id = team_id;
//   // The grant's own snapshot: the one its principal is bound to.
//   Decision d = Check((*grant)->policy(), (*grant)->principal(), request);
//
// Tokens and client secrets are 128 random bits in UUID text form
// (token_format.h); the store keeps only their keyed digests (crypto.h).
//
// JWT access tokens (docs/jwt.md). With TokenServiceOptions::jwt.signer, the
// service can issue signed JWTs (RFC 9068, EdDSA) instead of opaque access
// tokens, per service (token_format) or per call (IssueOptions); refresh
// tokens stay opaque. A JWT's `jti` is a fresh opaque token text, and its
// store record is keyed by the keyed digest of the jti's 128 bits with a
// label (so the jti, an identifier resource servers may log, is not itself a
// bearer token): revocation, families, refresh, per-client and per-user
// revocation and the sweep treat a JWT exactly as an opaque token.
// Introspection verifies a JWT (signature, then claims) once per token per
// thread; its cache entry is found by the SipHash of the signature segment
// and answers only the exact text verified (the signed part `header.payload`
// is kept in the grant, about 360 bytes, and compared whole on a hit), then
// applies the opaque hit's checks (generations, expiry, and the earliest
// instant the slow path accepts the token at).
//
// Fast introspection. A token's digest is a keyed BLAKE2b (a few hundred
// nanoseconds), too slow for a per-request budget of 60 ns. So each thread
// keeps a bounded cache of the tokens it has validated: a 4-way
// set-associative table indexed by a 128-bit keyed one-way function of the
// token under a per-service random key, holding the bound AccessGrant, its
// expiry and the generations it was validated at. For an opaque token that
// function is BlockPrf (crypto.h: AES-128 in Matyas-Meyer-Oseas form, about
// 30 instructions with AES-NI) of its 16 bytes; on a CPU without AES
// instructions, and for a JWT's signature segment, a SipHash-128
// (libsodium crypto_shorthash_siphashx24; about 250 instructions for 16
// bytes). A hit compares the full 128-bit value (branch-free, constant time;
// which of the 4 ways matched is all a timing could tell), two generation
// numbers and the expiry: no lock, no BLAKE2b, no write to memory another
// thread reads, and with IntrospectLent / IntrospectHeaderLent no write to
// the grant's reference count either (the shared forms copy the cache's
// shared_ptr: an atomic increment, and a decrement when the caller drops
// it). The first introspection of a token on each thread takes the slow
// path (BLAKE2b, a store lookup, binding: about a microsecond).
//   * Why a keyed one-way function and not the raw token bytes: the cache
//     then holds no token, only a keyed PRF value that cannot be presented
//     and that does not give the token back even with the key; the at-rest
//     rule (digests only) extends to memory. Why it is enough: tokens are
//     uniformly random 128-bit values an attacker cannot choose (only
//     tokens validated from the store are cached), and the 128-bit value
//     that is compared makes a false match as unlikely as guessing a token.
//   * Invalidation: a policy swap (SetPolicy) bumps a service epoch; a
//     registry change that can invalidate tokens (a removed client, revoked
//     client tokens) bumps the registry's version; revoking a user's tokens
//     (RevokeUserTokens) bumps a service counter of user revocations (every
//     cached token then revalidates from the store once, by digest); revoking
//     a token or a family bumps the generation of the family's bucket (one of
//     1024).
//     After a policy swap a thread's cache is emptied at its next
//     introspection (see "Old snapshots"); an entry whose other generations
//     differ is validated again from the store, by the digest it kept (no
//     BLAKE2b). Either way the token is bound to the current snapshot, so a
//     principal bound to an older snapshot is never handed out after
//     SetPolicy returns. A revocation is complete when Revoke or
//     Refresh returns: later introspections see it.
//   * Memory: `cache_entries_per_thread` entries of 64 bytes for each thread
//     that introspects, plus a grant per cached token (about 340 bytes). A
//     thread keeps the caches of its four most recently used services; a
//     cache is freed when the thread exits, has used four newer services,
//     or calls ReleaseThreadCache.
//   * Old snapshots: a cached grant holds its policy snapshot (and its
//     client's rate-limit cell, which outlives snapshots). When a thread's
//     introspection sees that SetPolicy ran since its last one, it first drops
//     every grant its cache holds (O(cache), once per swap per thread; those
//     tokens then pay a BLAKE2b on their next use there). So a replaced
//     snapshot lives, through the caches, until each thread that cached a grant
//     of it introspects once more with this service (any token), exits, or
//     calls ReleaseThreadCache; an idle thread keeps at most the snapshots
//     current during its last introspection (one, or two if a SetPolicy raced
//     with it), like an idle PolicyStore::Reader. SetPolicy does not reach into
//     other threads' caches: that would take a lock or a fence on every hit.
//     Grants held by callers keep their snapshot for as long as they hold them.
//
// Nothing secret is logged or put in an error: errors quote client ids,
// user ids and entity ids, never a token, a secret or a digest.

#ifndef PORTCULLIS_ENGINE_AUTH_TOKEN_SERVICE_H_
#define PORTCULLIS_ENGINE_AUTH_TOKEN_SERVICE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/clock.h"
#include "engine/auth/crypto.h"
#include "engine/auth/jwt.h"
#include "engine/auth/rate_limiter.h"
#include "engine/auth/token_json.h"      // IWYU pragma: export
#include "engine/auth/token_messages.h"  // IWYU pragma: export
#include "engine/auth/token_store.h"
#include "engine/auth/user_directory.h"
#include "engine/snapshot/compiled_policy.h"

namespace portcullis::auth {

namespace introspection {
class HitCounters;
struct CacheKey;
}  // namespace introspection

// JWT access tokens (jwt.h, docs/jwt.md): how the service signs and verifies
// them. Every field states its default.
struct JwtTokenOptions {
  // Signs the service's JWTs; its PublicKeys() (the active key and the
  // others still trusted during a rotation) are the keys introspection
  // accepts. Null (default): the service neither issues nor accepts JWTs.
  std::shared_ptr<const JwtSigner> signer;
  // `iss` of issued tokens; introspection wants exactly this. Required with
  // a signer.
  std::string issuer;
  // `aud` of issued tokens; introspection wants it among the token's
  // audiences. Required with a signer.
  std::string audience;
  // JwtVerifierOptions::leeway: slack for exp, nbf and iat when a JWT is
  // verified (the store's expiry is exact whatever this says). 0 to 1 hour;
  // default kDefaultJwtLeeway (60 s).
  absl::Duration leeway = kDefaultJwtLeeway;
};

// Options of a TokenService; every field states its default.
struct TokenServiceOptions {
  // The form of the access tokens IssueToken and Refresh return unless the
  // call says otherwise (IssueOptions). Default kOpaque. kJwt needs
  // jwt.signer.
  TokenFormat token_format = TokenFormat::kOpaque;
  // JWT signing and verification. With a signer, introspection accepts the
  // service's JWTs whatever token_format says.
  JwtTokenOptions jwt;
  // How long an access token is valid. Default 1 hour (Monta: "the
  // accessToken will expire within 1 hour").
  absl::Duration access_token_ttl = absl::Hours(1);
  // How long a refresh token is valid. Every refresh issues a new one with a
  // full lifetime (a sliding window, as Monta's expiration dates move with
  // each refresh). Default 30 days (Monta's public API: about 30 days).
  absl::Duration refresh_token_ttl = absl::Hours(24 * 30);
  // Capacity of each thread's introspection cache, rounded up to a power of
  // two, at least 4. Default 8,192 (512 KiB per thread).
  size_t cache_entries_per_thread = 8192;
  // How far in the future a token's issue time may lie when it is validated
  // from the store (introspection's slow path, refresh): a token dated later
  // was issued while the clock was ahead, or the clock stepped back since,
  // and is refused. Not negative. Default 5 minutes.
  absl::Duration issued_at_leeway = absl::Minutes(5);
  // The refresh token reuse interval (Auth0's "reuse interval", Okta's
  // "grace period"): a spent refresh token presented again less than this
  // long after it was spent is refused (`refresh token: already used by a
  // concurrent refresh`) WITHOUT revoking its family, so that of two
  // concurrent refreshes with one token (a client retrying, two tabs, two
  // replicas) exactly one succeeds and the winner keeps its new pair. The
  // loser gets nothing either way, and so would a thief: a reuse at or
  // after the interval revokes the family as before. Measured from the
  // store's rotated_at (the winning caller's clock). Zero: every reuse
  // revokes. 0 to 60 seconds. Default 3 seconds.
  absl::Duration refresh_reuse_interval = absl::Seconds(3);
};

// Per-call choices of IssueToken and Refresh, for a service that answers
// several API dialects (the server issues Monta's opaque tokens and Monite's
// JWTs from one service). Unset fields take TokenServiceOptions' values.
struct IssueOptions {
  std::optional<TokenFormat> format;
  // Positive; at least 1 second for JWTs (their times are whole seconds).
  std::optional<absl::Duration> access_token_ttl;
};

// The `grant_type` of /auth/token: "client_credentials" (a partner token) or
// "entity_user" (Monite's entity-user token). Returns InvalidArgument
// `grant_type: missing` or `grant_type: unsupported "<value>" (expected
// "client_credentials" or "entity_user")` (the value C-escaped, at most 64
// bytes of it).
absl::StatusOr<GrantKind> ParseGrantType(absl::string_view grant_type);

// "client_credentials" or "entity_user".
absl::string_view GrantTypeName(GrantKind grant);

// An access token that introspection accepted, bound to one policy snapshot:
// what the caller checks requests with. Immutable and thread-safe; owned
// (std::shared_ptr<const AccessGrant>) by the introspection cache and the
// callers holding it (Introspect), or lent by a thread's cache until that
// thread's next introspection (IntrospectLent); keeps its policy snapshot
// alive.
class AccessGrant {
 public:
  // Grants are made by TokenService only: this key is private to it.
  class Key {
    friend class TokenService;
    Key() = default;
  };
  explicit AccessGrant(Key /*key*/) {}

  AccessGrant(const AccessGrant&) = delete;
  AccessGrant& operator=(const AccessGrant&) = delete;

  // The snapshot the principal is bound to: check with this one.
  const CompiledPolicy& policy() const { return *policy_; }
  const std::shared_ptr<const CompiledPolicy>& shared_policy() const {
    return policy_;
  }
  const Principal& principal() const { return principal_; }

  const std::string& client_id() const { return client_id_; }
  GrantKind grant() const { return grant_; }
  // entity_user grants only: the user, their entity and role (empty: the
  // entity's default role).
  const std::string& user_id() const { return user_id_; }
  const std::string& entity_id() const { return entity_id_; }
  const std::string& role_id() const { return role_id_; }
  absl::Time issued_at() const { return issued_at_; }
  // Valid while now < expires_at.
  absl::Time expires_at() const { return expires_at_; }
  // The client's rate-limit cell (rate_limiter.h), shared by every grant of
  // the client whatever its snapshot; null when no policy listed the client
  // (refused). TokenService::CheckRateLimit counts requests in it; a limiter
  // in front of it (the server's distributed one) keeps its own per-client
  // state there too. The cell is thread-safe, hence mutable through a const
  // grant.
  RateCell* rate_cell() const { return rate_cell_.get(); }

 private:
  friend class TokenService;

  std::shared_ptr<const CompiledPolicy> policy_;
  Principal principal_;
  std::string client_id_;
  GrantKind grant_ = GrantKind::kPartner;
  std::string user_id_;
  std::string entity_id_;
  std::string role_id_;
  absl::Time issued_at_;
  absl::Time expires_at_;
  // The store's key, to validate the token again without hashing it.
  Digest digest_;
  uint64_t family_id_ = 0;
  // The client's rate-limit cell in the service's ClientRateLimits: one per
  // client id, shared by every snapshot (null: refused).
  std::shared_ptr<RateCell> rate_cell_;
  // JWTs only: the signed part of the token (`header.payload`, as sent),
  // which a cache hit compares with the presented text. Not a credential:
  // without the signature it cannot be presented, and its jti alone names
  // no record (see TokenService). Empty for opaque tokens.
  std::string jwt_signed_part_;
};

// Counters for monitoring. All but the cache hits are updated on the slow
// paths only; a cached introspection adds one to its own thread's hit count
// (no shared cache line written), and Stats() sums the threads' counts.
// Authentication failures are counted by reason here and nowhere else: the
// endpoints answer all of them with the same error.
struct TokenServiceStats {
  // Indexed by AuthFailure; [kNone] counts successful authentications.
  std::array<uint64_t, kAuthFailureKinds> authentications{};
  uint64_t tokens_issued = 0;  // pairs, by IssueToken and Refresh
  // Rotated refresh tokens presented again after refresh_reuse_interval
  // (their families revoked).
  uint64_t refresh_reuses = 0;
  // Rotated refresh tokens presented again within refresh_reuse_interval
  // (refused, the family kept).
  uint64_t refresh_races = 0;
  uint64_t introspection_slow_paths = 0;  // cache misses and revalidations
  // Introspections (of any kind: Introspect, IntrospectHeader, by every
  // caller) answered from a thread's cache with a grant. Exact: every hit
  // is counted once, by every thread, including threads that have exited.
  uint64_t introspection_cache_hits = 0;
};

// The endpoints and introspection. Thread-safe: every method may be called
// concurrently. Introspection of a token this thread has validated costs a
// token parse, a BlockPrf (or SipHash) and a table probe (see the file
// comment); the
// endpoints cost a BLAKE2b per token or secret involved plus a few store
// operations (each under one store shard's lock) and allocate.
//
// The registry, store, directory and clock are not owned and must outlive
// the service. The service drives the registry's OnPolicy from SetPolicy.
//
// Store outages. With a store in another process (RedisTokenStore), every
// method that needs the store answers Unavailable `token store unavailable:
// <store message>` when it could not be asked: nothing is issued, no token is
// accepted from the store, and a revocation is not reported done (the server
// answers 503, so proxies deny). Cached grants keep answering from the
// per-thread caches until the caches are told otherwise (NoteRevocation,
// NoteAllRevoked: docs/replicas.md bounds that).
class TokenService {
 public:
  // `token_key` makes the tokens' digests: persist it (SecretKey::bytes) with
  // the store's Export, or exported tokens match nothing after a restart.
  // Seal that Export with it too (TokenStore::Export(key), a SecretKey made
  // from the persisted bytes): the MAC uses a subkey derived from it.
  // Returns InvalidArgument for a non-positive lifetime or a cache smaller
  // than 4 or larger than 2^24 entries, e.g.
  // "token service: access_token_ttl must be positive, got 0"; and for JWT
  // options that do not hold together: token_format kJwt without a signer,
  // a signer without issuer or audience, a leeway out of [0, 1 h], an
  // access_token_ttl under 1 s with token_format kJwt.
  static absl::StatusOr<std::unique_ptr<TokenService>> Create(
      const TokenServiceOptions& options, SecretKey token_key,
      ClientRegistry& clients, TokenStore& tokens, const UserDirectory& users,
      const Clock& clock);

  TokenService(const TokenService&) = delete;
  TokenService& operator=(const TokenService&) = delete;
  ~TokenService();

  // Publishes a policy: later introspections bind to it (each thread's
  // cache drops its grants at its next introspection, see "Old snapshots"
  // above, and the tokens are bound again), the registry follows it
  // (ClientRegistry::
  // OnPolicy), and the rate limits take its credentials' values: the state
  // is kept per client id, in one cell shared by every snapshot, so grants
  // of the old and the new snapshot spend one allowance; a client absent
  // from the policy is refused. Until the first call, every
  // endpoint answers Unavailable `token service: no policy`. Returns
  // InvalidArgument `token service: policy is null`.
  absl::Status SetPolicy(std::shared_ptr<const CompiledPolicy> policy);

  // The current policy; null before the first SetPolicy.
  std::shared_ptr<const CompiledPolicy> policy() const;

  // POST /auth/token. Authenticates the client (ClientRegistry::
  // Authenticate), then issues an access token and a refresh token of a new
  // family. Errors:
  //   InvalidArgument   from ParseGrantType; `entity_user_id: required for
  //                     grant_type "entity_user"`; `entity_user_id: not
  //                     allowed with grant_type "client_credentials"`
  //   Unauthenticated   `invalid client credentials`, whatever the reason
  //                     (unknown client, wrong or malformed secret, client
  //                     unregistered, suspended or removed)
  //   NotFound          `entity_user_id: unknown user "<id>"`
  //   FailedPrecondition `user "<id>": unknown entity "<id>"` or `unknown
  //                     role "<id>"` (the directory names what the policy
  //                     lacks)
  //   PermissionDenied  `client "<id>" may not issue tokens for user "<id>":
  //                     entity "<id>" belongs to another partner` or `...:
  //                     entity "<id>" is not among the client's entities`
  //   Unavailable       `token service: no policy`
  // The user's entity and role come from the directory; other directory
  // errors are returned as they are.
  //   InvalidArgument / FailedPrecondition from `options` (an access_token_ttl
  //                     that is not positive, or under 1 s for a JWT; a JWT
  //                     asked of a service without a signer)
  //
  // JWT access tokens (format kJwt) carry iss, sub (the user id for an
  // entity user, else the client id), aud, exp, iat, nbf (= iat), jti,
  // client_id, scope (the credential's scopes as the policy writes them,
  // space-separated; absent when it has none) and, for entity users,
  // entity_id and role_id (when not the default role). Their times are
  // whole seconds: issued_at is rounded down to the second, and so is the
  // expiry. The jti is a fresh opaque token text whose digest keys the
  // store record, so a JWT is revoked, refreshed and swept like an opaque
  // token.
  absl::StatusOr<IssuedTokens> IssueToken(const TokenRequest& request,
                                          const IssueOptions& options = {});

  // POST /auth/refresh. Exchanges a refresh token, once, for a new pair in
  // the same family; the presented token is then spent, and the access token
  // issued with it is revoked (as OAuth servers such as Hydra do: one live
  // access token per family, not every one until it expires). Presenting a
  // spent refresh token again means it was copied: the whole family (every
  // access and refresh token descending from the same /auth/token call) is
  // revoked, whatever else is wrong with the token by then (expired, its client
  // removed or its tokens revoked, its user gone): reuse is checked first.
  // Detection lasts while the spent token's record is stored, that is until
  // RemoveExpiredTokens sweeps it after its own expiry. Except within
  // TokenServiceOptions::refresh_reuse_interval of the rotation: a reuse
  // then is a concurrent refresh that lost the race, refused alone.
  // Entity-user tokens re-read the user from the directory, so a new entity
  // or role applies from the next refresh. Errors, Unauthenticated:
  //   `refresh token: malformed: <parser message>`
  //   `refresh token: unknown`
  //   `refresh token: an access token cannot be used to refresh`
  //   `refresh token: already used; its token family is revoked`
  //   `refresh token: already used by a concurrent refresh` (within the
  //     reuse interval; the family is kept)
  //   `refresh token: revoked` (a spent token too, once its family is; an
  //     expired token, once seen expired, after a clock step back)
  //   `refresh token: expired` (now >= expiry)
  //   `refresh token: issued in the future (the clock stepped back?)`
  //     (issued_at > now + TokenServiceOptions::issued_at_leeway)
  //   `refresh token: <ClientRegistry::CheckTokenClient message>`
  //   `refresh token: revoked with every token of user "<id>"`
  //     (RevokeUserTokens)
  // and the user errors of IssueToken (NotFound, FailedPrecondition,
  // PermissionDenied), Unavailable `token service: no policy`. A user who
  // left the directory (NotFound) takes the token's family down with the
  // refusal: if the user id returns, the old tokens do not work again.
  // The new access token's format and lifetime follow `options` (the
  // service's by default), whatever the spent pair's were.
  absl::StatusOr<IssuedTokens> Refresh(absl::string_view refresh_token,
                                       const IssueOptions& options = {});

  // Revokes every token of one entity user issued so far, through every
  // client (logout everywhere; the user removed or their role downgraded):
  // TokenStore::RevokeUser, then the caches are told. Tokens issued later
  // are valid. Complete when it returns. InvalidArgument `user_id: empty`.
  absl::Status RevokeUserTokens(absl::string_view user_id);

  // POST /auth/revoke. Revokes one of the authenticated client's tokens: an
  // access token alone, or a refresh token with its family. Errors:
  //   Unauthenticated   `invalid client credentials`
  //   InvalidArgument   `token: malformed: <parser message>`; for a JWT (a
  //                     token with a '.', on a service with a signer)
  //                     `token: JWT: <JwtVerifier reason>` (an expired JWT
  //                     among them: RFC 7009 treats it as a success)
  //   PermissionDenied  `token: issued to another client`
  // An unknown token is not an error (RevokeResult::found is false).
  absl::StatusOr<RevokeResult> Revoke(const RevokeRequest& request);

  // GET /auth/me: the application behind an introspected token, as the
  // grant's snapshot and the registry describe it. NotFound `unknown client
  // "<id>"` if neither knows the client any more.
  absl::StatusOr<ApplicationInfo> Me(const AccessGrant& grant) const;

  // A bearer token (the token text alone: an opaque token, or a JWT of this
  // service when it has a signer) to the grant it stands for, bound
  // to the current policy snapshot, at `now` (or the service's clock). A
  // token is valid while now < its expiry: at the expiry instant itself it is
  // expired. Errors: Unavailable `token service: no policy`, or
  // Unauthenticated:
  //   `access token: malformed: <ParseToken message>`
  //   `access token: unknown`
  //   `access token: a refresh token cannot be used as an access token`
  //   `access token: revoked`
  //   `access token: expired` (a token seen expired is revoked in the
  //     store, so it stays refused if the clock steps back: `revoked`)
  //   `access token: issued in the future (the clock stepped back?)` (on
  //     the slow path: issued_at > now + issued_at_leeway)
  //   `access token: <ClientRegistry::CheckTokenClient message>` (client
  //     absent from the policy or suspended, not registered, its tokens
  //     revoked)
  //   `access token: revoked with every token of user "<id>"`
  //     (RevokeUserTokens)
  //   `access token: no longer valid in the policy: unknown entity "<id>"`
  //     (or role: the entity-user token's entity or role left the policy)
  // A JWT (a token text with a '.', on a service with a signer) is first
  // verified (JwtVerifier::Verify: `access token: JWT: <reason>`, e.g.
  // `access token: JWT: signature does not verify`), then its jti's record
  // is checked exactly as an opaque token's (every message above; a jti
  // that is not a token text is `access token: unknown`). The cache is keyed
  // by a SipHash of the whole JWT text, so the signature is verified once
  // per token per thread; a hit costs what an opaque hit costs plus the
  // SipHash of the longer text, and refuses, as the slow path would, a
  // token past its expiry (`access token: expired`) or before its iat/nbf
  // less the leeways (that one takes the slow path, which says why).
  absl::StatusOr<std::shared_ptr<const AccessGrant>> Introspect(
      absl::string_view access_token) const;
  absl::StatusOr<std::shared_ptr<const AccessGrant>> Introspect(
      absl::string_view access_token, absl::Time now) const;

  // The same from an Authorization header value, `Bearer <token>`; a header
  // that does not parse gives `access token: malformed: <ParseBearerHeader
  // message>`.
  absl::StatusOr<std::shared_ptr<const AccessGrant>> IntrospectHeader(
      absl::string_view authorization_header) const;
  absl::StatusOr<std::shared_ptr<const AccessGrant>> IntrospectHeader(
      absl::string_view authorization_header, absl::Time now) const;

  // Introspect and IntrospectHeader that LEND the grant rather than share
  // it: the same checks, answers and errors, but what they return points
  // into the calling thread's introspection cache, which owns the grant. So
  // a cache hit writes no reference count (an atomic increment and
  // decrement, on a line every thread using the token writes) and need not
  // read the grant at all: the choice for a request path.
  //
  // Lifetime: the grant, and the policy snapshot and rate-limit cell it
  // holds, stay valid until the calling thread next calls any Introspect*
  // function or ReleaseThreadCache on ANY TokenService (a call may evict or
  // replace the entry, or the cache of another service), or exits, and
  // while this service lives. Use it within the request (rate limit, check,
  // answer), on this thread; copy what must outlive that, or call
  // Introspect/IntrospectHeader for a grant of your own. What the grant says
  // is as current as with the shared form: a revocation or a policy swap
  // that completes while a request uses it applies from the next
  // introspection, the same bound as for a shared grant held by a request.
  absl::StatusOr<const AccessGrant*> IntrospectLent(
      absl::string_view access_token) const;
  absl::StatusOr<const AccessGrant*> IntrospectLent(
      absl::string_view access_token, absl::Time now) const;
  absl::StatusOr<const AccessGrant*> IntrospectHeaderLent(
      absl::string_view authorization_header) const;
  absl::StatusOr<const AccessGrant*> IntrospectHeaderLent(
      absl::string_view authorization_header, absl::Time now) const;

  // Counts one request against the grant's client (rate_limiter.h has the
  // GCRA semantics: a burst of `count`, then one request every
  // interval / count). Lock-free, allocation-free, O(1). The state is the
  // client's, whatever snapshot the grant is bound to; the limit is the
  // current policy's (a client it no longer lists is refused with
  // retry_after InfiniteDuration).
  RateDecision CheckRateLimit(const AccessGrant& grant, absl::Time now) const;
  // The same by client id (a lookup under a shared lock more). A client no
  // policy listed is refused with retry_after InfiniteDuration.
  RateDecision CheckRateLimit(absl::string_view client_id,
                              absl::Time now) const;

  // Removes expired tokens from the store (TokenStore::RemoveExpired at the
  // clock's now); returns how many. Also the registry's maintenance: clients
  // absent from the policy past their grace period lose their secret and
  // tokens (ClientRegistry::RemoveLongAbsentClients). Call it periodically.
  size_t RemoveExpiredTokens();

  // The counters. Takes a mutex and reads one word per thread that has an
  // introspection cache of this service: for monitoring, not per request.
  TokenServiceStats Stats() const;

  // For a store shared with other processes (replicas, docs/replicas.md):
  // tells this service's introspection caches that a token of `family_id`
  // (or the family) was revoked elsewhere. Every thread validates its cached
  // tokens of the family's bucket (one of 1024) from the store on their next
  // use. Lock-free: one atomic add. Complete when it returns.
  void NoteFamilyRevoked(uint64_t family_id) const { BumpFamily(family_id); }
  // The same for every cached token (a user's tokens or a client's revoked
  // elsewhere, or revocations that may have been missed): each is validated
  // again from the store on its next use on each thread. One atomic add.
  void NoteAllRevoked() const {
    user_revocations_.fetch_add(1, std::memory_order_acq_rel);
  }

  // Frees the calling thread's introspection cache of this service, with
  // the grants, policy snapshots and rate-limit cells it holds; its next
  // introspection starts an empty one. For a thread about to idle for long
  // (a worker leaving a pool, a thread blocking indefinitely), so that it
  // keeps no replaced snapshot alive meanwhile. Other threads' caches are
  // untouched. Cheap; never needed for correctness.
  void ReleaseThreadCache() const;

 private:
  struct CacheStamp;
  struct Counters;
  struct MissInfo;
  struct Profile;

  TokenService(const TokenServiceOptions& options, SecretKey token_key,
               ClientRegistry& clients, TokenStore& tokens,
               const UserDirectory& users, const Clock& clock);

  // The current policy.
  struct PolicyState {
    std::shared_ptr<const CompiledPolicy> policy;
  };
  PolicyState CurrentPolicy() const;

  // The introspection functions below return the grant where the calling
  // thread's cache holds it (the entry's shared_ptr), valid as long as a
  // lent grant is (IntrospectLent); the public functions lend or copy it.
  using CachedGrant = std::shared_ptr<const AccessGrant>;
  // Introspect's and IntrospectHeader's work.
  absl::StatusOr<const CachedGrant*> FindGrant(absl::string_view access_token,
                                               absl::Time now) const;
  absl::StatusOr<const CachedGrant*> FindGrantByHeader(
      absl::string_view authorization_header, absl::Time now) const;
  absl::StatusOr<const CachedGrant*> IntrospectBytes(
      const std::array<uint8_t, 16>& token, absl::Time now) const;
  // `header`: the Authorization header `token` came from, checked
  // (ParseBearerHeader) on a cache miss only; empty for a bare token.
  absl::StatusOr<const CachedGrant*> IntrospectJwt(
      absl::string_view token, absl::Time now,
      absl::string_view header = {}) const;
  // The cached introspection of a token: found by its cache `key` (the
  // BlockPrf, else the SipHash, of an opaque token's bytes; the SipHash of
  // a JWT's signature segment) and the exact `signed_part` (a JWT's
  // `header.payload`; empty for opaque tokens). On a miss, `miss()` says
  // which record to validate (or why the token is refused).
  template <typename Miss>
  absl::StatusOr<const CachedGrant*> IntrospectCached(
      const introspection::CacheKey& key, absl::string_view signed_part,
      absl::Time now, Miss&& miss) const;
  // The jti of a JWT of this service, verified at `now`.
  absl::StatusOr<std::array<uint8_t, 16>> VerifiedJti(absl::string_view token,
                                                      absl::Time now,
                                                      JwtClaims* claims) const;
  absl::StatusOr<Profile> ResolveProfile(const IssueOptions& options) const;
  // The slow path: the record of `digest` checked at `now` and bound to the
  // current policy. Fills `stamp` with the generations read before the
  // record, for the cache.
  absl::StatusOr<std::shared_ptr<const AccessGrant>> Validate(
      const Digest& digest, absl::Time now, CacheStamp& stamp,
      absl::string_view jwt_signed_part = {}) const;
  // The user's entity and role for a token of `client_id`, checked against
  // `policy`.
  absl::StatusOr<DirectoryUser> ResolveUser(const CompiledPolicy& policy,
                                            absl::string_view client_id,
                                            absl::string_view user_id) const;
  absl::StatusOr<IssuedTokens> IssuePair(const TokenRecord& base,
                                         absl::Time issued_at,
                                         const CompiledPolicy& policy,
                                         const Profile& profile);
  // Refresh of a spent (rotated) refresh token: revokes its family and
  // returns the reuse error, or `refresh token: revoked` if the token and
  // its whole family were revoked already.
  absl::Status RevokeReusedFamily(const TokenRecord& record);
  // Refresh of a token rotated at `rotated_at`: within the reuse interval
  // a lost race (refused, the family kept), else RevokeReusedFamily.
  absl::Status RefuseReuse(const TokenRecord& record, absl::Time rotated_at,
                           absl::Time now);
  // The service's epoch plus the registry's version plus the count of user
  // revocations (CacheStamp).
  uint64_t Generation() const {
    return epoch_.load(std::memory_order_acquire) + clients_.version() +
           user_revocations_.load(std::memory_order_acquire);
  }
  void BumpFamily(uint64_t family_id) const;
  // Revokes a token seen expired in the store (and tells the caches), so
  // that it stays refused if the clock steps back.
  void RetireExpired(const Digest& digest, uint64_t family_id) const;
  uint64_t FamilyGeneration(uint64_t family_id) const;

  const TokenServiceOptions options_;
  const SecretKey token_key_;
  ClientRegistry& clients_;
  TokenStore& store_;
  const UserDirectory& users_;
  const Clock& clock_;
  // Identifies this service's caches in every thread; never reused.
  const uint64_t id_;
  // Keys the introspection cache by an opaque token's bytes; null on a CPU
  // without AES instructions, which then uses cache_key_.
  const std::unique_ptr<const BlockPrf> cache_prf_;
  // SipHash key of the introspection cache (JWTs, and opaque tokens without
  // cache_prf_): random, never leaves memory.
  std::array<uint8_t, 16> cache_key_;
  const size_t cache_sets_;
  // Every thread's count of cache hits (TokenServiceStats).
  const std::shared_ptr<introspection::HitCounters> hit_counters_;

  // std::shared_mutex rather than absl::Mutex: Debian's prebuilt Abseil is
  // not compiled with ThreadSanitizer, which then reports false races.
  alignas(64) mutable std::shared_mutex policy_mu_;
  PolicyState policy_state_;  // Guarded by policy_mu_.
  // Rate-limit state per client id, across snapshots; limits set by
  // SetPolicy under policy_mu_.
  ClientRateLimits rate_limits_;

  // Generations read by cache hits (see the file comment). Written rarely,
  // and on a line of their own (away from the lock above, which every slow
  // path writes), so they stay in every reader's cache.
  alignas(64) std::atomic<uint64_t> epoch_{1};
  // RevokeUserTokens and NoteAllRevoked calls, part of the generation.
  mutable std::atomic<uint64_t> user_revocations_{0};
  static constexpr size_t kFamilyBuckets = 1024;
  const std::unique_ptr<std::atomic<uint64_t>[]> family_generations_;

  const std::unique_ptr<Counters> counters_;
  // Null without a signer (TokenServiceOptions::jwt).
  std::unique_ptr<const JwtVerifier> jwt_verifier_;
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_TOKEN_SERVICE_H_
