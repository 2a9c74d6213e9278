// JWT access tokens (engine/auth/jwt.h): what issuing and verifying one costs.
//
//   BM_JwtSign             JwtSigner::Sign: claims to compact JWS (JSON,
//                          base64url, one Ed25519 signature)
//   BM_JwtVerify           JwtVerifier::Verify of a valid token, every rule
//                          checked (the first use of a token: nothing cached)
//   BM_JwtVerifyBadSignature   a token whose signature does not verify:
//                          refused after the header and the signature check
//   BM_JwtVerifyUnknownKid     refused at the header, before any crypto
//   BM_Ed25519Verify       baseline: crypto_sign_verify_detached alone, over
//                          the same signing input
#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "benchmarks/fixed_iterations.h"
#include "engine/auth/jwt.h"

namespace portcullis::auth {
namespace {

using internal::FixedIterationsFromEnv;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

template <typename T>
T OrDie(absl::StatusOr<T> value) {
  if (!value.ok()) {
    std::fprintf(stderr, "jwt_benchmark: %s\n",
                 value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

JwtClaims Claims() {
  JwtClaims claims;
  claims.issuer = "https://auth.portcullis.example";
  claims.subject = "user-7f3c2a";
  claims.audience = "https://api.monite.example";
  claims.jwt_id = "4596d494-5f6c-4f87-aed5-db68240a58dd";
  claims.client_id = "c-6b1d0e2f";
  claims.scope = "payable:read receivable:write counterpart:read";
  claims.entity_id = "e-9a8b7c6d";
  claims.role_id = "r-accountant";
  claims.issued_at = kNow;
  claims.not_before = kNow;
  claims.expires_at = kNow + absl::Minutes(15);
  return claims;
}

struct Fixture {
  JwtSigner signer;
  JwtVerifier verifier;
  std::string token;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    JwtSigner signer =
        OrDie(JwtSigner::Create(OrDie(Ed25519KeyPair::Generate("2026-12"))));
    JwtVerifierOptions options;
    options.issuer = "https://auth.portcullis.example";
    options.audience = "https://api.monite.example";
    options.keys = signer.PublicKeys();
    JwtVerifier verifier = OrDie(JwtVerifier::Create(options));
    std::string token = OrDie(signer.Sign(Claims()));
    OrDie(verifier.Verify(token, kNow));
    return new Fixture{std::move(signer), std::move(verifier),
                       std::move(token)};
  }();
  return *fixture;
}

void BM_JwtSign(benchmark::State& state) {
  const Fixture& f = GetFixture();
  const JwtClaims claims = Claims();
  for (auto _ : state) {
    absl::StatusOr<std::string> token = f.signer.Sign(claims);
    benchmark::DoNotOptimize(token);
  }
}

void BM_JwtVerify(benchmark::State& state) {
  const Fixture& f = GetFixture();
  for (auto _ : state) {
    absl::StatusOr<JwtClaims> claims = f.verifier.Verify(f.token, kNow);
    if (!claims.ok()) state.SkipWithError("a valid token was refused");
    benchmark::DoNotOptimize(claims);
  }
}

void BM_JwtVerifyBadSignature(benchmark::State& state) {
  const Fixture& f = GetFixture();
  std::string token = f.token;
  char& c = token[token.rfind('.') + 1];
  c = c == 'A' ? 'B' : 'A';
  for (auto _ : state) {
    absl::StatusOr<JwtClaims> claims = f.verifier.Verify(token, kNow);
    if (claims.ok()) state.SkipWithError("a forged token was accepted");
    benchmark::DoNotOptimize(claims);
  }
}

void BM_JwtVerifyUnknownKid(benchmark::State& state) {
  const Fixture& f = GetFixture();
  JwtVerifierOptions options;
  options.issuer = "https://auth.portcullis.example";
  options.audience = "https://api.monite.example";
  options.keys = {OrDie(Ed25519KeyPair::Generate("other")).public_key()};
  const JwtVerifier verifier = OrDie(JwtVerifier::Create(options));
  for (auto _ : state) {
    absl::StatusOr<JwtClaims> claims = verifier.Verify(f.token, kNow);
    benchmark::DoNotOptimize(claims);
  }
}

void BM_Ed25519Verify(benchmark::State& state) {
  const Fixture& f = GetFixture();
  const std::string input = f.token.substr(0, f.token.rfind('.'));
  std::string signature;
  if (!Base64UrlDecode(f.token.substr(f.token.rfind('.') + 1), signature)) {
    std::abort();
  }
  const std::array<uint8_t, 32> key = f.signer.PublicKeys()[0].bytes();
  for (auto _ : state) {
    const int result = crypto_sign_verify_detached(
        reinterpret_cast<const uint8_t*>(signature.data()),
        reinterpret_cast<const uint8_t*>(input.data()), input.size(),
        key.data());
    benchmark::DoNotOptimize(result);
  }
}

BENCHMARK(BM_JwtSign)->Apply(FixedIterationsFromEnv);
BENCHMARK(BM_JwtVerify)->Apply(FixedIterationsFromEnv);
BENCHMARK(BM_JwtVerifyBadSignature)->Apply(FixedIterationsFromEnv);
BENCHMARK(BM_JwtVerifyUnknownKid)->Apply(FixedIterationsFromEnv);
BENCHMARK(BM_Ed25519Verify)->Apply(FixedIterationsFromEnv);

}  // namespace
}  // namespace portcullis::auth
