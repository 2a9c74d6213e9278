// `portcullis validate FILE...`: does the policy load and compile?
#include <string>

#include "absl/strings/str_cat.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"
#include "tools/cli/policy_files.h"

namespace portcullis::cli {
namespace {

constexpr absl::string_view kHelp =
    R"(Usage: portcullis validate [--strict] [--max-file-bytes N] FILE...

Loads the policy files, merges them into one policy and compiles it. A FILE is
a .json (proto3 JSON) or .txtpb/.textproto/.pbtxt (text format) file, or a
directory standing for the policy files in it.

Prints every problem on stderr, one per line, as `file:path: message`, where
path is the field at fault (roles[3].permissions.objects[1].actions[0]
.action_name). When the policy is valid, prints a one-line summary on stdout.

Warnings are problems that do not make the policy invalid but that an author
should tidy up (a credential naming one object type in two scopes: the highest
level applies). Each is printed on stderr as `warning: file:path: message`.

Flags:
  --strict            treat warnings as errors (exit 1), for CI pipelines
  --max-file-bytes N  largest policy file read, in bytes (default 1 GiB)

Exit codes:
  0  the policy is valid (warnings or not, without --strict)
  1  the policy is invalid: a file does not parse, or the compiler found
     errors; or, with --strict, it has warnings
  2  usage error, or a file cannot be read
)";

constexpr FlagSpec kFlags[] = {
    {"strict", FlagKind::kSwitch},
    kMaxFileBytesFlag,
};

// "1 role", "2 roles".
std::string Count(size_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

int RunValidate(const ParsedArgs& args) {
  if (args.positional().empty()) {
    return UsageError("validate", "no policy files given");
  }
  const PolicyFiles loaded = LoadPolicy("validate", args.positional(), args);
  for (const std::string& warning : loaded.warnings) {
    PrintErr(absl::StrCat("warning: ", warning, "\n"));
  }
  if (loaded.exit_code != kExitOk) return loaded.exit_code;
  if (args.Has("strict") && !loaded.warnings.empty()) {
    PrintError("validate", absl::StrCat("invalid policy with --strict: ",
                                        Count(loaded.warnings.size(), "warning",
                                              "warnings")));
    return kExitFailed;
  }
  const PolicyStats stats = loaded.policy->Stats();
  PrintOut(absl::StrCat(
      "valid: ", Count(loaded.files, "file", "files"), ", ",
      Count(stats.object_types, "object type", "object types"), ", ",
      Count(stats.actions, "action", "actions"), ", ",
      Count(stats.roles, "role", "roles"), ", ",
      Count(stats.entities, "entity", "entities"), ", ",
      Count(stats.partners, "partner", "partners"), ", ",
      Count(stats.credentials, "credential", "credentials"), "\n"));
  return kExitOk;
}

}  // namespace

const Command kValidateCommand = {
    "validate",
    "Check that policy files load and compile; print every error.",
    kHelp,
    kFlags,
    &RunValidate,
};

}  // namespace portcullis::cli
