#include "engine/auth/user_directory.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace portcullis::auth {
namespace {

TEST(InMemoryUserDirectoryTest, SetFindReplaceRemove) {
  InMemoryUserDirectory users;
  ASSERT_TRUE(users.SetUser("u-1", {"e-1", "r-1"}).ok());
  absl::StatusOr<DirectoryUser> user = users.FindUser("u-1");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->entity_id, "e-1");
  EXPECT_EQ(user->role_id, "r-1");

  ASSERT_TRUE(users.SetUser("u-1", {"e-2", ""}).ok());
  user = users.FindUser("u-1");
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->entity_id, "e-2");
  EXPECT_EQ(user->role_id, "");

  EXPECT_TRUE(users.RemoveUser("u-1"));
  EXPECT_FALSE(users.RemoveUser("u-1"));
  EXPECT_EQ(users.FindUser("u-1").status().ToString(),
            "NOT_FOUND: unknown user \"u-1\"");
}

TEST(InMemoryUserDirectoryTest, Errors) {
  InMemoryUserDirectory users;
  EXPECT_EQ(users.SetUser("", {"e-1", ""}).ToString(),
            "INVALID_ARGUMENT: user directory: user_id is empty");
  EXPECT_EQ(users.SetUser("u-1", {"", "r-1"}).ToString(),
            "INVALID_ARGUMENT: user directory: user \"u-1\": entity_id is "
            "empty");
  EXPECT_EQ(users.FindUser("u-\n").status().ToString(),
            "NOT_FOUND: unknown user \"u-\\n\"");
}

}  // namespace
}  // namespace portcullis::auth
