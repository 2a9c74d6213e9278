#include "tools/cli/check_stream.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/evaluate/evaluator.h"
#include "tools/cli/json_writer.h"

namespace portcullis::cli {
namespace {

// Below this many bytes a batch part is not worth a thread of its own.
constexpr size_t kMinPartBytes = 64 << 10;

bool IsBlank(absl::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

std::string LineId(size_t line_number) {
  return absl::StrCat("line ", line_number);
}

void AppendLineTooLong(size_t line_number, size_t max_line_bytes,
                       std::string& out) {
  AppendError(LineId(line_number),
              absl::StrCat("line ", line_number, ": longer than ",
                           max_line_bytes, " bytes"),
              out);
}

// One thread's share of a batch: whole lines, their first line's number, and
// what answering them produced.
struct Part {
  absl::string_view text;
  size_t first_line = 0;
  std::string out;
  CheckStreamResult result;
};

void AnswerPart(const CompiledPolicy& policy, RequestParser& parser,
                const CheckStreamOptions& options, Part& part) {
  absl::string_view rest = part.text;
  size_t line_number = part.first_line;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const absl::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == absl::string_view::npos ? rest.size()
                                                          : newline + 1);
    if (line.size() > options.max_line_bytes) {
      AppendLineTooLong(line_number, options.max_line_bytes, part.out);
      ++part.result.errors;
    } else if (!IsBlank(line)) {
      if (AnswerLine(policy, parser, line, line_number, options.explain,
                     part.out)) {
        ++part.result.answered;
      } else {
        ++part.result.errors;
      }
    }
    ++line_number;
  }
}

absl::Status WriteAll(absl::string_view text, std::FILE* out) {
  if (!text.empty() &&
      std::fwrite(text.data(), 1, text.size(), out) != text.size()) {
    return absl::UnavailableError(
        absl::StrCat("standard output: cannot write: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Reads up to `max` more bytes into the end of `buffer`; 0 at end of input.
absl::StatusOr<size_t> ReadMore(int fd, absl::string_view name, size_t max,
                                std::string& buffer) {
  const size_t old_size = buffer.size();
  buffer.resize(old_size + max);
  ssize_t n;
  do {
    n = read(fd, &buffer[old_size], max);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    const int error = errno;
    buffer.resize(old_size);
    return absl::UnavailableError(
        absl::StrCat(name, ": cannot read: ", std::strerror(error)));
  }
  buffer.resize(old_size + static_cast<size_t>(n));
  return static_cast<size_t>(n);
}

// memchr rather than std::count: it is vectorized, and this runs over every
// byte of the input on the thread that also reads and writes.
size_t CountLines(absl::string_view text) {
  size_t lines = 0;
  const char* p = text.data();
  const char* const end = text.data() + text.size();
  while (p < end) {
    const void* newline = std::memchr(p, '\n', static_cast<size_t>(end - p));
    ++lines;
    if (newline == nullptr) break;
    p = static_cast<const char*>(newline) + 1;
  }
  return lines;
}

}  // namespace

bool AnswerLine(const CompiledPolicy& policy, RequestParser& parser,
                absl::string_view line, size_t line_number, bool explain,
                std::string& out) {
  const absl::StatusOr<RequestLine> request = parser.Parse(line);
  if (!request.ok()) {
    const std::optional<std::string> id = RecoverRequestId(line);
    AppendError(
        id.has_value() ? *id : LineId(line_number),
        absl::StrCat("line ", line_number, ": ", request.status().message()),
        out);
    return false;
  }
  if (explain) {
    AppendExplainedAnswer(request->id, Explain(policy, request->view), out);
  } else {
    AppendAnswer(request->id, Check(policy, request->view), out);
  }
  return true;
}

absl::StatusOr<CheckStreamResult> CheckStream(
    const CompiledPolicy& policy, int in_fd, absl::string_view in_name,
    std::FILE* out, const CheckStreamOptions& options) {
  const size_t threads = static_cast<size_t>(std::max(1, options.threads));
  const size_t batch_bytes =
      std::max(options.batch_bytes, 2 * options.max_line_bytes + 2);
  std::vector<RequestParser> parsers(threads);
  std::vector<Part> parts(threads);
  CheckStreamResult total;
  std::string buffer;
  size_t next_line = 1;
  bool at_end = false;
  while (true) {
    while (!at_end && buffer.size() < batch_bytes) {
      absl::StatusOr<size_t> n =
          ReadMore(in_fd, in_name, batch_bytes - buffer.size(), buffer);
      if (!n.ok()) return n.status();
      at_end = *n == 0;
    }
    if (buffer.empty()) break;

    // Answer the complete lines; keep a trailing partial line for later.
    size_t complete = buffer.size();
    if (!at_end) {
      const size_t last_newline = buffer.rfind('\n');
      if (last_newline == std::string::npos) {
        // A whole batch without a newline: a line longer than the limit.
        // Answer it now and drop the rest of it as it is read.
        std::string error;
        AppendLineTooLong(next_line++, options.max_line_bytes, error);
        ++total.errors;
        size_t newline;
        while ((newline = buffer.find('\n')) == std::string::npos) {
          buffer.clear();
          absl::StatusOr<size_t> n =
              ReadMore(in_fd, in_name, batch_bytes, buffer);
          if (!n.ok()) return n.status();
          if (*n == 0) {
            at_end = true;
            break;
          }
        }
        buffer.erase(0, at_end ? buffer.size() : newline + 1);
        if (absl::Status written = WriteAll(error, out); !written.ok()) {
          return written;
        }
        continue;
      }
      complete = last_newline + 1;
    }

    // Split at line boundaries into parts of similar size.
    const absl::string_view batch(buffer.data(), complete);
    const size_t used =
        std::min(threads, std::max<size_t>(1, batch.size() / kMinPartBytes));
    size_t begin = 0;
    for (size_t i = 0; i < used; ++i) {
      size_t end = batch.size();
      if (i + 1 < used) {
        end = std::max(begin, batch.size() * (i + 1) / used);
        const size_t newline = batch.find('\n', end);
        end = newline == absl::string_view::npos ? batch.size() : newline + 1;
      }
      Part& part = parts[i];
      part.text = batch.substr(begin, end - begin);
      part.first_line = next_line;
      part.out.clear();
      part.result = CheckStreamResult();
      next_line += CountLines(part.text);
      begin = end;
    }

    std::vector<std::thread> workers;
    workers.reserve(used - 1);
    for (size_t i = 1; i < used; ++i) {
      workers.emplace_back(
          [&, i] { AnswerPart(policy, parsers[i], options, parts[i]); });
    }
    AnswerPart(policy, parsers[0], options, parts[0]);
    for (std::thread& worker : workers) worker.join();

    for (size_t i = 0; i < used; ++i) {
      total.answered += parts[i].result.answered;
      total.errors += parts[i].result.errors;
      if (absl::Status written = WriteAll(parts[i].out, out); !written.ok()) {
        return written;
      }
    }
    buffer.erase(0, complete);
  }
  if (std::fflush(out) != 0) {
    return absl::UnavailableError(
        absl::StrCat("standard output: cannot write: ", std::strerror(errno)));
  }
  return total;
}

}  // namespace portcullis::cli
