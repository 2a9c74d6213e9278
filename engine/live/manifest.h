// A policy manifest: the completeness marker of a set of policy files, as OPA
// bundles have one. It lists every file of the set with its SHA-256, in the
// format `sha256sum` prints, so a deployer writes the files, then
//   sha256sum *.json > policy.manifest
// last. A watcher following a manifest publishes only a set whose every file
// is listed and matches its digest: a half-copied set, or a file rewritten in
// place while it is read, never goes live (docs/live-policy.md, "Manifests").
//
//   # comments and blank lines are ignored
//   9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 roles.json
//   60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
//   *entities.txtpb
//
// Paths are relative to the manifest's directory, with no `..` component;
// each file is listed once.
#ifndef PORTCULLIS_ENGINE_LIVE_MANIFEST_H_
#define PORTCULLIS_ENGINE_LIVE_MANIFEST_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace portcullis {

struct ManifestEntry {
  std::string path;  // resolved against the manifest's directory
  std::array<uint8_t, 32> sha256;
};

// Parses a manifest read from `manifest_path`. InvalidArgument naming the
// manifest and the line for a malformed line, a path that is absolute, empty
// or has a `..` component, or a file listed twice.
absl::StatusOr<std::vector<ManifestEntry>> ParseManifest(
    absl::string_view manifest_path, absl::string_view content);

// OK when `content` is the file `entry` lists; FailedPrecondition naming the
// file and both digests otherwise (the set is incomplete or being written).
absl::Status VerifyManifestEntry(const ManifestEntry& entry,
                                 absl::string_view content);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_LIVE_MANIFEST_H_
