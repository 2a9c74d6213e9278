// Loads and compiles the policy files named on a command line, reporting every
// problem the way `portcullis validate` does.
#ifndef PORTCULLIS_TOOLS_CLI_POLICY_FILES_H_
#define PORTCULLIS_TOOLS_CLI_POLICY_FILES_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/snapshot/compiled_policy.h"
#include "tools/cli/flags.h"

namespace portcullis::cli {

struct PolicyFiles {
  // kExitOk, kExitFailed (a file does not parse, or the policy does not
  // compile) or kExitUsage (a file cannot be read).
  int exit_code = 0;
  // Set when exit_code is kExitOk.
  std::unique_ptr<const CompiledPolicy> policy;
  // Policy files read, once directories are expanded.
  size_t files = 0;
  // The compiler's warnings, as `file:path: message` (ValidationReport).
  std::vector<std::string> warnings;
};

// `--max-file-bytes N`, taken by every command that loads policy files: the
// largest policy file read (LoadOptions::max_file_bytes, default 1 GiB); the
// limit on all files together (max_total_bytes) is raised to at least N.
inline constexpr FlagSpec kMaxFileBytesFlag = {"max-file-bytes",
                                               FlagKind::kValue};

// True for a compiled bundle (`.bundle`, engine/bundle.h).
bool IsBundlePath(absl::string_view path);

// Loads `paths` (engine/policy_loader.h: a directory stands for its policy
// files), merges and compiles them; or reads the one bundle among them (a
// bundle cannot be merged with other files: a usage error). On failure prints
// to stderr, one per line, the loader's error (which starts with the file's
// path) or every compiler error as `file:path: message` (with `(and N more
// errors)` past the compiler's limit), then `portcullis <command>: invalid
// policy: N errors`. `args` may hold --max-file-bytes (kMaxFileBytesFlag);
// a value that is not a positive integer is a usage error.
PolicyFiles LoadPolicy(absl::string_view command,
                       absl::Span<const std::string> paths,
                       const ParsedArgs& args);

}  // namespace portcullis::cli

#endif  // PORTCULLIS_TOOLS_CLI_POLICY_FILES_H_
