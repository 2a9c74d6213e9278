// The cryptographic primitives of the auth module: from libsodium, random
// bytes, a 256-bit secret key, the keyed hash under which tokens and client
// secrets are stored, and constant-time comparison; from the CPU's AES
// instructions, the block PRF that keys the introspection cache.

#ifndef PORTCULLIS_ENGINE_AUTH_CRYPTO_H_
#define PORTCULLIS_ENGINE_AUTH_CRYPTO_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace portcullis::auth {

// Initializes libsodium (sodium_init) once per process. Thread-safe and
// idempotent: the first call initializes, later calls return the first
// result. Every function below initializes on first use, so calling this is
// optional; a service calls it at startup to see a failure as a Status.
// Returns Internal if libsodium cannot initialize.
absl::Status InitializeCrypto();

// Fills `out` from libsodium's CSPRNG (getrandom(2) on Linux). Thread-safe.
// Never returns without filling `out`: if the operating system cannot supply
// randomness the process aborts (libsodium's own behaviour, and the only safe
// one, since there is no acceptable fallback for secrets).
void RandomBytes(absl::Span<uint8_t> out);

// True if `a` and `b` hold the same bytes. Takes time that depends on the
// lengths only, never on where the contents differ (sodium_memcmp), so it may
// compare a presented secret with a stored one. Spans of different lengths
// are unequal; lengths are not treated as secret.
bool ConstantTimeEquals(absl::Span<const uint8_t> a,
                        absl::Span<const uint8_t> b);

// A 256-bit keyed-hash output: the form in which tokens and client secrets
// are stored. A small value type (32 bytes, trivially copyable) that
// absl::Hash can hash, so it keys hash maps. A digest reveals nothing about
// its token without the key, but it identifies a credential, so it is never
// printed in logs or error messages either.
class Digest {
 public:
  static constexpr size_t kSize = 32;

  // All zero. KeyedHash never yields it in practice (probability 2^-256), so
  // stores treat the zero digest as "unset".
  constexpr Digest() = default;
  explicit constexpr Digest(const std::array<uint8_t, kSize>& bytes)
      : bytes_(bytes) {}

  // A digest from exactly kSize bytes, as read from storage. Returns
  // InvalidArgument "digest: expected 32 bytes, got N" otherwise.
  static absl::StatusOr<Digest> FromBytes(absl::Span<const uint8_t> bytes);

  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }

  // Whether all 32 bytes are zero, in constant time (sodium_is_zero).
  bool IsZero() const;

  // Constant time over all 32 bytes: libsodium's crypto_verify_32, written so
  // that no compiler turns it into an early exit (a hand-written loop has no
  // such guarantee). Digests derive from tokens and secrets, and a presented
  // secret's digest is compared with the stored one: where two digests first
  // differ must not show in the timing.
  friend bool operator==(const Digest& a, const Digest& b);
  friend bool operator!=(const Digest& a, const Digest& b) { return !(a == b); }

  template <typename H>
  friend H AbslHashValue(H state, const Digest& digest) {
    return H::combine(std::move(state), digest.bytes_);
  }

 private:
  std::array<uint8_t, kSize> bytes_{};
};

// A 256-bit key for KeyedHash. Move-only; its bytes are wiped
// (sodium_memzero) when it is destroyed or moved from. Immutable once built,
// so any number of threads may use one key concurrently.
class SecretKey {
 public:
  static constexpr size_t kSize = 32;

  // A fresh key from the CSPRNG.
  static SecretKey Generate();

  // A key loaded from storage: exactly kSize bytes, not all zero (an all-zero
  // key is almost certainly an unset buffer). Returns InvalidArgument
  // "secret key: expected 32 bytes, got N" or "secret key: all bytes are zero".
  static absl::StatusOr<SecretKey> FromBytes(absl::Span<const uint8_t> bytes);

  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey();

  // The raw key, to persist it in a secret store so that digests computed
  // before a restart still match. Secret: never log it.
  absl::Span<const uint8_t> bytes() const { return bytes_; }

 private:
  SecretKey() = default;

  std::array<uint8_t, kSize> bytes_{};
};

// BLAKE2b-256 of `data` keyed with `key` (crypto_generichash). Thread-safe;
// costs two BLAKE2b compressions for inputs up to 128 bytes.
//
// Why a fast keyed hash and not a password hash such as Argon2: Argon2 is slow
// on purpose, to make guessing a low-entropy password expensive. Tokens and
// client secrets are 128 uniformly random bits, so guessing is infeasible at
// any hash speed; a slow hash would add milliseconds to every request (and
// hand attackers a cheap way to burn our CPU) for no security. It would also
// need a per-record salt, which rules out finding a record by its digest. The
// key makes the digest a pseudorandom function of the token: a leaked store
// alone cannot even confirm a guessed token.
Digest KeyedHash(const SecretKey& key, absl::Span<const uint8_t> data);

// A keyed function of one 16-byte block, made to key the introspection
// cache by an opaque token's 128 random bits (token_service.h, "Fast
// introspection"): F(x) = AES-128_k(x) XOR x under a random 128-bit key k
// (the Matyas-Meyer-Oseas construction), with the CPU's AES instructions
// (AES-NI): 10 rounds, about 30 instructions, in constant time. Why this
// and not SipHash-128 (about 250 instructions for 16 bytes): the input is a
// single block, which one block cipher call covers.
//   * As a PRF: under a secret k, AES is a pseudorandom permutation, and a
//     permutation's output XORed with its input is a pseudorandom function
//     up to the birthday bound (q queries: advantage about q^2 / 2^128). A
//     128-bit output compared whole then matches another token only as
//     often as a guess of that token would.
//   * One-way even to whoever holds k: recovering x from F(x) is a preimage
//     of the MMO compression function (plain AES-128_k(x) would not do: k
//     decrypts it). So a memory dump that holds both the cache and k still
//     yields no token, as with SipHash.
// Immutable and thread-safe once made; its round keys are wiped
// (sodium_memzero) when it is destroyed. Only on x86-64 CPUs with AES-NI
// (Create returns null elsewhere: use SipHash there).
class BlockPrf {
 public:
  static constexpr size_t kKeySize = 16;

  // Whether this CPU (and build) has the AES instructions BlockPrf needs.
  static bool Supported();

  // A fresh key from the CSPRNG; null unless Supported().
  static std::unique_ptr<const BlockPrf> Create();
  // Under `key`; null unless Supported(). Evaluate(x) is then
  // AES-128-Encrypt(key, x) XOR x exactly (FIPS 197), which is how it is
  // tested.
  static std::unique_ptr<const BlockPrf> FromKey(
      const std::array<uint8_t, kKeySize>& key);

  BlockPrf(const BlockPrf&) = delete;
  BlockPrf& operator=(const BlockPrf&) = delete;
  ~BlockPrf();

  // F(block), as two little-endian words (bytes 0-7, then 8-15): returned in
  // registers, for a caller that compares words.
  std::array<uint64_t, 2> Evaluate(
      const std::array<uint8_t, kKeySize>& block) const;

 private:
  BlockPrf() = default;

  // The 11 round keys of AES-128's key schedule.
  alignas(16) std::array<uint8_t, 11 * 16> round_keys_{};
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_CRYPTO_H_
