// The benchmarks' inputs and baselines are honest: the map-of-maps baseline
// answers as the reference evaluator does, and the synthetic and real-data
// policies compile into what the benchmarks claim they are.
#include <random>

#include "benchmarks/map_of_maps_baseline.h"
#include "benchmarks/policy_fixtures.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "gtest/gtest.h"
#include "tests/random_policy.h"
#include "tests/reference_evaluator.h"

namespace portcullis {
namespace {

TEST(MapOfMapsBaselineTest, AgreesWithReferenceEvaluator) {
  std::mt19937_64 random(7);
  for (int p = 0; p < 500; ++p) {
    const v1::PolicySet policy = testing::RandomPolicy(random);
    const baseline::MapOfMapsPolicy map =
        baseline::MapOfMapsPolicy::Build(policy);
    for (int r = 0; r < 40; ++r) {
      const v1::CheckRequest request = testing::RandomRequest(policy, random);
      const Decision want = ReferenceCheck(policy, request);
      ASSERT_EQ(map.Check(request), want)
          << "policy " << p << "\n"
          << request.DebugString() << policy.DebugString();
    }
  }
}

TEST(SyntheticPolicyTest, RowsRepeatOrAreAllDistinct) {
  for (int roles : {10, 1000, 5000}) {
    SCOPED_TRACE(roles);
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> realistic =
        Compile(bench::SyntheticPolicy(roles, bench::RowShape::kRealistic));
    ASSERT_TRUE(realistic.ok()) << realistic.status();
    const PolicyStats r = (*realistic)->Stats();
    EXPECT_EQ(r.roles, static_cast<size_t>(roles));
    EXPECT_EQ(r.object_types, 31u);
    EXPECT_EQ(r.actions, 130u);
    // 64 templates, plus the deny-all row 0.
    EXPECT_LE(r.distinct_permission_rows, 65u);

    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> distinct =
        Compile(bench::SyntheticPolicy(roles, bench::RowShape::kDistinct));
    ASSERT_TRUE(distinct.ok()) << distinct.status();
    // Every role its own row, plus the deny-all row 0.
    EXPECT_EQ((*distinct)->Stats().distinct_permission_rows,
              static_cast<size_t>(roles) + 1);
  }
}

TEST(RealDataTest, GoogleCloudAndAwsRoleTablesCompile) {
  struct Case {
    const char* name;
    absl::StatusOr<v1::PolicySet> (*load)(const std::string&);
    size_t roles;
    size_t actions;
  };
  const Case cases[] = {
      {"gcp", &bench::GcpPolicy, 2461, 13790},
      {"aws", &bench::AwsPolicy, 1641, 19843},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<v1::PolicySet> policy = c.load("benchmarks/data");
    ASSERT_TRUE(policy.ok()) << policy.status();
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
        Compile(*policy);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    const PolicyStats stats = (*compiled)->Stats();
    EXPECT_EQ(stats.roles, c.roles);
    EXPECT_GE(stats.actions, c.actions);
    // Every request the benchmarks prepare resolves, and the engine agrees
    // with the map-of-maps baseline on each.
    const baseline::MapOfMapsPolicy map =
        baseline::MapOfMapsPolicy::Build(*policy);
    for (const auto& r : bench::PrepareRequests(*policy, **compiled, 200, 3)) {
      EXPECT_EQ(Check(**compiled, r->principal, r->action, r->entity,
                      r->has_resource ? &r->resource : nullptr),
                map.Check(r->proto));
    }
  }
}

}  // namespace
}  // namespace portcullis
