// Reads policies from files: protobuf text format (.txtpb, .textproto, .pbtxt)
// or JSON (.json, the proto3 JSON mapping: snake_case or lowerCamelCase field
// names, enum values case-insensitive so Monite's lowercase "allowed" loads,
// unknown fields rejected). Several files merge into one PolicySet (repeated
// fields concatenate), and errors found in the merged set are traced back to
// the file and the index in it.
#ifndef PORTCULLIS_ENGINE_LOAD_POLICY_LOADER_H_
#define PORTCULLIS_ENGINE_LOAD_POLICY_LOADER_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/message.h"
#include "proto/policy.pb.h"

namespace portcullis {

// How deep objects and arrays (JSON) or messages (text format) may nest, by
// default: protobuf's own default for its parsers. The policy and request
// schemas need fewer than 10 levels.
inline constexpr int kDefaultMaxNestingDepth = 100;

struct LoadOptions {
  // Largest policy file read, in bytes. Default 1 GiB: a JSON policy of about
  // 1,600,000 roles, which one file compiles with a peak of about 1.34 times
  // its size (json_policy_compiler.h; loaded whole, as here, about 4.3
  // times: docs/policy-language.md, "Large policies"). Past it the error
  // names the file, its size, the limit and how to raise it.
  size_t max_file_bytes = size_t{1} << 30;
  // Bytes of all the files of one load together. Default 2 GiB.
  size_t max_total_bytes = size_t{2} << 30;
  // Deepest nesting of JSON objects and arrays, or of text-format messages,
  // in levels (the document's own object is level 1). Deeper input is
  // InvalidArgument at the line and column of the bracket past the limit.
  int max_depth = kDefaultMaxNestingDepth;
};

// Parses one policy document. InvalidArgument with the parser's position and
// message (`line 3, column 7: ...` for text format) on malformed input or an
// unknown field.
// Nesting deeper than `max_depth` levels is InvalidArgument
// `line L, column C: ...` (LoadOptions::max_depth).
// JSON is read by the fast reader (internal/policy_json_reader.h: simdjson,
// 350-500 MB/s) when it takes the document, else by ParseJsonMessage (about
// 30 MB/s), which accepts what the fast reader left or gives the error: the
// result and every message are ParseJsonMessage's either way. `json` is
// copied once into a padded buffer; LoadPolicyFiles reads files into one.
absl::StatusOr<v1::PolicySet> ParsePolicyJson(
    absl::string_view json, int max_depth = kDefaultMaxNestingDepth);
absl::StatusOr<v1::PolicySet> ParsePolicyText(
    absl::string_view text, int max_depth = kDefaultMaxNestingDepth);

// Parses a message of any type from JSON with the policy loader's options
// (case-insensitive enums, unknown fields rejected); used for request lines.
// Before protobuf's parser sees `json`, rejects objects and arrays nested
// deeper than `max_depth` (`invalid JSON: line 1, column 101: nested deeper
// than 100 levels of objects and arrays (the limit)`), and what protobuf's JSON
// parser accepts but that does not say one thing to every reader
// (internal/strict_json.h): a field given twice in one object (`invalid JSON:
// line 3, column 5: field permission is given twice; protobuf would keep the
// last value`), an empty key, and what is not RFC 8259 JSON (bare or
// single-quoted keys and strings, trailing commas, raw control characters in
// strings, undefined escapes, invalid UTF-8, and a list directly inside a
// list, which protobuf would flatten); and data protobuf parsed into no field,
// naming the message that holds it (`invalid JSON:
// catalog.object_types[0].actions[1]: a value that is not a field of Action (an
// empty key ""?)`).
absl::Status ParseJsonMessage(absl::string_view json,
                              google::protobuf::Message& message,
                              int max_depth = kDefaultMaxNestingDepth);

// Where each element of a merged PolicySet came from. Immutable.
class PolicySources {
 public:
  // Rewrites an error path of the merged set to the file it came from:
  // "roles[3].name" -> "b.json:roles[1].name". A path that names no element
  // is returned as is.
  std::string Locate(absl::string_view path) const;

  const std::vector<std::string>& files() const { return files_; }

 private:
  friend class PolicySourcesBuilder;
  struct Origin {
    uint32_t file;
    uint32_t index;
  };
  std::vector<std::string> files_;
  std::vector<Origin> object_types_, roles_, entities_, credentials_;
};

// A loaded policy. `policy` lives on `arena` (one allocation per block rather
// than per message and string: a large policy loads faster and takes less
// memory), so a LoadedPolicy is movable but not assignable, and `policy` is
// valid as long as the LoadedPolicy it was loaded into.
struct LoadedPolicy {
  LoadedPolicy(std::unique_ptr<google::protobuf::Arena> arena,
               v1::PolicySet& policy, PolicySources sources);
  LoadedPolicy(LoadedPolicy&&) = default;

  std::unique_ptr<google::protobuf::Arena> arena;
  v1::PolicySet& policy;  // on `arena`
  PolicySources sources;
};

// Reads and merges policy files. A directory stands for its policy files
// (ListPolicyFiles): one that cannot be read, a dangling symbolic link say,
// is an error naming it. NotFound for a missing path;
// InvalidArgument for an unknown extension, a file over the size limit, files
// over the total limit, or a parse error, the message starting with the file's
// path.
absl::StatusOr<LoadedPolicy> LoadPolicyFiles(
    absl::Span<const std::string> paths,
    const LoadOptions& options = LoadOptions());

// One policy file's path (which names its format) and bytes, for a caller
// that read them itself: the watcher loads exactly the bytes it digested and
// checked against a manifest, never a second read that may differ.
struct PolicyDocument {
  std::string path;
  std::string content;
};

// LoadPolicyFiles over documents already read, in the order given.
absl::StatusOr<LoadedPolicy> LoadPolicyDocuments(
    absl::Span<const PolicyDocument> documents,
    const LoadOptions& options = LoadOptions());

namespace internal {

// A policy file's bytes, with kJsonPadding zero bytes after them so the JSON
// reader reads them in place: read straight into one buffer, never copied.
// Movable.
class PolicyFileBytes {
 public:
  // The `size` bytes of the regular file `path`. NotFound when it cannot be
  // opened, DataLoss on a short read.
  static absl::StatusOr<PolicyFileBytes> Read(const std::string& path,
                                              size_t size);

  absl::string_view text() const { return {data_.get(), size_}; }
  // Bytes readable from text().data(): size + kJsonPadding.
  size_t capacity() const { return capacity_; }

 private:
  struct Free {
    void operator()(char* data) const { std::free(data); }
  };
  std::unique_ptr<char, Free> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace internal

// The one JSON file `paths` stand for, as LoadPolicyFiles reads them.
struct SingleJsonFile {
  std::string path;
  internal::PolicyFileBytes bytes;
};

// When `paths` stand for exactly one policy file (one path: the file, or a
// directory holding only it), that file is JSON and within `options`' limits,
// its bytes, read once. Nullopt otherwise and on any problem reading it: not
// an error here; LoadPolicyFiles of the same paths reports it. For a caller
// that reads one JSON file in two passes (json_policy_compiler.h).
std::optional<SingleJsonFile> ReadSingleJsonFile(
    absl::Span<const std::string> paths,
    const LoadOptions& options = LoadOptions());

// Whether `document` is JSON (by its path) within `options`' file and total
// limits: one LoadPolicyDocuments would take by itself.
bool IsJsonDocumentWithinLimits(const PolicyDocument& document,
                                const LoadOptions& options);

// Whether `path` names a policy file by its extension (.json, .txtpb,
// .textproto, .pbtxt).
bool IsPolicyFileName(absl::string_view path);

// The policy files of `directory` (by extension, not recursive), in name
// order: what a directory stands for to LoadPolicyFiles and to PolicyWatcher.
// Every entry with a policy extension is listed whatever it is, so that a
// policy file that cannot be read (a dangling symbolic link, a subdirectory)
// is an error naming it when it is read, never silently skipped. NotFound
// naming the directory when it cannot be listed.
absl::StatusOr<std::vector<std::string>> ListPolicyFiles(
    const std::string& directory);

// Reads a whole file, refusing one larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             size_t max_bytes);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_LOAD_POLICY_LOADER_H_
