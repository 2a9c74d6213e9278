// The bundle byte format (engine/snapshot/bundle.h is the API that uses it):
// a 64-byte header, then the policy's flat tables as sections, each copied as
// it lies in memory, in the order engine/snapshot/policy_tables.h's
// ForEachTable lists them. All integers are little-endian.
//
// Header: magic (8 bytes: 0x89 "PCB" \r \n 0x1a \n), format version (u32),
// flags (u32: bit 0 keyed, bit 1 signed), body bytes (u64), section count
// (u32), reserved (u32, zero), then the BLAKE2b-256 digest (32 bytes) of the
// first 32 header bytes and the body, keyed by the bundle key when there is
// one. A signed bundle ends with a signature block after the body: the key id
// (kMaxKeyIdBytes, 128 bytes, zero-padded) and the Ed25519 signature (64
// bytes) of
// "portcullis bundle signature v1\0", the 64-byte header and the key id
// field; the header's digest commits to the body.
// Section: id (u32, numbered from 1 in order), element bytes (u32), element
// count (u64), the elements, zero padding to 8 bytes. Section 1 is the
// scalars (ForEachScalar); a vector is one section; a string table two, its
// offsets and its chars.
//
// The public constants and types are re-exported by bundle.h; the functions
// in `internal` are its building blocks. Not part of the public API.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_BUNDLE_FORMAT_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_BUNDLE_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/common/ed25519_key.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis {

// The format version this build writes and reads.
inline constexpr uint32_t kBundleFormatVersion = 2;
inline constexpr size_t kBundleHeaderBytes = 64;
inline constexpr size_t kBundleKeyBytes = 32;
// The signature block after a signed bundle's body: key id and signature.
inline constexpr size_t kBundleSignatureBytes =
    kMaxKeyIdBytes + kEd25519SignatureBytes;

// A BLAKE2b-256 digest. Trivially copyable.
struct PolicyDigest {
  std::array<uint8_t, 32> bytes{};

  // 64 lowercase hex digits.
  std::string ToHex() const;
  friend bool operator==(const PolicyDigest& a, const PolicyDigest& b) {
    return a.bytes == b.bytes;
  }
  friend bool operator!=(const PolicyDigest& a, const PolicyDigest& b) {
    return !(a == b);
  }
};

// What a bundle's header says; nothing in it is verified but its shape.
struct BundleInfo {
  uint32_t format_version = 0;
  bool keyed = false;
  bool is_signed = false;
  std::string key_id;  // of the signature, when signed
  uint64_t body_bytes = 0;
  uint32_t sections = 0;
  PolicyDigest digest;
};

namespace internal {

// InvalidArgument unless `key` is empty (unkeyed) or kBundleKeyBytes long.
absl::Status CheckBundleKey(absl::string_view key);

// The digest of an unkeyed bundle of `tables`, streamed into the hash.
PolicyDigest DigestOfTables(const PolicyTables& tables);

// The bundle of `tables`, keyed by `key` when it is not empty, signed by
// `signing_key` when it is not null. Precondition: CheckBundleKey(key) is OK.
std::string SerializeTables(const PolicyTables& tables, absl::string_view key,
                            const Ed25519KeyPair* signing_key);

// The header's fields: DataLoss when shorter than a header, InvalidArgument
// for wrong magic. Verifies nothing else.
absl::StatusOr<BundleInfo> ReadBundleHeader(absl::string_view bytes);

// The tables of a bundle, verified by `key` (empty: unkeyed) and checked
// (CheckSnapshotInvariants) before their names are indexed. The errors of
// ParseBundle (bundle.h). Never crashes, whatever the bytes.
absl::StatusOr<PolicyTables> ParseTables(
    absl::string_view bytes, absl::string_view key,
    absl::Span<const Ed25519PublicKey> verification_keys);

}  // namespace internal
}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_BUNDLE_FORMAT_H_
