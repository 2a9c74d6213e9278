#include "tests/fuzz/example_policies.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "tests/fuzz/fuzz_check.h"

namespace portcullis::fuzz {
namespace {

std::vector<ExamplePolicy> LoadExamples() {
  std::vector<ExamplePolicy> examples;
  for (absl::string_view name : {"monite", "monta"}) {
    ExamplePolicy example;
    example.name = std::string(name);
    const std::string prefix = absl::StrCat("examples/", name, "/");
    for (size_t i = 0; i < kExampleFileCount; ++i) {
      const ExampleFile& file = kExampleFiles[i];
      if (!absl::StartsWith(file.path, prefix)) continue;
      const absl::StatusOr<v1::PolicySet> part =
          absl::EndsWith(file.path, ".json") ? ParsePolicyJson(file.content)
                                             : ParsePolicyText(file.content);
      PORTCULLIS_FUZZ_CHECK(
          part.ok(), absl::StrCat(file.path, ": ", part.status().ToString()));
      example.policy.MergeFrom(*part);
    }
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
        Compile(example.policy);
    PORTCULLIS_FUZZ_CHECK(
        compiled.ok(), absl::StrCat(name, ": ", compiled.status().ToString()));
    example.compiled = *std::move(compiled);
    examples.push_back(std::move(example));
  }
  return examples;
}

}  // namespace

const std::vector<ExamplePolicy>& ExamplePolicies() {
  static const std::vector<ExamplePolicy>* const examples =
      new std::vector<ExamplePolicy>(LoadExamples());
  return *examples;
}

}  // namespace portcullis::fuzz
