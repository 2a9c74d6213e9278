// The request-line reader's strict path and the answer writer as they were
// before they were made faster (commit 3002faf, tools/cli/request_parser.cc
// and json_writer.cc), kept verbatim as the reference the differential tests
// and the request_parser fuzzer compare today's code with. Test-only.
#ifndef PORTCULLIS_TESTS_CLI_REFERENCE_LINE_PATH_H_
#define PORTCULLIS_TESTS_CLI_REFERENCE_LINE_PATH_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/common/decision.h"
#include "tools/cli/request_parser.h"

namespace portcullis::cli::reference {

// The strict path one byte at a time: what ParseRequestFast must still do.
std::optional<RequestLine> ParseRequestFast(absl::string_view line);

// The answer line by appends: what AppendAnswer must still write.
void AppendAnswer(absl::string_view id, Decision decision, std::string& out);

}  // namespace portcullis::cli::reference

#endif  // PORTCULLIS_TESTS_CLI_REFERENCE_LINE_PATH_H_
