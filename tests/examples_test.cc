// Golden test: every example request answers as its .expected.jsonl line says,
// by names and (for bindable requests) by interned ids.
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/load/policy_loader.h"
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
  // How many requests bind at least (principal, action and entities known):
  // the by-ids check must not silently skip them.
  size_t min_bound;
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
  size_t bound = 0;  // requests checked by ids too
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

    // By interned ids, as a middleware checks once the token is bound: the
    // principal bound, the action and entities found, then the same answer.
    absl::StatusOr<Principal> principal =
        absl::InvalidArgumentError("no principal");
    if (request.principal().has_partner()) {
      principal =
          (*policy)->BindPartner(request.principal().partner().client_id());
    } else if (request.principal().has_entity_user()) {
      const v1::EntityUserPrincipal& user = request.principal().entity_user();
      principal = (*policy)->BindEntityUser(user.user_id(), user.entity_id(),
                                            user.role_id(), user.client_id());
    }
    const std::optional<ActionId> action =
        (*policy)->FindAction(request.object_type(), request.action());
    const std::optional<EntityId> entity =
        (*policy)->FindEntity(request.entity_id());
    const std::optional<EntityId> resource_entity =
        request.has_resource()
            ? (*policy)->FindEntity(request.resource().entity_id())
            : entity;
    if (principal.ok() && action && entity && resource_entity) {
      ++bound;
      const ResourceRef resource{*resource_entity,
                                 request.resource().created_by()};
      const ResourceRef* resource_ptr =
          request.has_resource() ? &resource : nullptr;
      const Decision by_ids =
          Check(**policy, *principal, *action, *entity, resource_ptr);
      EXPECT_EQ(VerdictName(by_ids.verdict), want.decision()) << "by ids";
      EXPECT_EQ(ReasonName(by_ids.reason), want.reason()) << "by ids";
      EXPECT_EQ(Explain(**policy, *principal, *action, *entity, resource_ptr)
                    .decision,
                by_ids)
          << "explained by ids";
    } else {
      // Only a request naming something unknown fails to bind, and it is
      // denied for that.
      EXPECT_EQ(want.decision(), "not_allowed");
      EXPECT_THAT(
          want.reason(),
          testing::AnyOf("invalid_request", "unknown_principal",
                         "unknown_entity", "unknown_role",
                         "unknown_object_type", "unknown_action", "tenant"));
    }
  }
  EXPECT_GE(bound, example.min_bound);
}

INSTANTIATE_TEST_SUITE_P(
    Examples, ExamplesTest,
    testing::Values(Example{"monite",
                            {"examples/monite"},
                            "examples/monite/requests.jsonl",
                            "examples/monite/requests.expected.jsonl",
                            33},
                    Example{"monta",
                            {"examples/monta/policy.txtpb"},
                            "examples/monta/requests.jsonl",
                            "examples/monta/requests.expected.jsonl",
                            46}),
    [](const testing::TestParamInfo<Example>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace portcullis
