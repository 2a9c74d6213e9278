// Writes the answers of `portcullis check` as JSON, one object per line, in
// docs/design.md's field order (id, decision, reason, explanation) and spacing,
// so an answer file compares byte for byte with an expected one.
#ifndef PORTCULLIS_TOOLS_CLI_JSON_WRITER_H_
#define PORTCULLIS_TOOLS_CLI_JSON_WRITER_H_

#include <string>

#include "absl/strings/string_view.h"
#include "engine/common/decision.h"
#include "engine/evaluate/evaluator.h"

namespace portcullis::cli {

// `{"id": "42", "decision": "allowed", "reason": "ownership"}` and a newline.
void AppendAnswer(absl::string_view id, Decision decision, std::string& out);

// The same with `"explanation": [{"rule": ..., "passed": ..., "detail": ...}]`
// after the reason (the JSON of Explanation::ToResponse()).
void AppendExplainedAnswer(absl::string_view id, const Explanation& explanation,
                           std::string& out);

// `{"id": "42", "error": "..."}` and a newline.
void AppendError(absl::string_view id, absl::string_view error,
                 std::string& out);

}  // namespace portcullis::cli

#endif  // PORTCULLIS_TOOLS_CLI_JSON_WRITER_H_
