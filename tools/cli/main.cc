// The `portcullis` command-line tool: see `portcullis --help` and docs/cli.md.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"

int main(int argc, char** argv) {
  using portcullis::cli::kExitUsage;
  using portcullis::cli::PrintErr;
  // `bazel run` starts a binary inside its runfiles tree; relative paths on
  // the command line mean what they meant where the user typed them.
  const char* working_directory = std::getenv("BUILD_WORKING_DIRECTORY");
  if (working_directory != nullptr && *working_directory != '\0' &&
      chdir(working_directory) != 0) {
    PrintErr(absl::StrCat(
        "portcullis: ", working_directory,
        ": cannot change to directory: ", std::strerror(errno), "\n"));
    return kExitUsage;
  }
  const std::vector<std::string> args(argv + 1, argv + argc);
  const int exit_code = portcullis::cli::RunTool(args);
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    // A command that writes much checks its writes and has said so already.
    if (exit_code != kExitUsage) {
      PrintErr("portcullis: standard output: cannot write\n");
    }
    return kExitUsage;
  }
  return exit_code;
}
