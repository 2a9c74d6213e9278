// Fuzzes JWT verification (engine/auth/jwt.h). The first byte picks a mode:
//  - even: the rest is a token, verified as is. Anything accepted must carry
//    the signature of the fixture key over its first two segments, as sent
//    (Ed25519 is deterministic, so re-signing gives the same bytes), and its
//    segments must be the canonical encoding of what they decode to;
//  - odd: the rest is `header \n payload` (JSON, or anything), which the
//    fuzzer encodes and signs with the fixture key, so that the header and
//    claim checks behind the signature are reached. Anything accepted must
//    survive a round trip: the claims, signed again by JwtSigner, verify to
//    the same claims.
// Neither mode may crash, and every refusal is Unauthenticated.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/jwt.h"
#include "tests/fuzz/fuzz_check.h"

namespace portcullis::auth {
namespace {

// RFC 8037 Appendix A.1's key, with the kid the seeds use.
constexpr char kKey[] =
    R"({"kty":"OKP","crv":"Ed25519",)"
    R"("d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",)"
    R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"})";
const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

struct Fixture {
  Ed25519KeyPair key;
  JwtSigner signer;
  JwtVerifier verifier;
};

Ed25519KeyPair LoadKey() {
  absl::StatusOr<Ed25519KeyPair> key = KeyPairFromPrivateJwk(kKey);
  PORTCULLIS_FUZZ_CHECK(key.ok(), key.status().ToString());
  return *std::move(key);
}

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    absl::StatusOr<JwtSigner> signer = JwtSigner::Create(LoadKey());
    PORTCULLIS_FUZZ_CHECK(signer.ok(), signer.status().ToString());
    JwtVerifierOptions options;
    options.issuer = "https://auth.example";
    options.audience = "https://api.example";
    options.keys = signer->PublicKeys();
    absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create(options);
    PORTCULLIS_FUZZ_CHECK(verifier.ok(), verifier.status().ToString());
    return new Fixture{LoadKey(), *std::move(signer), *std::move(verifier)};
  }();
  return *fixture;
}

std::string Signature(const Ed25519KeyPair& key, absl::string_view input) {
  const std::array<uint8_t, 64> sig = key.Sign(input);
  return Base64UrlEncode(
      absl::string_view(reinterpret_cast<const char*>(sig.data()), 64));
}

void CheckToken(const Fixture& f, absl::string_view token) {
  const absl::StatusOr<JwtClaims> claims = f.verifier.Verify(token, kNow);
  if (!claims.ok()) {
    PORTCULLIS_FUZZ_CHECK(
        claims.status().code() == absl::StatusCode::kUnauthenticated,
        claims.status().ToString());
    return;
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  PORTCULLIS_FUZZ_CHECK(parts.size() == 3, "an accepted token has 3 segments");
  for (const absl::string_view part : parts) {
    std::string bytes;
    PORTCULLIS_FUZZ_CHECK(Base64UrlDecode(part, bytes),
                          "an accepted segment decodes");
    PORTCULLIS_FUZZ_CHECK(Base64UrlEncode(bytes) == part,
                          "an accepted segment is canonical");
  }
  const absl::string_view input =
      token.substr(0, parts[0].size() + 1 + parts[1].size());
  PORTCULLIS_FUZZ_CHECK(
      Signature(f.key, input) == parts[2],
      "an accepted token carries the fixture key's signature");

  // Round trip through the signer.
  const absl::StatusOr<std::string> again = f.signer.Sign(*claims);
  if (!again.ok()) {
    // Sign is stricter than Verify in one way only: it wants exp after iat.
    PORTCULLIS_FUZZ_CHECK(claims->expires_at <= claims->issued_at,
                          again.status().ToString());
    return;
  }
  const absl::StatusOr<JwtClaims> back = f.verifier.Verify(*again, kNow);
  PORTCULLIS_FUZZ_CHECK(back.ok(), back.status().ToString());
  PORTCULLIS_FUZZ_CHECK(*back == *claims, "claims survive a round trip");
}

}  // namespace
}  // namespace portcullis::auth

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace portcullis::auth;  // NOLINT: a fuzz entry point
  using portcullis::Base64UrlEncode;
  if (size == 0) return 0;
  const Fixture& f = GetFixture();
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  if (data[0] % 2 == 0) {
    CheckToken(f, rest);
    return 0;
  }
  const std::pair<absl::string_view, absl::string_view> json =
      absl::StrSplit(rest, absl::MaxSplits('\n', 1));
  const std::string input = absl::StrCat(Base64UrlEncode(json.first), ".",
                                         Base64UrlEncode(json.second));
  CheckToken(f, absl::StrCat(input, ".", Signature(f.key, input)));
  return 0;
}
