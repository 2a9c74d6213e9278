// A small command-line parser for the `portcullis` subcommands: each command
// declares its flags, and arguments are parsed against that list only, so an
// unknown flag is a usage error that names it.
#ifndef PORTCULLIS_TOOLS_CLI_FLAGS_H_
#define PORTCULLIS_TOOLS_CLI_FLAGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace portcullis::cli {

enum class FlagKind {
  // `--explain`: present or not; `--explain=x` is an error.
  kSwitch,
  // `--request JSON` or `--request=JSON`: exactly one value, at most once.
  kValue,
  // `--policy FILE...`: every following argument up to the next flag, at least
  // one; may be repeated, the values accumulate.
  kValues,
};

struct FlagSpec {
  absl::string_view name;  // without the leading "--"
  FlagKind kind;
  // A one-letter alias (`-o` for `--output`), or '\0' for none.
  char short_name = '\0';
};

// The result of parsing one command's arguments. Immutable once returned.
class ParsedArgs {
 public:
  // True when `--help` or `-h` was given; parsing stopped there.
  bool help() const { return help_; }
  bool Has(absl::string_view flag) const;
  // The values of a kValue or kValues flag, in order; empty when absent.
  const std::vector<std::string>& Values(absl::string_view flag) const;
  // The value of a kValue flag; empty when absent.
  const std::string& Value(absl::string_view flag) const;
  // Arguments that are not flags (and everything after `--`).
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const std::string>,
                                              absl::Span<const FlagSpec>);
  bool help_ = false;
  std::map<std::string, std::vector<std::string>, std::less<>> flags_;
  std::vector<std::string> positional_;
};

// Parses `args` (the arguments after the command's name) against `flags`.
// InvalidArgument, with a message naming the flag, for an unknown flag, a
// missing value, a value given to a switch, or a kValue flag given twice.
// A lone "-" is a value (stdin), not a flag.
absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const std::string> args,
                                     absl::Span<const FlagSpec> flags);

}  // namespace portcullis::cli

#endif  // PORTCULLIS_TOOLS_CLI_FLAGS_H_
