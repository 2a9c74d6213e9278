// `portcullis stats FILE...`: what a compiled policy holds and what it costs.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"
#include "tools/cli/policy_files.h"

namespace portcullis::cli {
namespace {

constexpr absl::string_view kHelp =
    R"(Usage: portcullis stats [--max-file-bytes N] FILE...

Compiles the policy (FILEs as for `portcullis validate`) and prints its counts
and the memory footprint of the compiled snapshot:

  files                     policy files read
  object types, actions     the catalog; actions are (object type, action) pairs
  roles                     roles, and the distinct permission rows they share
  entities, partners
  credentials               credentials, and the distinct scope rows they share
  memory bytes              everything the compiled snapshot holds
  bytes per role            memory bytes / roles

Flags:
  --max-file-bytes N  largest policy file read, in bytes (default 1 GiB)

Exit codes:
  0  the policy compiled and its statistics were printed
  1  the policy is invalid (errors as `portcullis validate` prints them)
  2  usage error, or a file cannot be read
)";

int RunStats(const ParsedArgs& args) {
  if (args.positional().empty()) {
    return UsageError("stats", "no policy files given");
  }
  const PolicyFiles loaded = LoadPolicy("stats", args.positional(), args);
  if (loaded.exit_code != kExitOk) return loaded.exit_code;
  const PolicyStats stats = loaded.policy->Stats();
  std::string out;
  const auto row = [&out](absl::string_view name, const std::string& value) {
    absl::StrAppendFormat(&out, "%-26s%s\n", name, value);
  };
  row("files", absl::StrCat(loaded.files));
  row("object types", absl::StrCat(stats.object_types));
  row("actions", absl::StrCat(stats.actions));
  row("roles", absl::StrCat(stats.roles));
  row("distinct permission rows", absl::StrCat(stats.distinct_permission_rows));
  row("entities", absl::StrCat(stats.entities));
  row("partners", absl::StrCat(stats.partners));
  row("credentials", absl::StrCat(stats.credentials));
  row("distinct scope rows", absl::StrCat(stats.distinct_scope_rows));
  row("memory bytes", absl::StrCat(stats.memory_bytes));
  row("bytes per role",
      stats.roles == 0
          ? std::string("n/a (no roles)")
          : absl::StrFormat("%.1f", static_cast<double>(stats.memory_bytes) /
                                        static_cast<double>(stats.roles)));
  PrintOut(out);
  return kExitOk;
}

constexpr FlagSpec kFlags[] = {kMaxFileBytesFlag};

}  // namespace

const Command kStatsCommand = {
    "stats",   "Print a compiled policy's counts and memory footprint.",
    kHelp,     kFlags,
    &RunStats,
};

}  // namespace portcullis::cli
