// What every answer of a compiled policy must satisfy, checked by the fuzz
// targets (aborting through PORTCULLIS_FUZZ_CHECK when it does not):
//   - Check by names, Explain by names and, when the request's names resolve,
//     Check and Explain by interned ids all give the same decision;
//   - that decision is the reference evaluator's (tests/reference_evaluator.h),
//     which walks the policy proto directly;
//   - a decision is only ever allowed or allowed_for_own with reason granted or
//     ownership; every other reason denies (fail closed);
//   - the explanation ends with the deciding rule, failed exactly when the
//     decision is not allowed.
#ifndef PORTCULLIS_TESTS_FUZZ_DECISION_PROPERTIES_H_
#define PORTCULLIS_TESTS_FUZZ_DECISION_PROPERTIES_H_

#include <cstddef>
#include <vector>

#include "engine/snapshot/compiled_policy.h"
#include "proto/check.pb.h"
#include "proto/policy.pb.h"

namespace portcullis::fuzz {

// Checks the properties above for `request` against `compiled`, the
// compilation of `policy`.
void CheckDecisionProperties(const CompiledPolicy& compiled,
                             const v1::PolicySet& policy,
                             const v1::CheckRequest& request);

// Compiles `policy` and checks that compilation agrees with validation: both
// succeed, or both fail and the error message lists the report's errors. When
// it compiles, checks the decision properties for requests made from the
// policy's own names (at most `max_requests`, so that a large input does not
// slow the fuzzer down) plus a few names it does not define.
void CheckPolicyProperties(const v1::PolicySet& policy, size_t max_requests);
// The same with the given requests.
void CheckPolicyProperties(const v1::PolicySet& policy,
                           const std::vector<v1::CheckRequest>& requests);

// Requests naming what `policy` defines (its clients, entities, roles, object
// types and actions), one name in eight empty or unknown; deterministic,
// `max_requests` of them.
std::vector<v1::CheckRequest> RequestsFor(const v1::PolicySet& policy,
                                          size_t max_requests);

// Printing `policy` in text format and in JSON (snake_case names, as the
// loader's users write them) and parsing it back with the loader gives the
// same policy: what the tools print, the loader reads.
void CheckFormatRoundTrip(const v1::PolicySet& policy);

// Discards protobuf's log output (e.g. about invalid UTF-8 in parsed strings),
// which would otherwise flood the fuzzer's output. Idempotent.
void SilenceProtobufLogs();

}  // namespace portcullis::fuzz

#endif  // PORTCULLIS_TESTS_FUZZ_DECISION_PROPERTIES_H_
