#include "tools/cli/json_writer.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/common/json_string.h"

namespace portcullis::cli {

using internal::AppendJsonString;

namespace {

// Ids up to this long are written through one stack buffer; longer ones, and
// any id that needs escaping, take AppendJsonString.
constexpr size_t kMaxPlainId = 256;

// The answer line's text after the id, for each decision: `", "decision":
// "allowed", "reason": "ownership"}` and the newline. Each is copied whole
// from its slot, a constant number of bytes (a few moves, not a call to
// memcpy); `size` says how many of them are the text. The longest, 67 bytes,
// has room to spare.
constexpr size_t kAnswerEndBytes = 96;

struct AnswerEnd {
  char text[kAnswerEndBytes];
  size_t size;  // 0: too long for the slot; written the general way
};

struct AnswerEnds {
  AnswerEnd ends[kVerdictCount][kReasonCount];
};

AnswerEnds BuildAnswerEnds() {
  AnswerEnds table = {};
  for (uint32_t v = 0; v < kVerdictCount; ++v) {
    for (uint32_t r = 0; r < kReasonCount; ++r) {
      const std::string end = absl::StrCat(
          "\", \"decision\": \"", VerdictName(static_cast<Verdict>(v)),
          "\", \"reason\": \"", ReasonName(static_cast<Reason>(r)), "\"}\n");
      AnswerEnd& slot = table.ends[v][r];
      if (end.size() <= kAnswerEndBytes) {
        std::memcpy(slot.text, end.data(), end.size());
        slot.size = end.size();
      }
    }
  }
  return table;
}

// The slot of `decision`, or nullptr for a decision outside the enums' values
// or too long for a slot.
const AnswerEnd* AnswerEndOf(Decision decision) {
  static const AnswerEnds table = BuildAnswerEnds();
  const uint32_t v = static_cast<uint32_t>(decision.verdict);
  const uint32_t r = static_cast<uint32_t>(decision.reason);
  if (v >= kVerdictCount || r >= kReasonCount) return nullptr;
  const AnswerEnd& end = table.ends[v][r];
  return end.size == 0 ? nullptr : &end;
}

// Copies `id` to `to` if it goes into a JSON string as it is: printable ASCII
// without `"` or a backslash, which AppendJsonString would write byte for
// byte, so the two ways of writing it agree. Checking and copying in one pass:
// ids are short, and a call to memcpy would cost more than their bytes.
bool CopyPlain(absl::string_view id, char* to) {
  for (const char c : id) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7F || byte == '"' || byte == '\\') {
      return false;
    }
    *to++ = c;
  }
  return true;
}

}  // namespace

void AppendAnswer(absl::string_view id, Decision decision, std::string& out) {
  const AnswerEnd* const end = AnswerEndOf(decision);
  // The whole line in one buffer and one append: each append to `out` checks
  // its capacity and calls memcpy, which cost more than the bytes.
  constexpr char kStart[] = "{\"id\": \"";
  constexpr size_t kStartBytes = sizeof(kStart) - 1;
  char line[kStartBytes + kMaxPlainId + kAnswerEndBytes];
  if (end != nullptr && id.size() <= kMaxPlainId &&
      CopyPlain(id, line + kStartBytes)) {
    std::memcpy(line, kStart, kStartBytes);
    std::memcpy(line + kStartBytes + id.size(), end->text, kAnswerEndBytes);
    out.append(line, kStartBytes + id.size() + end->size);
    return;
  }
  const absl::string_view verdict = VerdictName(decision.verdict);
  const absl::string_view reason = ReasonName(decision.reason);
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
