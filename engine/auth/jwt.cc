#include "engine/auth/jwt.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "engine/auth/crypto.h"
#include "engine/common/atomic_file.h"
#include "engine/common/json_string.h"
#include "engine/common/quote.h"
#include "engine/load/strict_json.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace portcullis::auth {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

static_assert(Ed25519PublicKey::kSize == crypto_sign_PUBLICKEYBYTES, "");
static_assert(Ed25519KeyPair::kSeedSize == crypto_sign_SEEDBYTES, "");
static_assert(crypto_sign_SECRETKEYBYTES == 64, "");
static_assert(crypto_sign_BYTES == 64, "");

constexpr char kAlg[] = "EdDSA";
// 2^53: the largest NumericDate accepted, where doubles stop being exact.
constexpr double kMaxNumericDate = 9007199254740992.0;
constexpr size_t kMaxKeyFileSize = 4096;
// JWT headers, claims and JWKs are flat objects; an audience array is the
// deepest thing in them.
constexpr int kMaxJsonDepth = 8;

absl::Status Refuse(absl::string_view reason) {
  return absl::UnauthenticatedError(
      absl::StrCat("access token: JWT: ", reason));
}

// A value from the input for a message: C-escaped and at most 64 bytes.
std::string Quote(absl::string_view value) {
  return internal::QuoteShortened(value, 64);
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// RFC 3629 UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
bool IsValidUtf8(absl::string_view s) {
  while (!s.empty()) {
    // Utf8SequenceLength judges multi-byte sequences only.
    const size_t length =
        static_cast<uint8_t>(s[0]) < 0x80 ? 1 : internal::Utf8SequenceLength(s);
    if (length == 0) return false;
    s.remove_prefix(length);
  }
  return true;
}

// Parses `json` as one JSON object, strictly: protobuf's JSON parser (into a
// Struct) for the syntax, then CheckStrictJson for what protobuf tolerates
// beyond RFC 8259 (duplicate keys above all: a second "alg" or "exp" must not
// be read differently by two readers). `what` names the document in errors.
absl::StatusOr<Struct> ParseObject(absl::string_view json,
                                   absl::string_view what) {
  // RFC 8259 §8.1: JSON text is UTF-8 (protobuf's parser lets other bytes
  // through in strings).
  if (!IsValidUtf8(json)) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed: the ", what, " is not UTF-8"));
  }
  // First, what protobuf tolerates beyond RFC 8259 (trailing commas, single
  // quotes, bare words, duplicate keys: an empty message type checks every
  // key against the others), and nesting, which no claim or JWK needs:
  // protobuf's parser then never sees a document it would read differently
  // or recurse deeply into.
  const absl::Status strict = internal::CheckStrictJson(
      json, *google::protobuf::Empty::descriptor(), kMaxJsonDepth);
  if (!strict.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed: the ", what, ": ", strict.message()));
  }
  Struct object;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &object);
  if (!parsed.ok()) {
    // Protobuf's own message quotes the input: it is not passed on.
    if (absl::StrContains(parsed.message().as_string(), "Repeated map key")) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed: the ", what, " has a duplicate key"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("malformed: the ", what, " is not a JSON object"));
  }
  if (json.front() != '{') {  // protobuf skips leading space
    return absl::InvalidArgumentError(
        absl::StrCat("malformed: the ", what, " is not a JSON object"));
  }
  return object;
}

const Value* Member(const Struct& object, const std::string& name) {
  const auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

// A string member: nullptr if absent, an error if not a string.
absl::StatusOr<const std::string*> StringMember(const Struct& object,
                                                const std::string& name,
                                                absl::string_view what) {
  const Value* value = Member(object, name);
  if (value == nullptr) return nullptr;
  if (value->kind_case() != Value::kStringValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " \"", name, "\" is not a string"));
  }
  return &value->string_value();
}

absl::StatusOr<std::string> RequiredString(const Struct& object,
                                           const std::string& name,
                                           absl::string_view what) {
  absl::StatusOr<const std::string*> value = StringMember(object, name, what);
  if (!value.ok()) return value.status();
  if (*value == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " \"", name, "\" is missing"));
  }
  return **value;
}

// A NumericDate claim: absent (nullopt as InfinitePast), or an integer from 0
// to 2^53.
absl::StatusOr<absl::Time> NumericDate(const Struct& claims,
                                       const std::string& name, bool required) {
  const Value* value = Member(claims, name);
  if (value == nullptr) {
    if (!required) return absl::InfinitePast();
    return absl::InvalidArgumentError(
        absl::StrCat("the claim \"", name, "\" is missing"));
  }
  const double number = value->number_value();
  if (value->kind_case() != Value::kNumberValue || !std::isfinite(number) ||
      number != std::floor(number) || number < 0 || number > kMaxNumericDate) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the claim \"", name,
        "\" is not a NumericDate (an integer number of seconds, 0 to 2^53)"));
  }
  return absl::FromUnixSeconds(static_cast<int64_t>(number));
}

// The whole seconds of a time Sign writes, or an error.
absl::StatusOr<int64_t> ToNumericDate(absl::Time t, absl::string_view name) {
  if (t < absl::UnixEpoch() ||
      t > absl::FromUnixSeconds(static_cast<int64_t>(kMaxNumericDate))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JWT: ", name, " is outside 1970-01-01 to 2^53 seconds after it"));
  }
  return absl::ToUnixSeconds(t);
}

void AppendStringClaim(absl::string_view name, absl::string_view value,
                       std::string& out) {
  absl::StrAppend(&out, ",\"", name, "\":");
  internal::AppendJsonString(value, out);
}

absl::Status CheckJwkMember(const Struct& jwk, const std::string& name,
                            absl::string_view expected, bool required) {
  absl::StatusOr<const std::string*> value =
      StringMember(jwk, name, "JWK member");
  if (!value.ok()) return value.status();
  if (*value == nullptr) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("the JWK member \"", name, "\" is missing"));
  }
  if (**value != expected) {
    return absl::InvalidArgumentError(absl::StrCat("the JWK member \"", name,
                                                   "\" is ", Quote(**value),
                                                   ", not \"", expected, "\""));
  }
  return absl::OkStatus();
}

// The checks and the key that a public and a private JWK share.
absl::StatusOr<Ed25519PublicKey> PublicPart(const Struct& jwk) {
  for (const auto& [name, expected, required] :
       {std::make_tuple("kty", "OKP", true),
        std::make_tuple("crv", "Ed25519", true),
        std::make_tuple("use", "sig", false),
        std::make_tuple("alg", kAlg, false)}) {
    const absl::Status status = CheckJwkMember(jwk, name, expected, required);
    if (!status.ok()) return status;
  }
  absl::StatusOr<std::string> kid = RequiredString(jwk, "kid", "JWK member");
  if (!kid.ok()) return kid.status();
  absl::StatusOr<std::string> x = RequiredString(jwk, "x", "JWK member");
  if (!x.ok()) return x.status();
  std::string bytes;
  if (!Base64UrlDecode(*x, bytes) || bytes.size() != Ed25519PublicKey::kSize) {
    return absl::InvalidArgumentError(
        "the JWK member \"x\" is not 32 bytes in base64url without padding");
  }
  return Ed25519PublicKey::FromBytes(
      *kid, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()),
                                bytes.size()));
}

absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

}  // namespace

bool operator==(const JwtClaims& a, const JwtClaims& b) {
  return a.issuer == b.issuer && a.subject == b.subject &&
         a.audience == b.audience && a.jwt_id == b.jwt_id &&
         a.client_id == b.client_id && a.scope == b.scope &&
         a.entity_id == b.entity_id && a.role_id == b.role_id &&
         a.issued_at == b.issued_at && a.not_before == b.not_before &&
         a.expires_at == b.expires_at;
}

// ---- Keys ----

absl::StatusOr<Ed25519KeyPair> KeyPairFromPrivateJwk(absl::string_view jwk) {
  absl::StatusOr<Struct> object = ParseObject(jwk, "JWK");
  if (!object.ok()) return Prefixed("JWK: ", object.status());
  absl::StatusOr<Ed25519PublicKey> public_key = PublicPart(*object);
  if (!public_key.ok()) return Prefixed("JWK: ", public_key.status());
  absl::StatusOr<std::string> d = RequiredString(*object, "d", "JWK member");
  if (!d.ok()) return Prefixed("JWK: ", d.status());
  std::string seed;
  const bool decoded = Base64UrlDecode(*d, seed);
  sodium_memzero(d->data(), d->size());
  // The parsed document holds the secret too.
  Value* d_value = &(*object->mutable_fields())["d"];
  sodium_memzero(d_value->mutable_string_value()->data(),
                 d_value->string_value().size());
  if (!decoded || seed.size() != Ed25519KeyPair::kSeedSize) {
    sodium_memzero(seed.data(), seed.size());
    return absl::InvalidArgumentError(
        "JWK: the member \"d\" is not 32 bytes in base64url without padding");
  }
  absl::StatusOr<Ed25519KeyPair> pair = Ed25519KeyPair::FromSeed(
      public_key->kid(),
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(seed.data()),
                          seed.size()));
  sodium_memzero(seed.data(), seed.size());
  if (!pair.ok()) return pair.status();
  if (!(pair->public_key() == *public_key)) {
    return absl::InvalidArgumentError(
        "JWK: the member \"x\" is not the public key of \"d\"");
  }
  return pair;
}

std::string PrivateJwk(const Ed25519KeyPair& key) {
  std::array<uint8_t, Ed25519KeyPair::kSeedSize> seed = key.seed();
  const std::string d = Base64UrlEncode(absl::string_view(
      reinterpret_cast<const char*>(seed.data()), seed.size()));
  sodium_memzero(seed.data(), seed.size());
  std::string out = absl::StrCat(
      "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"", d, "\",\"x\":\"",
      Base64UrlEncode(absl::string_view(
          reinterpret_cast<const char*>(key.public_key().bytes().data()),
          Ed25519PublicKey::kSize)),
      "\",\"kid\":");
  internal::AppendJsonString(key.kid(), out);
  out.append("}\n");
  sodium_memzero(const_cast<char*>(d.data()), d.size());
  return out;
}

absl::StatusOr<Ed25519KeyPair> LoadKeyPairFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  std::string text(kMaxKeyFileSize + 1, '\0');
  size_t size = 0;
  while (size < text.size()) {
    const ssize_t n = read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size += static_cast<size_t>(n);
  }
  close(fd);
  absl::StatusOr<Ed25519KeyPair> key =
      size > kMaxKeyFileSize
          ? absl::InvalidArgumentError("larger than 4 KiB; not a key file")
          : KeyPairFromPrivateJwk(absl::string_view(text.data(), size));
  sodium_memzero(text.data(), text.size());
  if (!key.ok()) return Prefixed(absl::StrCat(path, ": "), key.status());
  return key;
}

absl::Status SaveKeyPairFile(const Ed25519KeyPair& key,
                             const std::string& path) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
           S_IRUSR | S_IWUSR);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  std::string text = PrivateJwk(key);
  size_t written = 0;
  bool ok = fchmod(fd, S_IRUSR | S_IWUSR) == 0;
  while (ok && written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    written += static_cast<size_t>(n);
  }
  const int error = errno;
  sodium_memzero(text.data(), text.size());
  ok = ok && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok) {
    unlink(path.c_str());
    return absl::InternalError(
        absl::StrCat(path, ": writing the key failed: ", std::strerror(error)));
  }
  return absl::OkStatus();
}

std::string PublicKeyToJwk(const Ed25519PublicKey& key) {
  // The kid is printable ASCII without '"' or '\' (ValidKid): no escaping.
  return absl::StrCat(
      "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"",
      Base64UrlEncode(absl::string_view(
          reinterpret_cast<const char*>(key.bytes().data()), key.kSize)),
      "\",\"kid\":\"", key.kid(), "\",\"use\":\"sig\",\"alg\":\"EdDSA\"}");
}

absl::StatusOr<Ed25519PublicKey> PublicKeyFromJwk(absl::string_view jwk) {
  absl::StatusOr<Struct> object = ParseObject(jwk, "JWK");
  if (!object.ok()) return Prefixed("JWK: ", object.status());
  if (Member(*object, "d") != nullptr) {
    return absl::InvalidArgumentError(
        "JWK: a public key must not have the private member \"d\"");
  }
  absl::StatusOr<Ed25519PublicKey> key = PublicPart(*object);
  if (!key.ok()) return Prefixed("JWK: ", key.status());
  return key;
}

absl::StatusOr<Ed25519PublicKey> LoadPublicKeyFile(const std::string& path) {
  absl::StatusOr<std::string> text =
      internal::ReadFileUpTo(path, kMaxKeyFileSize);
  if (!text.ok()) return text.status();
  absl::StatusOr<Ed25519PublicKey> key = PublicKeyFromJwk(*text);
  if (!key.ok()) return Prefixed(absl::StrCat(path, ": "), key.status());
  return key;
}

std::string JwksJson(const std::vector<Ed25519PublicKey>& keys) {
  std::string out = "{\"keys\":[";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(PublicKeyToJwk(keys[i]));
  }
  out.append("]}");
  return out;
}

std::string JwkThumbprint(const Ed25519PublicKey& key) {
  // RFC 7638 §3.2: the required members in lexicographic order, no spaces.
  const std::string members = absl::StrCat(
      "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"",
      Base64UrlEncode(absl::string_view(
          reinterpret_cast<const char*>(key.bytes().data()), key.kSize)),
      "\"}");
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest;
  crypto_hash_sha256(digest.data(),
                     reinterpret_cast<const uint8_t*>(members.data()),
                     members.size());
  return Base64UrlEncode(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

// ---- Signer ----

absl::StatusOr<JwtSigner> JwtSigner::Create(
    Ed25519KeyPair active, std::vector<Ed25519PublicKey> other_keys) {
  for (size_t i = 0; i < other_keys.size(); ++i) {
    bool duplicate = other_keys[i].kid() == active.kid();
    for (size_t j = 0; j < i; ++j) {
      duplicate |= other_keys[j].kid() == other_keys[i].kid();
    }
    if (duplicate) {
      return absl::InvalidArgumentError(absl::StrCat(
          "JWT signer: two keys have the kid ", Quote(other_keys[i].kid())));
    }
  }
  return JwtSigner(std::move(active), std::move(other_keys));
}

absl::StatusOr<std::string> JwtSigner::Sign(const JwtClaims& claims) const {
  for (const auto& [name, value] :
       {std::make_pair("iss", &claims.issuer),
        std::make_pair("sub", &claims.subject),
        std::make_pair("aud", &claims.audience),
        std::make_pair("jti", &claims.jwt_id),
        std::make_pair("client_id", &claims.client_id)}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWT: the claim \"", name, "\" is empty"));
    }
  }
  for (const std::string* value :
       {&claims.issuer, &claims.subject, &claims.audience, &claims.jwt_id,
        &claims.client_id, &claims.scope, &claims.entity_id, &claims.role_id}) {
    if (!IsValidUtf8(*value)) {
      return absl::InvalidArgumentError(
          "JWT: a claim is not valid UTF-8 (it would not read back as "
          "written)");
    }
  }
  absl::StatusOr<int64_t> iat = ToNumericDate(claims.issued_at, "iat");
  if (!iat.ok()) return iat.status();
  absl::StatusOr<int64_t> exp = ToNumericDate(claims.expires_at, "exp");
  if (!exp.ok()) return exp.status();
  if (*exp <= *iat) {
    return absl::InvalidArgumentError("JWT: exp is not after iat");
  }
  const bool has_nbf = claims.not_before != absl::InfinitePast();
  int64_t nbf = 0;
  if (has_nbf) {
    absl::StatusOr<int64_t> value = ToNumericDate(claims.not_before, "nbf");
    if (!value.ok()) return value.status();
    nbf = *value;
  }

  std::string payload = "{\"iss\":";
  internal::AppendJsonString(claims.issuer, payload);
  AppendStringClaim("sub", claims.subject, payload);
  AppendStringClaim("aud", claims.audience, payload);
  absl::StrAppend(&payload, ",\"exp\":", *exp);
  if (has_nbf) absl::StrAppend(&payload, ",\"nbf\":", nbf);
  absl::StrAppend(&payload, ",\"iat\":", *iat);
  AppendStringClaim("jti", claims.jwt_id, payload);
  AppendStringClaim("client_id", claims.client_id, payload);
  if (!claims.scope.empty()) AppendStringClaim("scope", claims.scope, payload);
  if (!claims.entity_id.empty()) {
    AppendStringClaim("entity_id", claims.entity_id, payload);
  }
  if (!claims.role_id.empty()) {
    AppendStringClaim("role_id", claims.role_id, payload);
  }
  payload.push_back('}');

  // The kid is printable ASCII without '"' or '\' (ValidKid): no escaping.
  std::string token = absl::StrCat(
      Base64UrlEncode(absl::StrCat("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\","
                                   "\"kid\":\"",
                                   active_.kid(), "\"}")),
      ".", Base64UrlEncode(payload));
  const std::array<uint8_t, 64> signature = active_.Sign(token);
  absl::StrAppend(
      &token, ".",
      Base64UrlEncode(absl::string_view(
          reinterpret_cast<const char*>(signature.data()), signature.size())));
  return token;
}

std::vector<Ed25519PublicKey> JwtSigner::PublicKeys() const {
  std::vector<Ed25519PublicKey> keys = {active_.public_key()};
  keys.insert(keys.end(), other_keys_.begin(), other_keys_.end());
  return keys;
}

// ---- Verifier ----

JwtVerifier::JwtVerifier(JwtVerifierOptions options)
    : options_(std::move(options)) {
  for (const Ed25519PublicKey& key : options_.keys) {
    keys_.emplace(key.kid(), key.bytes());
  }
}

absl::StatusOr<JwtVerifier> JwtVerifier::Create(JwtVerifierOptions options) {
  if (options.issuer.empty() || options.audience.empty()) {
    return absl::InvalidArgumentError(
        "JWT verifier: the issuer and the audience must not be empty");
  }
  if (options.keys.empty()) {
    return absl::InvalidArgumentError("JWT verifier: no keys");
  }
  if (options.leeway < absl::ZeroDuration() ||
      options.leeway > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        "JWT verifier: the leeway must be 0 to 1 hour");
  }
  if (options.max_token_size < 256) {
    return absl::InvalidArgumentError(
        "JWT verifier: the size limit must be at least 256 bytes");
  }
  for (size_t i = 0; i < options.keys.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (options.keys[j].kid() == options.keys[i].kid()) {
        return absl::InvalidArgumentError(
            absl::StrCat("JWT verifier: two keys have the kid ",
                         Quote(options.keys[i].kid())));
      }
    }
  }
  if (!InitializeCrypto().ok()) {
    return absl::InternalError("JWT verifier: libsodium failed to initialize");
  }
  return JwtVerifier(std::move(options));
}

absl::StatusOr<JwtClaims> JwtVerifier::Verify(absl::string_view token,
                                              absl::Time now) const {
  // 1. Shape.
  if (token.size() > options_.max_token_size) {
    return Refuse(absl::StrCat("too large (", token.size(),
                               " bytes; the limit is ", options_.max_token_size,
                               ")"));
  }
  if (token.empty()) return Refuse("malformed: empty");
  const std::vector<absl::string_view> segments = absl::StrSplit(token, '.');
  if (segments.size() != 3) {
    return Refuse(
        absl::StrCat("malformed: expected 3 segments separated by '.', got ",
                     segments.size()));
  }
  std::string decoded[3];
  for (int i = 0; i < 3; ++i) {
    if (segments[i].empty() || !Base64UrlDecode(segments[i], decoded[i])) {
      return Refuse(absl::StrCat("malformed: segment ", i + 1,
                                 " is not base64url without padding"));
    }
  }

  // 2. Header.
  absl::StatusOr<Struct> header = ParseObject(decoded[0], "header");
  if (!header.ok()) return Refuse(header.status().message());
  absl::StatusOr<std::string> alg =
      RequiredString(*header, "alg", "header parameter");
  if (!alg.ok()) return Refuse(alg.status().message());
  if (*alg != kAlg) {
    return Refuse(
        absl::StrCat("alg ", Quote(*alg), " is not accepted (only EdDSA)"));
  }
  absl::StatusOr<std::string> typ =
      RequiredString(*header, "typ", "header parameter");
  if (!typ.ok()) return Refuse(typ.status().message());
  if (!absl::EqualsIgnoreCase(*typ, "at+jwt") &&
      !absl::EqualsIgnoreCase(*typ, "application/at+jwt")) {
    return Refuse(absl::StrCat("typ ", Quote(*typ),
                               " is not accepted (only at+jwt, RFC 9068)"));
  }
  if (Member(*header, "crit") != nullptr) {
    return Refuse(
        "the header parameter \"crit\" names extensions this verifier does "
        "not understand");
  }
  absl::StatusOr<std::string> kid =
      RequiredString(*header, "kid", "header parameter");
  if (!kid.ok()) return Refuse(kid.status().message());
  const auto key = keys_.find(*kid);
  if (key == keys_.end()) {
    return Refuse(absl::StrCat("unknown kid ", Quote(*kid)));
  }

  // 3. Signature, over the segments as sent.
  if (decoded[2].size() != crypto_sign_BYTES) {
    return Refuse(absl::StrCat("malformed: the signature is ",
                               decoded[2].size(),
                               " bytes (Ed25519 signatures are 64)"));
  }
  const absl::string_view signing_input =
      token.substr(0, segments[0].size() + 1 + segments[1].size());
  if (crypto_sign_verify_detached(
          reinterpret_cast<const uint8_t*>(decoded[2].data()),
          reinterpret_cast<const uint8_t*>(signing_input.data()),
          signing_input.size(), key->second.data()) != 0) {
    return Refuse("signature does not verify");
  }

  // 4. Claims and their types.
  absl::StatusOr<Struct> payload = ParseObject(decoded[1], "payload");
  if (!payload.ok()) return Refuse(payload.status().message());
  JwtClaims claims;
  for (const auto& [name, field] :
       {std::make_pair("iss", &claims.issuer),
        std::make_pair("sub", &claims.subject),
        std::make_pair("jti", &claims.jwt_id),
        std::make_pair("client_id", &claims.client_id)}) {
    absl::StatusOr<std::string> value = RequiredString(*payload, name, "claim");
    if (!value.ok()) return Refuse(value.status().message());
    if (value->empty()) {
      return Refuse(absl::StrCat("the claim \"", name, "\" is empty"));
    }
    *field = *std::move(value);
  }
  for (const auto& [name, field] :
       {std::make_pair("scope", &claims.scope),
        std::make_pair("entity_id", &claims.entity_id),
        std::make_pair("role_id", &claims.role_id)}) {
    absl::StatusOr<const std::string*> value =
        StringMember(*payload, name, "claim");
    if (!value.ok()) return Refuse(value.status().message());
    if (*value != nullptr) *field = **value;
  }
  const Value* aud = Member(*payload, "aud");
  if (aud == nullptr) return Refuse("the claim \"aud\" is missing");
  std::vector<absl::string_view> audiences;
  if (aud->kind_case() == Value::kStringValue) {
    audiences.push_back(aud->string_value());
  } else if (aud->kind_case() == Value::kListValue &&
             aud->list_value().values_size() > 0) {
    for (const Value& element : aud->list_value().values()) {
      if (element.kind_case() != Value::kStringValue) {
        audiences.clear();
        break;
      }
      audiences.push_back(element.string_value());
    }
  }
  if (audiences.empty()) {
    return Refuse(
        "the claim \"aud\" is not a string or a non-empty array of strings");
  }
  absl::StatusOr<absl::Time> exp = NumericDate(*payload, "exp", true);
  if (!exp.ok()) return Refuse(exp.status().message());
  absl::StatusOr<absl::Time> iat = NumericDate(*payload, "iat", true);
  if (!iat.ok()) return Refuse(iat.status().message());
  absl::StatusOr<absl::Time> nbf = NumericDate(*payload, "nbf", false);
  if (!nbf.ok()) return Refuse(nbf.status().message());

  // 5. Issuer and audience.
  if (claims.issuer != options_.issuer) {
    return Refuse(absl::StrCat("wrong issuer ", Quote(claims.issuer),
                               " (expected ", Quote(options_.issuer), ")"));
  }
  bool audience_matches = false;
  for (const absl::string_view audience : audiences) {
    audience_matches |= audience == options_.audience;
  }
  if (!audience_matches) {
    return Refuse(absl::StrCat("wrong audience (expected ",
                               Quote(options_.audience), ")"));
  }

  // 6. Time.
  if (now >= *exp + options_.leeway) {
    return Refuse(absl::StrCat("expired at ", FormatUtc(*exp)));
  }
  if (now < *nbf - options_.leeway) {
    return Refuse(absl::StrCat("not valid before ", FormatUtc(*nbf)));
  }
  if (*iat > now + options_.leeway) {
    return Refuse(
        absl::StrCat("issued in the future (iat ", FormatUtc(*iat), ")"));
  }
  claims.audience = options_.audience;
  claims.expires_at = *exp;
  claims.issued_at = *iat;
  claims.not_before = *nbf;
  return claims;
}

}  // namespace portcullis::auth
