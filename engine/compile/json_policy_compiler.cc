#include "engine/compile/json_policy_compiler.h"

#include <cstddef>
#include <memory>
#include <utility>

#include "engine/load/policy_json_reader.h"
#include "google/protobuf/arena.h"

namespace portcullis {
namespace {

// The compiler's view of pass 2. Each role is read onto an arena whose one
// block (kept by Reset) serves every role: no allocation per role or per
// message, where a reused heap message would free and allocate its
// submessages on every Clear.
class JsonRoleStream : public RoleStream {
 public:
  explicit JsonRoleStream(internal::PolicyJsonStream& stream)
      : stream_(stream),
        block_(new char[kBlockBytes]),
        arena_(Options(block_.get())) {}

  Next Read(const v1::Role*& role) override {
    arena_.Reset();
    v1::Role* next = google::protobuf::Arena::CreateMessage<v1::Role>(&arena_);
    role = next;
    switch (stream_.NextRole(*next)) {
      case internal::PolicyJsonStream::Next::kRole:
        return Next::kRole;
      case internal::PolicyJsonStream::Next::kEnd:
        return Next::kEnd;
      case internal::PolicyJsonStream::Next::kRefused:
        return Next::kRefused;
    }
    return Next::kRefused;
  }

 private:
  // Holds a role of a few hundred permissions; a larger one takes more
  // blocks until the next Reset.
  static constexpr size_t kBlockBytes = 64 << 10;

  static google::protobuf::ArenaOptions Options(char* block) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = kBlockBytes;
    return options;
  }

  internal::PolicyJsonStream& stream_;
  std::unique_ptr<char[]> block_;
  google::protobuf::Arena arena_;
};

}  // namespace

std::optional<std::unique_ptr<const CompiledPolicy>> CompileJsonStreamed(
    absl::string_view json, size_t capacity, const LoadOptions& load,
    const CompileOptions& compile, std::vector<PolicyError>* warnings) {
  const std::unique_ptr<internal::PolicyJsonStream> stream =
      internal::PolicyJsonStream::Open(json, capacity, load.max_depth);
  if (stream == nullptr) return std::nullopt;
  v1::PolicySet rest;
  if (!stream->ReadRest(rest)) return std::nullopt;
  JsonRoleStream roles(*stream);
  return CompileStreamed(rest, roles, compile, warnings);
}

std::optional<std::unique_ptr<const CompiledPolicy>> CompileJsonFileStreamed(
    absl::Span<const std::string> paths, const LoadOptions& load,
    const CompileOptions& compile, std::vector<PolicyError>* warnings,
    std::string* file) {
  std::optional<SingleJsonFile> json = ReadSingleJsonFile(paths, load);
  if (!json) return std::nullopt;
  std::optional<std::unique_ptr<const CompiledPolicy>> compiled =
      CompileJsonStreamed(json->bytes.text(), json->bytes.capacity(), load,
                          compile, warnings);
  if (compiled && file != nullptr) *file = std::move(json->path);
  return compiled;
}

}  // namespace portcullis
