// Compiles a large JSON policy without ever holding all its roles: the
// document stays in its one buffer, the compiler gets everything but the
// roles from a first pass, then the roles one at a time from a second pass
// over the same bytes (internal::PolicyJsonStream, CompileStreamed). A JSON
// policy of 1,000,000 roles (640 MB) compiles with a peak of 1.34 times its
// size, where loading it into a PolicySet first takes 4.27 times
// (docs/policy-language.md, "Large policies").
//
// It only ever compiles what compiles: any document it does not read whole,
// and any policy with an error, is nullopt, and the caller loads and compiles
// as before (LoadPolicyFiles or LoadPolicyDocuments, then Compile), which
// gives the error with its file, path and message. What it compiles is the
// CompiledPolicy that path would (byte-identical bundles:
// tests/compile/json_policy_compiler_test.cc).
//
// Example:
//   std::vector<PolicyError> warnings;
//   auto compiled = CompileJsonFileStreamed(paths, load, compile, &warnings);
//   if (!compiled) { /* LoadPolicyFiles(paths, load), then Compile(...) */ }
#ifndef PORTCULLIS_ENGINE_COMPILE_JSON_POLICY_COMPILER_H_
#define PORTCULLIS_ENGINE_COMPILE_JSON_POLICY_COMPILER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/compiled_policy.h"

namespace portcullis {

// The policy of the JSON document `json` (readable up to `capacity` bytes
// from json.data(), at least json.size() + internal::kJsonPadding), read in
// two passes and compiled. Nullopt: not taken (see the file comment).
// `warnings` as for Compile(), with the document's own paths.
std::optional<std::unique_ptr<const CompiledPolicy>> CompileJsonStreamed(
    absl::string_view json, size_t capacity, const LoadOptions& load,
    const CompileOptions& compile, std::vector<PolicyError>* warnings);

// CompileJsonStreamed of the one JSON file `paths` stand for
// (ReadSingleJsonFile); nullopt when they stand for anything else. On
// success `file` (when given) is that file's path, which the caller puts
// before the warnings' paths as LoadPolicyFiles' PolicySources would.
std::optional<std::unique_ptr<const CompiledPolicy>> CompileJsonFileStreamed(
    absl::Span<const std::string> paths, const LoadOptions& load,
    const CompileOptions& compile, std::vector<PolicyError>* warnings,
    std::string* file = nullptr);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_COMPILE_JSON_POLICY_COMPILER_H_
