// `portcullis diff OLD NEW`: the semantic difference of two policies, as the
// answers that change (engine/policy_diff.h).
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/live/policy_diff.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"
#include "tools/cli/policy_files.h"

namespace portcullis::cli {
namespace {

constexpr absl::string_view kHelp =
    R"(Usage: portcullis diff [--max-file-bytes N] OLD NEW

Compares two policies by what they answer: every (role, object type, action)
and (credential, object type) whose answer changes, old -> new, and every
object type, action, role, entity or credential added or removed; sorted, one
change per line. OLD and NEW are each a policy file, a directory of policy
files, or a bundle (to compare policies split over several files, name their
directory, or compile them into a bundle first). Display names are ignored:
only what changes an answer or a rate limit is reported.

Flags:
  --max-file-bytes N  largest policy file read, in bytes (default 1 GiB)

Exit codes (as diff(1)):
  0  the policies answer alike
  1  they differ (the differences are printed)
  2  usage error, an invalid policy, or a file cannot be read
)";

int RunDiff(const ParsedArgs& args) {
  if (args.positional().size() != 2) {
    return UsageError("diff", "expected two policies: OLD NEW");
  }
  const PolicyFiles before = LoadPolicy("diff", {args.positional()[0]}, args);
  if (before.exit_code != kExitOk) return kExitUsage;
  const PolicyFiles after = LoadPolicy("diff", {args.positional()[1]}, args);
  if (after.exit_code != kExitOk) return kExitUsage;
  const PolicyDiff diff = DiffPolicies(*before.policy, *after.policy);
  PrintOut(diff.ToText());
  return diff.empty() ? kExitOk : kExitFailed;
}

constexpr FlagSpec kFlags[] = {kMaxFileBytesFlag};

}  // namespace

const Command kDiffCommand = {
    "diff",   "Print the answers that differ between two policies.",
    kHelp,    kFlags,
    &RunDiff,
};

}  // namespace portcullis::cli
