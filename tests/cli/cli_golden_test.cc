// Runs the `portcullis` binary on every command, valid and malformed inputs,
// and compares its stdout, stderr and exit code with the golden files under
// tests/cli/testdata/golden/ (stdout and stderr; exit codes are in the table
// below, so that a change of contract shows in review). Bundles, intact and
// damaged, are written to the scratch directory first (FixtureEnvironment);
// outputs name it `$TMP/` (Normalize).
//
// Regenerate the golden files after an intended change of output:
//   bazel run //tests/cli:cli_golden_test -- --update
// then review the diff. Exit codes are never regenerated.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

extern char** environ;

namespace portcullis {
namespace {

bool update_goldens = false;

constexpr char kBinary[] = "tools/portcullis";
constexpr char kGoldenDir[] = "tests/cli/testdata/golden";
constexpr char kInputs[] = "tests/cli/testdata/inputs";

std::string Input(absl::string_view name) {
  return absl::StrCat(kInputs, "/", name);
}

constexpr char kGoodRequest[] =
    R"({"id": "q1", "principal": {"entity_user": {"user_id": "u-ben", )"
    R"("entity_id": "e-acme-gmbh", "client_id": "c-acme-ap-app"}}, )"
    R"("object_type": "payable", "action": "update", "entity_id": )"
    R"("e-acme-gmbh", "resource": {"entity_id": "e-acme-gmbh", )"
    R"("created_by": "u-ben"}})";

constexpr char kDeniedRequest[] =
    R"({"id": "q2", "principal": {"entity_user": {"user_id": "u-gil", )"
    R"("entity_id": "e-acme-ltd"}}, "object_type": "payable", "action": )"
    R"("approve", "entity_id": "e-acme-ltd"})";

std::string HugeLineInput() {
  return absl::StrCat(R"({"id": "before"})", "\n",
                      "{\"id\": \"huge\", \"x\": \"", std::string(2 << 20, 'x'),
                      "\"}\n", R"({"id": "after"})", "\n");
}

// A request line, padded with spaces to `bytes` bytes when it is shorter.
std::string RequestOfLength(absl::string_view id, size_t bytes) {
  std::string line = absl::StrCat(
      R"({"id": ")", id, R"(", "principal": )", R"({"partner": {"client_id": )",
      R"("c-acme-backend"}}, "object_type": )",
      R"("payable", "action": "read", )", R"("entity_id": "e-acme-gmbh"})");
  if (bytes > line.size()) {
    line.insert(line.size() - 1, std::string(bytes - line.size(), ' '));
  }
  return line;
}

// Lines of exactly the CLI's 1 MiB line limit and one byte more.
std::string LinesAtTheLimitInput() {
  constexpr size_t kMaxLineBytes = size_t{1} << 20;
  return absl::StrCat(RequestOfLength("at-limit", kMaxLineBytes), "\n",
                      RequestOfLength("past-limit", kMaxLineBytes + 1), "\n",
                      RequestOfLength("after", 0), "\n");
}

std::string BinaryInput() {
  std::string bytes;
  for (int round = 0; round < 3; ++round) {
    for (int b = 255; b >= 0; --b) bytes.push_back(static_cast<char>(b));
  }
  return bytes;
}

struct GoldenCase {
  GoldenCase(std::string name, std::vector<std::string> args, int exit_code,
             std::string stdin_text = "", bool stdout_full = false)
      : name(std::move(name)),
        args(std::move(args)),
        exit_code(exit_code),
        stdin_text(std::move(stdin_text)),
        stdout_full(stdout_full) {}

  std::string name;
  std::vector<std::string> args;
  int exit_code;
  // Standard input (empty: /dev/null, as for every case without it).
  std::string stdin_text;
  // Standard output goes to /dev/full, which fails every write.
  bool stdout_full;
};

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

// Bundles the cases read, made by FixtureEnvironment (below) from the Monite
// example before any case runs: as compiled, truncated to half its size, with
// one body byte flipped (the digest left as it was), and claiming format
// version 2.
const std::string& GoodBundle() {
  static const std::string* path = new std::string(TempPath("fixture.bundle"));
  return *path;
}
const std::string& DamagedBundle() {
  static const std::string* path =
      new std::string(TempPath("fixture_damaged.bundle"));
  return *path;
}
const std::string& TamperedBundle() {
  static const std::string* path =
      new std::string(TempPath("fixture_tampered.bundle"));
  return *path;
}
const std::string& OtherVersionBundle() {
  static const std::string* path =
      new std::string(TempPath("fixture_version_1.bundle"));
  return *path;
}

std::vector<GoldenCase> Cases() {
  const std::string monite = "examples/monite";
  const std::string monta = "examples/monta/policy.txtpb";
  const std::string invalid = Input("invalid");
  return {
      // The tool: help, unknown commands and flags.
      {"no_arguments", {}, 2},
      {"help_flag", {"--help"}, 0},
      {"help_short_flag", {"-h"}, 0},
      {"help", {"help"}, 0},
      {"help_validate", {"help", "validate"}, 0},
      {"help_check", {"help", "check"}, 0},
      {"help_explain", {"help", "explain"}, 0},
      {"help_stats", {"help", "stats"}, 0},
      {"help_compile", {"help", "compile"}, 0},
      {"help_diff", {"help", "diff"}, 0},
      {"help_unknown_command", {"help", "frobnicate"}, 2},
      {"help_two_commands", {"help", "check", "stats"}, 2},
      {"unknown_command", {"frobnicate"}, 2},
      {"unknown_tool_flag", {"--verbose"}, 2},

      // compile (writing bundles: BundleRoundTrip below) and diff
      {"compile_without_output", {"compile", monite}, 2},
      {"compile_output_not_a_bundle", {"compile", monite, "-o", "out.json"}, 2},
      {"compile_without_files", {"compile", "-o", "out.bundle"}, 2},
      {"compile_invalid_policy",
       {"compile", Input("invalid/a.json"), "-o", "out.bundle"},
       1},
      {"diff_same_policy", {"diff", monite, monite}, 0},
      {"diff_monite_monta", {"diff", monite, monta}, 1},
      {"diff_one_argument", {"diff", monite}, 2},
      {"diff_invalid_policy", {"diff", monite, Input("invalid")}, 2},
      {"compile_help_flag", {"compile", "--help"}, 0},
      {"compile_output_unwritable",
       {"compile", monite, "-o", Input("no_such_directory/out.bundle")},
       2},
      {"diff_help_flag", {"diff", "--help"}, 0},
      {"diff_missing_file", {"diff", monite, Input("missing.json")}, 2},
      {"diff_unknown_flag", {"diff", "--color", monite, monite}, 2},
      // --max-file-bytes: a file past it is an invalid policy whose error
      // says how to raise the limit; a value that is no size is a usage error.
      {"validate_max_file_bytes_past",
       {"validate", "--max-file-bytes", "1000", monite},
       1},
      {"stats_max_file_bytes_not_a_number",
       {"stats", "--max-file-bytes", "1GB", monite},
       2},

      // Bundles: a damaged, tampered or other-version bundle is an invalid
      // policy, with each command's code for one (1 for validate, stats and
      // compile, 2 for check, explain and diff); a missing one is a file
      // that cannot be read (2).
      {"validate_bundle", {"validate", GoodBundle()}, 0},
      {"validate_damaged_bundle", {"validate", DamagedBundle()}, 1},
      {"validate_tampered_bundle", {"validate", TamperedBundle()}, 1},
      {"validate_other_version_bundle", {"validate", OtherVersionBundle()}, 1},
      {"validate_missing_bundle", {"validate", Input("missing.bundle")}, 2},
      {"stats_damaged_bundle", {"stats", DamagedBundle()}, 1},
      {"compile_damaged_bundle",
       {"compile", DamagedBundle(), "-o", TempPath("recompiled.bundle")},
       1},
      {"check_damaged_bundle",
       {"check", "--policy", DamagedBundle(), "--request", kGoodRequest},
       2},
      {"check_tampered_bundle",
       {"check", "--policy", TamperedBundle(), "--request", kGoodRequest},
       2},
      {"explain_damaged_bundle",
       {"explain", "--policy", DamagedBundle(), "--request", kGoodRequest},
       2},
      {"diff_damaged_bundle", {"diff", GoodBundle(), DamagedBundle()}, 2},
      {"diff_tampered_bundle", {"diff", TamperedBundle(), GoodBundle()}, 2},

      // keygen (a new key is random: its success is tested in
      // tests/cli/keygen_test.sh)
      {"keygen_help_flag", {"keygen", "--help"}, 0},
      {"keygen_without_kid", {"keygen", "-o", "x.jwk"}, 2},
      {"keygen_bad_kid", {"keygen", "--kid", "a b", "-o", "x.jwk"}, 2},

      // validate
      {"validate_help_flag", {"validate", "--help"}, 0},
      {"validate_monite_directory", {"validate", monite}, 0},
      {"validate_monta", {"validate", monta}, 0},
      {"validate_merged_examples", {"validate", monite, monta}, 0},
      {"validate_errors_in_two_files",
       {"validate", Input("invalid/a.json"), Input("invalid/b.json")},
       1},
      {"validate_errors_in_a_directory", {"validate", invalid}, 1},
      {"validate_more_errors_than_reported",
       {"validate", Input("many_errors.json")},
       1},
      {"validate_json_syntax_error",
       {"validate", Input("syntax_error.json")},
       1},
      {"validate_text_syntax_error",
       {"validate", Input("syntax_error.txtpb")},
       1},
      {"validate_unknown_policy_field",
       {"validate", Input("unknown_field.json")},
       1},
      {"validate_redundant_scopes_warns",
       {"validate", Input("redundant_scopes.txtpb")},
       0},
      {"validate_strict_fails_on_warnings",
       {"validate", "--strict", Input("redundant_scopes.txtpb")},
       1},
      {"validate_strict_without_warnings", {"validate", "--strict", monta}, 0},
      {"validate_empty_json_file", {"validate", Input("empty.json")}, 1},
      {"validate_empty_text_file", {"validate", Input("empty.txtpb")}, 0},
      {"validate_binary_garbage", {"validate", Input("garbage.json")}, 1},
      // 100,000 brackets: refused at the limit, never a stack overflow.
      {"validate_deep_nesting", {"validate", Input("deep_nesting.json")}, 1},
      {"check_deep_nesting_request",
       {"check", "--policy", monite, "--requests", "-"},
       1,
       [] {
         std::string line;
         for (int i = 0; i < 50000; ++i) line += "{\"a\":[";
         return line + "\n";
       }()},
      {"check_list_of_lists_request",
       {"check", "--policy", monite, "--request", std::string(100000, '[')},
       1},
      {"validate_unknown_extension", {"validate", Input("notes.md")}, 1},
      {"validate_missing_file", {"validate", Input("missing.json")}, 2},
      {"validate_no_files", {"validate"}, 2},
      {"validate_unknown_flag", {"validate", "--lenient", monite}, 2},
      {"validate_other_commands_flag", {"validate", monite, "-o", "x"}, 2},

      // check
      {"check_help_flag", {"check", "--help"}, 0},
      {"check_monite",
       {"check", "--policy", monite, "--requests",
        "examples/monite/requests.jsonl"},
       0},
      {"check_monite_explain",
       {"check", "--explain", "--policy", monite, "--requests",
        "examples/monite/requests.jsonl"},
       0},
      {"check_monta",
       {"check", "--policy", monta, "--requests",
        "examples/monta/requests.jsonl"},
       0},
      {"check_one_thread",
       {"check", "--threads", "1", "--policy", monite, "--requests",
        "examples/monite/requests.jsonl"},
       0},
      {"check_request",
       {"check", "--policy", monite, "--request", kGoodRequest},
       0},
      {"check_request_explain",
       {"check", "--policy", monite, "--request", kDeniedRequest, "--explain"},
       0},
      {"check_request_unreadable",
       {"check", "--policy", monite, "--request", R"({"id": "q", "verb": 1})"},
       1},
      {"check_bad_request_lines",
       {"check", "--policy", monite, "--requests", Input("bad_requests.jsonl")},
       1},
      {"check_stdin",
       {"check", "--policy", monite, "--requests", "-"},
       0,
       absl::StrCat(kGoodRequest, "\n", kDeniedRequest, "\n")},
      {"check_stdin_empty",
       {"check", "--policy", monite, "--requests", "-"},
       0},
      {"check_stdin_huge_line",
       {"check", "--policy", monite, "--requests", "-"},
       1,
       HugeLineInput()},
      {"check_stdin_binary_garbage",
       {"check", "--policy", monite, "--requests=-"},
       1,
       BinaryInput()},
      {"check_stdin_lines_at_the_limit",
       {"check", "--policy", monite, "--requests", "-"},
       1,
       LinesAtTheLimitInput()},
      {"check_binary_garbage_file",
       {"check", "--policy", monite, "--requests", Input("garbage.jsonl")},
       1},
      {"check_requests_missing",
       {"check", "--policy", monite, "--requests", Input("missing.jsonl")},
       2},
      {"check_requests_is_a_directory",
       {"check", "--policy", monite, "--requests", kInputs},
       2},
      {"check_invalid_policy",
       {"check", "--policy", invalid, "--requests",
        "examples/monite/requests.jsonl"},
       2},
      {"check_policy_missing",
       {"check", "--policy", Input("missing.json"), "--request", "{}"},
       2},
      {"check_output_unwritable",
       {"check", "--policy", monite, "--requests",
        "examples/monite/requests.jsonl"},
       2,
       "",
       /*stdout_full=*/true},
      {"check_without_policy",
       {"check", "--requests", "examples/monite/requests.jsonl"},
       2},
      {"check_without_requests", {"check", "--policy", monite}, 2},
      {"check_request_and_requests",
       {"check", "--policy", monite, "--request", "{}", "--requests", "-"},
       2},
      {"check_empty_request",
       {"check", "--policy", monite, "--request", " "},
       2},
      {"check_policy_without_value", {"check", "--policy"}, 2},
      {"check_bad_threads",
       {"check", "--policy", monite, "--request", "{}", "--threads", "0"},
       2},
      // Said to be a bad value, not a missing one.
      {"check_negative_threads",
       {"check", "--policy", monite, "--request", "{}", "--threads", "-1"},
       2},
      {"check_unknown_flag",
       {"check", "--policy", monite, "--request", "{}", "--bogus"},
       2},
      {"check_unexpected_argument",
       {"check", "extra", "--policy", monite, "--request", "{}"},
       2},

      // explain
      {"explain_help_flag", {"explain", "--help"}, 0},
      {"explain_allowed",
       {"explain", "--policy", monite, "--request", kGoodRequest},
       0},
      {"explain_denied",
       {"explain", "--policy", monite, "--request", kDeniedRequest},
       0},
      {"explain_unreadable_request",
       {"explain", "--policy", monite, "--request", "{\"id\": "},
       1},
      {"explain_without_request", {"explain", "--policy", monite}, 2},
      {"explain_invalid_policy",
       {"explain", "--policy", invalid, "--request", kGoodRequest},
       2},
      {"explain_policy_missing",
       {"explain", "--policy", Input("missing.json"), "--request",
        kGoodRequest},
       2},
      {"explain_unknown_flag",
       {"explain", "--policy", monite, "--request", kGoodRequest, "--explain"},
       2},

      // stats
      {"stats_help_flag", {"stats", "--help"}, 0},
      {"stats_monite", {"stats", monite}, 0},
      {"stats_monta", {"stats", monta}, 0},
      {"stats_empty_policy", {"stats", Input("empty.txtpb")}, 0},
      {"stats_invalid_policy", {"stats", invalid}, 1},
      {"stats_missing_file", {"stats", Input("missing.json")}, 2},
      {"stats_no_files", {"stats"}, 2},
      {"stats_unknown_flag", {"stats", "--json", monite}, 2},
  };
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

struct RunResult {
  int exit_code = -1;  // 128 + signal when the binary was killed
  std::string out;
  std::string err;
};

// What varies from run to run, replaced in outputs before they are compared:
// the scratch directory (TEST_TMPDIR, or /tmp under `bazel run`) becomes
// `$TMP/`, and the process id and counter in a bundle's temporary file name
// (`out.bundle.tmp-1234-0`) become `PID-N`.
std::string Normalize(std::string text) {
  const std::string tmp = TempPath("");
  for (size_t at; (at = text.find(tmp)) != std::string::npos;) {
    text.replace(at, tmp.size(), "$TMP/");
  }
  const std::string marker = ".bundle.tmp-";
  constexpr char kDigits[] = "0123456789";
  for (size_t at = text.find(marker); at != std::string::npos;
       at = text.find(marker, at + 1)) {
    const size_t pid = at + marker.size();
    const size_t dash = text.find_first_not_of(kDigits, pid);
    if (dash == std::string::npos || dash == pid || text[dash] != '-') continue;
    const size_t end =
        std::min(text.find_first_not_of(kDigits, dash + 1), text.size());
    if (end == dash + 1) continue;
    text.replace(pid, end - pid, "PID-N");
  }
  return text;
}

// Runs the binary with `c`'s arguments and input, outputs to files.
RunResult RunBinary(const GoldenCase& c) {
  const std::string in_path = TempPath("stdin");
  const std::string out_path = TempPath("stdout");
  const std::string err_path = TempPath("stderr");
  std::ofstream(in_path, std::ios::binary | std::ios::trunc) << c.stdin_text;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, in_path.c_str(),
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(
      &actions, STDOUT_FILENO, c.stdout_full ? "/dev/full" : out_path.c_str(),
      O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);

  std::vector<std::string> argv_strings = {kBinary};
  argv_strings.insert(argv_strings.end(), c.args.begin(), c.args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // Under `bazel run` (--update) these name the user's directories; the
  // binary must resolve paths from the runfiles tree as under `bazel test`.
  std::vector<char*> env;
  for (char** var = environ; *var != nullptr; ++var) {
    if (!absl::StartsWith(*var, "BUILD_WORKING_DIRECTORY=") &&
        !absl::StartsWith(*var, "BUILD_WORKSPACE_DIRECTORY=")) {
      env.push_back(*var);
    }
  }
  env.push_back(nullptr);

  RunResult result;
  pid_t pid;
  const int spawned =
      posix_spawn(&pid, kBinary, &actions, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    ADD_FAILURE() << "cannot run " << kBinary << ": " << std::strerror(spawned);
    return result;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (!c.stdout_full) result.out = Normalize(ReadFile(out_path));
  result.err = Normalize(ReadFile(err_path));
  return result;
}

void WriteGolden(const std::string& name, const std::string& content) {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  ASSERT_NE(workspace, nullptr)
      << "--update writes into the source tree: run it with `bazel run`";
  const std::string path = absl::StrCat(workspace, "/", kGoldenDir, "/", name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// Writes the bundles of GoodBundle() and the others before any test runs.
class FixtureEnvironment : public testing::Environment {
 public:
  void SetUp() override {
    const RunResult compiled = RunBinary(
        {"fixture", {"compile", "examples/monite", "-o", GoodBundle()}, 0});
    ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
    const std::string bundle = ReadFile(GoodBundle());
    ASSERT_GT(bundle.size(), 200u);
    Write(DamagedBundle(), bundle.substr(0, bundle.size() / 2));
    std::string tampered = bundle;
    tampered[bundle.size() - 100] ^= 0x01;  // a body byte; the digest stays
    Write(TamperedBundle(), tampered);
    std::string other_version = bundle;
    // Bytes 8..11: the format version, little-endian; version 1 is the one
    // before the current one (role names, dense permission rows).
    other_version[8] = 1;
    Write(OtherVersionBundle(), other_version);
  }

 private:
  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
    ASSERT_TRUE(out.good()) << "cannot write " << path;
  }
};

class CliGoldenTest : public testing::TestWithParam<GoldenCase> {};

TEST_P(CliGoldenTest, MatchesGoldenFiles) {
  const GoldenCase& c = GetParam();
  const RunResult result = RunBinary(c);
  EXPECT_EQ(result.exit_code, c.exit_code) << "stderr:\n" << result.err;
  const std::string out_name = c.name + ".stdout";
  const std::string err_name = c.name + ".stderr";
  if (update_goldens) {
    WriteGolden(out_name, result.out);
    WriteGolden(err_name, result.err);
    return;
  }
  EXPECT_EQ(result.out, ReadFile(absl::StrCat(kGoldenDir, "/", out_name)))
      << "stdout differs from " << out_name;
  EXPECT_EQ(result.err, ReadFile(absl::StrCat(kGoldenDir, "/", err_name)))
      << "stderr differs from " << err_name;
}

INSTANTIATE_TEST_SUITE_P(Commands, CliGoldenTest, testing::ValuesIn(Cases()),
                         [](const testing::TestParamInfo<GoldenCase>& info) {
                           return info.param.name;
                         });

// The answers to the examples are their oracles, byte for byte.
TEST(CliExamplesTest, AnswersMatchTheExamplesExpectedFiles) {
  const struct {
    std::string policy;
    std::string requests;
    std::string expected;
  } examples[] = {
      {"examples/monite", "examples/monite/requests.jsonl",
       "examples/monite/requests.expected.jsonl"},
      {"examples/monta/policy.txtpb", "examples/monta/requests.jsonl",
       "examples/monta/requests.expected.jsonl"},
  };
  for (const auto& example : examples) {
    SCOPED_TRACE(example.policy);
    const RunResult result = RunBinary(
        {"oracle",
         {"check", "--policy", example.policy, "--requests", example.requests},
         0});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    const std::string expected = ReadFile(example.expected);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(result.out, expected);
  }
}

// compile writes a bundle that check, diff and stats read as they read the
// policy files it came from; a damaged or keyed bundle is refused.
TEST(CliBundleTest, CompiledBundleAnswersLikeItsSources) {
  const std::string bundle = TempPath("monite.bundle");
  RunResult compiled =
      RunBinary({"compile", {"compile", "examples/monite", "-o", bundle}, 0});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  EXPECT_TRUE(absl::StartsWith(compiled.out, Normalize(bundle) + ": "));
  EXPECT_TRUE(absl::StrContains(compiled.out, " bytes, digest "));
  EXPECT_EQ(compiled.err, "");

  const RunResult checked =
      RunBinary({"check",
                 {"check", "--policy", bundle, "--requests",
                  "examples/monite/requests.jsonl"},
                 0});
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_EQ(checked.out, ReadFile("examples/monite/requests.expected.jsonl"));

  const RunResult same =
      RunBinary({"diff", {"diff", "examples/monite", bundle}, 0});
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_EQ(same.out, "");
  EXPECT_EQ(RunBinary({"stats", {"stats", bundle}, 0}).exit_code, 0);

  // A bundle is a whole policy: it cannot be merged with files.
  const RunResult merged = RunBinary(
      {"merge", {"validate", bundle, "examples/monta/policy.txtpb"}, 0});
  EXPECT_EQ(merged.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(merged.err, "a bundle stands alone"));

  // Truncated: refused as an invalid policy, with ReadBundle's message.
  const std::string whole = ReadFile(bundle);
  const std::string truncated = TempPath("truncated.bundle");
  std::ofstream(truncated, std::ios::binary | std::ios::trunc)
      << whole.substr(0, whole.size() / 2);
  const RunResult damaged = RunBinary({"damaged", {"stats", truncated}, 0});
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_TRUE(absl::StartsWith(damaged.err,
                               Normalize(truncated) + ": truncated bundle"))
      << damaged.err;

  // Keyed: written with a key, the bundle cannot be read without it.
  const std::string key = TempPath("bundle.key");
  std::ofstream(key, std::ios::binary | std::ios::trunc)
      << std::string(32, 'k');
  const std::string keyed = TempPath("keyed.bundle");
  EXPECT_EQ(
      RunBinary({"keyed",
                 {"compile", "examples/monite", "-o", keyed, "--key-file", key},
                 0})
          .exit_code,
      0);
  EXPECT_EQ(RunBinary({"unkeyed read", {"stats", keyed}, 0}).exit_code, 1);
  std::ofstream(key, std::ios::binary | std::ios::trunc) << "short";
  const RunResult short_key =
      RunBinary({"short key",
                 {"compile", "examples/monite", "-o", keyed, "--key-file", key},
                 0});
  EXPECT_EQ(short_key.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(short_key.err, "a key is 32 bytes, not 5"))
      << short_key.err;
}

// Every golden file belongs to a case: a renamed or removed case leaves none
// behind.
TEST(CliGoldenFilesTest, EveryGoldenFileHasACase) {
  std::set<std::string> expected;
  for (const GoldenCase& c : Cases()) {
    EXPECT_TRUE(expected.insert(c.name + ".stdout").second)
        << "duplicate case " << c.name;
    expected.insert(c.name + ".stderr");
  }
  if (update_goldens) return;
  std::set<std::string> found;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(kGoldenDir, error)) {
    found.insert(entry.path().filename().string());
  }
  EXPECT_FALSE(error) << kGoldenDir << ": " << error.message();
  EXPECT_EQ(found, expected);
}

}  // namespace
}  // namespace portcullis

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  testing::AddGlobalTestEnvironment(new portcullis::FixtureEnvironment());
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--update") {
      portcullis::update_goldens = true;
    } else {
      std::fprintf(stderr, "unknown argument %s (only --update)\n", argv[i]);
      return 2;
    }
  }
  return RUN_ALL_TESTS();
}
