// The structure-aware property: the input decodes into a policy and requests
// (policy_decoder.h); compiling the policy either fails with its validation
// report or yields a snapshot whose every answer equals the reference
// evaluator's, by names and by ids (decision_properties.h).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/check.pb.h"
#include "tests/fuzz/decision_properties.h"
#include "tests/fuzz/policy_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  portcullis::fuzz::PolicyCase input = portcullis::fuzz::DecodePolicyCase(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  // The decoded requests, then requests over every name the policy defines.
  std::vector<portcullis::v1::CheckRequest> requests =
      portcullis::fuzz::RequestsFor(input.policy, /*max_requests=*/32);
  requests.insert(requests.begin(), input.requests.begin(),
                  input.requests.end());
  portcullis::fuzz::CheckPolicyProperties(input.policy, requests);
  return 0;
}
