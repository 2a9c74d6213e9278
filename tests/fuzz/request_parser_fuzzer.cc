// Fuzzes the CLI's request-line reader (tools/cli/request_parser.h) and the
// answer written for a line (tools/cli/check_stream.h's AnswerLine):
//   - the strict fast path accepts and reads exactly what the reference
//     (tests/cli/reference_line_path.h, the code before it was made faster)
//     does;
//   - a line the strict fast path accepts is one protobuf's JSON parser
//     (ParseJsonMessage, the slow path's) accepts too, with the same id and
//     the same names, field by field: which path reads a line never changes
//     its answer;
//   - RequestParser::Parse accepts exactly what protobuf accepts, and its
//     error is `invalid JSON: ...` on one line;
//   - the id recovered from a line is the request's own id whenever protobuf
//     reads the line and finds one there;
//   - the answer to any line is one line of JSON that reads back as a
//     CheckResponse carrying the id it should (the request's, the recovered
//     one, or "line 1"), a decision or an error, the same with --explain.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/common/quote.h"
#include "engine/evaluate/evaluator.h"
#include "engine/load/policy_loader.h"
#include "proto/check.pb.h"
#include "tests/cli/reference_line_path.h"
#include "tests/fuzz/decision_properties.h"
#include "tests/fuzz/example_policies.h"
#include "tests/fuzz/fuzz_check.h"
#include "tools/cli/check_stream.h"
#include "tools/cli/request_parser.h"

namespace portcullis::cli {
namespace {

using internal::Quote;

// Every name of two views, compared one by one so that a difference says
// which.
void ExpectSameView(const CheckRequestView& fast, const CheckRequestView& slow,
                    absl::string_view line) {
  const auto same = [&](absl::string_view field, absl::string_view a,
                        absl::string_view b) {
    PORTCULLIS_FUZZ_CHECK(
        a == b, absl::StrCat(field, ": fast path ", Quote(a), ", protobuf ",
                             Quote(b), "; line ", Quote(line)));
  };
  PORTCULLIS_FUZZ_CHECK(fast.principal_kind == slow.principal_kind,
                        absl::StrCat("principal kind; line ", Quote(line)));
  same("client_id", fast.client_id, slow.client_id);
  same("user_id", fast.user_id, slow.user_id);
  same("user_entity_id", fast.user_entity_id, slow.user_entity_id);
  same("role_id", fast.role_id, slow.role_id);
  same("object_type", fast.object_type, slow.object_type);
  same("action", fast.action, slow.action);
  same("entity_id", fast.entity_id, slow.entity_id);
  PORTCULLIS_FUZZ_CHECK(fast.has_resource == slow.has_resource,
                        absl::StrCat("has_resource; line ", Quote(line)));
  same("resource_entity_id", fast.resource_entity_id, slow.resource_entity_id);
  same("resource_created_by", fast.resource_created_by,
       slow.resource_created_by);
}

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF).
bool IsUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const uint8_t c = static_cast<uint8_t>(text[i]);
    size_t length;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
      code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      code = c & 0x07;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      const uint8_t next = static_cast<uint8_t>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if ((length == 3 && code < 0x800) || (length == 4 && code < 0x10000) ||
        (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) {
      return false;
    }
    i += length;
  }
  return true;
}

// The answer AnswerLine wrote for `line`: one line of JSON, read back.
v1::CheckResponse ReadAnswer(const std::string& answer,
                             absl::string_view line) {
  PORTCULLIS_FUZZ_CHECK(
      !answer.empty() && answer.back() == '\n' &&
          answer.find('\n') == answer.size() - 1,
      absl::StrCat("one answer line: ", Quote(answer), "; line ", Quote(line)));
  v1::CheckResponse response;
  const absl::Status read = ParseJsonMessage(
      absl::string_view(answer).substr(0, answer.size() - 1), response);
  PORTCULLIS_FUZZ_CHECK(read.ok(),
                        absl::StrCat("the answer is JSON: ", read.ToString(),
                                     "; answer ", Quote(answer)));
  return response;
}

void CheckLine(absl::string_view line) {
  const std::optional<RequestLine> fast = ParseRequestFast(line);
  // The strict path accepts exactly what the reference (the code before it
  // was made faster) accepts, and reads it the same.
  const std::optional<RequestLine> reference =
      reference::ParseRequestFast(line);
  PORTCULLIS_FUZZ_CHECK(
      fast.has_value() == reference.has_value(),
      absl::StrCat("the fast path ", fast.has_value() ? "accepts" : "refuses",
                   " a line the reference does not: ", Quote(line)));
  if (fast.has_value()) {
    PORTCULLIS_FUZZ_CHECK(fast->id == reference->id,
                          absl::StrCat("id: fast path ", Quote(fast->id),
                                       ", reference ", Quote(reference->id)));
    ExpectSameView(fast->view, reference->view, line);
  }
  v1::CheckRequest message;
  const absl::Status strict = ParseJsonMessage(line, message);
  if (fast.has_value()) {
    PORTCULLIS_FUZZ_CHECK(
        strict.ok(),
        absl::StrCat("the fast path accepted a line protobuf rejects (",
                     strict.ToString(), "): ", Quote(line)));
    PORTCULLIS_FUZZ_CHECK(fast->id == message.id(),
                          absl::StrCat("id: fast path ", Quote(fast->id),
                                       ", protobuf ", Quote(message.id())));
    ExpectSameView(fast->view, ViewOf(message), line);
  }

  RequestParser parser;
  const absl::StatusOr<RequestLine> parsed = parser.Parse(line);
  PORTCULLIS_FUZZ_CHECK(
      parsed.ok() == strict.ok(),
      absl::StrCat("Parse says ", parsed.status().ToString(), ", protobuf ",
                   strict.ToString(), ": ", Quote(line)));
  if (parsed.ok()) {
    PORTCULLIS_FUZZ_CHECK(parsed->id == message.id(), "Parse reads the id");
    ExpectSameView(parsed->view, ViewOf(message), line);
  } else {
    PORTCULLIS_FUZZ_CHECK(
        absl::IsInvalidArgument(parsed.status()) &&
            absl::StartsWith(parsed.status().message(), "invalid JSON: ") &&
            !absl::StrContains(parsed.status().message(), '\n'),
        absl::StrCat("an error of one line: ", parsed.status().ToString()));
  }

  const std::optional<std::string> recovered = RecoverRequestId(line);
  if (recovered.has_value()) {
    PORTCULLIS_FUZZ_CHECK(recovered->size() <= line.size(),
                          "a recovered id is no longer than its line");
  }
  // A valid line's id is recovered: the strict checker refuses every escape
  // RFC 8259 does not define (a "\8" once read as "8"), as id recovery does.
  if (strict.ok() && (recovered.has_value() || !message.id().empty())) {
    PORTCULLIS_FUZZ_CHECK(
        recovered.has_value() && *recovered == message.id(),
        absl::StrCat(
            "recovered id ", recovered.has_value() ? Quote(*recovered) : "none",
            ", the request's ", Quote(message.id()), "; line ", Quote(line)));
  }

  // The answer names the line by the id it should carry.
  const std::string want_id = parsed.ok()
                                  ? std::string(parsed->id)
                                  : recovered.value_or(std::string("line 1"));
  const CompiledPolicy& policy =
      *portcullis::fuzz::ExamplePolicies().front().compiled;
  RequestParser answer_parser;
  std::string plain;
  std::string explained;
  const bool answered =
      AnswerLine(policy, answer_parser, line, 1, /*explain=*/false, plain);
  PORTCULLIS_FUZZ_CHECK(AnswerLine(policy, answer_parser, line, 1,
                                   /*explain=*/true, explained) == answered,
                        "with or without --explain, a line is answered or not");
  PORTCULLIS_FUZZ_CHECK(answered == parsed.ok(),
                        "a line is answered exactly when it is read");
  const v1::CheckResponse plain_response = ReadAnswer(plain, line);
  const v1::CheckResponse explained_response = ReadAnswer(explained, line);
  if (IsUtf8(want_id)) {
    PORTCULLIS_FUZZ_CHECK(plain_response.id() == want_id,
                          absl::StrCat("answer id ", Quote(plain_response.id()),
                                       ", want ", Quote(want_id)));
  }
  PORTCULLIS_FUZZ_CHECK(explained_response.id() == plain_response.id(),
                        "the same id with --explain");
  if (answered) {
    PORTCULLIS_FUZZ_CHECK(plain_response.error().empty() &&
                              !plain_response.decision().empty() &&
                              !plain_response.reason().empty(),
                          absl::StrCat("a decision: ", plain));
    PORTCULLIS_FUZZ_CHECK(
        explained_response.decision() == plain_response.decision() &&
            explained_response.reason() == plain_response.reason() &&
            explained_response.explanation_size() > 0,
        absl::StrCat("--explain decides alike: ", plain, explained));
  } else {
    PORTCULLIS_FUZZ_CHECK(
        plain_response.decision().empty() &&
            absl::StartsWith(plain_response.error(),
                             "line 1: invalid JSON: ") &&
            explained_response.error() == plain_response.error(),
        absl::StrCat("an error answer: ", plain));
  }
}

}  // namespace
}  // namespace portcullis::cli

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  portcullis::fuzz::SilenceProtobufLogs();
  portcullis::cli::CheckLine(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
