// Fuzzes request lines as the CLI reads them: JSON parsed into a CheckRequest
// (policy_loader.h's ParseJsonMessage), then checked by names and explained
// against each compiled example policy. Every answer must match the reference
// evaluator and the checks by interned ids (decision_properties.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engine/load/policy_loader.h"
#include "proto/check.pb.h"
#include "tests/fuzz/decision_properties.h"
#include "tests/fuzz/example_policies.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  portcullis::fuzz::SilenceProtobufLogs();
  const auto& examples = portcullis::fuzz::ExamplePolicies();
  const absl::string_view line(reinterpret_cast<const char*>(data), size);
  portcullis::v1::CheckRequest request;
  const absl::Status parsed = portcullis::ParseJsonMessage(line, request);
  if (!parsed.ok()) {
    PORTCULLIS_FUZZ_CHECK(absl::StartsWith(parsed.message(), "invalid JSON: "),
                          parsed.ToString());
    return 0;
  }
  for (const portcullis::fuzz::ExamplePolicy& example : examples) {
    portcullis::fuzz::CheckDecisionProperties(*example.compiled, example.policy,
                                              request);
  }
  return 0;
}
