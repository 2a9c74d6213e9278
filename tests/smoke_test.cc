#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "proto/policy.pb.h"
TEST(Smoke, Works) {
  portcullis::v1::PolicySet p;
  p.add_roles()->set_id("x");
  absl::flat_hash_map<std::string, int> m{{"a", 1}};
  absl::StatusOr<int> s = 3;
  EXPECT_EQ(p.roles_size(), 1);
  EXPECT_EQ(*s, 3);
}
