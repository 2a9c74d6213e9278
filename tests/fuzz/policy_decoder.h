// Turns arbitrary bytes into a policy and requests about it, for the
// structure-aware property fuzzer. Every byte string decodes: past the end of
// the input every choice is 0, and 0 always picks the commonest valid choice.
// References (a role's object types and actions, an entity's default role, a
// credential's entities, every name in a request) mostly pick what the policy
// defines, so that most decoded policies compile and their answers reach
// every rule; high byte values give an empty, malformed, duplicate or unknown
// name, or an out-of-range enum value, to reach the compiler's errors too; or
// put 70 unreferenced object types or entities first, so that the rest land
// past the first word of the permission, scope and restriction rows.
#ifndef PORTCULLIS_TESTS_FUZZ_POLICY_DECODER_H_
#define PORTCULLIS_TESTS_FUZZ_POLICY_DECODER_H_

#include <vector>

#include "absl/strings/string_view.h"
#include "proto/check.pb.h"
#include "proto/policy.pb.h"

namespace portcullis::fuzz {

struct PolicyCase {
  v1::PolicySet policy;
  std::vector<v1::CheckRequest> requests;
};

// Decodes `bytes` (deterministic: the same bytes give the same case).
PolicyCase DecodePolicyCase(absl::string_view bytes);

}  // namespace portcullis::fuzz

#endif  // PORTCULLIS_TESTS_FUZZ_POLICY_DECODER_H_
