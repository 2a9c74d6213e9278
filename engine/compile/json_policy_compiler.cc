#include "engine/compile/json_policy_compiler.h"

#include <utility>

#include "engine/load/policy_json_reader.h"

namespace portcullis {
namespace {

// The compiler's view of pass 2.
class JsonRoleStream : public RoleStream {
 public:
  explicit JsonRoleStream(internal::PolicyJsonStream& stream)
      : stream_(stream) {}

  Next Read(v1::Role& role) override {
    switch (stream_.NextRole(role)) {
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
  internal::PolicyJsonStream& stream_;
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
