// A plain evaluator of docs/design.md's decision procedure that walks the
// policy proto with linear scans: slow, obviously correct, and independent of
// the compiler's tables. Tests and fuzzers compare the compiled evaluator with
// it.
#ifndef PORTCULLIS_TESTS_REFERENCE_EVALUATOR_H_
#define PORTCULLIS_TESTS_REFERENCE_EVALUATOR_H_

#include "engine/common/decision.h"
#include "proto/check.pb.h"
#include "proto/policy.pb.h"

namespace portcullis {

// The decision for `request` under `policy`. Precondition: `policy` compiles
// (Validate() reports no error); the answer for an invalid policy is undefined.
Decision ReferenceCheck(const v1::PolicySet& policy,
                        const v1::CheckRequest& request);

}  // namespace portcullis

#endif  // PORTCULLIS_TESTS_REFERENCE_EVALUATOR_H_
