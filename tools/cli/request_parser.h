// Reads request lines: one portcullis.v1.CheckRequest as JSON per line
// (docs/design.md, "Formats"), fast enough for millions of lines.
#ifndef PORTCULLIS_TOOLS_CLI_REQUEST_PARSER_H_
#define PORTCULLIS_TOOLS_CLI_REQUEST_PARSER_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/evaluate/evaluator.h"
#include "proto/check.pb.h"

namespace portcullis::cli {

// A request line, read: its id and its names. The views point into the line
// or into the RequestParser that read it; they are valid while the line lives
// and until that parser's next Parse().
struct RequestLine {
  absl::string_view id;
  CheckRequestView view;
};

// Parses request lines. Most lines take a strict hand-written path that
// allocates nothing (`ParseRequestFast`); a line outside it (escapes,
// non-ASCII text, lowerCamelCase names, a repeated key, anything unusual) goes
// to protobuf's JSON parser, which decides whether it is valid and says why
// not. A line the strict path accepts means to protobuf exactly what it means
// to the strict path, so which path read a line never changes its answer.
// Thread-compatible: use one per thread.
class RequestParser {
 public:
  // InvalidArgument `invalid JSON: <protobuf's message>` (its first line) for
  // a line that is not a CheckRequest.
  absl::StatusOr<RequestLine> Parse(absl::string_view line);

 private:
  v1::CheckRequest message_;  // the slow path's, reused across lines
};

// The strict path alone: an object whose members are the snake_case fields of
// CheckRequest, each at most once, whose strings are printable ASCII without
// escapes. nullopt for any other line, which says nothing about whether the
// line is valid.
std::optional<RequestLine> ParseRequestFast(absl::string_view line);

// The id of a line that is not a valid request: the value of the last "id"
// member with a string value among the top-level members read before the
// line's first syntax error. A lenient scanner of its own reads the line, since
// protobuf's parser is what rejected it. The answer to a bad line names its
// request when it can; nullopt when no such member was read.
std::optional<std::string> RecoverRequestId(absl::string_view line);

}  // namespace portcullis::cli

#endif  // PORTCULLIS_TOOLS_CLI_REQUEST_PARSER_H_
