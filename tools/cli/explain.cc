// `portcullis explain --policy FILE... --request JSON`: one decision, rule by
// rule, for a human.
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/evaluate/evaluator.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"
#include "tools/cli/policy_files.h"
#include "tools/cli/request_parser.h"

namespace portcullis::cli {
namespace {

constexpr absl::string_view kHelp =
    R"(Usage: portcullis explain --policy FILE... --request JSON

Decides one request (the JSON object `portcullis help check` describes) and
prints how: every rule evaluated, in order, whether it passed and what it
looked at, then the decision and its reason.

  tenant: pass: entity "e-1" of partner "p-1" is the principal's
  ...
  decision: allowed_for_own (reason: ownership)

Flags:
  --policy FILE...   policy files or directories, as for `portcullis validate`
  --request JSON     the request
  --max-file-bytes N largest policy file read, in bytes (default 1 GiB)

Exit codes:
  0  the request was decided, whatever the decision
  1  the request cannot be read
  2  usage error, a file cannot be read, or the policy is invalid
)";

constexpr FlagSpec kFlags[] = {
    {"policy", FlagKind::kValues},
    {"request", FlagKind::kValue},
    kMaxFileBytesFlag,
};

int RunExplain(const ParsedArgs& args) {
  if (!args.positional().empty()) {
    return UsageError("explain", absl::StrCat("unexpected argument \"",
                                              args.positional().front(), "\""));
  }
  if (!args.Has("policy")) return UsageError("explain", "--policy is required");
  if (!args.Has("request")) {
    return UsageError("explain", "--request is required");
  }
  const PolicyFiles loaded = LoadPolicy("explain", args.Values("policy"), args);
  if (loaded.exit_code != kExitOk) return kExitUsage;
  RequestParser parser;
  const absl::StatusOr<RequestLine> request =
      parser.Parse(args.Value("request"));
  if (!request.ok()) {
    PrintError("explain",
               absl::StrCat("--request: ", request.status().message()));
    return kExitFailed;
  }
  PrintOut(Explain(*loaded.policy, request->view).ToText());
  return kExitOk;
}

}  // namespace

const Command kExplainCommand = {
    "explain",   "Explain the decision on one request, rule by rule.",
    kHelp,       kFlags,
    &RunExplain,
};

}  // namespace portcullis::cli
