// Ed25519 keys (libsodium) with key ids, for what Portcullis signs: compiled
// bundles (engine/snapshot/bundle.h), so that services hold only the public
// key and no verifier can forge. Key ids let a deployment rotate keys: a
// verifier knows several public keys by id and a signature names its key.
//
// Key files are one line of text, so they diff, copy and audit well:
//   portcullis-ed25519-secret-key <key id> <seed: 32 bytes, base64url>
//   portcullis-ed25519-public-key <key id> <public key: 32 bytes, base64url>
// base64url without padding (RFC 4648 §5). A key id is 1 to 16 characters of
// letters, digits, '.', '_' and '-'. `portcullis keygen` writes a pair.
#ifndef PORTCULLIS_ENGINE_COMMON_ED25519_KEY_H_
#define PORTCULLIS_ENGINE_COMMON_ED25519_KEY_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace portcullis {

inline constexpr size_t kMaxKeyIdBytes = 16;
inline constexpr size_t kEd25519SignatureBytes = 64;

// InvalidArgument unless `key_id` is 1 to kMaxKeyIdBytes characters of
// letters, digits, '.', '_' and '-'.
absl::Status CheckKeyId(absl::string_view key_id);

// A public key and its id. A plain value type.
struct Ed25519PublicKey {
  std::string key_id;
  std::array<uint8_t, 32> bytes{};

  // True when `signature` is this key's Ed25519 signature of `message`.
  bool Verify(absl::string_view message, absl::string_view signature) const;
  // The key file's line (with a trailing newline).
  std::string ToFile() const;
};

// A secret key and its id. Move-only; wipes its bytes when destroyed.
// Thread-safe to use from several threads (Sign does not modify it).
class Ed25519SecretKey {
 public:
  // A fresh key from libsodium's CSPRNG. InvalidArgument for a bad key id.
  static absl::StatusOr<Ed25519SecretKey> Generate(absl::string_view key_id);
  // From the 32-byte seed (RFC 8032's private key).
  static absl::StatusOr<Ed25519SecretKey> FromSeed(absl::string_view key_id,
                                                   absl::string_view seed);

  Ed25519SecretKey(Ed25519SecretKey&& other) noexcept;
  Ed25519SecretKey& operator=(Ed25519SecretKey&& other) noexcept;
  Ed25519SecretKey(const Ed25519SecretKey&) = delete;
  Ed25519SecretKey& operator=(const Ed25519SecretKey&) = delete;
  ~Ed25519SecretKey();

  const std::string& key_id() const { return key_id_; }
  Ed25519PublicKey PublicKey() const;
  // The 64-byte Ed25519 signature of `message`.
  std::string Sign(absl::string_view message) const;
  // The key file's line (with a trailing newline): a secret, write it 0600.
  std::string ToFile() const;

 private:
  Ed25519SecretKey() = default;

  std::string key_id_;
  std::array<uint8_t, 64> secret_{};  // libsodium's seed || public key
};

// Parse a key file's content (`path` names it in errors). InvalidArgument,
// naming the file and what is wrong (never the key's bytes): another kind of
// key, a bad key id, bytes that are not 32 in base64url without padding.
absl::StatusOr<Ed25519PublicKey> ParsePublicKeyFile(absl::string_view path,
                                                    absl::string_view content);
absl::StatusOr<Ed25519SecretKey> ParseSecretKeyFile(absl::string_view path,
                                                    absl::string_view content);

// Reads and parses a key file (at most 4 KiB).
absl::StatusOr<Ed25519PublicKey> ReadPublicKeyFile(const std::string& path);
absl::StatusOr<Ed25519SecretKey> ReadSecretKeyFile(const std::string& path);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_COMMON_ED25519_KEY_H_
