#include "engine/auth/jwt.h"

#include <sodium.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace portcullis::auth {
namespace {

// RFC 8037 Appendix A.1 (with a kid added: Portcullis's key files need one).
constexpr char kRfcPrivateJwk[] =
    R"({"kty":"OKP","crv":"Ed25519",)"
    R"("d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",)"
    R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"rfc8037"})";
// A.2.
constexpr char kRfcPublicJwk[] =
    R"({"kty":"OKP","crv":"Ed25519",)"
    R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"rfc8037"})";
// A.3.
constexpr char kRfcThumbprint[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
// A.4.
constexpr char kRfcSigningInput[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr char kRfcJws[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7"
    "sVvpAr_MuM0KAg";

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);  // 22:13:20Z
constexpr char kIssuer[] = "https://auth.portcullis.example";
constexpr char kAudience[] = "https://api.monite.example";

Ed25519KeyPair Key(absl::string_view kid) {
  absl::StatusOr<Ed25519KeyPair> key = Ed25519KeyPair::Generate(kid);
  EXPECT_TRUE(key.ok()) << key.status();
  return *std::move(key);
}

Ed25519KeyPair RfcKey() {
  absl::StatusOr<Ed25519KeyPair> key = KeyPairFromPrivateJwk(kRfcPrivateJwk);
  EXPECT_TRUE(key.ok()) << key.status();
  return *std::move(key);
}

JwtSigner Signer(Ed25519KeyPair active,
                 std::vector<Ed25519PublicKey> others = {}) {
  absl::StatusOr<JwtSigner> signer =
      JwtSigner::Create(std::move(active), std::move(others));
  EXPECT_TRUE(signer.ok()) << signer.status();
  return *std::move(signer);
}

JwtVerifier Verifier(std::vector<Ed25519PublicKey> keys) {
  JwtVerifierOptions options;
  options.issuer = kIssuer;
  options.audience = kAudience;
  options.keys = std::move(keys);
  absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create(options);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  return *std::move(verifier);
}

JwtClaims Claims() {
  JwtClaims claims;
  claims.issuer = kIssuer;
  claims.subject = "user-7";
  claims.audience = kAudience;
  claims.jwt_id = "4596d494-5f6c-4f87-aed5-db68240a58dd";
  claims.client_id = "c-1";
  claims.scope = "payable:read receivable:write";
  claims.entity_id = "e-1";
  claims.role_id = "r-\"admin\"\n";  // escaped on the wire
  claims.issued_at = kNow;
  claims.not_before = kNow;
  claims.expires_at = kNow + absl::Minutes(5);
  return claims;
}

std::string B64(absl::string_view bytes) { return Base64UrlEncode(bytes); }

// A token with any header and payload, signed by `key` over them.
std::string Forge(const Ed25519KeyPair& key, absl::string_view header,
                  absl::string_view payload) {
  const std::string input = absl::StrCat(B64(header), ".", B64(payload));
  const std::array<uint8_t, 64> sig = key.Sign(input);
  return absl::StrCat(
      input, ".",
      B64(absl::string_view(reinterpret_cast<const char*>(sig.data()), 64)));
}

constexpr char kHeader[] = R"({"alg":"EdDSA","typ":"at+jwt","kid":"k1"})";

// A payload with the standard claims around kNow; `extra` replaces them.
std::string Payload(absl::string_view iss = kIssuer,
                    absl::string_view aud = "\"https://api.monite.example\"",
                    absl::string_view exp = "1700000300",
                    absl::string_view iat = "1700000000",
                    absl::string_view rest = R"(,"nbf":1700000000)") {
  return absl::StrCat(R"({"iss":")", iss, R"(","sub":"user-7","aud":)", aud,
                      R"(,"exp":)", exp, R"(,"iat":)", iat,
                      R"(,"jti":"j-1","client_id":"c-1")", rest, "}");
}

TEST(Base64UrlTest, CanonicalOnly) {
  std::string out;
  EXPECT_TRUE(Base64UrlDecode("", out));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(Base64UrlDecode("AA", out));
  EXPECT_EQ(out, std::string(1, '\0'));
  EXPECT_TRUE(Base64UrlDecode("-_8", out));
  EXPECT_EQ(out, "\xfb\xff");
  EXPECT_EQ(B64("\xfb\xff"), "-_8");
  for (const absl::string_view bad : {"AA==", "AA=", "+_8", "/_8", "A", "AAAAA",
                                      "AB", "AAB", " AA", "AA\n", "A\0A"}) {
    EXPECT_FALSE(Base64UrlDecode(bad, out)) << absl::CHexEscape(bad);
  }
}

// RFC 8037 Appendix A, A.1 to A.5.
TEST(Rfc8037Test, KeysThumbprintAndSignature) {
  const Ed25519KeyPair key = RfcKey();
  EXPECT_EQ(key.kid(), "rfc8037");
  absl::StatusOr<Ed25519PublicKey> public_key = PublicKeyFromJwk(kRfcPublicJwk);
  ASSERT_TRUE(public_key.ok()) << public_key.status();
  EXPECT_TRUE(*public_key == key.public_key());
  EXPECT_EQ(absl::BytesToHexString(absl::string_view(
                reinterpret_cast<const char*>(public_key->bytes().data()), 32)),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(JwkThumbprint(*public_key), kRfcThumbprint);

  EXPECT_EQ(B64(R"({"alg":"EdDSA"})"), "eyJhbGciOiJFZERTQSJ9");
  EXPECT_EQ(B64("Example of Ed25519 signing"),
            "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc");
  const std::array<uint8_t, 64> sig = key.Sign(kRfcSigningInput);
  EXPECT_EQ(absl::StrCat(kRfcSigningInput, ".",
                         B64(absl::string_view(
                             reinterpret_cast<const char*>(sig.data()), 64))),
            kRfcJws);
  // A.5: it verifies, but it is no access token (no typ, no kid).
  const absl::StatusOr<JwtClaims> claims =
      Verifier({key.public_key()}).Verify(kRfcJws, kNow);
  EXPECT_EQ(std::string(claims.status().message()),
            "access token: JWT: the header parameter \"typ\" is missing");
}

TEST(JwkTest, PublicJwkAndJwks) {
  const Ed25519KeyPair key = RfcKey();
  const std::string jwk = PublicKeyToJwk(key.public_key());
  EXPECT_EQ(jwk, R"({"kty":"OKP","crv":"Ed25519",)"
                 R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
                 R"("kid":"rfc8037","use":"sig","alg":"EdDSA"})");
  absl::StatusOr<Ed25519PublicKey> back = PublicKeyFromJwk(jwk);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == key.public_key());
  const Ed25519KeyPair other = Key("k2");
  EXPECT_EQ(JwksJson({key.public_key(), other.public_key()}),
            absl::StrCat(R"({"keys":[)", jwk, ",",
                         PublicKeyToJwk(other.public_key()), "]}"));
  EXPECT_EQ(JwksJson({}), R"({"keys":[]})");
}

TEST(JwkTest, RefusesBadKeys) {
  const struct {
    const char* jwk;
    const char* message;
  } cases[] = {
      {R"({"kty":"EC","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"})",
       "JWK: the JWK member \"kty\" is \"EC\", not \"OKP\""},
      {R"({"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"})",
       "JWK: the JWK member \"crv\" is \"X25519\", not \"Ed25519\""},
      {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
       "JWK: the JWK member \"kid\" is missing"},
      {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR","kid":"a"})",
       "JWK: the JWK member \"x\" is not 32 bytes in base64url without "
       "padding"},
      {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a","alg":"HS256"})",
       "JWK: the JWK member \"alg\" is \"HS256\", not \"EdDSA\""},
      {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a","kid":"b"})",
       "JWK: malformed: the JWK: line 1, column 90: key \"kid\" is given "
       "twice"},
      {kRfcPrivateJwk,
       "JWK: a public key must not have the private member \"d\""},
      // The identity point (small order).
      {R"({"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","kid":"a"})",
       "JWK: Ed25519 key: not a valid public key (small order or not on "
       "the curve)"},
  };
  for (const auto& c : cases) {
    const absl::StatusOr<Ed25519PublicKey> key = PublicKeyFromJwk(c.jwk);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(key.status().message()), c.message) << c.jwk;
  }
  // A private JWK whose x is not its d's public key.
  const absl::StatusOr<Ed25519KeyPair> mismatched =
      KeyPairFromPrivateJwk(absl::StrReplaceAll(
          kRfcPrivateJwk,
          {{"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            B64(absl::string_view(reinterpret_cast<const char*>(
                                      Key("z").public_key().bytes().data()),
                                  32))}}));
  EXPECT_EQ(mismatched.status().message(),
            "JWK: the member \"x\" is not the public key of \"d\"");
  EXPECT_FALSE(Ed25519KeyPair::Generate("").ok());
  EXPECT_FALSE(Ed25519KeyPair::Generate("a b").ok());
  EXPECT_FALSE(Ed25519KeyPair::Generate("a\"b").ok());
}

TEST(KeyFileTest, SaveAndLoad) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string path = dir + "/signing.jwk";
  const Ed25519KeyPair key = Key("2026-01");
  ASSERT_TRUE(SaveKeyPairFile(key, path).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(SaveKeyPairFile(key, path).code(),
            absl::StatusCode::kAlreadyExists);
  absl::StatusOr<Ed25519KeyPair> loaded = LoadKeyPairFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->public_key() == key.public_key());
  EXPECT_EQ(PrivateJwk(*loaded), PrivateJwk(key));
  EXPECT_EQ(LoadKeyPairFile(dir + "/missing").status().code(),
            absl::StatusCode::kNotFound);
  // The RFC's key, as a file would hold it.
  EXPECT_EQ(PrivateJwk(RfcKey()), absl::StrCat(kRfcPrivateJwk, "\n"));
}

TEST(JwtTest, SignsAndVerifies) {
  const JwtSigner signer = Signer(Key("k1"));
  const JwtVerifier verifier = Verifier(signer.PublicKeys());
  const JwtClaims claims = Claims();
  absl::StatusOr<std::string> token = signer.Sign(claims);
  ASSERT_TRUE(token.ok()) << token.status();
  const std::vector<std::string> parts = absl::StrSplit(*token, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string header;
  ASSERT_TRUE(Base64UrlDecode(parts[0], header));
  EXPECT_EQ(header, kHeader);
  std::string payload;
  ASSERT_TRUE(Base64UrlDecode(parts[1], payload));
  EXPECT_EQ(payload,
            R"({"iss":"https://auth.portcullis.example","sub":"user-7",)"
            R"("aud":"https://api.monite.example","exp":1700000300,)"
            R"("nbf":1700000000,"iat":1700000000,)"
            R"("jti":"4596d494-5f6c-4f87-aed5-db68240a58dd","client_id":"c-1",)"
            R"("scope":"payable:read receivable:write","entity_id":"e-1",)"
            R"("role_id":"r-\"admin\"\n"})");

  absl::StatusOr<JwtClaims> verified = verifier.Verify(*token, kNow);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(*verified == claims);

  // Optional claims left out stay out.
  JwtClaims minimal = Claims();
  minimal.scope.clear();
  minimal.entity_id.clear();
  minimal.role_id.clear();
  minimal.not_before = absl::InfinitePast();
  token = signer.Sign(minimal);
  ASSERT_TRUE(token.ok());
  verified = verifier.Verify(*token, kNow);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(*verified == minimal);
}

TEST(JwtTest, AcceptsWhatRfcsAllow) {
  const Ed25519KeyPair key = Key("k1");
  const JwtVerifier verifier = Verifier({key.public_key()});
  for (const std::string& token : {
           Forge(key,
                 R"({"alg":"EdDSA","typ":"application/at+jwt","kid":"k1"})",
                 Payload()),
           Forge(key, R"({"typ":"AT+JWT","kid":"k1","alg":"EdDSA"})",
                 Payload()),
           Forge(key, kHeader,
                 Payload(kIssuer, R"(["other","https://api.monite.example"])")),
           // Within the leeway on every side.
           Forge(key, kHeader,
                 Payload(kIssuer, R"("https://api.monite.example")",
                         "1699999941", "1700000060", R"(,"nbf":1700000060)")),
           // Unknown claims are ignored; escapes are decoded.
           Forge(key, kHeader,
                 Payload(kIssuer, R"("https:\/\/api.monite.example")",
                         "1700000300", "1700000000",
                         R"(,"x":{"y":[1,null,true]})")),
       }) {
    const absl::StatusOr<JwtClaims> claims = verifier.Verify(token, kNow);
    EXPECT_TRUE(claims.ok()) << claims.status();
  }
}

TEST(JwtTest, RefusesEachBrokenRuleWithItsOwnMessage) {
  const Ed25519KeyPair key = Key("k1");
  const Ed25519KeyPair other = Key("k1");  // same kid, different key
  const JwtVerifier verifier = Verifier({key.public_key()});
  const std::string good = Forge(key, kHeader, Payload());
  ASSERT_TRUE(verifier.Verify(good, kNow).ok());
  const std::vector<std::string> parts = absl::StrSplit(good, '.');

  // HS256 with the public key as the HMAC secret: the classic confusion.
  const std::string hs_input = absl::StrCat(
      B64(R"({"alg":"HS256","typ":"at+jwt","kid":"k1"})"), ".", B64(Payload()));
  std::array<uint8_t, crypto_auth_hmacsha256_BYTES> mac;
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.public_key().bytes().data(), 32);
  crypto_auth_hmacsha256_update(
      &state, reinterpret_cast<const uint8_t*>(hs_input.data()),
      hs_input.size());
  crypto_auth_hmacsha256_final(&state, mac.data());
  const std::string hs256 = absl::StrCat(
      hs_input, ".",
      B64(absl::string_view(reinterpret_cast<const char*>(mac.data()), 32)));

  // The signature in standard base64 ('+', '/'): pick one that has them.
  std::string standard_sig;
  std::string url_sig;
  for (int i = 0; standard_sig == url_sig; ++i) {
    const std::string token =
        Forge(key, kHeader,
              Payload(kIssuer, R"("https://api.monite.example")",
                      absl::StrCat(1700000300 + i)));
    const std::vector<std::string> p = absl::StrSplit(token, '.');
    url_sig = p[2];
    standard_sig = absl::StrReplaceAll(p[2], {{"-", "+"}, {"_", "/"}});
    if (standard_sig != url_sig) {
      standard_sig = absl::StrCat(p[0], ".", p[1], ".", standard_sig);
    }
  }
  // Nonzero unused bits: 86 characters carry 516 bits for 512.
  std::string loose_sig = parts[2];
  ASSERT_NE(std::string("AQgw").find(loose_sig.back()), std::string::npos);
  loose_sig.back() += 1;  // A→B, Q→R, g→h, w→x: one low bit set
  std::string flipped_sig = parts[2];
  flipped_sig[0] = flipped_sig[0] == 'A' ? 'B' : 'A';
  std::string tampered_payload;
  ASSERT_TRUE(Base64UrlDecode(parts[1], tampered_payload));
  tampered_payload =
      absl::StrReplaceAll(tampered_payload, {{"\"user-7\"", "\"admin\""}});

  const struct {
    const char* name;
    std::string token;
    std::string message;
  } cases[] = {
      {"empty", "", "malformed: empty"},
      {"two segments", absl::StrCat(parts[0], ".", parts[1]),
       "malformed: expected 3 segments separated by '.', got 2"},
      {"four segments", absl::StrCat(good, ".", parts[2]),
       "malformed: expected 3 segments separated by '.', got 4"},
      {"padding", absl::StrCat(parts[0], "=.", parts[1], ".", parts[2]),
       "malformed: segment 1 is not base64url without padding"},
      {"padding in payload",
       absl::StrCat(parts[0], ".", parts[1], "==.", parts[2]),
       "malformed: segment 2 is not base64url without padding"},
      {"standard base64", standard_sig,
       "malformed: segment 3 is not base64url without padding"},
      {"whitespace", absl::StrCat(good, "\n"),
       "malformed: segment 3 is not base64url without padding"},
      {"space inside", absl::StrCat(parts[0], ". ", parts[1], ".", parts[2]),
       "malformed: segment 2 is not base64url without padding"},
      {"non-canonical trailing bits",
       absl::StrCat(parts[0], ".", parts[1], ".", loose_sig),
       "malformed: segment 3 is not base64url without padding"},
      {"empty signature", absl::StrCat(parts[0], ".", parts[1], "."),
       "malformed: segment 3 is not base64url without padding"},
      {"short signature",
       absl::StrCat(parts[0], ".", parts[1], ".", parts[2].substr(0, 84)),
       "malformed: the signature is 63 bytes (Ed25519 signatures are 64)"},
      {"oversized", std::string(9000, 'a'),
       "too large (9000 bytes; the limit is 8192)"},
      {"header not JSON", Forge(key, "alg:EdDSA", Payload()),
       "malformed: the header: line 1, column 1: a string that is not in "
       "double quotes (RFC 8259)"},
      {"header an array", Forge(key, "[1]", Payload()),
       "malformed: the header is not a JSON object"},
      {"header with a trailing comma",
       Forge(key, R"({"alg":"EdDSA","typ":"at+jwt","kid":"k1",})", Payload()),
       "malformed: the header: line 1, column 41: a comma before } (RFC 8259 "
       "has none)"},
      {"header with a single-quoted string",
       Forge(key, R"({"alg":'EdDSA',"typ":"at+jwt","kid":"k1"})", Payload()),
       "malformed: the header: line 1, column 8: a string that is not in "
       "double quotes (RFC 8259)"},
      {"header not UTF-8",
       Forge(key, "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k\xff\"}",
             Payload()),
       "malformed: the header is not UTF-8"},
      {"duplicate alg",
       Forge(key, R"({"alg":"EdDSA","typ":"at+jwt","kid":"k1","alg":"none"})",
             Payload()),
       "malformed: the header: line 1, column 42: key \"alg\" is given twice"},
      {"duplicate alg, escaped",
       Forge(key,
             R"({"alg":"EdDSA","typ":"at+jwt","kid":"k1","\u0061lg":"none"})",
             Payload()),
       "malformed: the header: line 1, column 42: key \"\\u0061lg\" is given "
       "twice"},
      {"alg none",
       Forge(key, R"({"alg":"none","typ":"at+jwt","kid":"k1"})", Payload()),
       "alg \"none\" is not accepted (only EdDSA)"},
      {"alg HS256 keyed with the public key", hs256,
       "alg \"HS256\" is not accepted (only EdDSA)"},
      {"alg RS256",
       Forge(key, R"({"alg":"RS256","typ":"at+jwt","kid":"k1"})", Payload()),
       "alg \"RS256\" is not accepted (only EdDSA)"},
      {"alg Ed25519",
       Forge(key, R"({"alg":"eddsa","typ":"at+jwt","kid":"k1"})", Payload()),
       "alg \"eddsa\" is not accepted (only EdDSA)"},
      {"no alg", Forge(key, R"({"typ":"at+jwt","kid":"k1"})", Payload()),
       "the header parameter \"alg\" is missing"},
      {"alg not a string",
       Forge(key, R"({"alg":["EdDSA"],"typ":"at+jwt","kid":"k1"})", Payload()),
       "the header parameter \"alg\" is not a string"},
      {"typ JWT",
       Forge(key, R"({"alg":"EdDSA","typ":"JWT","kid":"k1"})", Payload()),
       "typ \"JWT\" is not accepted (only at+jwt, RFC 9068)"},
      {"crit",
       Forge(key,
             R"({"alg":"EdDSA","typ":"at+jwt","kid":"k1",)"
             R"("crit":["exp"],"exp":1})",
             Payload()),
       "the header parameter \"crit\" names extensions this verifier does not "
       "understand"},
      {"no kid", Forge(key, R"({"alg":"EdDSA","typ":"at+jwt"})", Payload()),
       "the header parameter \"kid\" is missing"},
      {"unknown kid",
       Forge(key, R"({"alg":"EdDSA","typ":"at+jwt","kid":"k9"})", Payload()),
       "unknown kid \"k9\""},
      {"tampered header",
       absl::StrCat(B64(R"({"alg":"EdDSA","typ":"at+jwt","kid":"k1" })"), ".",
                    parts[1], ".", parts[2]),
       "signature does not verify"},
      {"tampered payload",
       absl::StrCat(parts[0], ".", B64(tampered_payload), ".", parts[2]),
       "signature does not verify"},
      {"tampered signature",
       absl::StrCat(parts[0], ".", parts[1], ".", flipped_sig),
       "signature does not verify"},
      {"another key with the same kid", Forge(other, kHeader, Payload()),
       "signature does not verify"},
      {"payload not JSON", Forge(key, kHeader, "{\"iss\":"),
       "malformed: the payload: line 1, column 8: a value is missing"},
      {"duplicate sub",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")", "1700000300",
                     "1700000000", R"(,"sub":"admin")")),
       "malformed: the payload: line 1, column 156: key \"sub\" is given "
       "twice"},
      {"duplicate exp",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")", "1700000300",
                     "1700000000", R"(,"exp":9999999999)")),
       "malformed: the payload: line 1, column 156: key \"exp\" is given "
       "twice"},
      {"fractional exp",
       Forge(
           key, kHeader,
           Payload(kIssuer, R"("https://api.monite.example")", "1700000300.5")),
       "the claim \"exp\" is not a NumericDate (an integer number of seconds, "
       "0 to 2^53)"},
      {"exp a string",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")",
                     "\"1700000300\"")),
       "the claim \"exp\" is not a NumericDate (an integer number of seconds, "
       "0 to 2^53)"},
      {"exp past 2^53",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")",
                     "9007199254740994")),
       "the claim \"exp\" is not a NumericDate (an integer number of seconds, "
       "0 to 2^53)"},
      {"negative iat",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")", "1700000300",
                     "-1")),
       "the claim \"iat\" is not a NumericDate (an integer number of seconds, "
       "0 to 2^53)"},
      {"fractional nbf",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")", "1700000300",
                     "1700000000", R"(,"nbf":1e-3)")),
       "the claim \"nbf\" is not a NumericDate (an integer number of seconds, "
       "0 to 2^53)"},
      {"no exp",
       Forge(key, kHeader,
             R"({"iss":"https://auth.portcullis.example","sub":"u",)"
             R"("aud":"https://api.monite.example","iat":1700000000,)"
             R"("jti":"j","client_id":"c"})"),
       "the claim \"exp\" is missing"},
      {"no iat",
       Forge(key, kHeader,
             R"({"iss":"https://auth.portcullis.example","sub":"u",)"
             R"("aud":"https://api.monite.example","exp":1700000300,)"
             R"("jti":"j","client_id":"c"})"),
       "the claim \"iat\" is missing"},
      {"no iss",
       Forge(key, kHeader,
             R"({"sub":"u","aud":"https://api.monite.example",)"
             R"("exp":1700000300,"iat":1700000000,"jti":"j","client_id":"c"})"),
       "the claim \"iss\" is missing"},
      {"no sub",
       Forge(key, kHeader,
             R"({"iss":"https://auth.portcullis.example",)"
             R"("aud":"https://api.monite.example","exp":1700000300,)"
             R"("iat":1700000000,"jti":"j","client_id":"c"})"),
       "the claim \"sub\" is missing"},
      {"no aud",
       Forge(key, kHeader,
             R"({"iss":"https://auth.portcullis.example","sub":"u",)"
             R"("exp":1700000300,"iat":1700000000,"jti":"j","client_id":"c"})"),
       "the claim \"aud\" is missing"},
      {"no jti",
       Forge(key, kHeader,
             R"({"iss":"https://auth.portcullis.example","sub":"u",)"
             R"("aud":"https://api.monite.example","exp":1700000300,)"
             R"("iat":1700000000,"client_id":"c"})"),
       "the claim \"jti\" is missing"},
      {"no client_id",
       Forge(key, kHeader,
             R"({"iss":"https://auth.portcullis.example","sub":"u",)"
             R"("aud":"https://api.monite.example","exp":1700000300,)"
             R"("iat":1700000000,"jti":"j"})"),
       "the claim \"client_id\" is missing"},
      {"empty sub",
       Forge(key, kHeader,
             R"({"iss":"https://auth.portcullis.example","sub":"",)"
             R"("aud":"https://api.monite.example","exp":1700000300,)"
             R"("iat":1700000000,"jti":"j","client_id":"c"})"),
       "the claim \"sub\" is empty"},
      {"sub a number",
       Forge(key, kHeader,
             R"({"iss":"https://auth.portcullis.example","sub":7,)"
             R"("aud":"https://api.monite.example","exp":1700000300,)"
             R"("iat":1700000000,"jti":"j","client_id":"c"})"),
       "the claim \"sub\" is not a string"},
      {"scope an array",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")", "1700000300",
                     "1700000000", R"(,"scope":["a"])")),
       "the claim \"scope\" is not a string"},
      {"aud an empty array", Forge(key, kHeader, Payload(kIssuer, "[]")),
       "the claim \"aud\" is not a string or a non-empty array of strings"},
      {"aud with a number",
       Forge(key, kHeader,
             Payload(kIssuer, R"(["https://api.monite.example",1])")),
       "the claim \"aud\" is not a string or a non-empty array of strings"},
      {"wrong issuer", Forge(key, kHeader, Payload("https://evil.example")),
       "wrong issuer \"https://evil.example\" (expected "
       "\"https://auth.portcullis.example\")"},
      {"wrong audience",
       Forge(key, kHeader,
             Payload(kIssuer, R"(["https://api.monta.example"])")),
       "wrong audience (expected \"https://api.monite.example\")"},
      {"expired",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")", "1699999940",
                     "1699999000")),
       "expired at 2023-11-14T22:12:20Z"},
      {"not yet valid",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")", "1700000900",
                     "1700000000", R"(,"nbf":1700000061)")),
       "not valid before 2023-11-14T22:14:21Z"},
      {"issued in the future",
       Forge(key, kHeader,
             Payload(kIssuer, R"("https://api.monite.example")", "1700000900",
                     "1700000061", "")),
       "issued in the future (iat 2023-11-14T22:14:21Z)"},
  };
  for (const auto& c : cases) {
    const absl::StatusOr<JwtClaims> claims = verifier.Verify(c.token, kNow);
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated)
        << c.name;
    EXPECT_EQ(std::string(claims.status().message()),
              absl::StrCat("access token: JWT: ", c.message))
        << c.name;
  }
}

TEST(JwtTest, RotatesKeys) {
  Ed25519KeyPair old_key = Key("2026-01");
  const Ed25519PublicKey old_public = old_key.public_key();
  const JwtSigner old_signer = Signer(std::move(old_key));
  const absl::StatusOr<std::string> old_token = old_signer.Sign(Claims());
  ASSERT_TRUE(old_token.ok());

  // The new key signs; the old one is still published and trusted.
  const JwtSigner signer = Signer(Key("2026-02"), {old_public});
  EXPECT_EQ(signer.active_kid(), "2026-02");
  ASSERT_EQ(signer.PublicKeys().size(), 2u);
  const absl::StatusOr<std::string> new_token = signer.Sign(Claims());
  ASSERT_TRUE(new_token.ok());
  const JwtVerifier during = Verifier(signer.PublicKeys());
  EXPECT_TRUE(during.Verify(*old_token, kNow).ok());
  EXPECT_TRUE(during.Verify(*new_token, kNow).ok());

  // Once the old key is dropped, its tokens are refused.
  const JwtVerifier after = Verifier({signer.PublicKeys()[0]});
  EXPECT_TRUE(after.Verify(*new_token, kNow).ok());
  EXPECT_EQ(after.Verify(*old_token, kNow).status().message(),
            "access token: JWT: unknown kid \"2026-01\"");

  EXPECT_FALSE(JwtSigner::Create(Key("a"), {Key("a").public_key()}).ok());
}

TEST(JwtTest, SignRefusesBadClaims) {
  const JwtSigner signer = Signer(Key("k1"));
  JwtClaims claims = Claims();
  claims.client_id.clear();
  EXPECT_EQ(signer.Sign(claims).status().message(),
            "JWT: the claim \"client_id\" is empty");
  claims = Claims();
  claims.subject = "\xff";
  EXPECT_EQ(signer.Sign(claims).status().code(),
            absl::StatusCode::kInvalidArgument);
  claims = Claims();
  claims.expires_at = claims.issued_at;
  EXPECT_EQ(signer.Sign(claims).status().message(),
            "JWT: exp is not after iat");
  claims = Claims();
  claims.issued_at = absl::FromUnixSeconds(-1);
  EXPECT_EQ(signer.Sign(claims).status().code(),
            absl::StatusCode::kInvalidArgument);
  claims = Claims();
  claims.subject = "caf\xc3\xa9";  // valid UTF-8 round-trips
  const absl::StatusOr<std::string> token = signer.Sign(claims);
  ASSERT_TRUE(token.ok());
  const absl::StatusOr<JwtClaims> back =
      Verifier(signer.PublicKeys()).Verify(*token, kNow);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->subject, claims.subject);
}

TEST(JwtVerifierTest, CreateRefusesBadOptions) {
  const Ed25519KeyPair key = Key("k1");
  JwtVerifierOptions options;
  options.issuer = kIssuer;
  options.audience = kAudience;
  EXPECT_FALSE(JwtVerifier::Create(options).ok());  // no keys
  options.keys = {key.public_key(), key.public_key()};
  EXPECT_FALSE(JwtVerifier::Create(options).ok());  // one kid twice
  options.keys = {key.public_key()};
  EXPECT_TRUE(JwtVerifier::Create(options).ok());
  options.leeway = absl::Hours(2);
  EXPECT_FALSE(JwtVerifier::Create(options).ok());
  options.leeway = absl::ZeroDuration();
  options.audience.clear();
  EXPECT_FALSE(JwtVerifier::Create(options).ok());
}

}  // namespace
}  // namespace portcullis::auth
