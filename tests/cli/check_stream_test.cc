// The check stream: the same answers, in the same order, whatever the thread
// count and batch size; blank, bad and over-long lines answered as specified.
#include "tools/cli/check_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "gtest/gtest.h"

namespace portcullis::cli {
namespace {

std::unique_ptr<const CompiledPolicy> MonitePolicy() {
  absl::StatusOr<LoadedPolicy> loaded =
      LoadPolicyFiles({std::string("examples/monite")});
  if (!loaded.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(loaded->policy);
  return policy.ok() ? *std::move(policy) : nullptr;
}

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

struct StreamOutput {
  absl::Status status;
  CheckStreamResult result;
  std::string out;
};

// Runs CheckStream over `input` written to a file.
StreamOutput RunStream(const CompiledPolicy& policy, const std::string& input,
                       const CheckStreamOptions& options) {
  const std::string path = TempPath("requests.jsonl");
  std::ofstream(path, std::ios::binary | std::ios::trunc) << input;
  const int fd = open(path.c_str(), O_RDONLY);
  std::FILE* out = std::tmpfile();
  StreamOutput output;
  absl::StatusOr<CheckStreamResult> result =
      CheckStream(policy, fd, path, out, options);
  close(fd);
  if (result.ok()) {
    output.result = *result;
  } else {
    output.status = result.status();
  }
  std::rewind(out);
  char chunk[65536];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), out)) > 0) {
    output.out.append(chunk, n);
  }
  std::fclose(out);
  return output;
}

TEST(CheckStreamTest, AnswersBlankBadAndLongLinesAsSpecified) {
  const std::unique_ptr<const CompiledPolicy> policy = MonitePolicy();
  ASSERT_NE(policy, nullptr);
  const std::string good =
      R"({"id": "g", "principal": {"partner": {"client_id": "c-acme-backend"}}, )"
      R"("object_type": "payable", "action": "read", "entity_id": "e-acme-gmbh"})";
  CheckStreamOptions options;
  options.max_line_bytes = 200;
  options.batch_bytes = 0;  // the minimum: 2 * max_line_bytes + 2
  const std::string input =
      absl::StrCat(good, "\n",                          // 1
                   "\n",                                // 2: blank
                   " \t\r\n",                           // 3: blank
                   R"({"id": "b", "bogus": 1})", "\n",  // 4: unknown field
                   std::string(300, 'x'), "\n",         // 5: longer than 200
                   std::string(5000, 'y'), "\n",  // 6: longer than a batch
                   "{\"id\": \"t\", \"principal\": {}}\r\n",  // 7: CRLF
                   "{\"id\": \"last\"}");  // 8: no final newline
  const StreamOutput output = RunStream(*policy, input, options);
  ASSERT_TRUE(output.status.ok()) << output.status;
  EXPECT_EQ(
      output.out,
      "{\"id\": \"g\", \"decision\": \"allowed\", \"reason\": \"granted\"}\n"
      "{\"id\": \"b\", \"error\": \"line 4: invalid JSON: bogus: Cannot "
      "find field.\"}\n"
      "{\"id\": \"line 5\", \"error\": \"line 5: longer than 200 "
      "bytes\"}\n"
      "{\"id\": \"line 6\", \"error\": \"line 6: longer than 200 "
      "bytes\"}\n"
      "{\"id\": \"t\", \"decision\": \"not_allowed\", \"reason\": "
      "\"invalid_request\"}\n"
      "{\"id\": \"last\", \"decision\": \"not_allowed\", \"reason\": "
      "\"invalid_request\"}\n");
  EXPECT_EQ(output.result.answered, 3u);
  EXPECT_EQ(output.result.errors, 3u);
}

// A partner's request, padded with spaces (before its closing brace) to
// exactly `bytes` bytes, then `ending`.
std::string RequestOfLength(absl::string_view id, size_t bytes,
                            absl::string_view ending = "") {
  std::string line = absl::StrCat(
      R"({"id": ")", id,
      R"(", "principal": {"partner": {"client_id": "c-acme-backend"}}, )",
      R"("object_type": "payable", "action": "read", )",
      R"("entity_id": "e-acme-gmbh"})");
  const size_t content = bytes - ending.size();
  EXPECT_LE(line.size(), content);
  line.insert(line.size() - 1, std::string(content - line.size(), ' '));
  return absl::StrCat(line, ending);
}

// max_line_bytes is inclusive and counts every byte before the newline (a
// CRLF line's \r too): a line of exactly the limit is answered, one a byte
// longer is an error, wherever it falls in a batch, whatever the thread count.
TEST(CheckStreamTest, MaxLineBytesAtTheLimitAndOnePast) {
  const std::unique_ptr<const CompiledPolicy> policy = MonitePolicy();
  ASSERT_NE(policy, nullptr);
  constexpr size_t kLimit = 200;
  const std::string input =
      absl::StrCat(RequestOfLength("a1", kLimit), "\n",      // 1: at the limit
                   RequestOfLength("p2", kLimit + 1), "\n",  // 2: one past it
                   RequestOfLength("a3", kLimit, "\r"), "\n",  // 3: \r included
                   RequestOfLength("p4", kLimit + 1, "\r"), "\n",  // 4
                   RequestOfLength("a5", kLimit), "\n",            // 5
                   RequestOfLength("p6", kLimit + 1));  // 6: no final newline
  const std::string granted =
      R"(", "decision": "allowed", "reason": "granted"})";
  const std::string want = absl::StrCat(
      R"({"id": "a1)", granted, "\n",
      R"({"id": "line 2", "error": "line 2: longer than 200 bytes"})", "\n",
      R"({"id": "a3)", granted, "\n",
      R"({"id": "line 4", "error": "line 4: longer than 200 bytes"})", "\n",
      R"({"id": "a5)", granted, "\n",
      R"({"id": "line 6", "error": "line 6: longer than 200 bytes"})", "\n");
  for (const int threads : {1, 2}) {
    // 0: the smallest batch, 2 * kLimit + 2 bytes.
    for (const size_t batch_bytes : {size_t{0}, size_t{403}, size_t{1} << 20}) {
      SCOPED_TRACE(absl::StrCat(threads, " threads, batch ", batch_bytes));
      CheckStreamOptions options;
      options.threads = threads;
      options.max_line_bytes = kLimit;
      options.batch_bytes = batch_bytes;
      const StreamOutput output = RunStream(*policy, input, options);
      ASSERT_TRUE(output.status.ok()) << output.status;
      EXPECT_EQ(output.out, want);
      EXPECT_EQ(output.result.answered, 3u);
      EXPECT_EQ(output.result.errors, 3u);
    }
  }
  // The last line alone, at the limit: answered.
  CheckStreamOptions options;
  options.max_line_bytes = kLimit;
  const StreamOutput last =
      RunStream(*policy, RequestOfLength("a", kLimit), options);
  EXPECT_EQ(last.out, absl::StrCat(R"({"id": "a)", granted, "\n"));
}

TEST(CheckStreamTest, MaxLineBytesDefaultsTo1MiB) {
  EXPECT_EQ(CheckStreamOptions().max_line_bytes, size_t{1} << 20);
}

TEST(CheckStreamTest, SameAnswersForAnyThreadCountAndBatchSize) {
  const std::unique_ptr<const CompiledPolicy> policy = MonitePolicy();
  ASSERT_NE(policy, nullptr);
  std::vector<std::string> requests;
  std::ifstream in("examples/monite/requests.jsonl");
  for (std::string line; std::getline(in, line);) requests.push_back(line);
  ASSERT_GT(requests.size(), 30u);

  // Requests with blank, bad and over-long lines mixed in.
  std::string input;
  for (int i = 0; i < 12000; ++i) {
    std::string line = requests[static_cast<size_t>(i) % requests.size()];
    if (i % 97 == 0) line = "";
    if (i % 101 == 0) line = R"({"id": "bad", "principal": 1})";
    if (i % 1009 == 0) line = std::string(3000, ' ') + "{}";
    absl::StrAppend(&input, line, "\n");
  }
  // The answers each line gets on its own.
  std::string want;
  CheckStreamResult want_counts;
  RequestParser parser;
  size_t line_number = 0;
  for (absl::string_view rest = input; !rest.empty();) {
    const size_t newline = rest.find('\n');
    const absl::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline + 1);
    ++line_number;
    if (line.empty()) continue;
    if (line.size() > 2048) {
      absl::StrAppend(&want, "{\"id\": \"line ", line_number,
                      "\", \"error\": \"line ", line_number,
                      ": longer than 2048 bytes\"}\n");
      ++want_counts.errors;
    } else if (AnswerLine(*policy, parser, line, line_number,
                          /*explain=*/true, want)) {
      ++want_counts.answered;
    } else {
      ++want_counts.errors;
    }
  }
  ASSERT_GT(want_counts.errors, 100u);

  for (const int threads : {1, 2, 3, 8}) {
    for (const size_t batch_bytes :
         {size_t{0}, size_t{100000}, size_t{300000}, size_t{1} << 20}) {
      SCOPED_TRACE(absl::StrCat(threads, " threads, batch ", batch_bytes));
      CheckStreamOptions options;
      options.explain = true;
      options.threads = threads;
      options.max_line_bytes = 2048;
      options.batch_bytes = batch_bytes;
      const StreamOutput output = RunStream(*policy, input, options);
      ASSERT_TRUE(output.status.ok()) << output.status;
      EXPECT_TRUE(output.out == want) << "answers differ";
      EXPECT_EQ(output.result.answered, want_counts.answered);
      EXPECT_EQ(output.result.errors, want_counts.errors);
    }
  }
}

TEST(CheckStreamTest, ReportsAnInputThatCannotBeRead) {
  const std::unique_ptr<const CompiledPolicy> policy = MonitePolicy();
  ASSERT_NE(policy, nullptr);
  const int fd = open(".", O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  std::FILE* out = std::tmpfile();
  const absl::StatusOr<CheckStreamResult> result =
      CheckStream(*policy, fd, "somedir", out, CheckStreamOptions());
  close(fd);
  std::fclose(out);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "somedir: cannot read: Is a directory");
}

}  // namespace
}  // namespace portcullis::cli
