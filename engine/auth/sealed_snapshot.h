// Export and import of auth state (the token store's, the client registry's)
// as a checksummed protobuf snapshot: the message serialized without its
// `checksum` field, BLAKE2b-256 of those bytes put in it, serialized again.
// The checksum catches truncation and corruption, not deliberate edits.
// Internal to engine/auth (the BUILD target is private to it).
#ifndef PORTCULLIS_ENGINE_AUTH_SEALED_SNAPSHOT_H_
#define PORTCULLIS_ENGINE_AUTH_SEALED_SNAPSHOT_H_

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace portcullis::internal {

// BLAKE2b-256, unkeyed, of `unsealed` (a snapshot serialized without its
// checksum).
std::string SnapshotChecksum(absl::string_view unsealed);

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

// Sets `snapshot`'s checksum and returns its serialization. Errors start with
// `what` ("token store export"): ResourceExhausted past protobuf's 2 GiB
// limit, Internal if serialization fails.
template <typename Snapshot>
absl::StatusOr<std::string> SealSnapshot(Snapshot& snapshot,
                                         absl::string_view what) {
  // The checksum adds 34 bytes; leave room for it under protobuf's limit.
  if (snapshot.ByteSizeLong() > static_cast<size_t>(INT_MAX) - 64) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": the snapshot exceeds protobuf's 2 GiB limit"));
  }
  std::string unsealed;
  if (!snapshot.SerializeToString(&unsealed)) {
    return absl::InternalError(absl::StrCat(what, ": serialization failed"));
  }
  snapshot.set_checksum(SnapshotChecksum(unsealed));
  std::string serialized;
  if (!snapshot.SerializeToString(&serialized)) {
    return absl::InternalError(absl::StrCat(what, ": serialization failed"));
  }
  return serialized;
}

// Parses `serialized` into `snapshot` and verifies its version and checksum
// (then cleared). InvalidArgument starting with `prefix`
// ("token store import: "): not a serialized <message name>, unsupported
// version, checksum missing or mismatched.
template <typename Snapshot>
absl::Status UnsealSnapshot(absl::string_view serialized,
                            absl::string_view prefix, uint32_t version,
                            Snapshot& snapshot) {
  if (serialized.size() > static_cast<size_t>(INT_MAX) ||
      !snapshot.ParseFromArray(serialized.data(),
                               static_cast<int>(serialized.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "not a serialized ", Snapshot::descriptor()->name()));
  }
  if (snapshot.version() != version) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "unsupported version ", snapshot.version(),
                     " (expected ", version, ")"));
  }
  const std::string checksum = snapshot.checksum();
  if (checksum.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "checksum is missing (truncated?)"));
  }
  snapshot.clear_checksum();
  std::string unsealed;
  if (!snapshot.SerializeToString(&unsealed) ||
      SnapshotChecksum(unsealed) != checksum) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "checksum mismatch (corrupted?)"));
  }
  return absl::OkStatus();
}

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_AUTH_SEALED_SNAPSHOT_H_
