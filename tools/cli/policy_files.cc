#include "tools/cli/policy_files.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/common/quote.h"
#include "engine/compile/compiler.h"
#include "engine/compile/json_policy_compiler.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"

namespace portcullis::cli {
namespace {

// Protobuf's JSON errors end with a line of the input and a caret under the
// error; text-format errors carry a line and column instead. Folds the caret
// form into the message's line as `(near "...")`, the input from the caret on,
// escaped: one error per line, and no raw bytes of a binary file on the
// terminal.
std::string OneLine(absl::string_view message) {
  const size_t first_end = message.find('\n');
  const absl::string_view first = message.substr(0, first_end);
  const size_t caret_start = message.rfind('\n');
  if (first_end == absl::string_view::npos || caret_start == first_end) {
    return std::string(first);
  }
  // The quoted input may itself hold newlines; the caret's column counts from
  // its start.
  const absl::string_view caret = message.substr(caret_start + 1);
  const absl::string_view input =
      message.substr(first_end + 1, caret_start - first_end - 1);
  if (caret.empty() || caret.back() != '^' ||
      caret.find_first_not_of(' ') != caret.size() - 1) {
    return std::string(first);
  }
  const absl::string_view near =
      input.substr(std::min(input.size(), caret.size() - 1));
  if (near.empty()) return std::string(first);
  return absl::StrCat(first, " (near ", internal::Quote(near), ")");
}

}  // namespace

bool IsBundlePath(absl::string_view path) {
  return absl::EndsWith(path, ".bundle");
}

PolicyFiles LoadPolicy(absl::string_view command,
                       absl::Span<const std::string> paths,
                       const ParsedArgs& args) {
  PolicyFiles result;
  LoadOptions options;
  if (args.Has(kMaxFileBytesFlag.name)) {
    uint64_t bytes = 0;
    if (!absl::SimpleAtoi(args.Value(kMaxFileBytesFlag.name), &bytes) ||
        bytes == 0) {
      result.exit_code = UsageError(
          command,
          absl::StrCat("--max-file-bytes: expected a positive number "
                       "of bytes, not ",
                       internal::Quote(args.Value(kMaxFileBytesFlag.name))));
      return result;
    }
    options.max_file_bytes = static_cast<size_t>(bytes);
    options.max_total_bytes =
        std::max(options.max_total_bytes, options.max_file_bytes);
  }
  const bool any_bundle = std::any_of(paths.begin(), paths.end(), IsBundlePath);
  if (any_bundle) {
    // A bundle is a whole compiled policy: there is nothing to merge it with.
    if (paths.size() != 1) {
      result.exit_code = UsageError(
          command, "a bundle stands alone: give it as the only policy file");
      return result;
    }
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> bundle =
        ReadBundle(paths.front());
    if (!bundle.ok()) {
      // ReadBundle's errors start with the path.
      PrintErr(absl::StrCat(bundle.status().message(), "\n"));
      // A bundle that cannot be opened is an I/O problem; one that is
      // malformed, tampered or of another version is an invalid policy.
      result.exit_code = absl::IsNotFound(bundle.status()) ||
                                 absl::IsPermissionDenied(bundle.status())
                             ? kExitUsage
                             : kExitFailed;
      if (result.exit_code == kExitFailed) {
        PrintError(command, "invalid bundle");
      }
      return result;
    }
    result.policy = *std::move(bundle);
    result.files = 1;
    return result;
  }
  // One JSON file compiles in two passes over its bytes, with no PolicySet of
  // all its roles (json_policy_compiler.h); what that does not take, valid
  // or not, is loaded and compiled below, which gives every error.
  {
    std::vector<PolicyError> warnings;
    std::string file;
    std::optional<std::unique_ptr<const CompiledPolicy>> streamed =
        CompileJsonFileStreamed(paths, options, CompileOptions(), &warnings,
                                &file);
    if (streamed) {
      result.files = 1;
      // As PolicySources::Locate names a path of a single file.
      for (const PolicyError& warning : warnings) {
        result.warnings.push_back(
            absl::StrCat(file, ":", warning.path, ": ", warning.message));
      }
      result.policy = *std::move(streamed);
      return result;
    }
  }
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles(paths, options);
  if (!loaded.ok()) {
    PrintErr(absl::StrCat(OneLine(loaded.status().message()), "\n"));
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
  std::vector<PolicyError> warnings;
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      Compile(loaded->policy, CompileOptions(), &warnings);
  for (const PolicyError& warning : warnings) {
    result.warnings.push_back(absl::StrCat(loaded->sources.Locate(warning.path),
                                           ": ", warning.message));
  }
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
