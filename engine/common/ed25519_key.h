// Ed25519 keys (RFC 8032, through libsodium) with key ids: what Portcullis
// signs with. JWT access tokens (engine/auth/jwt.h, which also reads and
// writes key files as JWKs) and compiled bundles (engine/snapshot/bundle.h,
// so that services hold only public keys, which cannot forge) share them. A
// key id lets a verifier know several keys at once, to rotate.
//
// Thread-safety: both classes are immutable once built; any number of
// threads may use one concurrently.
#ifndef PORTCULLIS_ENGINE_COMMON_ED25519_KEY_H_
#define PORTCULLIS_ENGINE_COMMON_ED25519_KEY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace portcullis {

// The longest key id, in bytes.
inline constexpr size_t kMaxKeyIdBytes = 128;
inline constexpr size_t kEd25519SignatureBytes = 64;

// An Ed25519 public key with its key id (`kid`). A small copyable value.
class Ed25519PublicKey {
 public:
  static constexpr size_t kSize = 32;

  // `kid`: 1 to 128 printable ASCII characters (0x21-0x7e) other than `"` and
  // `\`. `bytes`: 32 bytes encoding a valid point of the prime-order subgroup
  // (crypto_core_ed25519_is_valid_point), which rules out the small-order
  // keys that would let one signature verify for many messages.
  // InvalidArgument otherwise.
  static absl::StatusOr<Ed25519PublicKey> FromBytes(
      absl::string_view kid, absl::Span<const uint8_t> bytes);

  const std::string& kid() const { return kid_; }
  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }

  // True when `signature` is this key's Ed25519 signature of `message`
  // (crypto_sign_verify_detached: strict, no malleable signatures).
  bool Verify(absl::string_view message,
              absl::Span<const uint8_t> signature) const;

  friend bool operator==(const Ed25519PublicKey& a, const Ed25519PublicKey& b) {
    return a.kid_ == b.kid_ && a.bytes_ == b.bytes_;
  }

 private:
  Ed25519PublicKey() = default;

  std::string kid_;
  std::array<uint8_t, kSize> bytes_{};
};

// An Ed25519 signing key: the 32-byte secret seed, the key derived from it
// and its public key. Move-only; the secret bytes are wiped (sodium_memzero)
// when it is destroyed or moved from. Secret: never log it.
class Ed25519KeyPair {
 public:
  static constexpr size_t kSeedSize = 32;

  // A fresh key from libsodium's CSPRNG. InvalidArgument for a bad `kid`
  // (see Ed25519PublicKey::FromBytes).
  static absl::StatusOr<Ed25519KeyPair> Generate(absl::string_view kid);

  // The key of a 32-byte seed (RFC 8032's private key).
  static absl::StatusOr<Ed25519KeyPair> FromSeed(
      absl::string_view kid, absl::Span<const uint8_t> seed);

  const std::string& kid() const { return public_key_.kid(); }
  const Ed25519PublicKey& public_key() const { return public_key_; }

  // The Ed25519 signature of `message` (crypto_sign_detached). Deterministic.
  std::array<uint8_t, 64> Sign(absl::string_view message) const;

  // The 32-byte seed, for writing a key file (engine/auth/jwt.h's
  // PrivateJwk). Secret: wipe the copy (sodium_memzero) after use.
  std::array<uint8_t, kSeedSize> seed() const;

  Ed25519KeyPair(Ed25519KeyPair&& other) noexcept;
  Ed25519KeyPair& operator=(Ed25519KeyPair&& other) noexcept;
  Ed25519KeyPair(const Ed25519KeyPair&) = delete;
  Ed25519KeyPair& operator=(const Ed25519KeyPair&) = delete;
  ~Ed25519KeyPair();

 private:
  explicit Ed25519KeyPair(Ed25519PublicKey public_key)
      : public_key_(std::move(public_key)) {}

  Ed25519PublicKey public_key_;
  // libsodium's 64-byte secret key: the seed, then the public key.
  std::array<uint8_t, 64> secret_{};
};

// Base64url without padding (RFC 7515 §2), as in JWS. Exposed for tests.
std::string Base64UrlEncode(absl::string_view bytes);
// Strict: only [A-Za-z0-9_-], no padding, length mod 4 != 1, and the unused
// low bits of the last character zero (so every byte string has exactly one
// encoding). False otherwise (`out` is then unspecified).
bool Base64UrlDecode(absl::string_view text, std::string& out);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_COMMON_ED25519_KEY_H_
