#include "tools/cli/output.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tools/cli/command.h"

namespace portcullis::cli {

void PrintOut(absl::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

void PrintErr(absl::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
}

void PrintError(absl::string_view command, absl::string_view message) {
  PrintErr(absl::StrCat("portcullis ", command, ": ", message, "\n"));
}

int UsageError(absl::string_view command, absl::string_view message) {
  PrintError(command, message);
  PrintErr(absl::StrCat("Run 'portcullis help ", command, "' for usage.\n"));
  return kExitUsage;
}

}  // namespace portcullis::cli
