// The command table and the tool's dispatch: `portcullis <command> ...`,
// `portcullis help [command]`, `portcullis --help`.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/cli/command.h"
#include "tools/cli/flags.h"
#include "tools/cli/output.h"

namespace portcullis::cli {
namespace {

const Command* const kCommands[] = {
    &kValidateCommand, &kCheckCommand,   &kExplainCommand,
    &kStatsCommand,    &kCompileCommand, &kDiffCommand,
    &kKeygenCommand,   &kServeCommand,   &kClientsCommand,
};

const Command* FindCommand(absl::string_view name) {
  for (const Command* command : kCommands) {
    if (command->name == name) return command;
  }
  return nullptr;
}

std::string ToolHelp() {
  std::string help =
      "Usage: portcullis <command> [flags] [arguments]\n"
      "\n"
      "Validates, inspects and queries Portcullis authorization policies.\n"
      "\n"
      "Commands:\n";
  for (const Command* command : kCommands) {
    absl::StrAppendFormat(&help, "  %-10s%s\n", command->name,
                          command->summary);
  }
  absl::StrAppendFormat(&help, "  %-10s%s\n", "help",
                        "Print the usage of a command.");
  absl::StrAppend(
      &help,
      "\n"
      "Policy files are .json (proto3 JSON) or .txtpb, .textproto, .pbtxt "
      "(text\n"
      "format); a directory stands for the policy files in it; a .bundle "
      "(written\n"
      "by `portcullis compile`) is a whole compiled policy and stands alone.\n"
      "\n"
      "Exit codes: 0 success; 1 an invalid policy or request; 2 a usage error "
      "or a\n"
      "file that cannot be read or written.\n"
      "\n"
      "Run 'portcullis help <command>' for a command's flags.\n");
  return help;
}

int ToolUsageError(absl::string_view message) {
  PrintErr(absl::StrCat("portcullis: ", message, "\n",
                        "Run 'portcullis --help' for usage.\n"));
  return kExitUsage;
}

int RunHelp(absl::Span<const std::string> args) {
  if (args.empty()) {
    PrintOut(ToolHelp());
    return kExitOk;
  }
  if (args.size() > 1) {
    return ToolUsageError(
        absl::StrCat("help takes one command, not ", args.size()));
  }
  const Command* command = FindCommand(args[0]);
  if (command == nullptr) {
    return ToolUsageError(absl::StrCat("unknown command \"", args[0], "\""));
  }
  PrintOut(command->help);
  return kExitOk;
}

}  // namespace

absl::Span<const Command* const> Commands() { return kCommands; }

int RunTool(absl::Span<const std::string> args) {
  if (args.empty()) {
    PrintErr(ToolHelp());
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (name == "help" || name == "--help" || name == "-h") {
    return RunHelp(args.subspan(1));
  }
  if (name.size() > 1 && name[0] == '-') {
    return ToolUsageError(absl::StrCat("unknown flag ", name));
  }
  const Command* command = FindCommand(name);
  if (command == nullptr) {
    return ToolUsageError(absl::StrCat("unknown command \"", name, "\""));
  }
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(args.subspan(1), command->flags);
  if (!parsed.ok()) return UsageError(command->name, parsed.status().message());
  if (parsed->help()) {
    PrintOut(command->help);
    return kExitOk;
  }
  return command->run(*parsed);
}

}  // namespace portcullis::cli
