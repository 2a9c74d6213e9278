#include "tools/cli/json_writer.h"

#include <cstring>

#include "engine/common/json_string.h"

namespace portcullis::cli {

using internal::AppendJsonString;

namespace {

// Ids up to this long are written through one stack buffer; longer ones, and
// any id that needs escaping, take AppendJsonString.
constexpr size_t kMaxPlainId = 256;

// Whether `id` goes into a JSON string as it is: printable ASCII without `"`
// or a backslash. AppendJsonString writes such an id byte for byte, so the
// two ways of writing it agree.
bool IsPlain(absl::string_view id) {
  for (const char c : id) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7F || byte == '"' || byte == '\\') {
      return false;
    }
  }
  return true;
}

// Copies a literal without its terminating NUL; the length is a constant,
// so this is a store or two, not a call.
template <size_t N>
char* Put(char* p, const char (&text)[N]) {
  std::memcpy(p, text, N - 1);
  return p + N - 1;
}

char* Put(char* p, absl::string_view text) {
  // An empty view may have no data at all: memcpy must not see its null.
  if (text.empty()) return p;
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

}  // namespace

void AppendAnswer(absl::string_view id, Decision decision, std::string& out) {
  const absl::string_view verdict = VerdictName(decision.verdict);
  const absl::string_view reason = ReasonName(decision.reason);
  if (id.size() <= kMaxPlainId && verdict.size() + reason.size() <= 64 &&
      IsPlain(id)) {
    // The whole line in one buffer and one append: each append to `out`
    // checks its capacity and calls memcpy, which cost more than the bytes.
    char line[kMaxPlainId + 64 + 64];  // 64: the fixed text's 44 bytes
    char* p = Put(line, "{\"id\": \"");
    p = Put(p, id);
    p = Put(p, "\", \"decision\": \"");
    p = Put(p, verdict);
    p = Put(p, "\", \"reason\": \"");
    p = Put(p, reason);
    p = Put(p, "\"}\n");
    out.append(line, static_cast<size_t>(p - line));
    return;
  }
  out.append("{\"id\": ");
  AppendJsonString(id, out);
  out.append(", \"decision\": \"");
  out.append(verdict.data(), verdict.size());
  out.append("\", \"reason\": \"");
  out.append(reason.data(), reason.size());
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
