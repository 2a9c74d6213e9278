#include "tools/cli/policy_files.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/compiler.h"
#include "engine/policy_loader.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"

namespace portcullis::cli {

PolicyFiles LoadPolicy(absl::string_view command,
                       absl::Span<const std::string> paths) {
  PolicyFiles result;
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles(paths);
  if (!loaded.ok()) {
    PrintErr(absl::StrCat(loaded.status().message(), "\n"));
    // The loader says InvalidArgument for a file it read but cannot use as a
    // policy (a parse error, an unknown extension, over the size limit): the
    // policy is invalid. Anything else is a file it could not read.
    result.exit_code =
        absl::IsInvalidArgument(loaded.status()) ? kExitFailed : kExitUsage;
    if (result.exit_code == kExitFailed) {
      PrintError(command, "invalid policy: 1 error");
    }
    return result;
  }
  result.files = loaded->sources.files().size();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      Compile(loaded->policy);
  if (compiled.ok()) {
    result.policy = *std::move(compiled);
    return result;
  }
  // Compile() folds its errors into one message; Validate() gives them with
  // their paths, which PolicySources maps back to the files they came from.
  const ValidationReport report = Validate(loaded->policy);
  if (report.ok()) {
    // Validate() and Compile() run the same checks; should they ever
    // disagree, the policy is still invalid and Compile()'s message says why.
    PrintErr(absl::StrCat(compiled.status().message(), "\n"));
    PrintError(command, "invalid policy: 1 error");
    result.exit_code = kExitFailed;
    return result;
  }
  std::string errors;
  for (const PolicyError& error : report.errors) {
    absl::StrAppend(&errors, loaded->sources.Locate(error.path), ": ",
                    error.message, "\n");
  }
  if (report.more_errors > 0) {
    absl::StrAppend(&errors, "(and ", report.more_errors, " more errors)\n");
  }
  PrintErr(errors);
  const size_t count = report.errors.size() + report.more_errors;
  PrintError(command, absl::StrCat("invalid policy: ", count,
                                   count == 1 ? " error" : " errors"));
  result.exit_code = kExitFailed;
  return result;
}

}  // namespace portcullis::cli
