// Answers request lines against a compiled policy: `portcullis check`'s engine.
// Input is read in large batches, each batch split at line boundaries across
// threads; answers are written in input order.
#ifndef PORTCULLIS_TOOLS_CLI_CHECK_STREAM_H_
#define PORTCULLIS_TOOLS_CLI_CHECK_STREAM_H_

#include <cstddef>
#include <cstdio>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/snapshot/compiled_policy.h"
#include "tools/cli/request_parser.h"

namespace portcullis::cli {

struct CheckStreamOptions {
  // Add each answer's explanation (Explain() instead of Check()). Default off.
  bool explain = false;
  // Threads answering lines; the output is the same for any count. Default 1.
  int threads = 1;
  // Longest request line, in bytes, inclusive, not counting its newline (a
  // CRLF line's \r counts); a longer one is answered with an error and
  // skipped without being held in memory. Default 1 MiB.
  size_t max_line_bytes = size_t{1} << 20;
  // Bytes read per batch; at least twice max_line_bytes. Default 4 MiB.
  size_t batch_bytes = size_t{4} << 20;
};

struct CheckStreamResult {
  size_t answered = 0;  // lines answered with a decision
  size_t errors = 0;    // lines answered with an error
};

// Answers one request line (not blank), appending one JSON line to `out`: the
// decision, or `{"id": ..., "error": "line N: ..."}` when the line cannot be
// read (id: the request's when it can be recovered, else "line N"). Returns
// false for an error answer.
bool AnswerLine(const CompiledPolicy& policy, RequestParser& parser,
                absl::string_view line, size_t line_number, bool explain,
                std::string& out);

// Answers every line read from file descriptor `in_fd` and writes the answers
// to `out`, in order. Blank lines are skipped (still counted for line
// numbers). Returns the counts, or an error status when reading `in_fd` or
// writing `out` fails, its message naming `in_name` or "standard output".
absl::StatusOr<CheckStreamResult> CheckStream(
    const CompiledPolicy& policy, int in_fd, absl::string_view in_name,
    std::FILE* out, const CheckStreamOptions& options);

}  // namespace portcullis::cli

#endif  // PORTCULLIS_TOOLS_CLI_CHECK_STREAM_H_
