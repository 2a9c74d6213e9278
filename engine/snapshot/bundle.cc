// The bundle API over its parts: the byte format (bundle_format.h), the
// snapshot invariants it checks (snapshot_invariants.h) and atomic file I/O
// (engine/common/atomic_file.h).
#include "engine/snapshot/bundle.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/atomic_file.h"
#include "engine/common/status_macros.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis {

PolicyDigest DigestOf(const CompiledPolicy& policy) {
  return internal::DigestOfTables(policy.tables());
}

absl::StatusOr<std::string> SerializeBundle(const CompiledPolicy& policy,
                                            const BundleOptions& options) {
  PORTCULLIS_RETURN_IF_ERROR(internal::CheckBundleKey(options.key));
  if (options.signing_key != nullptr && !options.key.empty()) {
    return absl::InvalidArgumentError(
        "a bundle is either signed or keyed, not both: the signature already "
        "authenticates it");
  }
  return internal::SerializeTables(policy.tables(), options.key,
                                   options.signing_key.get());
}

absl::StatusOr<BundleInfo> ParseBundleHeader(absl::string_view bytes) {
  return internal::ReadBundleHeader(bytes);
}

absl::StatusOr<std::unique_ptr<const CompiledPolicy>> ParseBundle(
    absl::string_view bytes, const BundleOptions& options) {
  PORTCULLIS_ASSIGN_OR_RETURN(
      internal::PolicyTables tables,
      internal::ParseTables(bytes, options.key, options.verification_keys));
  return CompiledPolicy::FromTables(std::move(tables));
}

absl::Status WriteBundle(const CompiledPolicy& policy, const std::string& path,
                         const BundleOptions& options) {
  PORTCULLIS_ASSIGN_OR_RETURN(const std::string bytes,
                              SerializeBundle(policy, options));
  return WriteBundleBytes(bytes, path);
}

absl::Status WriteBundleBytes(absl::string_view bytes,
                              const std::string& path) {
  return internal::WriteFileAtomically(bytes, path);
}

absl::StatusOr<std::unique_ptr<const CompiledPolicy>> ReadBundle(
    const std::string& path, const BundleOptions& options) {
  PORTCULLIS_ASSIGN_OR_RETURN(
      const std::string bytes,
      internal::ReadFileUpTo(path, options.max_bundle_bytes));
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      ParseBundle(bytes, options);
  if (!policy.ok()) {
    return absl::Status(policy.status().code(),
                        absl::StrCat(path, ": ", policy.status().message()));
  }
  return policy;
}

}  // namespace portcullis
