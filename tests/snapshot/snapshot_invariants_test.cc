// The compiler's output holds every invariant the bundle loader checks
// (engine/snapshot/snapshot_invariants.h): the examples and random policies
// of every shape, compiled and checked directly, not through a bundle.
#include "engine/snapshot/snapshot_invariants.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/compiled_policy.h"
#include "gtest/gtest.h"
#include "tests/random_policy.h"

namespace portcullis {
namespace {

using internal::CheckSnapshotInvariants;

void ExpectInvariantsHold(const v1::PolicySet& set) {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled = Compile(set);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const absl::Status invariants =
      CheckSnapshotInvariants((*compiled)->tables());
  EXPECT_TRUE(invariants.ok()) << invariants;
}

// The example policies, by the files that hold them.
class ExampleInvariantsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ExampleInvariantsTest, Hold) {
  absl::StatusOr<LoadedPolicy> example = LoadPolicyFiles({GetParam()});
  ASSERT_TRUE(example.ok()) << example.status();
  ExpectInvariantsHold(example->policy);
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleInvariantsTest,
                         ::testing::Values("examples/monite",
                                           "examples/monta/policy.txtpb"));

TEST(SnapshotInvariantsTest, HoldForRandomPolicies) {
  std::mt19937_64 random(20261206);
  for (int i = 0; i < 300; ++i) {
    SCOPED_TRACE(i);
    ExpectInvariantsHold(testing::RandomPolicy(random));
  }
}

TEST(SnapshotInvariantsTest, HoldForSizedRandomPolicies) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    testing::SizedPolicyOptions options;
    options.seed = seed;
    options.entities = static_cast<int>(10 * seed * seed);
    options.roles = static_cast<int>(3 * seed);
    ExpectInvariantsHold(testing::SizedRandomPolicy(options));
  }
}

TEST(SnapshotInvariantsTest, EmptyTablesAreNotASnapshot) {
  const internal::PolicyTables empty;
  const absl::Status invariants = CheckSnapshotInvariants(empty);
  EXPECT_EQ(invariants.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(invariants.message(), "type_base has 0 entries; expected 1");
}

}  // namespace
}  // namespace portcullis
