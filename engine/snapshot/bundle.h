// Compiled bundles: one file holding a validated, compiled policy, so that a
// service loads what was compiled and checked elsewhere (in CI, by the CLI)
// without parsing or compiling, and can tell that the file is the one that
// was written.
//
// A bundle is a 64-byte header followed by the policy's flat tables
// (engine/snapshot/policy_tables.h), each a section copied as it lies in
// memory, so loading is a bounds-checked copy plus rebuilding the name indexes
// (bundle_format.h and docs/bundle-format.md have the byte layout; the
// format's constants, PolicyDigest and BundleInfo are declared there). All
// integers are little-endian.
//
// Digest. The header carries BLAKE2b-256 (libsodium's crypto_generichash) of
// the header's first 32 bytes and the body. Two modes:
//   - unkeyed (the default): detects corruption (a truncated copy, a flipped
//     bit). Anyone can recompute it, so it does not stop a deliberate edit;
//   - keyed (BundleOptions::key, 32 secret bytes): the digest is a MAC. A
//     bundle changed by someone without the key fails to load.
// Whatever the digest says, every section and every invariant the evaluator
// relies on is checked before a policy is built: no input crashes the loader.
//
// Example:
//   PORTCULLIS_RETURN_IF_ERROR(WriteBundle(*policy, "policy.bundle"));
//   absl::StatusOr<std::unique_ptr<const CompiledPolicy>> loaded =
//       ReadBundle("policy.bundle");
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_BUNDLE_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_BUNDLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/common/ed25519_key.h"
#include "engine/snapshot/bundle_format.h"  // IWYU pragma: export
#include "engine/snapshot/compiled_policy.h"

namespace portcullis {

struct BundleOptions {
  // Empty (the default): unkeyed digest. Otherwise exactly kBundleKeyBytes
  // secret bytes: the digest is keyed, and reading refuses a bundle written
  // without the key (or with another one), and an unkeyed bundle. Every
  // verifier holds the key that forges: prefer signatures, below.
  std::string key;
  // Writing: when set, the bundle is signed with this Ed25519 key
  // (engine/common/ed25519_key.h), naming its key id. The signer holds the
  // secret key; services hold only public keys, which cannot forge.
  std::shared_ptr<const Ed25519KeyPair> signing_key;
  // Reading: when not empty, only a bundle signed by one of these keys (by
  // key id: several, to rotate) loads, and its signature is verified before
  // anything else in it is read. Empty: a signature is not checked (the
  // digest still is).
  std::vector<Ed25519PublicKey> verification_keys;
  // Largest bundle file read, in bytes. Default 4 GiB.
  size_t max_bundle_bytes = size_t{4} << 30;
};

// The digest an unkeyed bundle of `policy` carries: BLAKE2b-256 over the
// canonical serialization of its tables (equal tables, equal digests; the
// snapshot tag is not part of it). Streams the tables into the hash without
// building the bundle; costs one pass over them.
PolicyDigest DigestOf(const CompiledPolicy& policy);

// The bundle of `policy`, in memory. InvalidArgument for a key that is not
// kBundleKeyBytes long.
absl::StatusOr<std::string> SerializeBundle(
    const CompiledPolicy& policy,
    const BundleOptions& options = BundleOptions());

// Loads a bundle from memory. Checks, in order, and fails with:
//   DataLoss         fewer bytes than a header;
//   InvalidArgument  wrong magic, an unsupported format version, unknown
//                    flags; an unsigned bundle when verification_keys are
//                    set;
//   DataLoss         fewer bytes than the header announces, or bytes after
//                    the body (or the signature);
//   InvalidArgument  signed by a key not in verification_keys;
//   DataLoss         signature mismatch (when verification_keys are set);
//   InvalidArgument  a key of the wrong size, a keyed bundle without a key,
//                    an unkeyed one with a key;
//   DataLoss         digest mismatch (corrupted or tampered with), then any
//                    malformed section ("malformed bundle: ...") or
//                    inconsistent table ("inconsistent bundle: ..."), naming
//                    the section or the row.
// Never crashes, whatever the bytes; costs a copy of the tables and one hash
// insertion per name. (A fuzzer reaches the section checks by writing the
// digest of its input into bytes 32..63 first; see
// tests/snapshot/bundle_test.cc.)
absl::StatusOr<std::unique_ptr<const CompiledPolicy>> ParseBundle(
    absl::string_view bytes, const BundleOptions& options = BundleOptions());

// Reads only the header (for `portcullis inspect`-style tools): DataLoss when
// shorter than a header, InvalidArgument for wrong magic. Verifies nothing
// else.
absl::StatusOr<BundleInfo> ParseBundleHeader(absl::string_view bytes);

// Writes the bundle of `policy` to `path` atomically: to a temporary file in
// the same directory, flushed to disk, then renamed over `path`, so a reader
// (a PolicyWatcher) sees the old file or the new one, never a part.
absl::Status WriteBundle(const CompiledPolicy& policy, const std::string& path,
                         const BundleOptions& options = BundleOptions());

// Writes bytes SerializeBundle() produced to `path` the way WriteBundle()
// does (a temporary file, fsync, rename), for a caller that also needs the
// bytes (their size, their header).
absl::Status WriteBundleBytes(absl::string_view bytes, const std::string& path);

// Reads and loads a bundle file; errors as ParseBundle's, prefixed with the
// path, plus NotFound for a missing file and InvalidArgument for one larger
// than options.max_bundle_bytes.
absl::StatusOr<std::unique_ptr<const CompiledPolicy>> ReadBundle(
    const std::string& path, const BundleOptions& options = BundleOptions());

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_BUNDLE_H_
