// The answer writer: exact bytes for every answer shape, and output that
// protobuf's JSON parser reads back as the same response. The escaping itself
// is tested in tests/internal/json_string_test.cc.
#include "tools/cli/json_writer.h"

#include <string>

#include "engine/common/decision.h"
#include "engine/evaluate/evaluator.h"
#include "engine/load/policy_loader.h"
#include "gtest/gtest.h"
#include "proto/check.pb.h"

namespace portcullis::cli {
namespace {

TEST(JsonWriterTest, WritesEveryAnswerShape) {
  Explanation explanation;
  explanation.decision = {Verdict::kAllowedForOwn, Reason::kOwnership};
  explanation.steps = {{"tenant", true, "entity \"e-1\" is the principal's"},
                       {"ownership", false, "no resource"}};
  Explanation empty;
  empty.decision = {Verdict::kNotAllowed, Reason::kInvalidRequest};
  const struct {
    const char* name;
    std::string out;
    std::string want;
  } cases[] = {
      {"answer",
       [] {
         std::string out;
         AppendAnswer("42", {Verdict::kAllowed, Reason::kOwnership}, out);
         return out;
       }(),
       "{\"id\": \"42\", \"decision\": \"allowed\", \"reason\": "
       "\"ownership\"}\n"},
      {"explained",
       [&] {
         std::string out;
         AppendExplainedAnswer("7", explanation, out);
         return out;
       }(),
       "{\"id\": \"7\", \"decision\": \"allowed_for_own\", \"reason\": "
       "\"ownership\", \"explanation\": [{\"rule\": \"tenant\", \"passed\": "
       "true, \"detail\": \"entity \\\"e-1\\\" is the principal's\"}, "
       "{\"rule\": \"ownership\", \"passed\": false, \"detail\": \"no "
       "resource\"}]}\n"},
      {"explained_without_steps",
       [&] {
         std::string out;
         AppendExplainedAnswer("", empty, out);
         return out;
       }(),
       "{\"id\": \"\", \"decision\": \"not_allowed\", \"reason\": "
       "\"invalid_request\", \"explanation\": []}\n"},
      {"error",
       [] {
         std::string out;
         AppendError("line 3", "line 3: invalid JSON: \"x\"", out);
         return out;
       }(),
       "{\"id\": \"line 3\", \"error\": \"line 3: invalid JSON: "
       "\\\"x\\\"\"}\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.out, c.want);
  }
}

TEST(JsonWriterTest, OutputReadsBackAsTheSameResponse) {
  // Every byte value in the id and the detail.
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  Explanation explanation;
  explanation.decision = {Verdict::kNotAllowed, Reason::kRbac};
  explanation.steps = {{"rbac", false, "\xc3\xa9\t\"\\"}};
  std::string out;
  AppendExplainedAnswer("id \xe2\x82\xac \x01", explanation, out);
  v1::CheckResponse response;
  ASSERT_TRUE(ParseJsonMessage(out, response).ok()) << out;
  EXPECT_EQ(response.id(), "id \xe2\x82\xac \x01");
  EXPECT_EQ(response.decision(), "not_allowed");
  EXPECT_EQ(response.reason(), "rbac");
  ASSERT_EQ(response.explanation_size(), 1);
  EXPECT_EQ(response.explanation(0).detail(), "\xc3\xa9\t\"\\");

  std::string error;
  AppendError(all_bytes, all_bytes, error);
  v1::CheckResponse parsed;
  ASSERT_TRUE(ParseJsonMessage(error, parsed).ok()) << error;
  // ASCII survives exactly; each byte from 0x80 up is invalid alone.
  EXPECT_EQ(parsed.id().substr(0, 128), all_bytes.substr(0, 128));
  EXPECT_EQ(parsed.id().size(), 128 + 128 * 3u);  // U+FFFD is 3 bytes
  EXPECT_EQ(parsed.error(), parsed.id());
}

}  // namespace
}  // namespace portcullis::cli
