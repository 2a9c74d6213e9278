// JWT access tokens in the token service (docs/jwt.md, "In the token
// service"): issue, verify, introspect (cached and not), revoke, refresh,
// per-user revocation, tampering, foreign keys, expiry and clock steps.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/jwt.h"
#include "engine/auth/token_format.h"
#include "engine/auth/token_service.h"
#include "engine/common/ed25519_key.h"
#include "gtest/gtest.h"
#include "tests/auth/service_fixture.h"

namespace portcullis::auth {
namespace {

using testing::CompileText;
using testing::Describe;
using testing::kPolicy;
using testing::kStart;
using testing::ServiceFixture;

constexpr char kIssuer[] = "https://auth.example";
constexpr char kAudience[] = "https://api.example";

std::shared_ptr<const JwtSigner> MakeSigner(absl::string_view kid) {
  absl::StatusOr<Ed25519KeyPair> key = Ed25519KeyPair::Generate(kid);
  EXPECT_TRUE(key.ok()) << key.status();
  absl::StatusOr<JwtSigner> signer = JwtSigner::Create(*std::move(key));
  EXPECT_TRUE(signer.ok()) << signer.status();
  return std::make_shared<const JwtSigner>(*std::move(signer));
}

TokenServiceOptions JwtOptions(std::shared_ptr<const JwtSigner> signer) {
  TokenServiceOptions options = ServiceFixture::SmallCache();
  options.token_format = TokenFormat::kJwt;
  options.access_token_ttl = absl::Seconds(1800);
  options.jwt.signer = std::move(signer);
  options.jwt.issuer = kIssuer;
  options.jwt.audience = kAudience;
  return options;
}

JwtVerifier VerifierOf(const JwtSigner& signer) {
  JwtVerifierOptions options;
  options.issuer = kIssuer;
  options.audience = kAudience;
  options.keys = signer.PublicKeys();
  absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create(options);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  return *std::move(verifier);
}

// Replaces one character of segment `segment` (0-based) of `jwt` by another
// base64url character that keeps the encoding canonical.
std::string Tamper(absl::string_view jwt, int segment) {
  std::vector<std::string> parts = absl::StrSplit(jwt, '.');
  EXPECT_EQ(parts.size(), 3u);
  std::string& part = parts[segment];
  char& c = part[part.size() / 2];
  c = c == 'A' ? 'B' : 'A';
  return absl::StrCat(parts[0], ".", parts[1], ".", parts[2]);
}

class TokenServiceJwtTest : public ::testing::Test {
 protected:
  TokenServiceJwtTest()
      : signer_(MakeSigner("k1")),
        f_(CompileText(kPolicy), JwtOptions(signer_)) {
    secret_ = f_.Register("c-backend");
  }

  std::shared_ptr<const JwtSigner> signer_;
  ServiceFixture f_;
  std::string secret_;
};

TEST_F(TokenServiceJwtTest, IssueVerifyIntrospectRevoke) {
  const IssuedTokens issued = f_.Issue("c-backend", secret_);
  EXPECT_EQ(issued.format, TokenFormat::kJwt);
  ASSERT_TRUE(absl::StartsWith(issued.access_token, "eyJ"));
  EXPECT_EQ(
      std::vector<std::string>(absl::StrSplit(issued.access_token, '.')).size(),
      3u);
  // Refresh tokens stay opaque.
  EXPECT_TRUE(ParseToken(issued.refresh_token).ok());
  // Whole seconds, 30 minutes.
  EXPECT_EQ(issued.issued_at,
            absl::FromUnixSeconds(absl::ToUnixSeconds(kStart)));
  EXPECT_EQ(issued.access_token_expires_at - issued.issued_at,
            absl::Seconds(1800));

  absl::StatusOr<JwtClaims> claims =
      VerifierOf(*signer_).Verify(issued.access_token, kStart);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->issuer, kIssuer);
  EXPECT_EQ(claims->subject, "c-backend");
  EXPECT_EQ(claims->audience, kAudience);
  EXPECT_EQ(claims->client_id, "c-backend");
  EXPECT_EQ(claims->scope, "all:delete");
  EXPECT_EQ(claims->entity_id, "");
  EXPECT_EQ(claims->issued_at, issued.issued_at);
  EXPECT_EQ(claims->not_before, issued.issued_at);
  EXPECT_EQ(claims->expires_at, issued.access_token_expires_at);
  EXPECT_TRUE(ParseToken(claims->jwt_id).ok());
  // The jti is an identifier, not a bearer token: presented as an opaque
  // token it names nothing (its record's digest is domain-separated), and
  // revoking it does nothing.
  EXPECT_EQ(Describe(f_.service().Introspect(claims->jwt_id).status()),
            "UNAUTHENTICATED: access token: unknown");
  absl::StatusOr<RevokeResult> by_jti =
      f_.service().Revoke({"c-backend", secret_, claims->jwt_id});
  ASSERT_TRUE(by_jti.ok()) << by_jti.status();
  EXPECT_FALSE(by_jti->found);

  absl::StatusOr<std::shared_ptr<const AccessGrant>> grant =
      f_.service().Introspect(issued.access_token);
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ((*grant)->client_id(), "c-backend");
  EXPECT_EQ((*grant)->expires_at(), issued.access_token_expires_at);
  absl::StatusOr<std::shared_ptr<const AccessGrant>> by_header =
      f_.service().IntrospectHeader(
          absl::StrCat("Bearer ", issued.access_token));
  ASSERT_TRUE(by_header.ok()) << by_header.status();
  EXPECT_EQ(by_header->get(), grant->get());  // the cached grant

  absl::StatusOr<RevokeResult> revoked =
      f_.service().Revoke({"c-backend", secret_, issued.access_token});
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(revoked->found);
  EXPECT_EQ(revoked->kind, TokenKind::kAccess);
  EXPECT_EQ(revoked->tokens_revoked, 1u);
  EXPECT_EQ(Describe(f_.service().Introspect(issued.access_token).status()),
            "UNAUTHENTICATED: access token: revoked");
  // And on another thread, whose cache never saw it.
  std::thread([&] {
    EXPECT_EQ(Describe(f_.service().Introspect(issued.access_token).status()),
              "UNAUTHENTICATED: access token: revoked");
  }).join();
}

TEST_F(TokenServiceJwtTest, SignatureVerifiedOncePerTokenPerThread) {
  const IssuedTokens issued = f_.Issue("c-backend", secret_);
  ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());
  const uint64_t slow = f_.service().Stats().introspection_slow_paths;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());
  }
  EXPECT_EQ(f_.service().Stats().introspection_slow_paths, slow);
  // Another thread verifies once for itself.
  std::thread([&] {
    ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());
    ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());
  }).join();
  EXPECT_EQ(f_.service().Stats().introspection_slow_paths, slow + 1);
}

TEST_F(TokenServiceJwtTest, CachedJwtRefusedAfterRevocation) {
  const IssuedTokens issued = f_.Issue("c-backend", secret_);
  ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());
  ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());  // a hit
  // Revoking the refresh token takes its family, the JWT included; the
  // family's generation moves, so the cached entry revalidates.
  absl::StatusOr<RevokeResult> revoked =
      f_.service().Revoke({"c-backend", secret_, issued.refresh_token});
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->tokens_revoked, 2u);
  EXPECT_EQ(Describe(f_.service().Introspect(issued.access_token).status()),
            "UNAUTHENTICATED: access token: revoked");
}

TEST_F(TokenServiceJwtTest, CachedJwtRefusedAfterClientRevocation) {
  const IssuedTokens issued = f_.Issue("c-backend", secret_);
  ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());
  ASSERT_TRUE(f_.clients().RevokeTokens("c-backend").ok());
  EXPECT_FALSE(f_.service().Introspect(issued.access_token).ok());
}

TEST_F(TokenServiceJwtTest, RefreshRevokesTheOldJwt) {
  const IssuedTokens first = f_.Issue("c-backend", secret_);
  ASSERT_TRUE(f_.service().Introspect(first.access_token).ok());
  f_.clock().Advance(absl::Seconds(90));
  absl::StatusOr<IssuedTokens> second =
      f_.service().Refresh(first.refresh_token);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->format, TokenFormat::kJwt);
  EXPECT_NE(second->access_token, first.access_token);
  EXPECT_EQ(Describe(f_.service().Introspect(first.access_token).status()),
            "UNAUTHENTICATED: access token: revoked");
  EXPECT_TRUE(f_.service().Introspect(second->access_token).ok());
  // A per-call format: Monta's endpoint refreshing into an opaque token.
  IssueOptions opaque;
  opaque.format = TokenFormat::kOpaque;
  opaque.access_token_ttl = absl::Hours(1);
  absl::StatusOr<IssuedTokens> third =
      f_.service().Refresh(second->refresh_token, opaque);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->format, TokenFormat::kOpaque);
  EXPECT_TRUE(ParseToken(third->access_token).ok());
  EXPECT_EQ(third->access_token_expires_at - third->issued_at, absl::Hours(1));
  EXPECT_EQ(Describe(f_.service().Introspect(second->access_token).status()),
            "UNAUTHENTICATED: access token: revoked");
  EXPECT_TRUE(f_.service().Introspect(third->access_token).ok());
}

TEST_F(TokenServiceJwtTest, EntityUserClaimsAndUserRevocation) {
  const IssuedTokens issued = f_.Issue("c-backend", secret_, "u-ann");
  absl::StatusOr<JwtClaims> claims =
      VerifierOf(*signer_).Verify(issued.access_token, kStart);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "u-ann");
  EXPECT_EQ(claims->client_id, "c-backend");
  EXPECT_EQ(claims->entity_id, "e-1");
  EXPECT_EQ(claims->role_id, "r-approver");
  absl::StatusOr<std::shared_ptr<const AccessGrant>> grant =
      f_.service().Introspect(issued.access_token);
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ((*grant)->user_id(), "u-ann");
  ASSERT_TRUE(f_.service().RevokeUserTokens("u-ann").ok());
  EXPECT_EQ(Describe(f_.service().Introspect(issued.access_token).status()),
            "UNAUTHENTICATED: access token: revoked with every token of user "
            "\"u-ann\"");
}

TEST_F(TokenServiceJwtTest, TamperedJwtRefused) {
  const IssuedTokens issued = f_.Issue("c-backend", secret_);
  ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());  // cached
  for (int segment : {1, 2}) {
    SCOPED_TRACE(segment);
    EXPECT_EQ(Describe(f_.service()
                           .Introspect(Tamper(issued.access_token, segment))
                           .status()),
              "UNAUTHENTICATED: access token: JWT: signature does not verify");
  }
  // A header changed: another kid is refused before the signature.
  const std::vector<std::string> parts =
      absl::StrSplit(issued.access_token, '.');
  const std::string header =
      Base64UrlEncode(R"({"alg":"EdDSA","typ":"at+jwt","kid":"k2"})");
  EXPECT_EQ(Describe(f_.service()
                         .Introspect(
                             absl::StrCat(header, ".", parts[1], ".", parts[2]))
                         .status()),
            "UNAUTHENTICATED: access token: JWT: unknown kid \"k2\"");
  // Truncated, by header too.
  EXPECT_EQ(Describe(f_.service()
                         .IntrospectHeader(
                             absl::StrCat("Bearer ", parts[0], ".", parts[1]))
                         .status()),
            "UNAUTHENTICATED: access token: JWT: malformed: expected 3 "
            "segments separated by '.', got 2");
  // Header form errors keep ParseBearerHeader's messages.
  EXPECT_EQ(Describe(f_.service()
                         .IntrospectHeader(
                             absl::StrCat("Bearer ", issued.access_token, " "))
                         .status()),
            absl::StrCat("UNAUTHENTICATED: access token: malformed: "
                         "authorization: unexpected whitespace at position ",
                         7 + issued.access_token.size()));
  EXPECT_EQ(Describe(f_.service()
                         .IntrospectHeader(
                             absl::StrCat("Bearer  ", issued.access_token))
                         .status()),
            "UNAUTHENTICATED: access token: malformed: authorization: "
            "unexpected whitespace at position 7");
  // Revoking a tampered JWT names no record.
  absl::StatusOr<RevokeResult> revoked = f_.service().Revoke(
      {"c-backend", secret_, Tamper(issued.access_token, 1)});
  EXPECT_EQ(Describe(revoked.status()),
            "INVALID_ARGUMENT: token: JWT: signature does not verify");
  EXPECT_TRUE(f_.service().Introspect(issued.access_token).ok());
}

TEST_F(TokenServiceJwtTest, AnotherServicesKeyRefused) {
  // Another service, another key under the same kid, issuer and audience.
  std::shared_ptr<const JwtSigner> other_signer = MakeSigner("k1");
  ServiceFixture other(CompileText(kPolicy), JwtOptions(other_signer));
  const std::string other_secret = other.Register("c-backend");
  const IssuedTokens foreign = other.Issue("c-backend", other_secret);
  ASSERT_TRUE(other.service().Introspect(foreign.access_token).ok());
  EXPECT_EQ(Describe(f_.service().Introspect(foreign.access_token).status()),
            "UNAUTHENTICATED: access token: JWT: signature does not verify");
  // Under another kid: unknown.
  std::shared_ptr<const JwtSigner> k9 = MakeSigner("k9");
  ServiceFixture third(CompileText(kPolicy), JwtOptions(k9));
  const IssuedTokens k9_token =
      third.Issue("c-backend", third.Register("c-backend"));
  EXPECT_EQ(Describe(f_.service().Introspect(k9_token.access_token).status()),
            "UNAUTHENTICATED: access token: JWT: unknown kid \"k9\"");
}

TEST_F(TokenServiceJwtTest, SameKeyOtherStoreIsUnknown) {
  // A service sharing the signing key but not the store (or token key)
  // knows no record for the jti.
  ServiceFixture other(CompileText(kPolicy), JwtOptions(signer_));
  const IssuedTokens foreign =
      other.Issue("c-backend", other.Register("c-backend"));
  EXPECT_EQ(Describe(f_.service().Introspect(foreign.access_token).status()),
            "UNAUTHENTICATED: access token: unknown");
}

TEST_F(TokenServiceJwtTest, ExpiryOnTheCachedPath) {
  const IssuedTokens issued = f_.Issue("c-backend", secret_);
  ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());
  // The record's expiry is exact (the JWT leeway is for other verifiers).
  EXPECT_TRUE(
      f_.service()
          .Introspect(issued.access_token,
                      issued.access_token_expires_at - absl::Nanoseconds(1))
          .ok());
  EXPECT_EQ(Describe(f_.service()
                         .Introspect(issued.access_token,
                                     issued.access_token_expires_at)
                         .status()),
            "UNAUTHENTICATED: access token: expired");
  // Retired in the store: refused on any thread, whatever the time.
  std::thread([&] {
    EXPECT_EQ(Describe(f_.service().Introspect(issued.access_token).status()),
              "UNAUTHENTICATED: access token: revoked");
  }).join();
}

TEST_F(TokenServiceJwtTest, ExpiredOnTheSlowPath) {
  const IssuedTokens issued = f_.Issue("c-backend", secret_);
  EXPECT_EQ(Describe(f_.service()
                         .Introspect(
                             issued.access_token,
                             issued.access_token_expires_at + absl::Minutes(2))
                         .status()),
            absl::StrCat("UNAUTHENTICATED: access token: JWT: expired at ",
                         absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                          issued.access_token_expires_at,
                                          absl::UTCTimeZone())));
}

TEST_F(TokenServiceJwtTest, ClockStepBackRefusedOnTheCachedPath) {
  const IssuedTokens issued = f_.Issue("c-backend", secret_);
  ASSERT_TRUE(f_.service().Introspect(issued.access_token).ok());
  // Within the leeway (60 s): still a hit.
  EXPECT_TRUE(
      f_.service()
          .Introspect(issued.access_token, issued.issued_at - absl::Seconds(30))
          .ok());
  // Beyond it the slow path would refuse, so the hit must not accept.
  EXPECT_EQ(
      Describe(f_.service()
                   .Introspect(issued.access_token,
                               issued.issued_at - absl::Minutes(10))
                   .status()),
      absl::StrCat("UNAUTHENTICATED: access token: JWT: not valid "
                   "before ",
                   absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", issued.issued_at,
                                    absl::UTCTimeZone())));
  EXPECT_TRUE(f_.service().Introspect(issued.access_token).ok());
}

TEST_F(TokenServiceJwtTest, BothFormatsFromOneService) {
  IssueOptions opaque;
  opaque.format = TokenFormat::kOpaque;
  absl::StatusOr<IssuedTokens> monta = f_.service().IssueToken(
      {"client_credentials", "c-backend", secret_, ""}, opaque);
  ASSERT_TRUE(monta.ok()) << monta.status();
  EXPECT_EQ(monta->format, TokenFormat::kOpaque);
  EXPECT_TRUE(ParseToken(monta->access_token).ok());
  // The service's own TTL (30 min here) unless the call says otherwise.
  EXPECT_EQ(monta->access_token_expires_at - monta->issued_at,
            absl::Minutes(30));
  const IssuedTokens monite = f_.Issue("c-backend", secret_);
  EXPECT_TRUE(f_.service().Introspect(monta->access_token).ok());
  EXPECT_TRUE(f_.service().Introspect(monite.access_token).ok());

  IssueOptions bad;
  bad.access_token_ttl = absl::Milliseconds(500);
  EXPECT_EQ(
      Describe(
          f_.service()
              .IssueToken({"client_credentials", "c-backend", secret_, ""}, bad)
              .status()),
      "INVALID_ARGUMENT: token service: access_token_ttl must be at "
      "least 1s for JWT tokens, got 500ms");
}

// Threads introspecting JWTs (each verifying once, then hitting its cache)
// while another revokes half of them: a revocation is complete when Revoke
// returns, on every thread. For tsan.
TEST_F(TokenServiceJwtTest, ConcurrentIntrospectionAndRevocation) {
  std::vector<IssuedTokens> issued;
  for (int i = 0; i < 8; ++i) issued.push_back(f_.Issue("c-backend", secret_));
  std::atomic<bool> revoked{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        const bool after = revoked.load();
        for (size_t i = 0; i < issued.size(); ++i) {
          const bool ok = f_.service().Introspect(issued[i].access_token).ok();
          if (after && i % 2 == 0) {
            EXPECT_FALSE(ok) << i;
          }
          if (i % 2 == 1) {
            EXPECT_TRUE(ok) << i;
          }
        }
      }
    });
  }
  for (size_t i = 0; i < issued.size(); i += 2) {
    ASSERT_TRUE(f_.service()
                    .Revoke({"c-backend", secret_, issued[i].access_token})
                    .ok());
  }
  revoked.store(true);
  for (std::thread& thread : threads) thread.join();
}

TEST(TokenServiceJwtCreateTest, OptionErrors) {
  ManualClock clock(kStart);
  ClientRegistry clients(SecretKey::Generate(), clock);
  InMemoryTokenStore store;
  InMemoryUserDirectory users;
  auto create = [&](const TokenServiceOptions& options) {
    return TokenService::Create(options, SecretKey::Generate(), clients, store,
                                users, clock)
        .status();
  };
  TokenServiceOptions no_signer;
  no_signer.token_format = TokenFormat::kJwt;
  EXPECT_EQ(Describe(create(no_signer)),
            "INVALID_ARGUMENT: token service: token_format JWT needs a signer "
            "(jwt.signer)");
  TokenServiceOptions no_issuer = JwtOptions(MakeSigner("k1"));
  no_issuer.jwt.issuer.clear();
  EXPECT_EQ(Describe(create(no_issuer)),
            "INVALID_ARGUMENT: token service: JWT tokens need an issuer and an "
            "audience");
  TokenServiceOptions leeway = JwtOptions(MakeSigner("k1"));
  leeway.jwt.leeway = absl::Hours(2);
  EXPECT_FALSE(create(leeway).ok());
  EXPECT_TRUE(create(JwtOptions(MakeSigner("k1"))).ok());

  // An opaque service refuses JWTs in both directions.
  absl::StatusOr<std::unique_ptr<TokenService>> opaque =
      TokenService::Create(TokenServiceOptions(), SecretKey::Generate(),
                           clients, store, users, clock);
  ASSERT_TRUE(opaque.ok());
  ASSERT_TRUE((*opaque)->SetPolicy(CompileText(kPolicy)).ok());
  IssueOptions jwt;
  jwt.format = TokenFormat::kJwt;
  absl::StatusOr<std::string> secret = clients.RegisterClient("c-backend", "");
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(
      Describe((*opaque)
                   ->IssueToken(
                       {"client_credentials", "c-backend", *secret, ""}, jwt)
                   .status()),
      "FAILED_PRECONDITION: token service: JWT access tokens need a "
      "signer (jwt.signer)");
  EXPECT_EQ(Describe((*opaque)->Introspect("eyJ.eyJ.sig").status()),
            "UNAUTHENTICATED: access token: malformed: token: expected 36 "
            "characters, got 11");
}

}  // namespace
}  // namespace portcullis::auth
