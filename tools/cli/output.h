// Output helpers shared by the commands: results on stdout, errors on stderr
// with the command's name, usage errors with a pointer to the help.
#ifndef PORTCULLIS_TOOLS_CLI_OUTPUT_H_
#define PORTCULLIS_TOOLS_CLI_OUTPUT_H_

#include "absl/strings/string_view.h"

namespace portcullis::cli {

// Writes `text` to stdout as is.
void PrintOut(absl::string_view text);

// Writes `text` to stderr as is.
void PrintErr(absl::string_view text);

// `portcullis <command>: <message>` and a newline on stderr.
void PrintError(absl::string_view command, absl::string_view message);

// A usage error: PrintError(), then where to read the command's usage.
// Returns kExitUsage.
int UsageError(absl::string_view command, absl::string_view message);

}  // namespace portcullis::cli

#endif  // PORTCULLIS_TOOLS_CLI_OUTPUT_H_
