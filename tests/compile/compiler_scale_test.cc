// Compile time grows linearly with the policy: a check the compiler makes per
// element must not scan the elements before it (a credential's scopes, at most
// CompileOptions::max_scopes_per_credential, are the bounded exception). Each
// case is large enough that a quadratic scan takes minutes and times the test
// out, while a linear pass takes about a second; timings are not asserted,
// the outcome is.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/compile/compiler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/policy.pb.h"

namespace portcullis {
namespace {

using ::testing::EndsWith;
using ::testing::StartsWith;

v1::PolicySet WithCatalog() {
  v1::PolicySet policy;
  v1::ObjectType* type = policy.mutable_catalog()->add_object_types();
  type->set_name("payable");
  type->add_actions()->set_name("read");
  return policy;
}

void AddEntities(v1::PolicySet& policy, int count) {
  for (int i = 0; i < count; ++i) {
    v1::Entity* entity = policy.add_entities();
    entity->set_id(absl::StrCat("e-", i));
    entity->set_partner_id("p-1");
  }
}

TEST(CompilerScaleTest, CredentialRestrictedToManyEntities) {
  constexpr int kEntities = 100000;
  v1::PolicySet policy = WithCatalog();
  AddEntities(policy, kEntities);
  v1::Credential* credential = policy.add_credentials();
  credential->set_client_id("c-1");
  credential->set_partner_id("p-1");
  credential->add_scopes("all:read");
  for (int i = 0; i < kEntities; ++i) {
    credential->add_entity_ids(absl::StrCat("e-", i));
  }
  const auto compiled = Compile(policy);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ((*compiled)->Stats().entities, size_t{kEntities});
}

TEST(CompilerScaleTest, CredentialListingOneEntityManyTimes) {
  constexpr int kRepeats = 100000;
  v1::PolicySet policy = WithCatalog();
  AddEntities(policy, kRepeats);
  v1::Credential* credential = policy.add_credentials();
  credential->set_client_id("c-1");
  credential->set_partner_id("p-1");
  credential->add_scopes("all:read");
  // Distinct entities, then each again: every repeat is an error.
  for (int i = 0; i < 2 * kRepeats; ++i) {
    credential->add_entity_ids(absl::StrCat("e-", i % kRepeats));
  }
  const ValidationReport report = Validate(policy);
  ASSERT_EQ(report.errors.size(), 100u);
  EXPECT_EQ(report.errors[0].ToString(),
            "credentials[0].entity_ids[100000]: duplicate entity \"e-0\"");
  EXPECT_EQ(report.more_errors, size_t{kRepeats - 100});
}

TEST(CompilerScaleTest, ManyDuplicateEntities) {
  constexpr int kEntities = 100000;
  v1::PolicySet policy = WithCatalog();
  AddEntities(policy, kEntities);
  // The same ids again, last first: each repeat's first occurrence is far back.
  for (int i = kEntities - 1; i >= 0; --i) {
    v1::Entity* entity = policy.add_entities();
    entity->set_id(absl::StrCat("e-", i));
    entity->set_partner_id("p-1");
  }
  const auto compiled = Compile(policy);
  ASSERT_FALSE(compiled.ok());
  const std::string message(compiled.status().message());
  EXPECT_THAT(message,
              StartsWith("entities[100000].id: duplicate entity \"e-99999\" "
                         "(first at entities[99999])\n"
                         "entities[100001].id: duplicate entity \"e-99998\" "
                         "(first at entities[99998])\n"));
  EXPECT_THAT(message, EndsWith(absl::StrCat("\n(and ", kEntities - 100,
                                             " more errors)")));
}

}  // namespace
}  // namespace portcullis
