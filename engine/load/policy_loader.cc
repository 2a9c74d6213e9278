#include "engine/load/policy_loader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "engine/load/policy_json_reader.h"
#include "engine/load/strict_json.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace portcullis {

// Builds a PolicySources alongside the merge.
class PolicySourcesBuilder {
 public:
  void Add(const std::string& file, const v1::PolicySet& set) {
    const uint32_t index = static_cast<uint32_t>(sources_.files_.size());
    sources_.files_.push_back(file);
    Append(sources_.object_types_, index, set.catalog().object_types_size());
    Append(sources_.roles_, index, set.roles_size());
    Append(sources_.entities_, index, set.entities_size());
    Append(sources_.credentials_, index, set.credentials_size());
  }
  PolicySources Build() { return std::move(sources_); }

 private:
  static void Append(std::vector<PolicySources::Origin>& origins, uint32_t file,
                     int count) {
    for (int i = 0; i < count; ++i) {
      origins.push_back({file, static_cast<uint32_t>(i)});
    }
  }
  PolicySources sources_;
};

namespace {

class TextErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(absl::StrCat("line ", line + 1, ", column ", column + 1,
                                   ": ", message));
  }
  std::string Joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

enum class Format { kJson, kText, kUnknown };

Format FormatOf(absl::string_view path) {
  if (absl::EndsWith(path, ".json")) return Format::kJson;
  for (absl::string_view ext : {".txtpb", ".textproto", ".pbtxt"}) {
    if (absl::EndsWith(path, ext)) return Format::kText;
  }
  return Format::kUnknown;
}

// The files a path stands for: itself, or a directory's policy files.
absl::StatusOr<std::vector<std::string>> ExpandPath(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_directory(path, error)) {
    return std::vector<std::string>{path};
  }
  PORTCULLIS_ASSIGN_OR_RETURN(std::vector<std::string> files,
                              ListPolicyFiles(path));
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat(
        path, ": no policy files (.json, .txtpb, .textproto, .pbtxt)"));
  }
  return files;
}

// Sets `path` to the first message in `message` (depth first, in field order)
// that holds unknown fields, and returns it; null when there is none.
// Protobuf's JSON parser (3.21) turns an empty key `""` into such fields
// instead of rejecting it: data that no field accepts, which the compiler
// would never see.
const google::protobuf::Message* FindUnknownFields(
    const google::protobuf::Message& message, std::string& path) {
  const google::protobuf::Reflection& reflection = *message.GetReflection();
  if (!reflection.GetUnknownFields(message).empty()) return &message;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() !=
        google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    const size_t length = path.size();
    if (length > 0) path.push_back('.');
    path.append(field->name());
    if (!field->is_repeated()) {
      const google::protobuf::Message* found =
          FindUnknownFields(reflection.GetMessage(message, field), path);
      if (found != nullptr) return found;
    } else {
      const size_t name_end = path.size();
      for (int i = 0, n = reflection.FieldSize(message, field); i < n; ++i) {
        absl::StrAppend(&path, "[", i, "]");
        const google::protobuf::Message* found = FindUnknownFields(
            reflection.GetRepeatedMessage(message, field, i), path);
        if (found != nullptr) return found;
        path.resize(name_end);
      }
    }
    path.resize(length);
  }
  return nullptr;
}

}  // namespace

absl::Status ParseJsonMessage(absl::string_view json,
                              google::protobuf::Message& message,
                              int max_depth) {
  // First: protobuf's parser recurses and flattens what it should not; it
  // only sees documents this walk has bounded.
  const absl::Status strict =
      internal::CheckStrictJson(json, *message.GetDescriptor(), max_depth);
  if (!strict.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", strict.message()));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  options.case_insensitive_enum_parsing = true;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &message,
      options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", std::string(status.message())));
  }
  std::string path;
  const google::protobuf::Message* holder = FindUnknownFields(message, path);
  if (holder != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", path.empty() ? "the top level" : path,
                     ": a value that is not a field of ",
                     holder->GetDescriptor()->name(), " (an empty key \"\"?)"));
  }
  return absl::OkStatus();
}

namespace {

// The fast reader takes what it can (policy_json_reader.h); what it leaves,
// the strict reader accepts or explains, so every error is the strict
// reader's, with its path, value, line and column.
absl::StatusOr<v1::PolicySet> ParsePolicyJsonIn(absl::string_view json,
                                                size_t capacity,
                                                int max_depth) {
  v1::PolicySet policy;
  if (internal::ReadPolicyJson(json, capacity, max_depth, policy)) {
    return policy;
  }
  policy.Clear();
  PORTCULLIS_RETURN_IF_ERROR(ParseJsonMessage(json, policy, max_depth));
  return policy;
}

}  // namespace

absl::StatusOr<v1::PolicySet> ParsePolicyJson(absl::string_view json,
                                              int max_depth) {
  return ParsePolicyJsonIn(json, json.size(), max_depth);
}

namespace {

absl::Status ParsePolicyTextInto(absl::string_view text, int max_depth,
                                 v1::PolicySet& policy) {
  TextErrorCollector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  // Protobuf counts the levels below the document's own message.
  parser.SetRecursionLimit(std::max(max_depth - 1, 0));
  if (!parser.ParseFromString(std::string(text), &policy)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid text format: ", errors.Joined()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::PolicySet> ParsePolicyText(absl::string_view text,
                                              int max_depth) {
  v1::PolicySet policy;
  PORTCULLIS_RETURN_IF_ERROR(ParsePolicyTextInto(text, max_depth, policy));
  return policy;
}

bool IsPolicyFileName(absl::string_view path) {
  return FormatOf(path) != Format::kUnknown;
}

absl::StatusOr<std::vector<std::string>> ListPolicyFiles(
    const std::string& directory) {
  std::vector<std::string> files;
  std::error_code error;
  // Only names: asking what an entry is (is_regular_file) would follow a
  // symbolic link, and a dangling one would fail, or be skipped, by the
  // order of the entries.
  for (std::filesystem::directory_iterator it(directory, error), end;
       !error && it != end; it.increment(error)) {
    std::string file = it->path().string();
    if (IsPolicyFileName(file)) files.push_back(std::move(file));
  }
  if (error) {
    return absl::NotFoundError(
        absl::StrCat(directory, ": cannot list directory: ", error.message()));
  }
  std::sort(files.begin(), files.end());
  return files;
}

namespace {

// The size of the regular file `path`, no larger than `max_bytes`: NotFound
// (naming a dangling symbolic link as one) or InvalidArgument otherwise.
absl::StatusOr<size_t> SizeOfRegularFile(const std::string& path,
                                         size_t max_bytes) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    const int stat_errno = errno;
    struct stat link;
    if (stat_errno == ENOENT && lstat(path.c_str(), &link) == 0 &&
        S_ISLNK(link.st_mode)) {
      return absl::NotFoundError(absl::StrCat(
          path, ": cannot open: a symbolic link to a missing file"));
    }
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(stat_errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  if (static_cast<uint64_t>(info.st_size) > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": file is ", info.st_size, " bytes; the limit is ", max_bytes));
  }
  return static_cast<size_t>(info.st_size);
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             size_t max_bytes) {
  PORTCULLIS_ASSIGN_OR_RETURN(const size_t size,
                              SizeOfRegularFile(path, max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  // Zeroed padding past the end lets the JSON reader read the bytes in place
  // (internal::kJsonPadding) rather than copy them.
  std::string content;
  content.resize(size + internal::kJsonPadding);
  content.resize(size);
  in.read(content.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) {
    return absl::DataLossError(absl::StrCat(path, ": short read"));
  }
  return content;
}

namespace {

// Where a user raises the load limits: the message of a file over one says.
constexpr absl::string_view kRaiseFileLimit =
    " (LoadOptions::max_file_bytes; `portcullis` commands take "
    "--max-file-bytes N, `portcullis serve` the policy.max_file_bytes field)";
constexpr absl::string_view kRaiseTotalLimit =
    " (LoadOptions::max_total_bytes; `portcullis` commands take "
    "--max-file-bytes N, which raises both limits, `portcullis serve` the "
    "policy.max_total_bytes field)";

absl::Status FileTooLarge(const std::string& file, uint64_t size,
                          size_t limit) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": file is ", size,
                                                 " bytes; the limit is ", limit,
                                                 kRaiseFileLimit));
}

absl::Status CheckKnownFormat(const std::string& file) {
  if (FormatOf(file) != Format::kUnknown) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      file,
      ": unknown policy format (expected .json, .txtpb, .textproto or "
      ".pbtxt)"));
}

// A policy on an arena of its own.
struct ArenaPolicy {
  std::unique_ptr<google::protobuf::Arena> arena;
  v1::PolicySet* policy;
};

ArenaPolicy NewArenaPolicy() {
  google::protobuf::ArenaOptions options;
  // Blocks grow to 1 MiB: a large policy takes many of them, a small one
  // stays in its first few kilobytes.
  options.start_block_size = 4096;
  options.max_block_size = size_t{1} << 20;
  auto arena = std::make_unique<google::protobuf::Arena>(options);
  v1::PolicySet* policy =
      google::protobuf::Arena::CreateMessage<v1::PolicySet>(arena.get());
  return {std::move(arena), policy};
}

// One policy document onto an arena of its own. JSON: the fast reader, and
// when it leaves the document, the strict reader on a fresh arena (what the
// fast reader had read is freed, not kept beside the result).
absl::StatusOr<ArenaPolicy> ParseDocument(const std::string& file,
                                          absl::string_view content,
                                          size_t capacity, int max_depth) {
  ArenaPolicy parsed = NewArenaPolicy();
  absl::Status status;
  if (FormatOf(file) == Format::kJson) {
    if (internal::ReadPolicyJson(content, capacity, max_depth,
                                 *parsed.policy)) {
      return parsed;
    }
    parsed = NewArenaPolicy();
    status = ParseJsonMessage(content, *parsed.policy, max_depth);
  } else {
    status = ParsePolicyTextInto(content, max_depth, *parsed.policy);
  }
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat(file, ": ", status.message()));
  }
  return parsed;
}

// Parses policy documents one at a time and merges them, so that a large
// policy is never held twice as text.
class PolicyMerger {
 public:
  explicit PolicyMerger(const LoadOptions& options) : options_(options) {}

  // `content` may be read up to `capacity` bytes (ReadPolicyJson).
  absl::Status Add(const std::string& file, absl::string_view content,
                   size_t capacity) {
    PORTCULLIS_RETURN_IF_ERROR(CheckKnownFormat(file));
    total_bytes_ += content.size();
    if (total_bytes_ > options_.max_total_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": policy files total ", total_bytes_,
                       " bytes with this one; the limit is ",
                       options_.max_total_bytes, kRaiseTotalLimit));
    }
    PORTCULLIS_ASSIGN_OR_RETURN(
        ArenaPolicy set,
        ParseDocument(file, content, capacity, options_.max_depth));
    sources_.Add(file, *set.policy);
    // The first file is kept whole, arena and all: copying a large policy
    // is the cost of a merge that one file does not need.
    if (merged_.arena == nullptr) {
      merged_ = std::move(set);
    } else {
      merged_.policy->MergeFrom(*set.policy);
    }
    return absl::OkStatus();
  }

  LoadedPolicy Finish() && {
    return LoadedPolicy(std::move(merged_.arena), *merged_.policy,
                        sources_.Build());
  }

 private:
  const LoadOptions& options_;
  ArenaPolicy merged_{nullptr, nullptr};
  PolicySourcesBuilder sources_;
  size_t total_bytes_ = 0;
};

}  // namespace

namespace internal {

absl::StatusOr<PolicyFileBytes> PolicyFileBytes::Read(const std::string& path,
                                                      size_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  PolicyFileBytes bytes;
  bytes.size_ = size;
  bytes.capacity_ = bytes.size_ + kJsonPadding;
  // Not zeroed first: the read writes every byte but the padding's.
  bytes.data_.reset(static_cast<char*>(std::malloc(bytes.capacity_)));
  if (bytes.data_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": cannot hold ", size, " bytes in memory"));
  }
  in.read(bytes.data_.get(), static_cast<std::streamsize>(bytes.size_));
  if (in.gcount() != static_cast<std::streamsize>(bytes.size_)) {
    return absl::DataLossError(absl::StrCat(path, ": short read"));
  }
  std::memset(bytes.data_.get() + bytes.size_, 0, kJsonPadding);
  return bytes;
}

}  // namespace internal

LoadedPolicy::LoadedPolicy(std::unique_ptr<google::protobuf::Arena> arena,
                           v1::PolicySet& policy, PolicySources sources)
    : arena(std::move(arena)), policy(policy), sources(std::move(sources)) {}

absl::StatusOr<LoadedPolicy> LoadPolicyFiles(
    absl::Span<const std::string> paths, const LoadOptions& options) {
  if (paths.empty()) {
    return absl::InvalidArgumentError("no policy files given");
  }
  PolicyMerger merger(options);
  for (const std::string& path : paths) {
    PORTCULLIS_ASSIGN_OR_RETURN(const std::vector<std::string> files,
                                ExpandPath(path));
    for (const std::string& file : files) {
      PORTCULLIS_RETURN_IF_ERROR(CheckKnownFormat(file));
      PORTCULLIS_ASSIGN_OR_RETURN(const size_t size,
                                  SizeOfRegularFile(file, SIZE_MAX));
      // Said before the read, with how to raise the limit.
      if (size > options.max_file_bytes) {
        return FileTooLarge(file, size, options.max_file_bytes);
      }
      PORTCULLIS_ASSIGN_OR_RETURN(const internal::PolicyFileBytes content,
                                  internal::PolicyFileBytes::Read(file, size));
      PORTCULLIS_RETURN_IF_ERROR(
          merger.Add(file, content.text(), content.capacity()));
    }
  }
  return std::move(merger).Finish();
}

absl::StatusOr<LoadedPolicy> LoadPolicyDocuments(
    absl::Span<const PolicyDocument> documents, const LoadOptions& options) {
  if (documents.empty()) {
    return absl::InvalidArgumentError("no policy files given");
  }
  PolicyMerger merger(options);
  for (const PolicyDocument& document : documents) {
    if (document.content.size() > options.max_file_bytes) {
      return FileTooLarge(document.path, document.content.size(),
                          options.max_file_bytes);
    }
    PORTCULLIS_RETURN_IF_ERROR(merger.Add(document.path, document.content,
                                          document.content.capacity()));
  }
  return std::move(merger).Finish();
}

std::optional<SingleJsonFile> ReadSingleJsonFile(
    absl::Span<const std::string> paths, const LoadOptions& options) {
  if (paths.size() != 1) return std::nullopt;
  const absl::StatusOr<std::vector<std::string>> files = ExpandPath(paths[0]);
  if (!files.ok() || files->size() != 1) return std::nullopt;
  const std::string& file = files->front();
  if (FormatOf(file) != Format::kJson) return std::nullopt;
  const absl::StatusOr<size_t> size = SizeOfRegularFile(file, SIZE_MAX);
  if (!size.ok() || *size > options.max_file_bytes ||
      *size > options.max_total_bytes) {
    return std::nullopt;
  }
  absl::StatusOr<internal::PolicyFileBytes> bytes =
      internal::PolicyFileBytes::Read(file, *size);
  if (!bytes.ok()) return std::nullopt;
  return SingleJsonFile{file, *std::move(bytes)};
}

bool IsJsonDocumentWithinLimits(const PolicyDocument& document,
                                const LoadOptions& options) {
  return FormatOf(document.path) == Format::kJson &&
         document.content.size() <= options.max_file_bytes &&
         document.content.size() <= options.max_total_bytes;
}

std::string PolicySources::Locate(absl::string_view path) const {
  struct Collection {
    absl::string_view prefix;
    const std::vector<Origin>* origins;
  };
  const Collection collections[] = {
      {"catalog.object_types[", &object_types_},
      {"roles[", &roles_},
      {"entities[", &entities_},
      {"credentials[", &credentials_},
  };
  for (const Collection& collection : collections) {
    if (!absl::StartsWith(path, collection.prefix)) continue;
    const size_t close = path.find(']', collection.prefix.size());
    uint32_t index = 0;
    if (close == absl::string_view::npos ||
        !absl::SimpleAtoi(path.substr(collection.prefix.size(),
                                      close - collection.prefix.size()),
                          &index) ||
        index >= collection.origins->size()) {
      break;
    }
    const Origin origin = (*collection.origins)[index];
    return absl::StrCat(files_[origin.file], ":", collection.prefix,
                        origin.index, path.substr(close));
  }
  if (files_.size() == 1) return absl::StrCat(files_[0], ":", path);
  return std::string(path);
}

}  // namespace portcullis
