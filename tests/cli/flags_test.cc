// The per-command flag parser: every accepted form and every usage error, with
// its exact message.
#include "tools/cli/flags.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace portcullis::cli {
namespace {

constexpr FlagSpec kFlags[] = {
    {"policy", FlagKind::kValues},
    {"request", FlagKind::kValue},
    {"explain", FlagKind::kSwitch},
};

// The parse as one string: `policy=[a,b] request=[x] explain positional=[p]`,
// or the error message.
std::string Describe(const std::vector<std::string>& args) {
  const absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, kFlags);
  if (!parsed.ok()) return std::string(parsed.status().message());
  if (parsed->help()) return "help";
  std::string out;
  for (const FlagSpec& flag : kFlags) {
    if (!parsed->Has(flag.name)) continue;
    absl::StrAppend(&out, flag.name);
    if (flag.kind != FlagKind::kSwitch) {
      absl::StrAppend(&out, "=[", absl::StrJoin(parsed->Values(flag.name), ","),
                      "]");
    }
    out += " ";
  }
  absl::StrAppend(&out, "positional=[",
                  absl::StrJoin(parsed->positional(), ","), "]");
  return out;
}

TEST(FlagsTest, ParsesOrRejectsExactly) {
  const struct {
    const char* name;
    std::vector<std::string> args;
    std::string want;
  } cases[] = {
      {"nothing", {}, "positional=[]"},
      {"values_until_next_flag",
       {"--policy", "a", "b", "--request", "{}", "--explain"},
       "policy=[a,b] request=[{}] explain positional=[]"},
      {"repeated_values_accumulate",
       {"--policy", "a", "--explain", "--policy=b"},
       "policy=[a,b] explain positional=[]"},
      {"inline_value",
       {"--request={\"id\": \"1\"}"},
       "request=[{\"id\": \"1\"}] positional=[]"},
      {"dash_is_a_value",
       {"--request", "-", "-"},
       "request=[-] positional=[-]"},
      {"positionals_around_flags",
       {"x", "--explain", "y"},
       "explain positional=[x,y]"},
      {"double_dash_ends_flags",
       {"--", "--explain", "-h"},
       "positional=[--explain,-h]"},
      {"help_long", {"x", "--help", "--bogus"}, "help"},
      {"help_short", {"-h"}, "help"},
      {"unknown_long", {"--bogus"}, "unknown flag --bogus"},
      {"unknown_with_value", {"--bogus=1"}, "unknown flag --bogus"},
      {"unknown_short", {"-x"}, "unknown flag -x"},
      {"value_missing_at_end", {"--request"}, "flag --request needs a value"},
      {"value_missing_before_flag",
       {"--request", "--explain"},
       "flag --request needs a value"},
      {"value_twice",
       {"--request", "a", "--request", "b"},
       "flag --request given twice"},
      {"values_missing",
       {"--policy", "--explain"},
       "flag --policy needs at least one value"},
      // A negative number is a value, for its flag to judge.
      {"negative_value",
       {"--request", "-1", "--policy", "-2", "-0.5"},
       "policy=[-2,-0.5] request=[-1] positional=[]"},
      {"negative_positional", {"--explain", "-1"}, "unknown flag -1"},
      {"switch_with_value", {"--explain=yes"}, "flag --explain takes no value"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Describe(c.args), c.want);
  }
}

}  // namespace
}  // namespace portcullis::cli
