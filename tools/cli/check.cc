// `portcullis check --policy FILE... (--request JSON | --requests FILE)`:
// answers requests, one JSON answer per request line.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/cli/check_stream.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"
#include "tools/cli/policy_files.h"
#include "tools/cli/request_parser.h"

namespace portcullis::cli {
namespace {

constexpr absl::string_view kHelp =
    R"(Usage: portcullis check --policy FILE... (--request JSON | --requests FILE)
                        [--explain] [--threads N]

Answers requests against a policy. A request is one JSON object (the
portcullis.v1.CheckRequest message of proto/check.proto):

  {"id": "42",
   "principal": {"entity_user": {"user_id": "u-7", "entity_id": "e-1",
                                 "role_id": "r-approver", "client_id": "c-finance"}},
   "object_type": "payable", "action": "approve", "entity_id": "e-1",
   "resource": {"entity_id": "e-1", "created_by": "u-7"}}

`principal` is {"partner": {"client_id": ...}} or {"entity_user": {...}};
`resource` is optional. Each request gets one answer line on stdout, in input
order:

  {"id": "42", "decision": "allowed", "reason": "granted"}

decision: allowed, not_allowed or allowed_for_own; reason: the rule that
decided (tenant, scope, partner_only, rbac, ownership), granted when every rule
passed, or the failure (unknown_principal, unknown_object_type, ...). A line
that cannot be read is answered {"id": "42", "error": "line 3: ..."} (id
"line 3" when the line's own cannot be recovered) and the rest continue.
Blank lines are skipped.

Flags:
  --policy FILE...   policy files or directories, as for `portcullis validate`
  --request JSON     answer this one request
  --requests FILE    answer every line of FILE (JSON Lines); `-` reads stdin
  --explain          add every rule evaluated to each answer:
                     "explanation": [{"rule": ..., "passed": ..., "detail": ...}]
  --threads N        threads answering requests (default: one per core); the
                     output is the same for any N
  --max-file-bytes N largest policy file read, in bytes (default 1 GiB)

Exit codes:
  0  every request was answered, whatever the decisions
  1  some request lines could not be read (each was answered with an error)
  2  usage error, a file cannot be read or written, or the policy is invalid
)";

constexpr FlagSpec kFlags[] = {
    {"policy", FlagKind::kValues},  {"request", FlagKind::kValue},
    {"requests", FlagKind::kValue}, {"explain", FlagKind::kSwitch},
    {"threads", FlagKind::kValue},  kMaxFileBytesFlag,
};

constexpr int kMaxThreads = 256;

int DefaultThreads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(std::min(cores, 16u));
}

absl::Status FlushStdout() {
  if (std::fflush(stdout) != 0) {
    return absl::UnavailableError(
        absl::StrCat("standard output: cannot write: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

int RunCheck(const ParsedArgs& args) {
  if (!args.positional().empty()) {
    return UsageError("check", absl::StrCat("unexpected argument \"",
                                            args.positional().front(), "\""));
  }
  if (!args.Has("policy")) return UsageError("check", "--policy is required");
  if (args.Has("request") == args.Has("requests")) {
    return UsageError("check", "give exactly one of --request and --requests");
  }
  if (args.Has("request") &&
      args.Value("request").find_first_not_of(" \t\r\n") == std::string::npos) {
    return UsageError("check", "--request is empty");
  }
  CheckStreamOptions options;
  options.explain = args.Has("explain");
  options.threads = DefaultThreads();
  if (args.Has("threads") &&
      (!absl::SimpleAtoi(args.Value("threads"), &options.threads) ||
       options.threads < 1 || options.threads > kMaxThreads)) {
    return UsageError(
        "check", absl::StrCat("flag --threads: \"", args.Value("threads"),
                              "\" is not an integer from 1 to ", kMaxThreads));
  }

  // Open the requests before the (possibly long) compile, so that a typo in
  // their path is reported at once.
  int fd = -1;
  std::string name;
  if (args.Has("requests")) {
    name = args.Value("requests");
    if (name == "-") {
      fd = STDIN_FILENO;
      name = "standard input";
    } else {
      fd = open(name.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        PrintError("check",
                   absl::StrCat(name, ": cannot open: ", std::strerror(errno)));
        return kExitUsage;
      }
    }
  }
  const auto close_input = [fd] {
    if (fd > STDIN_FILENO) close(fd);
  };

  const PolicyFiles loaded = LoadPolicy("check", args.Values("policy"), args);
  if (loaded.exit_code != kExitOk) {
    close_input();
    return kExitUsage;
  }

  if (args.Has("request")) {
    RequestParser parser;
    std::string answer;
    const bool ok = AnswerLine(*loaded.policy, parser, args.Value("request"), 1,
                               options.explain, answer);
    PrintOut(answer);
    if (absl::Status flushed = FlushStdout(); !flushed.ok()) {
      PrintError("check", flushed.message());
      return kExitUsage;
    }
    return ok ? kExitOk : kExitFailed;
  }

  const absl::StatusOr<CheckStreamResult> result =
      CheckStream(*loaded.policy, fd, name, stdout, options);
  close_input();
  if (!result.ok()) {
    PrintError("check", result.status().message());
    return kExitUsage;
  }
  if (result->errors > 0) {
    PrintError("check", absl::StrCat(result->errors, " of ",
                                     result->errors + result->answered,
                                     " request lines could not be read"));
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

const Command kCheckCommand = {
    "check",
    "Answer requests (JSON lines) against a policy, one JSON answer each.",
    kHelp,
    kFlags,
    &RunCheck,
};

}  // namespace portcullis::cli
