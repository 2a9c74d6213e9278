#include "engine/auth/token_service.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/crypto.h"
#include "engine/auth/introspection_cache.h"
#include "engine/auth/jwt.h"
#include "engine/auth/rate_limiter.h"
#include "engine/auth/token_format.h"
#include "engine/auth/token_store.h"
#include "engine/common/quote.h"
#include "engine/common/status_macros.h"
#include "engine/snapshot/name_table.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis::auth {
namespace {

using introspection::CacheEntry;
using introspection::CacheKey;
using introspection::CacheKeyOf;
using introspection::CacheSets;
using introspection::CacheTable;
using introspection::kAlwaysValid;
using introspection::kMaxCacheEntries;
using introspection::kWays;
using introspection::ReleaseCache;
using introspection::ThreadCache;

constexpr absl::string_view kClientCredentials = "client_credentials";
constexpr absl::string_view kEntityUser = "entity_user";

// Longest part of a bad grant_type quoted in an error.
constexpr size_t kMaxQuotedGrantType = 64;

absl::Status NoPolicyError() {
  return absl::UnavailableError("token service: no policy");
}

// A store that could not be asked (an outage of a remote store): the answer
// is unknown, so the caller fails closed with Unavailable (503 from the
// server). The store's message names no token or digest.
absl::Status StoreOutage(const absl::Status& status) {
  return absl::UnavailableError(
      absl::StrCat("token store unavailable: ", status.message()));
}

// `<what>: malformed: <parser message>`; the parsers never quote a token.
absl::Status Malformed(absl::string_view what, const absl::Status& parse) {
  return absl::UnauthenticatedError(
      absl::StrCat(what, ": malformed: ", parse.message()));
}

// Whole nanoseconds, as the token store requires (TokenRecord).
absl::Time TruncateToNanos(absl::Time time) {
  return absl::FromUnixNanos(absl::ToUnixNanos(time));
}

constexpr absl::string_view kBearerPrefix = "Bearer ";

// Whether `header` is "Bearer " in any case followed by at least one
// character, as ParseBearerHeader accepts it; one 8-byte load and compare,
// it runs on every request.
bool IsBearerPrefix(absl::string_view header) {
  if (header.size() <= kBearerPrefix.size()) return false;
  uint64_t word;
  std::memcpy(&word, header.data(), sizeof(word));
  if constexpr (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) {
    word = __builtin_bswap64(word);
  }
  // Bytes 0-5 get 0x20, which lowers exactly the upper-case letters (x |
  // 0x20 is a lower-case letter only for that letter in either case); byte
  // 6, the space, is compared as it is; byte 7, the token's first, not at
  // all.
  constexpr uint64_t kLowered = 0x0000202020202020;
  constexpr uint64_t kPrefix = 0x0020726572616562;  // "bearer " little-endian
  return ((word | kLowered) & 0x00ffffffffffffff) == kPrefix;
}

// Whole seconds, rounded down: JWT times (NumericDate).
absl::Time FloorToSeconds(absl::Time time) {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(time));
}

// The store's key of a JWT: the keyed digest of its jti's 128 bits with a
// label after them. The label keeps it apart from the digest of an opaque
// token with the same bits (KeyedHash of the 16 bytes alone): a jti is an
// identifier that resource servers may log (RFC 9068 does not treat it as a
// secret), so it must not work as a bearer token by itself.
Digest JtiDigest(const SecretKey& key, absl::Span<const uint8_t> jti) {
  static constexpr char kLabel[] = "\0portcullis JWT jti";
  std::array<uint8_t, TokenBytes::kSize + sizeof(kLabel) - 1> input;
  std::copy(jti.begin(), jti.end(), input.begin());
  std::copy(kLabel, kLabel + sizeof(kLabel) - 1,
            input.begin() + TokenBytes::kSize);
  const Digest digest = KeyedHash(key, input);
  sodium_memzero(input.data(), input.size());
  return digest;
}

// a == b, in time that depends on the lengths only; 8 bytes a step.
bool SameText(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  uint64_t difference = 0;
  size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    uint64_t x;
    uint64_t y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    difference |= x ^ y;
  }
  for (; i < a.size(); ++i) {
    difference |= static_cast<uint8_t>(a[i]) ^ static_cast<uint8_t>(b[i]);
  }
  return difference == 0;
}

// Whether a token text that is not an opaque token is to be read as a JWT.
bool LooksLikeJwt(absl::string_view token) {
  return token.find('.') != absl::string_view::npos;
}

// The scopes of `client_id`'s credential in `policy`, as written,
// space-separated (RFC 9068 §2.2.3); empty if it has none or is unknown.
std::string CredentialScope(const CompiledPolicy& policy,
                            absl::string_view client_id) {
  const internal::PolicyTables& t = policy.tables();
  const uint32_t credential = t.credentials.Find(0, client_id);
  if (credential == internal::NameTable::kNotFound) return "";
  std::string scope;
  for (uint32_t i = t.credential_scopes_begin[credential];
       i < t.credential_scopes_begin[credential + 1]; ++i) {
    if (!scope.empty()) scope.push_back(' ');
    absl::StrAppend(&scope, t.credential_scopes[i]);
  }
  return scope;
}

uint64_t NextServiceId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

// ---- Grant types ---------------------------------------------------------

absl::StatusOr<GrantKind> ParseGrantType(absl::string_view grant_type) {
  if (grant_type == kClientCredentials) return GrantKind::kPartner;
  if (grant_type == kEntityUser) return GrantKind::kEntityUser;
  if (grant_type.empty()) {
    return absl::InvalidArgumentError("grant_type: missing");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("grant_type: unsupported ",
                   internal::Quote(grant_type.substr(0, kMaxQuotedGrantType)),
                   " (expected \"client_credentials\" or \"entity_user\")"));
}

absl::string_view GrantTypeName(GrantKind grant) {
  switch (grant) {
    case GrantKind::kPartner:
      return kClientCredentials;
    case GrantKind::kEntityUser:
      return kEntityUser;
  }
  return "unknown";
}

// ---- The service ---------------------------------------------------------

// What a cached token was validated against. `generation` is the service's
// epoch plus the registry's version: both only grow, so the sum changes
// exactly when either does, and a hit compares one number for both.
struct TokenService::CacheStamp {
  uint64_t generation = 0;
  uint64_t family_generation = 0;
  uint32_t family_bucket = 0;
};

// Monitoring counters (TokenServiceStats), on slow paths only.
struct TokenService::Counters {
  std::array<std::atomic<uint64_t>, kAuthFailureKinds> authentications{};
  std::atomic<uint64_t> tokens_issued{0};
  std::atomic<uint64_t> refresh_reuses{0};
  std::atomic<uint64_t> refresh_races{0};
  std::atomic<uint64_t> introspection_slow_paths{0};
};

// What a cache miss validates: the record's digest, and for a JWT the
// client it names and the earliest instant the slow path accepts it at.
struct TokenService::MissInfo {
  Digest digest;
  std::string client_id;  // empty: opaque, nothing to compare
  absl::Time valid_from = absl::InfinitePast();
};

// IssueOptions resolved against the service's options.
struct TokenService::Profile {
  TokenFormat format = TokenFormat::kOpaque;
  absl::Duration access_token_ttl;
};

absl::StatusOr<std::unique_ptr<TokenService>> TokenService::Create(
    const TokenServiceOptions& options, SecretKey token_key,
    ClientRegistry& clients, TokenStore& tokens, const UserDirectory& users,
    const Clock& clock) {
  if (options.access_token_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token service: access_token_ttl must be positive, got ",
                     absl::FormatDuration(options.access_token_ttl)));
  }
  if (options.refresh_token_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token service: refresh_token_ttl must be positive, got ",
                     absl::FormatDuration(options.refresh_token_ttl)));
  }
  if (options.issued_at_leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token service: issued_at_leeway must not be negative, "
                     "got ",
                     absl::FormatDuration(options.issued_at_leeway)));
  }
  if (options.refresh_reuse_interval < absl::ZeroDuration() ||
      options.refresh_reuse_interval > absl::Seconds(60)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token service: refresh_reuse_interval must be in [0s, 60s], got ",
        absl::FormatDuration(options.refresh_reuse_interval)));
  }
  if (options.cache_entries_per_thread < kWays ||
      options.cache_entries_per_thread > kMaxCacheEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token service: cache_entries_per_thread must be in [", kWays, ", ",
        kMaxCacheEntries, "], got ", options.cache_entries_per_thread));
  }
  if (absl::Status crypto = InitializeCrypto(); !crypto.ok()) return crypto;
  std::unique_ptr<JwtVerifier> verifier;
  if (options.jwt.signer != nullptr) {
    if (options.jwt.issuer.empty() || options.jwt.audience.empty()) {
      return absl::InvalidArgumentError(
          "token service: JWT tokens need an issuer and an audience");
    }
    JwtVerifierOptions verifier_options;
    verifier_options.issuer = options.jwt.issuer;
    verifier_options.audience = options.jwt.audience;
    verifier_options.keys = options.jwt.signer->PublicKeys();
    verifier_options.leeway = options.jwt.leeway;
    absl::StatusOr<JwtVerifier> made =
        JwtVerifier::Create(std::move(verifier_options));
    if (!made.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token service: ", made.status().message()));
    }
    verifier = std::make_unique<JwtVerifier>(*std::move(made));
  } else if (options.token_format == TokenFormat::kJwt) {
    return absl::InvalidArgumentError(
        "token service: token_format JWT needs a signer (jwt.signer)");
  }
  if (options.token_format == TokenFormat::kJwt &&
      options.access_token_ttl < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("token service: access_token_ttl must be at least 1s "
                     "for JWT tokens, got ",
                     absl::FormatDuration(options.access_token_ttl)));
  }
  std::unique_ptr<TokenService> service(new TokenService(
      options, std::move(token_key), clients, tokens, users, clock));
  service->jwt_verifier_ = std::move(verifier);
  return service;
}

absl::StatusOr<TokenService::Profile> TokenService::ResolveProfile(
    const IssueOptions& options) const {
  Profile profile;
  profile.format = options.format.value_or(options_.token_format);
  profile.access_token_ttl =
      options.access_token_ttl.value_or(options_.access_token_ttl);
  if (profile.access_token_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token service: access_token_ttl must be positive, got ",
                     absl::FormatDuration(profile.access_token_ttl)));
  }
  if (profile.format == TokenFormat::kJwt) {
    if (jwt_verifier_ == nullptr) {
      return absl::FailedPreconditionError(
          "token service: JWT access tokens need a signer (jwt.signer)");
    }
    if (profile.access_token_ttl < absl::Seconds(1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("token service: access_token_ttl must be at least 1s "
                       "for JWT tokens, got ",
                       absl::FormatDuration(profile.access_token_ttl)));
    }
  }
  return profile;
}

TokenService::TokenService(const TokenServiceOptions& options,
                           SecretKey token_key, ClientRegistry& clients,
                           TokenStore& tokens, const UserDirectory& users,
                           const Clock& clock)
    : options_(options),
      token_key_(std::move(token_key)),
      clients_(clients),
      store_(tokens),
      users_(users),
      clock_(clock),
      id_(NextServiceId()),
      cache_prf_(BlockPrf::Create()),
      cache_sets_(CacheSets(options.cache_entries_per_thread)),
      hit_counters_(std::make_shared<introspection::HitCounters>()),
      family_generations_(new std::atomic<uint64_t>[kFamilyBuckets]),
      counters_(std::make_unique<Counters>()) {
  RandomBytes(absl::MakeSpan(cache_key_));
  for (size_t i = 0; i < kFamilyBuckets; ++i) {
    family_generations_[i].store(0, std::memory_order_relaxed);
  }
}

TokenService::~TokenService() {
  sodium_memzero(cache_key_.data(), cache_key_.size());
}

absl::Status TokenService::SetPolicy(
    std::shared_ptr<const CompiledPolicy> policy) {
  if (policy == nullptr) {
    return absl::InvalidArgumentError("token service: policy is null");
  }
  const internal::PolicyTables& tables = policy->tables();
  std::vector<std::pair<std::string, RateLimitConfig>> limits;
  limits.reserve(tables.credentials.size());
  for (uint32_t i = 0; i < tables.credentials.size(); ++i) {
    const internal::RateLimitInfo& limit = tables.credential_rate_limit[i];
    limits.emplace_back(std::string(tables.credentials.name(i)),
                        RateLimitConfig{limit.count, limit.interval_seconds});
  }

  std::unique_lock<std::shared_mutex> lock(policy_mu_);
  // First: it refuses bad limits before anything changed.
  PORTCULLIS_RETURN_IF_ERROR(rate_limits_.SetLimits(limits));
  clients_.OnPolicy(*policy);
  policy_state_.policy = std::move(policy);
  // Last, still under the lock: a reader that sees the new epoch then finds
  // the new policy (Validate reads the epoch first).
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

std::shared_ptr<const CompiledPolicy> TokenService::policy() const {
  std::shared_lock<std::shared_mutex> lock(policy_mu_);
  return policy_state_.policy;
}

TokenService::PolicyState TokenService::CurrentPolicy() const {
  std::shared_lock<std::shared_mutex> lock(policy_mu_);
  return policy_state_;
}

void TokenService::BumpFamily(uint64_t family_id) const {
  family_generations_[family_id % kFamilyBuckets].fetch_add(
      1, std::memory_order_acq_rel);
}

void TokenService::RetireExpired(const Digest& digest,
                                 uint64_t family_id) const {
  // Through the TokenStore interface, so any store keeps it; then the
  // caches of other threads revalidate and find it revoked. Best effort: on
  // a store outage the expiry check refuses the token anyway.
  (void)store_.Revoke(digest);
  BumpFamily(family_id);
}

uint64_t TokenService::FamilyGeneration(uint64_t family_id) const {
  return family_generations_[family_id % kFamilyBuckets].load(
      std::memory_order_acquire);
}

absl::StatusOr<DirectoryUser> TokenService::ResolveUser(
    const CompiledPolicy& policy, absl::string_view client_id,
    absl::string_view user_id) const {
  absl::StatusOr<DirectoryUser> user = users_.FindUser(user_id);
  if (!user.ok()) {
    if (absl::IsNotFound(user.status())) {
      return absl::NotFoundError(absl::StrCat("entity_user_id: unknown user ",
                                              internal::Quote(user_id)));
    }
    return user.status();
  }
  const internal::PolicyTables& t = policy.tables();
  const uint32_t entity = t.entities.Find(0, user->entity_id);
  if (entity == internal::NameTable::kNotFound) {
    return absl::FailedPreconditionError(
        absl::StrCat("user ", internal::Quote(user_id), ": unknown entity ",
                     internal::Quote(user->entity_id)));
  }
  if (!user->role_id.empty() &&
      t.roles.Find(0, user->role_id) == internal::NameTable::kNotFound) {
    return absl::FailedPreconditionError(
        absl::StrCat("user ", internal::Quote(user_id), ": unknown role ",
                     internal::Quote(user->role_id)));
  }
  const uint32_t credential = t.credentials.Find(0, client_id);
  if (credential == internal::NameTable::kNotFound) {
    return ClientAuthenticationError();  // Left the policy meanwhile.
  }
  const std::string refusal = absl::StrCat(
      "client ", internal::Quote(client_id), " may not issue tokens for user ",
      internal::Quote(user_id), ": entity ", internal::Quote(user->entity_id));
  if (t.credential_partner[credential] != t.entity_partner[entity]) {
    return absl::PermissionDeniedError(
        absl::StrCat(refusal, " belongs to another partner"));
  }
  const uint32_t begin = t.credential_entities_begin[credential];
  const uint32_t end = t.credential_entities_begin[credential + 1];
  if (begin != end && std::find(t.credential_entities.begin() + begin,
                                t.credential_entities.begin() + end, entity) ==
                          t.credential_entities.begin() + end) {
    return absl::PermissionDeniedError(
        absl::StrCat(refusal, " is not among the client's entities"));
  }
  return user;
}

absl::StatusOr<IssuedTokens> TokenService::IssuePair(
    const TokenRecord& base, absl::Time issued_at, const CompiledPolicy& policy,
    const Profile& profile) {
  const bool jwt = profile.format == TokenFormat::kJwt;
  // A JWT's times are whole seconds; its record says the same, so the
  // store's expiry and the token's `exp` are one instant.
  issued_at = jwt ? FloorToSeconds(issued_at) : TruncateToNanos(issued_at);
  const absl::Time access_expires_at =
      jwt ? FloorToSeconds(issued_at + profile.access_token_ttl)
          : issued_at + profile.access_token_ttl;
  const TokenBytes access = GenerateToken();
  const TokenBytes refresh = GenerateToken();
  const Digest access_digest = jwt ? JtiDigest(token_key_, access.bytes())
                                   : KeyedHash(token_key_, access.bytes());

  TokenRecord refresh_record = base;
  refresh_record.kind = TokenKind::kRefresh;
  refresh_record.digest = KeyedHash(token_key_, refresh.bytes());
  // Revoked when this refresh token is exchanged.
  refresh_record.access_digest = access_digest;
  refresh_record.issued_at = issued_at;
  refresh_record.expires_at = issued_at + options_.refresh_token_ttl;
  refresh_record.revoked = false;
  refresh_record.rotated = false;
  TokenRecord access_record = refresh_record;
  access_record.kind = TokenKind::kAccess;
  access_record.digest = access_digest;
  access_record.access_digest = Digest();
  access_record.expires_at = access_expires_at;

  IssuedTokens issued;
  issued.format = profile.format;
  if (jwt) {
    // Signed before anything is stored: a failure leaves no record.
    JwtClaims claims;
    claims.issuer = options_.jwt.issuer;
    claims.subject =
        base.grant == GrantKind::kEntityUser ? base.user_id : base.client_id;
    claims.audience = options_.jwt.audience;
    claims.jwt_id = FormatToken(access);
    claims.client_id = base.client_id;
    claims.scope = CredentialScope(policy, base.client_id);
    claims.entity_id = base.entity_id;
    claims.role_id = base.role_id;
    claims.issued_at = issued_at;
    claims.not_before = issued_at;
    claims.expires_at = access_expires_at;
    absl::StatusOr<std::string> signed_token =
        options_.jwt.signer->Sign(claims);
    if (!signed_token.ok()) return signed_token.status();
    issued.access_token = *std::move(signed_token);
  } else {
    issued.access_token = FormatToken(access);
  }

  issued.access_token_expires_at = access_record.expires_at;
  issued.refresh_token_expires_at = refresh_record.expires_at;
  // Both or neither, in one step (one round trip to a shared store): a
  // family revoked meanwhile refuses the pair.
  PORTCULLIS_RETURN_IF_ERROR(
      store_.InsertPair(std::move(refresh_record), std::move(access_record)));
  counters_->tokens_issued.fetch_add(1, std::memory_order_relaxed);

  issued.refresh_token = FormatToken(refresh);
  issued.issued_at = issued_at;
  issued.client_id = base.client_id;
  issued.grant = base.grant;
  issued.user_id = base.user_id;
  issued.entity_id = base.entity_id;
  issued.role_id = base.role_id;
  return issued;
}

absl::StatusOr<IssuedTokens> TokenService::IssueToken(
    const TokenRequest& request, const IssueOptions& options) {
  PORTCULLIS_ASSIGN_OR_RETURN(const GrantKind grant,
                              ParseGrantType(request.grant_type));
  PORTCULLIS_ASSIGN_OR_RETURN(const Profile profile, ResolveProfile(options));
  if (grant == GrantKind::kEntityUser && request.entity_user_id.empty()) {
    return absl::InvalidArgumentError(
        "entity_user_id: required for grant_type \"entity_user\"");
  }
  if (grant == GrantKind::kPartner && !request.entity_user_id.empty()) {
    return absl::InvalidArgumentError(
        "entity_user_id: not allowed with grant_type \"client_credentials\"");
  }
  const PolicyState state = CurrentPolicy();
  if (state.policy == nullptr) return NoPolicyError();

  const Authentication authentication =
      clients_.Authenticate(request.client_id, request.client_secret);
  counters_->authentications[static_cast<size_t>(authentication.failure)]
      .fetch_add(1, std::memory_order_relaxed);
  if (!authentication.ok() ||
      !state.policy->FindCredential(request.client_id).has_value()) {
    return ClientAuthenticationError();
  }

  TokenRecord base;
  base.client_id = std::string(request.client_id);
  base.client_revocation = authentication.revocation;
  base.grant = grant;
  base.family_id = GenerateFamilyId();
  if (grant == GrantKind::kEntityUser) {
    // Read before the tokens are stored: a RevokeUser in between leaves
    // them with the old value, refused.
    absl::StatusOr<uint64_t> user_revocation =
        store_.UserRevocation(request.entity_user_id);
    if (!user_revocation.ok()) return StoreOutage(user_revocation.status());
    base.user_revocation = *user_revocation;
    PORTCULLIS_ASSIGN_OR_RETURN(
        DirectoryUser user,
        ResolveUser(*state.policy, request.client_id, request.entity_user_id));
    base.user_id = std::string(request.entity_user_id);
    base.entity_id = std::move(user.entity_id);
    base.role_id = std::move(user.role_id);
  }
  absl::StatusOr<IssuedTokens> issued =
      IssuePair(base, clock_.Now(), *state.policy, profile);
  if (absl::IsUnavailable(issued.status())) {
    return StoreOutage(issued.status());
  }
  if (!issued.ok()) {
    return absl::InternalError(
        absl::StrCat("token service: cannot store the new tokens: ",
                     issued.status().message()));
  }
  return issued;
}

absl::StatusOr<IssuedTokens> TokenService::Refresh(
    absl::string_view refresh_token, const IssueOptions& options) {
  constexpr absl::string_view kWhat = "refresh token";
  PORTCULLIS_ASSIGN_OR_RETURN(const Profile profile, ResolveProfile(options));
  absl::StatusOr<TokenBytes> token = ParseToken(refresh_token);
  if (!token.ok()) return Malformed(kWhat, token.status());
  const PolicyState state = CurrentPolicy();
  if (state.policy == nullptr) return NoPolicyError();

  const Digest digest = KeyedHash(token_key_, token->bytes());
  const absl::Time now = clock_.Now();
  absl::StatusOr<TokenRecord> record = store_.Find(digest);
  if (absl::IsNotFound(record.status())) {
    return absl::UnauthenticatedError("refresh token: unknown");
  }
  if (!record.ok()) return StoreOutage(record.status());
  if (record->kind != TokenKind::kRefresh) {
    return absl::UnauthenticatedError(
        "refresh token: an access token cannot be used to refresh");
  }
  // Spent already, so a copy is in someone else's hands. That is theft
  // whatever else is wrong with the token now (expired since, its client
  // or user gone), so reuse is judged before anything else: the checks
  // below would refuse the token without taking its family down.
  if (record->rotated) return RefuseReuse(*record, record->rotated_at, now);
  if (now >= record->expires_at) {
    if (!record->revoked) RetireExpired(digest, record->family_id);
    return absl::UnauthenticatedError("refresh token: expired");
  }
  if (record->revoked) {
    return absl::UnauthenticatedError("refresh token: revoked");
  }
  if (record->issued_at > now + options_.issued_at_leeway) {
    return absl::UnauthenticatedError(
        "refresh token: issued in the future (the clock stepped back?)");
  }
  if (absl::Status client = clients_.CheckTokenClient(
          record->client_id, record->client_revocation);
      !client.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("refresh token: ", client.message()));
  }
  if (!state.policy->FindCredential(record->client_id).has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "refresh token: client ", internal::Quote(record->client_id),
        " is no longer in the policy"));
  }
  TokenRecord base = *record;
  if (record->grant == GrantKind::kEntityUser) {
    absl::StatusOr<uint64_t> user_revocation =
        store_.UserRevocation(record->user_id);
    if (!user_revocation.ok()) return StoreOutage(user_revocation.status());
    if (record->user_revocation != *user_revocation) {
      return absl::UnauthenticatedError(
          absl::StrCat("refresh token: revoked with every token of user ",
                       internal::Quote(record->user_id)));
    }
    absl::StatusOr<DirectoryUser> user =
        ResolveUser(*state.policy, record->client_id, record->user_id);
    if (absl::IsNotFound(user.status())) {
      // The user left: the family must not work again if the id returns.
      absl::StatusOr<size_t> revoked = store_.RevokeFamily(record->family_id);
      BumpFamily(record->family_id);
      if (!revoked.ok()) return StoreOutage(revoked.status());
    }
    if (!user.ok()) return user.status();
    base.entity_id = std::move(user->entity_id);
    base.role_id = std::move(user->role_id);
  }

  // Exactly one of concurrent refreshes with one token gets true.
  absl::StatusOr<Rotation> rotated = store_.MarkRotated(digest, now);
  if (absl::IsUnavailable(rotated.status())) {
    return StoreOutage(rotated.status());
  }
  if (!rotated.ok()) {
    return absl::UnauthenticatedError(absl::IsNotFound(rotated.status())
                                          ? "refresh token: unknown"
                                          : "refresh token: revoked");
  }
  // Rotated by a concurrent refresh since the Find above.
  if (!rotated->won) return RefuseReuse(*record, rotated->rotated_at, now);
  // The access token issued with the spent refresh token goes with it; the
  // new pair replaces both.
  if (!record->access_digest.IsZero()) {
    absl::StatusOr<bool> revoked = store_.Revoke(record->access_digest);
    BumpFamily(record->family_id);
    // The old access token might still be valid: no new pair.
    if (!revoked.ok()) return StoreOutage(revoked.status());
  }
  absl::StatusOr<IssuedTokens> issued =
      IssuePair(base, std::max(now, record->issued_at), *state.policy, profile);
  if (absl::IsUnavailable(issued.status())) {
    return StoreOutage(issued.status());
  }
  if (absl::IsFailedPrecondition(issued.status())) {
    // The family was revoked between MarkRotated and the inserts.
    return absl::UnauthenticatedError("refresh token: revoked");
  }
  if (!issued.ok()) {
    return absl::InternalError(
        absl::StrCat("token service: cannot store the new tokens: ",
                     issued.status().message()));
  }
  return issued;
}

absl::Status TokenService::RefuseReuse(const TokenRecord& record,
                                       absl::Time rotated_at, absl::Time now) {
  // A rotation time ahead of `now` (another replica's clock ahead of this
  // one's) counts as within the interval: the rotation just happened.
  if (!record.revoked && now - rotated_at < options_.refresh_reuse_interval) {
    // Two holders of one token inside the interval: a client racing itself
    // (retry, two tabs, two replicas) or a thief. The one that rotated got
    // the new pair; this one gets nothing, and the family stays, so a race
    // does not log the legitimate holder out. A thief's later try lands
    // after the interval and takes the family down.
    counters_->refresh_races.fetch_add(1, std::memory_order_relaxed);
    return absl::UnauthenticatedError(
        "refresh token: already used by a concurrent refresh");
  }
  return RevokeReusedFamily(record);
}

absl::Status TokenService::RevokeReusedFamily(const TokenRecord& record) {
  // Every token descending from the same /auth/token call goes, the
  // legitimate holder's included; they authenticate again.
  const absl::StatusOr<size_t> revoked = store_.RevokeFamily(record.family_id);
  BumpFamily(record.family_id);
  if (!revoked.ok()) return StoreOutage(revoked.status());
  if (record.revoked && *revoked == 0) {
    // Taken down already (an earlier reuse, or /auth/revoke): not news.
    return absl::UnauthenticatedError("refresh token: revoked");
  }
  counters_->refresh_reuses.fetch_add(1, std::memory_order_relaxed);
  return absl::UnauthenticatedError(
      "refresh token: already used; its token family is revoked");
}

absl::Status TokenService::RevokeUserTokens(absl::string_view user_id) {
  if (user_id.empty()) return absl::InvalidArgumentError("user_id: empty");
  absl::StatusOr<uint64_t> revoked = store_.RevokeUser(user_id);
  if (!revoked.ok()) return StoreOutage(revoked.status());
  // After the store: a cache that sees the new generation finds the
  // counter moved when it looks again.
  user_revocations_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

absl::StatusOr<RevokeResult> TokenService::Revoke(
    const RevokeRequest& request) {
  const Authentication authentication =
      clients_.Authenticate(request.client_id, request.client_secret);
  counters_->authentications[static_cast<size_t>(authentication.failure)]
      .fetch_add(1, std::memory_order_relaxed);
  if (!authentication.ok()) return ClientAuthenticationError();

  Digest digest;
  if (jwt_verifier_ != nullptr && LooksLikeJwt(request.token)) {
    // Only a JWT this service signed names a record: verified first.
    absl::StatusOr<std::array<uint8_t, 16>> jti =
        VerifiedJti(request.token, clock_.Now(), nullptr);
    if (!jti.ok()) {
      absl::string_view message = jti.status().message();
      absl::ConsumePrefix(&message, "access token: ");
      return absl::InvalidArgumentError(absl::StrCat("token: ", message));
    }
    digest = JtiDigest(token_key_, *jti);
  } else {
    absl::StatusOr<TokenBytes> token = ParseToken(request.token);
    if (!token.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token: malformed: ", token.status().message()));
    }
    digest = KeyedHash(token_key_, token->bytes());
  }
  absl::StatusOr<TokenRecord> record = store_.Find(digest);
  RevokeResult result;
  if (absl::IsNotFound(record.status())) return result;
  if (!record.ok()) return StoreOutage(record.status());
  if (record->client_id != request.client_id) {
    return absl::PermissionDeniedError("token: issued to another client");
  }
  result.found = true;
  result.kind = record->kind;
  if (record->kind == TokenKind::kAccess) {
    absl::StatusOr<bool> revoked = store_.Revoke(digest);
    if (!revoked.ok()) return StoreOutage(revoked.status());
    result.tokens_revoked = *revoked && !record->revoked ? 1 : 0;
  } else {
    absl::StatusOr<size_t> revoked = store_.RevokeFamily(record->family_id);
    if (!revoked.ok()) return StoreOutage(revoked.status());
    result.tokens_revoked = *revoked;
  }
  // After the store: a cache that sees the new generation finds the token
  // revoked when it looks again.
  BumpFamily(record->family_id);
  return result;
}

absl::StatusOr<ApplicationInfo> TokenService::Me(
    const AccessGrant& grant) const {
  PORTCULLIS_ASSIGN_OR_RETURN(const ClientInfo client,
                              clients_.Find(grant.client_id()));
  const internal::PolicyTables& t = grant.policy().tables();
  const uint32_t credential = t.credentials.Find(0, grant.client_id());
  if (credential == internal::NameTable::kNotFound) {
    return absl::NotFoundError(
        absl::StrCat("unknown client ", internal::Quote(grant.client_id())));
  }
  ApplicationInfo info;
  info.client_id = grant.client_id();
  info.name = client.display_name.empty()
                  ? std::string(t.credential_names[credential])
                  : client.display_name;
  info.partner_id =
      std::string(t.partners.name(t.credential_partner[credential]));
  for (uint32_t i = t.credential_entities_begin[credential];
       i < t.credential_entities_begin[credential + 1]; ++i) {
    info.entity_ids.emplace_back(t.entities.name(t.credential_entities[i]));
  }
  for (uint32_t i = t.credential_scopes_begin[credential];
       i < t.credential_scopes_begin[credential + 1]; ++i) {
    info.scopes.emplace_back(t.credential_scopes[i]);
  }
  info.rate_limit = t.credential_rate_limit[credential].count;
  info.rate_limit_interval_seconds =
      t.credential_rate_limit[credential].interval_seconds;
  info.grant = grant.grant();
  info.user_id = grant.user_id();
  info.entity_id = grant.entity_id();
  info.role_id = grant.role_id();
  info.created_at = client.created_at;
  info.updated_at = client.updated_at;
  return info;
}

absl::StatusOr<std::shared_ptr<const AccessGrant>> TokenService::Validate(
    const Digest& digest, absl::Time now, CacheStamp& stamp,
    absl::string_view jwt_signed_part) const {
  constexpr absl::string_view kWhat = "access token";
  counters_->introspection_slow_paths.fetch_add(1, std::memory_order_relaxed);
  // The generations first, then what they guard: a change that lands after
  // these reads leaves the entry stamped with an old generation.
  stamp.generation = Generation();
  const PolicyState state = CurrentPolicy();
  if (state.policy == nullptr) return NoPolicyError();

  absl::StatusOr<TokenRecord> record = store_.Find(digest);
  if (absl::IsNotFound(record.status())) {
    return absl::UnauthenticatedError("access token: unknown");
  }
  if (!record.ok()) return StoreOutage(record.status());
  if (record->kind != TokenKind::kAccess) {
    return absl::UnauthenticatedError(
        "access token: a refresh token cannot be used as an access token");
  }
  if (now >= record->expires_at) {
    if (!record->revoked) RetireExpired(digest, record->family_id);
    return absl::UnauthenticatedError("access token: expired");
  }
  if (record->revoked) {
    return absl::UnauthenticatedError("access token: revoked");
  }
  if (record->issued_at > now + options_.issued_at_leeway) {
    return absl::UnauthenticatedError(
        "access token: issued in the future (the clock stepped back?)");
  }
  if (absl::Status client = clients_.CheckTokenClient(
          record->client_id, record->client_revocation);
      !client.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat(kWhat, ": ", client.message()));
  }
  if (record->grant == GrantKind::kEntityUser) {
    absl::StatusOr<uint64_t> user_revocation =
        store_.UserRevocation(record->user_id);
    if (!user_revocation.ok()) return StoreOutage(user_revocation.status());
    if (record->user_revocation != *user_revocation) {
      return absl::UnauthenticatedError(
          absl::StrCat(kWhat, ": revoked with every token of user ",
                       internal::Quote(record->user_id)));
    }
  }

  const CompiledPolicy& policy = *state.policy;
  const std::optional<CredentialId> credential =
      policy.FindCredential(record->client_id);
  if (!credential.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat(kWhat, ": client ", internal::Quote(record->client_id),
                     " is no longer in the policy"));
  }
  absl::StatusOr<Principal> principal =
      record->grant == GrantKind::kPartner
          ? policy.BindPartner(record->client_id)
          : policy.BindEntityUser(record->user_id, record->entity_id,
                                  record->role_id, record->client_id);
  if (!principal.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        kWhat,
        ": no longer valid in the policy: ", principal.status().message()));
  }

  // The family's generation is known only now. A revocation that bumped it
  // before this read had already reached the store, so one more look at the
  // record catches it; one that bumps it later leaves the entry stale.
  stamp.family_bucket =
      static_cast<uint32_t>(record->family_id % kFamilyBuckets);
  stamp.family_generation = FamilyGeneration(record->family_id);
  const absl::StatusOr<TokenRecord> again = store_.Find(digest);
  if (absl::IsNotFound(again.status())) {
    return absl::UnauthenticatedError("access token: unknown");
  }
  if (!again.ok()) return StoreOutage(again.status());
  if (again->revoked) {
    return absl::UnauthenticatedError("access token: revoked");
  }

  // One allocation for the grant and its reference count: a cache hit
  // touches both.
  auto grant = std::make_shared<AccessGrant>(AccessGrant::Key());
  grant->policy_ = state.policy;
  grant->principal_ = *std::move(principal);
  grant->client_id_ = std::move(record->client_id);
  grant->grant_ = record->grant;
  grant->user_id_ = std::move(record->user_id);
  grant->entity_id_ = std::move(record->entity_id);
  grant->role_id_ = std::move(record->role_id);
  grant->issued_at_ = record->issued_at;
  grant->expires_at_ = record->expires_at;
  grant->digest_ = digest;
  grant->family_id_ = record->family_id;
  grant->rate_cell_ = rate_limits_.Find(grant->client_id_);
  grant->jwt_signed_part_ = std::string(jwt_signed_part);
  return std::shared_ptr<const AccessGrant>(std::move(grant));
}

absl::StatusOr<std::array<uint8_t, 16>> TokenService::VerifiedJti(
    absl::string_view token, absl::Time now, JwtClaims* claims) const {
  absl::StatusOr<JwtClaims> verified = jwt_verifier_->Verify(token, now);
  if (!verified.ok()) return verified.status();
  std::array<uint8_t, TokenBytes::kSize> jti;
  // Signed by this service's key, so issued by it (or by a service sharing
  // the key): a jti that is no token text names no record.
  if (!DecodeToken(verified->jwt_id, jti)) {
    return absl::UnauthenticatedError("access token: unknown");
  }
  if (claims != nullptr) *claims = *std::move(verified);
  return jti;
}

template <typename Miss>
absl::StatusOr<const TokenService::CachedGrant*> TokenService::IntrospectCached(
    const CacheKey& key, absl::string_view signed_part, absl::Time now,
    Miss&& miss) const {
  CacheTable& cache = ThreadCache(id_, cache_sets_, hit_counters_);
  // The epoch is read once: for the swap check here (a compare with the
  // table's own copy, thread-local) and for the entry's generation below.
  const uint64_t epoch = epoch_.load(std::memory_order_acquire);
  if (ABSL_PREDICT_FALSE(cache.epoch() != epoch)) cache.DropAll(epoch);
  CacheEntry* entry = cache.Find(key);
  // A JWT's entry answers only the very text verified: the signature
  // matched by its SipHash, the signed part compared whole. Another text
  // with that signature (tampered) misses, and the entry stays. An opaque
  // token (`signed_part` empty) takes an opaque token's entry only: the
  // entry's kind is on the entry's line, so the grant's is not read here
  // (a JWT's grant always has a non-empty signed part).
  if (entry != nullptr &&
      (signed_part.empty()
           ? entry->jwt()
           : !SameText(entry->grant->jwt_signed_part_, signed_part))) {
    entry = nullptr;
  }
  MissInfo info;
  if (entry != nullptr) {
    // Both generations are read whatever the first says (no branch between
    // the two loads); `&` on their int values says so to the compiler.
    const bool current =
        (static_cast<int>(
             entry->generation ==
             epoch + clients_.version() +
                 user_revocations_.load(std::memory_order_acquire)) &
         static_cast<int>(entry->family_generation ==
                          family_generations_[entry->family_bucket].load(
                              std::memory_order_acquire))) != 0;
    if (current) {
      // Flooring `now` to whole nanoseconds keeps `now < expiry` exact:
      // expiries are whole nanoseconds. One unsigned compare checks
      // expiry - valid_seconds <= now < expiry.
      const uint64_t span =
          uint64_t{entry->valid_seconds} * uint64_t{1'000'000'000};
      const uint64_t valid_from =
          static_cast<uint64_t>(entry->expires_at_nanos) - span;
      if (static_cast<uint64_t>(absl::ToUnixNanos(now)) - valid_from < span) {
        cache.CountHit();
        return &entry->grant;
      }
      if (absl::ToUnixNanos(now) >= entry->expires_at_nanos) {
        // Expired: revoked in the store too, as the slow path would.
        RetireExpired(entry->grant->digest_, entry->grant->family_id_);
        cache.Clear(*entry);
        return absl::UnauthenticatedError("access token: expired");
      }
      // Too early (the clock stepped back): the slow path says why.
      cache.Clear(*entry);
      entry = nullptr;
    }
  }
  if (entry != nullptr) {
    // Stale (a registry or family change in this epoch): validate again
    // from the store by the digest kept in the grant. A JWT's signature
    // and claims were verified for this very text.
    info.digest = entry->grant->digest_;
    info.valid_from =
        absl::FromUnixNanos(entry->expires_at_nanos) -
        (entry->valid_seconds == kAlwaysValid
             ? absl::InfiniteDuration()
             : absl::Seconds(static_cast<int64_t>(entry->valid_seconds)));
  } else {
    absl::StatusOr<MissInfo> missed = miss();
    if (!missed.ok()) return missed.status();
    info = *std::move(missed);
  }
  CacheStamp stamp;
  absl::StatusOr<std::shared_ptr<const AccessGrant>> grant =
      Validate(info.digest, now, stamp, signed_part);
  if (grant.ok() && !info.client_id.empty() &&
      (*grant)->client_id() != info.client_id) {
    // A JWT whose claims disagree with its record: not this record's token.
    grant = absl::UnauthenticatedError("access token: unknown");
  }
  if (!grant.ok()) {
    if (entry != nullptr) cache.Clear(*entry);
    return grant.status();
  }
  CacheEntry filled;
  filled.key_lo = key.lo;
  filled.key_hi = key.hi;
  filled.generation = stamp.generation;
  filled.family_generation = stamp.family_generation;
  filled.family_bucket = stamp.family_bucket;
  filled.expires_at_nanos = absl::ToUnixNanos((*grant)->expires_at());
  filled.valid_seconds = kAlwaysValid;
  if (info.valid_from != absl::InfinitePast()) {
    // Rounded so that the entry's window starts no earlier than the slow
    // path's.
    const int64_t seconds = absl::ToInt64Seconds(
        absl::FromUnixNanos(filled.expires_at_nanos) - info.valid_from);
    filled.valid_seconds = static_cast<uint32_t>(
        std::clamp<int64_t>(seconds, 0, int64_t{kAlwaysValid} - 1));
  }
  // CacheEntry::jwt(): a JWT's entry is never kAlwaysValid, whatever its
  // claims said.
  if (!signed_part.empty()) {
    filled.valid_seconds = std::min(filled.valid_seconds, kAlwaysValid - 1);
  }
  filled.grant = *std::move(grant);
  CacheEntry& slot = entry != nullptr ? *entry : cache.Slot(key);
  cache.Fill(slot, std::move(filled));
  return &slot.grant;
}

absl::StatusOr<const TokenService::CachedGrant*> TokenService::IntrospectBytes(
    const std::array<uint8_t, TokenBytes::kSize>& token, absl::Time now) const {
  // The cache key: BlockPrf where the CPU has AES instructions (about 30
  // instructions), else SipHash-128 (about 250).
  CacheKey key;
  if (ABSL_PREDICT_TRUE(cache_prf_ != nullptr)) {
    const std::array<uint64_t, 2> words = cache_prf_->Evaluate(token);
    key.lo = words[0];
    key.hi = words[1];
  } else {
    key = CacheKeyOf(cache_key_, token);
  }
  return IntrospectCached(key, {}, now, [&]() -> absl::StatusOr<MissInfo> {
    MissInfo info;
    info.digest = KeyedHash(token_key_, token);
    return info;
  });
}

absl::StatusOr<const TokenService::CachedGrant*> TokenService::IntrospectJwt(
    absl::string_view token, absl::Time now, absl::string_view header) const {
  // Past the size limit, nothing is hashed.
  if (token.size() > kDefaultMaxJwtSize) {
    absl::Status refused = jwt_verifier_->Verify(token, now).status();
    if (refused.ok()) {
      // Unreachable: the verifier refuses a token past the size limit.
      refused = absl::UnauthenticatedError("access token: JWT: too large");
    }
    return refused;
  }
  // The cache key is the SipHash of the signature segment (the secret part:
  // the cache keeps only a PRF value of it), and a hit compares the signed
  // part `header.payload` exactly (no secret): together, the whole text
  // this thread verified, for a SipHash of 86 bytes rather than of the
  // whole token (about 450).
  const size_t last_dot = token.rfind('.');
  const absl::string_view signature = token.substr(last_dot + 1);
  const absl::Span<const uint8_t> cache_input(
      reinterpret_cast<const uint8_t*>(signature.data()), signature.size());
  return IntrospectCached(
      CacheKeyOf(cache_key_, cache_input), token.substr(0, last_dot), now,
      [&]() -> absl::StatusOr<MissInfo> {
        if (!header.empty()) {
          // The header's form is checked here, on a miss, rather than on every
          // request: a hit is a text this thread verified, which has no
          // whitespace, so its header was well-formed.
          absl::StatusOr<absl::string_view> parsed = ParseBearerHeader(header);
          if (!parsed.ok()) return Malformed("access token", parsed.status());
        }
        JwtClaims claims;
        absl::StatusOr<std::array<uint8_t, 16>> jti =
            VerifiedJti(token, now, &claims);
        if (!jti.ok()) return jti.status();
        MissInfo info;
        info.digest = JtiDigest(token_key_, *jti);
        sodium_memzero(jti->data(), jti->size());
        info.client_id = std::move(claims.client_id);
        // The verifier refuses now < nbf - leeway and now < iat - leeway; the
        // record, now < issued_at - issued_at_leeway. The latest of them.
        info.valid_from =
            std::max(claims.issued_at, claims.not_before) -
            std::min(options_.jwt.leeway, options_.issued_at_leeway);
        return info;
      });
}

void TokenService::ReleaseThreadCache() const { ReleaseCache(id_); }

namespace {

// A grant found in the calling thread's cache, shared with the caller.
absl::StatusOr<std::shared_ptr<const AccessGrant>> Shared(
    absl::StatusOr<const std::shared_ptr<const AccessGrant>*> cached) {
  if (!cached.ok()) return cached.status();
  return **cached;
}

// A grant found in the calling thread's cache, lent to the caller.
absl::StatusOr<const AccessGrant*> Lent(
    absl::StatusOr<const std::shared_ptr<const AccessGrant>*> cached) {
  if (!cached.ok()) return cached.status();
  return (*cached)->get();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const AccessGrant>> TokenService::Introspect(
    absl::string_view access_token) const {
  return Shared(FindGrant(access_token, clock_.Now()));
}

absl::StatusOr<std::shared_ptr<const AccessGrant>> TokenService::Introspect(
    absl::string_view access_token, absl::Time now) const {
  return Shared(FindGrant(access_token, now));
}

absl::StatusOr<std::shared_ptr<const AccessGrant>>
TokenService::IntrospectHeader(absl::string_view authorization_header) const {
  return Shared(FindGrantByHeader(authorization_header, clock_.Now()));
}

absl::StatusOr<std::shared_ptr<const AccessGrant>>
TokenService::IntrospectHeader(absl::string_view authorization_header,
                               absl::Time now) const {
  return Shared(FindGrantByHeader(authorization_header, now));
}

absl::StatusOr<const AccessGrant*> TokenService::IntrospectLent(
    absl::string_view access_token) const {
  return Lent(FindGrant(access_token, clock_.Now()));
}

absl::StatusOr<const AccessGrant*> TokenService::IntrospectLent(
    absl::string_view access_token, absl::Time now) const {
  return Lent(FindGrant(access_token, now));
}

absl::StatusOr<const AccessGrant*> TokenService::IntrospectHeaderLent(
    absl::string_view authorization_header) const {
  return Lent(FindGrantByHeader(authorization_header, clock_.Now()));
}

absl::StatusOr<const AccessGrant*> TokenService::IntrospectHeaderLent(
    absl::string_view authorization_header, absl::Time now) const {
  return Lent(FindGrantByHeader(authorization_header, now));
}

absl::StatusOr<const TokenService::CachedGrant*> TokenService::FindGrant(
    absl::string_view access_token, absl::Time now) const {
  // The decoded bytes are not wiped, unlike TokenBytes: the caller's buffer
  // holds the same token as text for as long as it likes, so wiping this
  // copy on every request would cost time and buy nothing.
  std::array<uint8_t, TokenBytes::kSize> token;
  if (!DecodeToken(access_token, token)) {
    if (jwt_verifier_ != nullptr && LooksLikeJwt(access_token)) {
      return IntrospectJwt(access_token, now);
    }
    return Malformed("access token", ParseToken(access_token).status());
  }
  return IntrospectBytes(token, now);
}

absl::StatusOr<const TokenService::CachedGrant*>
TokenService::FindGrantByHeader(absl::string_view authorization_header,
                                absl::Time now) const {
  // The fast path: "Bearer " (the scheme in any case) and a well-formed
  // token, the header of every valid request. Anything else goes through
  // the parsers, which say what is wrong.
  if (authorization_header.size() == kBearerPrefix.size() + kTokenTextLength &&
      IsBearerPrefix(authorization_header)) {
    std::array<uint8_t, TokenBytes::kSize> token;  // Not wiped: see above.
    if (DecodeToken(authorization_header.substr(kBearerPrefix.size()), token)) {
      return IntrospectBytes(token, now);
    }
  }
  // A JWT's fast path: "Bearer " and a text with a '.', hashed for the
  // cache as it is; the header's form is checked on a miss (IntrospectJwt).
  if (jwt_verifier_ != nullptr &&
      authorization_header.size() > kBearerPrefix.size() &&
      IsBearerPrefix(authorization_header)) {
    const absl::string_view jwt =
        authorization_header.substr(kBearerPrefix.size());
    if (LooksLikeJwt(jwt)) {
      return IntrospectJwt(jwt, now, authorization_header);
    }
  }
  absl::StatusOr<absl::string_view> token =
      ParseBearerHeader(authorization_header);
  if (!token.ok()) return Malformed("access token", token.status());
  return FindGrant(*token, now);
}

RateDecision TokenService::CheckRateLimit(const AccessGrant& grant,
                                          absl::Time now) const {
  if (grant.rate_cell_ == nullptr) return {false, absl::InfiniteDuration(), 0};
  return CheckRate(*grant.rate_cell_, now);
}

RateDecision TokenService::CheckRateLimit(absl::string_view client_id,
                                          absl::Time now) const {
  return rate_limits_.Check(client_id, now);
}

size_t TokenService::RemoveExpiredTokens() {
  clients_.RemoveLongAbsentClients();
  return store_.RemoveExpired(clock_.Now());
}

TokenServiceStats TokenService::Stats() const {
  TokenServiceStats stats;
  for (size_t i = 0; i < stats.authentications.size(); ++i) {
    stats.authentications[i] =
        counters_->authentications[i].load(std::memory_order_relaxed);
  }
  stats.tokens_issued =
      counters_->tokens_issued.load(std::memory_order_relaxed);
  stats.refresh_reuses =
      counters_->refresh_reuses.load(std::memory_order_relaxed);
  stats.refresh_races =
      counters_->refresh_races.load(std::memory_order_relaxed);
  stats.introspection_slow_paths =
      counters_->introspection_slow_paths.load(std::memory_order_relaxed);
  stats.introspection_cache_hits = hit_counters_->Total();
  return stats;
}

}  // namespace portcullis::auth
