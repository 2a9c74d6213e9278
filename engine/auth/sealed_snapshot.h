// Export and import of auth state (the token store's, the client registry's)
// as a sealed snapshot (sealed_snapshot.proto): the snapshot message
// serialized, and a MAC over exactly those bytes under a key derived from a
// server key. A file edited by someone without the key, re-checksummed or
// not, fails to import; so does one sealed under another key, or one holding
// another kind of snapshot. Internal to engine/auth (the BUILD target is
// private to it).
#ifndef PORTCULLIS_ENGINE_AUTH_SEALED_SNAPSHOT_H_
#define PORTCULLIS_ENGINE_AUTH_SEALED_SNAPSHOT_H_

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/auth/crypto.h"
#include "google/protobuf/message.h"

namespace portcullis::internal {

// SealedSnapshot::format_version written and accepted.
inline constexpr uint32_t kSealFormatVersion = 2;

// The MAC of SealedSnapshot (its comment in sealed_snapshot.proto gives the
// construction), 32 bytes.
std::string SealMac(const auth::SecretKey& key, uint32_t format_version,
                    absl::string_view payload_type, absl::string_view payload);

// Serializes `snapshot` and seals it under `key`. Errors start with `what`
// ("token store export"): ResourceExhausted past protobuf's 2 GiB limit,
// Internal if serialization fails.
absl::StatusOr<std::string> SealSnapshot(
    const google::protobuf::Message& snapshot, const auth::SecretKey& key,
    absl::string_view what);

// Verifies `serialized` (a SealedSnapshot) under `key` and parses its payload
// into `snapshot`, from the very bytes the MAC covers. InvalidArgument
// starting with `prefix` ("token store import: "), one of:
//   not a serialized SealedSnapshot
//   unsupported format version N (expected 2)   [version 1: why it is refused]
//   unknown fields in the seal (written by a newer version?)
//   MAC is missing (truncated?)
//   MAC: expected 32 bytes, got N
//   MAC mismatch: edited, corrupted or sealed under another key
//   holds a <type>, not a <type>
//   payload is not a serialized <message name>
// Only after the MAC verified is anything in the payload looked at.
absl::Status UnsealSnapshot(absl::string_view serialized,
                            const auth::SecretKey& key,
                            absl::string_view prefix,
                            google::protobuf::Message& snapshot);

// UnsealSnapshot, then the snapshot's own `version` field: InvalidArgument
// `<prefix>unsupported version N (expected <version>)`, followed by
// `: <older_note>` when N is an older version (1 <= N < version) and a note
// says why it is refused.
template <typename Snapshot>
absl::Status UnsealSnapshot(absl::string_view serialized,
                            const auth::SecretKey& key,
                            absl::string_view prefix, uint32_t version,
                            Snapshot& snapshot,
                            absl::string_view older_note = "") {
  if (absl::Status unsealed =
          UnsealSnapshot(serialized, key, prefix,
                         static_cast<google::protobuf::Message&>(snapshot));
      !unsealed.ok()) {
    return unsealed;
  }
  if (snapshot.version() != version) {
    const bool older = snapshot.version() >= 1 && snapshot.version() < version;
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "unsupported version ", snapshot.version(), " (expected ",
        version, ")", older && !older_note.empty() ? ": " : "",
        older ? older_note : ""));
  }
  return absl::OkStatus();
}

// Whether `message` itself (not its submessages) carries fields this build
// does not know: data from a newer writer that would be lost on import.
bool HasUnknownFields(const google::protobuf::Message& message);

// Collects the problems of one import for one error message: the first
// kMaxReported verbatim, then a count of the rest (a snapshot broken
// throughout would otherwise give one problem per record).
class ProblemList {
 public:
  static constexpr size_t kMaxReported = 10;

  void Add(std::string problem) {
    if (problems_.size() < kMaxReported) {
      problems_.push_back(std::move(problem));
    } else {
      ++omitted_;
    }
  }
  bool empty() const { return problems_.empty(); }
  // Problems added so far, reported or not.
  size_t count() const { return problems_.size() + omitted_; }
  std::string Join() const {
    std::string joined = absl::StrJoin(problems_, "; ");
    if (omitted_ > 0) absl::StrAppend(&joined, "; and ", omitted_, " more");
    return joined;
  }

 private:
  std::vector<std::string> problems_;
  size_t omitted_ = 0;
};

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_AUTH_SEALED_SNAPSHOT_H_
