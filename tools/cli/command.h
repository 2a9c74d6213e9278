// The subcommands of the `portcullis` tool and their dispatch. Each command is
// a Command value defined in its own file (validate.cc, check.cc, ...) and
// listed once in the table of commands.cc: adding a command is a new file, a
// declaration here and a line in that table.
#ifndef PORTCULLIS_TOOLS_CLI_COMMAND_H_
#define PORTCULLIS_TOOLS_CLI_COMMAND_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tools/cli/flags.h"

namespace portcullis::cli {

// Exit codes shared by every command.
enum ExitCode : int {
  kExitOk = 0,
  // The command ran and found a problem in its input: an invalid policy, a
  // request line that cannot be read.
  kExitFailed = 1,
  // Bad arguments, or a file that cannot be read or written.
  kExitUsage = 2,
};

struct Command {
  absl::string_view name;
  // One line, for `portcullis --help`.
  absl::string_view summary;
  // The whole of `portcullis help <name>`, starting with the usage line.
  absl::string_view help;
  // The only flags the command accepts (besides --help).
  absl::Span<const FlagSpec> flags;
  // Runs the command: output on stdout, errors on stderr. Returns the exit
  // code.
  int (*run)(const ParsedArgs& args);
};

extern const Command kValidateCommand;  // validate.cc
extern const Command kCheckCommand;     // check.cc
extern const Command kExplainCommand;   // explain.cc
extern const Command kStatsCommand;     // stats.cc
extern const Command kCompileCommand;   // compile.cc
extern const Command kDiffCommand;      // diff.cc
extern const Command kKeygenCommand;    // keygen.cc
extern const Command kServeCommand;     // serve.cc
extern const Command kClientsCommand;   // clients.cc

// The commands, in the order `portcullis --help` lists them.
absl::Span<const Command* const> Commands();

// Runs the tool on its arguments (argv without the program name): dispatches
// to a command, prints help, reports usage errors. Returns the exit code.
int RunTool(absl::Span<const std::string> args);

}  // namespace portcullis::cli

#endif  // PORTCULLIS_TOOLS_CLI_COMMAND_H_
