#include "engine/auth/crypto.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

#if defined(__x86_64__)

namespace {

// One step of AES-128's key schedule: the next round key from `key` and
// AESKEYGENASSIST's output for it (whose rcon must be an immediate, hence
// the template in ExpandKey).
__attribute__((target("aes"))) __m128i NextRoundKey(__m128i key,
                                                    __m128i assist) {
  assist = _mm_shuffle_epi32(assist, 0xff);
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  return _mm_xor_si128(key, assist);
}

template <int kRcon>
__attribute__((target("aes"))) __m128i ExpandStep(__m128i key) {
  return NextRoundKey(key, _mm_aeskeygenassist_si128(key, kRcon));
}

__attribute__((target("aes"))) void ExpandKey(const uint8_t* key,
                                              uint8_t* round_keys) {
  __m128i k[11];
  k[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  k[1] = ExpandStep<0x01>(k[0]);
  k[2] = ExpandStep<0x02>(k[1]);
  k[3] = ExpandStep<0x04>(k[2]);
  k[4] = ExpandStep<0x08>(k[3]);
  k[5] = ExpandStep<0x10>(k[4]);
  k[6] = ExpandStep<0x20>(k[5]);
  k[7] = ExpandStep<0x40>(k[6]);
  k[8] = ExpandStep<0x80>(k[7]);
  k[9] = ExpandStep<0x1b>(k[8]);
  k[10] = ExpandStep<0x36>(k[9]);
  for (int i = 0; i < 11; ++i) {
    _mm_store_si128(reinterpret_cast<__m128i*>(round_keys + 16 * i), k[i]);
  }
  sodium_memzero(k, sizeof(k));
}

}  // namespace

bool BlockPrf::Supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") != 0;
  }();
  return supported;
}

__attribute__((target("aes"))) std::array<uint64_t, 2> BlockPrf::Evaluate(
    const std::array<uint8_t, kKeySize>& block) const {
  const __m128i* round_keys =
      reinterpret_cast<const __m128i*>(round_keys_.data());
  const __m128i input =
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.data()));
  __m128i state = _mm_xor_si128(input, _mm_load_si128(round_keys));
  for (int round = 1; round < 10; ++round) {
    state = _mm_aesenc_si128(state, _mm_load_si128(round_keys + round));
  }
  state = _mm_aesenclast_si128(state, _mm_load_si128(round_keys + 10));
  state = _mm_xor_si128(state, input);
  return {static_cast<uint64_t>(_mm_cvtsi128_si64(state)),
          static_cast<uint64_t>(
              _mm_cvtsi128_si64(_mm_unpackhi_epi64(state, state)))};
}

#else  // !defined(__x86_64__)

namespace {
void ExpandKey(const uint8_t* /*key*/, uint8_t* /*round_keys*/) {}
}  // namespace

bool BlockPrf::Supported() { return false; }

std::array<uint64_t, 2> BlockPrf::Evaluate(
    const std::array<uint8_t, kKeySize>& /*block*/) const {
  // Unreachable: Create and FromKey make no BlockPrf here.
  std::abort();
}

#endif  // defined(__x86_64__)

std::unique_ptr<const BlockPrf> BlockPrf::FromKey(
    const std::array<uint8_t, kKeySize>& key) {
  if (!Supported()) return nullptr;
  std::unique_ptr<BlockPrf> prf(new BlockPrf());
  ExpandKey(key.data(), prf->round_keys_.data());
  return prf;
}

std::unique_ptr<const BlockPrf> BlockPrf::Create() {
  std::array<uint8_t, kKeySize> key;
  RandomBytes(absl::MakeSpan(key));
  std::unique_ptr<const BlockPrf> prf = FromKey(key);
  sodium_memzero(key.data(), key.size());
  return prf;
}

BlockPrf::~BlockPrf() {
  sodium_memzero(round_keys_.data(), round_keys_.size());
}

}  // namespace portcullis::auth
