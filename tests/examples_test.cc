// Golden test: every example request answers as its .expected.jsonl line says,
// by names and (for bindable requests) by interned ids.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/compiler.h"
#include "engine/evaluator.h"
#include "engine/policy_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/check.pb.h"

namespace portcullis {
namespace {

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

struct Example {
  const char* name;
  std::vector<std::string> policy_paths;
  const char* requests;
  const char* expected;
};

class ExamplesTest : public testing::TestWithParam<Example> {};

TEST_P(ExamplesTest, EveryRequestAnswersAsExpected) {
  const Example& example = GetParam();
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles(example.policy_paths);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(loaded->policy);
  ASSERT_TRUE(policy.ok()) << policy.status();

  const std::vector<std::string> requests = ReadLines(example.requests);
  const std::vector<std::string> expected = ReadLines(example.expected);
  ASSERT_EQ(requests.size(), expected.size());
  ASSERT_GT(requests.size(), 20u);
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(requests[i]);
    v1::CheckRequest request;
    ASSERT_TRUE(ParseJsonMessage(requests[i], request).ok());
    v1::CheckResponse want;
    ASSERT_TRUE(ParseJsonMessage(expected[i], want).ok());
    ASSERT_EQ(request.id(), want.id());

    const CheckRequestView view = ViewOf(request);
    const Decision decision = Check(**policy, view);
    EXPECT_EQ(VerdictName(decision.verdict), want.decision());
    EXPECT_EQ(ReasonName(decision.reason), want.reason());
    const Explanation explanation = Explain(**policy, view);
    EXPECT_EQ(explanation.decision, decision) << explanation.ToText();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Examples, ExamplesTest,
    testing::Values(Example{"monite",
                            {"examples/monite"},
                            "examples/monite/requests.jsonl",
                            "examples/monite/requests.expected.jsonl"},
                    Example{"monta",
                            {"examples/monta/policy.txtpb"},
                            "examples/monta/requests.jsonl",
                            "examples/monta/requests.expected.jsonl"}),
    [](const testing::TestParamInfo<Example>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace portcullis
