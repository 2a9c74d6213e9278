#include "engine/auth/crypto.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace portcullis::auth {
namespace {

static_assert(Digest::kSize == crypto_generichash_BYTES,
              "Digest must hold one BLAKE2b-256 output");
static_assert(SecretKey::kSize == crypto_generichash_KEYBYTES,
              "SecretKey must be a full-length BLAKE2b key");

// Initializes libsodium before a primitive is used. A failure here leaves no
// safe way to produce secrets, so it ends the process; InitializeCrypto lets a
// service detect the same failure earlier, as a Status.
void EnsureInitialized() {
  if (!InitializeCrypto().ok()) {
    std::fputs("portcullis: libsodium failed to initialize\n", stderr);
    std::abort();
  }
}

}  // namespace

absl::Status InitializeCrypto() {
  // A function-local static is initialized exactly once even under
  // concurrent first calls (C++11 "magic statics").
  static const bool initialized = sodium_init() >= 0;
  if (!initialized) {
    return absl::InternalError("crypto: sodium_init failed");
  }
  return absl::OkStatus();
}

void RandomBytes(absl::Span<uint8_t> out) {
  EnsureInitialized();
  if (!out.empty()) randombytes_buf(out.data(), out.size());
}

bool ConstantTimeEquals(absl::Span<const uint8_t> a,
                        absl::Span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<Digest> Digest::FromBytes(absl::Span<const uint8_t> bytes) {
  if (bytes.size() != kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest: expected ", kSize, " bytes, got ", bytes.size()));
  }
  std::array<uint8_t, kSize> array;
  std::copy(bytes.begin(), bytes.end(), array.begin());
  return Digest(array);
}

bool Digest::IsZero() const {
  return sodium_is_zero(bytes_.data(), bytes_.size()) == 1;
}

bool operator==(const Digest& a, const Digest& b) {
  static_assert(Digest::kSize == 32, "crypto_verify_32 compares 32 bytes");
  return crypto_verify_32(a.bytes_.data(), b.bytes_.data()) == 0;
}

SecretKey SecretKey::Generate() {
  SecretKey key;
  RandomBytes(absl::MakeSpan(key.bytes_));
  return key;
}

absl::StatusOr<SecretKey> SecretKey::FromBytes(
    absl::Span<const uint8_t> bytes) {
  if (bytes.size() != kSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "secret key: expected ", kSize, " bytes, got ", bytes.size()));
  }
  EnsureInitialized();
  if (sodium_is_zero(bytes.data(), bytes.size())) {
    return absl::InvalidArgumentError("secret key: all bytes are zero");
  }
  SecretKey key;
  std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
  return key;
}

SecretKey::SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_) {
  sodium_memzero(other.bytes_.data(), other.bytes_.size());
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    sodium_memzero(other.bytes_.data(), other.bytes_.size());
  }
  return *this;
}

SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

Digest KeyedHash(const SecretKey& key, absl::Span<const uint8_t> data) {
  EnsureInitialized();
  std::array<uint8_t, Digest::kSize> out;
  // crypto_generichash fails only for out-of-range output or key lengths;
  // both are fixed by the static_asserts above.
  (void)crypto_generichash(out.data(), out.size(), data.data(), data.size(),
                           key.bytes().data(), key.bytes().size());
  return Digest(out);
}

}  // namespace portcullis::auth
