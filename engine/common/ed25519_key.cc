#include "engine/common/ed25519_key.h"

#include <sodium.h>

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/common/atomic_file.h"
#include "engine/common/quote.h"
#include "engine/common/status_macros.h"

namespace portcullis {
namespace {

constexpr absl::string_view kSecretKind = "portcullis-ed25519-secret-key";
constexpr absl::string_view kPublicKind = "portcullis-ed25519-public-key";
constexpr size_t kMaxKeyFileBytes = 4096;

void InitSodium() {
  static const int initialized = sodium_init();
  (void)initialized;
}

std::string Base64Url(const uint8_t* bytes, size_t size) {
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes), size));
}

// 32 bytes from base64url without padding, canonical only: the text must be
// what encoding the bytes gives back.
bool DecodeKeyBytes(absl::string_view text, std::array<uint8_t, 32>& out) {
  std::string bytes;
  if (text.size() != 43 || !absl::WebSafeBase64Unescape(text, &bytes) ||
      bytes.size() != out.size() ||
      Base64Url(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) !=
          text) {
    return false;
  }
  std::copy(bytes.begin(), bytes.end(), out.begin());
  sodium_memzero(bytes.data(), bytes.size());
  return true;
}

// The key id and bytes of a key file of `kind`.
absl::Status ParseKeyLine(absl::string_view path, absl::string_view content,
                          absl::string_view kind, std::string& key_id,
                          std::array<uint8_t, 32>& bytes) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
  };
  absl::ConsumeSuffix(&content, "\n");
  const std::vector<absl::string_view> fields = absl::StrSplit(content, ' ');
  if (fields.size() != 3 || content.find('\n') != absl::string_view::npos) {
    return error(absl::StrCat("expected one line \"", kind,
                              " <key id> <32 bytes in base64url>\""));
  }
  if (fields[0] != kind) {
    const bool other = fields[0] == kSecretKind || fields[0] == kPublicKind;
    return error(
        other ? absl::StrCat("is a ", fields[0], " file, not a ", kind, " file")
              : absl::StrCat("expected a ", kind, " file"));
  }
  const absl::Status id = CheckKeyId(fields[1]);
  if (!id.ok()) return error(id.message());
  if (!DecodeKeyBytes(fields[2], bytes)) {
    return error("the key is not 32 bytes in base64url without padding");
  }
  key_id = std::string(fields[1]);
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckKeyId(absl::string_view key_id) {
  if (key_id.empty() || key_id.size() > kMaxKeyIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("key id ", internal::Quote(key_id), " must be 1 to ",
                     kMaxKeyIdBytes, " characters"));
  }
  for (char c : key_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("key id ", internal::Quote(key_id),
                       " may hold only letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

bool Ed25519PublicKey::Verify(absl::string_view message,
                              absl::string_view signature) const {
  InitSodium();
  return signature.size() == kEd25519SignatureBytes &&
         crypto_sign_verify_detached(
             reinterpret_cast<const unsigned char*>(signature.data()),
             reinterpret_cast<const unsigned char*>(message.data()),
             message.size(), bytes.data()) == 0;
}

std::string Ed25519PublicKey::ToFile() const {
  return absl::StrCat(kPublicKind, " ", key_id, " ",
                      Base64Url(bytes.data(), bytes.size()), "\n");
}

absl::StatusOr<Ed25519SecretKey> Ed25519SecretKey::Generate(
    absl::string_view key_id) {
  PORTCULLIS_RETURN_IF_ERROR(CheckKeyId(key_id));
  InitSodium();
  std::array<uint8_t, 32> seed;
  randombytes_buf(seed.data(), seed.size());
  absl::StatusOr<Ed25519SecretKey> key = FromSeed(
      key_id,
      absl::string_view(reinterpret_cast<const char*>(seed.data()), 32));
  sodium_memzero(seed.data(), seed.size());
  return key;
}

absl::StatusOr<Ed25519SecretKey> Ed25519SecretKey::FromSeed(
    absl::string_view key_id, absl::string_view seed) {
  PORTCULLIS_RETURN_IF_ERROR(CheckKeyId(key_id));
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 seed is ", crypto_sign_SEEDBYTES,
                     " bytes, not ", seed.size()));
  }
  InitSodium();
  Ed25519SecretKey key;
  key.key_id_ = std::string(key_id);
  std::array<uint8_t, 32> public_key;
  crypto_sign_seed_keypair(public_key.data(), key.secret_.data(),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  return key;
}

Ed25519SecretKey::Ed25519SecretKey(Ed25519SecretKey&& other) noexcept
    : key_id_(std::move(other.key_id_)), secret_(other.secret_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

Ed25519SecretKey& Ed25519SecretKey::operator=(
    Ed25519SecretKey&& other) noexcept {
  if (this != &other) {
    key_id_ = std::move(other.key_id_);
    secret_ = other.secret_;
    sodium_memzero(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

Ed25519SecretKey::~Ed25519SecretKey() {
  sodium_memzero(secret_.data(), secret_.size());
}

Ed25519PublicKey Ed25519SecretKey::PublicKey() const {
  Ed25519PublicKey key;
  key.key_id = key_id_;
  crypto_sign_ed25519_sk_to_pk(key.bytes.data(), secret_.data());
  return key;
}

std::string Ed25519SecretKey::Sign(absl::string_view message) const {
  std::string signature(kEd25519SignatureBytes, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()),
                       nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), secret_.data());
  return signature;
}

std::string Ed25519SecretKey::ToFile() const {
  std::array<uint8_t, 32> seed;
  crypto_sign_ed25519_sk_to_seed(seed.data(), secret_.data());
  std::string line = absl::StrCat(kSecretKind, " ", key_id_, " ",
                                  Base64Url(seed.data(), seed.size()), "\n");
  sodium_memzero(seed.data(), seed.size());
  return line;
}

absl::StatusOr<Ed25519PublicKey> ParsePublicKeyFile(absl::string_view path,
                                                    absl::string_view content) {
  Ed25519PublicKey key;
  PORTCULLIS_RETURN_IF_ERROR(
      ParseKeyLine(path, content, kPublicKind, key.key_id, key.bytes));
  return key;
}

absl::StatusOr<Ed25519SecretKey> ParseSecretKeyFile(absl::string_view path,
                                                    absl::string_view content) {
  std::string key_id;
  std::array<uint8_t, 32> seed;
  PORTCULLIS_RETURN_IF_ERROR(
      ParseKeyLine(path, content, kSecretKind, key_id, seed));
  absl::StatusOr<Ed25519SecretKey> key = Ed25519SecretKey::FromSeed(
      key_id, absl::string_view(reinterpret_cast<const char*>(seed.data()),
                                seed.size()));
  sodium_memzero(seed.data(), seed.size());
  return key;
}

absl::StatusOr<Ed25519PublicKey> ReadPublicKeyFile(const std::string& path) {
  PORTCULLIS_ASSIGN_OR_RETURN(const std::string content,
                              internal::ReadFileUpTo(path, kMaxKeyFileBytes));
  return ParsePublicKeyFile(path, content);
}

absl::StatusOr<Ed25519SecretKey> ReadSecretKeyFile(const std::string& path) {
  PORTCULLIS_ASSIGN_OR_RETURN(std::string content,
                              internal::ReadFileUpTo(path, kMaxKeyFileBytes));
  absl::StatusOr<Ed25519SecretKey> key = ParseSecretKeyFile(path, content);
  sodium_memzero(content.data(), content.size());
  return key;
}

}  // namespace portcullis
