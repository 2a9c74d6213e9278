#include "engine/common/ed25519_key.h"

#include <sodium.h>

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace portcullis {
namespace {

static_assert(Ed25519PublicKey::kSize == crypto_sign_PUBLICKEYBYTES, "");
static_assert(Ed25519KeyPair::kSeedSize == crypto_sign_SEEDBYTES, "");
static_assert(crypto_sign_SECRETKEYBYTES == 64, "");
static_assert(crypto_sign_BYTES == kEd25519SignatureBytes, "");

bool InitializeSodium() {
  // Idempotent and thread-safe; picks the fastest implementations.
  static const bool ok = sodium_init() >= 0;
  return ok;
}

bool ValidKid(absl::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKeyIdBytes) return false;
  for (const char c : kid) {
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

int DecodeChar(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

std::string Base64UrlEncode(absl::string_view bytes) {
  return absl::WebSafeBase64Escape(bytes);  // no padding
}

bool Base64UrlDecode(absl::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1) return false;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const int v = DecodeChar(c);
    if (v < 0) return false;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  // The bits left over (2 or 4) must be zero: one encoding per byte string.
  return (buffer & ((1u << bits) - 1)) == 0;
}

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromBytes(
    absl::string_view kid, absl::Span<const uint8_t> bytes) {
  if (!ValidKid(kid)) {
    return absl::InvalidArgumentError(
        "Ed25519 key: a kid is 1 to 128 printable ASCII characters other than "
        "'\"' "
        "and '\\'");
  }
  if (bytes.size() != kSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Ed25519 key: a public key is 32 bytes, not ", bytes.size()));
  }
  if (!InitializeSodium() ||
      crypto_core_ed25519_is_valid_point(bytes.data()) != 1) {
    return absl::InvalidArgumentError(
        "Ed25519 key: not a valid public key (small order or not on the "
        "curve)");
  }
  Ed25519PublicKey key;
  key.kid_ = std::string(kid);
  std::memcpy(key.bytes_.data(), bytes.data(), kSize);
  return key;
}

absl::StatusOr<Ed25519KeyPair> Ed25519KeyPair::Generate(absl::string_view kid) {
  std::array<uint8_t, kSeedSize> seed;
  if (!InitializeSodium()) {
    return absl::InternalError("libsodium failed to initialize");
  }
  randombytes_buf(seed.data(), seed.size());
  absl::StatusOr<Ed25519KeyPair> key = FromSeed(kid, seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

absl::StatusOr<Ed25519KeyPair> Ed25519KeyPair::FromSeed(
    absl::string_view kid, absl::Span<const uint8_t> seed) {
  if (seed.size() != kSeedSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 key: the seed is 32 bytes, not ", seed.size()));
  }
  if (!InitializeSodium()) {
    return absl::InternalError("libsodium failed to initialize");
  }
  std::array<uint8_t, 32> public_bytes;
  std::array<uint8_t, 64> secret;
  crypto_sign_seed_keypair(public_bytes.data(), secret.data(), seed.data());
  absl::StatusOr<Ed25519PublicKey> public_key =
      Ed25519PublicKey::FromBytes(kid, public_bytes);
  if (!public_key.ok()) {
    sodium_memzero(secret.data(), secret.size());
    return public_key.status();
  }
  Ed25519KeyPair pair(*std::move(public_key));
  pair.secret_ = secret;
  sodium_memzero(secret.data(), secret.size());
  return pair;
}

bool Ed25519PublicKey::Verify(absl::string_view message,
                              absl::Span<const uint8_t> signature) const {
  return InitializeSodium() && signature.size() == kEd25519SignatureBytes &&
         crypto_sign_verify_detached(
             signature.data(),
             reinterpret_cast<const unsigned char*>(message.data()),
             message.size(), bytes_.data()) == 0;
}

std::array<uint8_t, 64> Ed25519KeyPair::Sign(absl::string_view message) const {
  std::array<uint8_t, 64> signature;
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const uint8_t*>(message.data()),
                       message.size(), secret_.data());
  return signature;
}

Ed25519KeyPair::Ed25519KeyPair(Ed25519KeyPair&& other) noexcept
    : public_key_(other.public_key_), secret_(other.secret_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

Ed25519KeyPair& Ed25519KeyPair::operator=(Ed25519KeyPair&& other) noexcept {
  if (this != &other) {
    public_key_ = other.public_key_;
    secret_ = other.secret_;
    sodium_memzero(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

Ed25519KeyPair::~Ed25519KeyPair() {
  sodium_memzero(secret_.data(), secret_.size());
}

std::array<uint8_t, Ed25519KeyPair::kSeedSize> Ed25519KeyPair::seed() const {
  std::array<uint8_t, kSeedSize> seed;
  crypto_sign_ed25519_sk_to_seed(seed.data(), secret_.data());
  return seed;
}

}  // namespace portcullis
