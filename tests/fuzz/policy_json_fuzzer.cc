// Fuzzes the JSON policy parser and, through it, the compiler: any input must
// parse or be rejected; any parsed policy must compile or be rejected with its
// validation report; a compiled policy must answer every request as the
// reference evaluator does.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engine/load/policy_loader.h"
#include "proto/policy.pb.h"
#include "tests/fuzz/decision_properties.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  portcullis::fuzz::SilenceProtobufLogs();
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<portcullis::v1::PolicySet> policy =
      portcullis::ParsePolicyJson(json);
  if (!policy.ok()) {
    PORTCULLIS_FUZZ_CHECK(
        absl::StartsWith(policy.status().message(), "invalid JSON: "),
        policy.status().ToString());
    return 0;
  }
  portcullis::fuzz::CheckFormatRoundTrip(*policy);
  portcullis::fuzz::CheckPolicyProperties(*policy, /*max_requests=*/64);
  return 0;
}
