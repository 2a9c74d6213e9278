#include "tools/cli/json_writer.h"

#include "engine/common/json_string.h"

namespace portcullis::cli {

using internal::AppendJsonString;

void AppendAnswer(absl::string_view id, Decision decision, std::string& out) {
  out.append("{\"id\": ");
  AppendJsonString(id, out);
  out.append(", \"decision\": \"");
  out.append(VerdictName(decision.verdict).data(),
             VerdictName(decision.verdict).size());
  out.append("\", \"reason\": \"");
  out.append(ReasonName(decision.reason).data(),
             ReasonName(decision.reason).size());
  out.append("\"}\n");
}

void AppendExplainedAnswer(absl::string_view id, const Explanation& explanation,
                           std::string& out) {
  AppendAnswer(id, explanation.decision, out);
  // Reopen the object: drop the closing brace and newline just written.
  out.resize(out.size() - 2);
  out.append(", \"explanation\": [");
  for (size_t i = 0; i < explanation.steps.size(); ++i) {
    const ExplanationStep& step = explanation.steps[i];
    out.append(i == 0 ? "{\"rule\": " : ", {\"rule\": ");
    AppendJsonString(step.rule, out);
    out.append(step.passed ? ", \"passed\": true, \"detail\": "
                           : ", \"passed\": false, \"detail\": ");
    AppendJsonString(step.detail, out);
    out.push_back('}');
  }
  out.append("]}\n");
}

void AppendError(absl::string_view id, absl::string_view error,
                 std::string& out) {
  out.append("{\"id\": ");
  AppendJsonString(id, out);
  out.append(", \"error\": ");
  AppendJsonString(error, out);
  out.append("}\n");
}

}  // namespace portcullis::cli
