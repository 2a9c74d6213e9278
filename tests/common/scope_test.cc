// The scope grammar: valid scopes, and every error with its exact message.
#include "engine/common/scope.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace portcullis {
namespace {

TEST(ScopeTest, ParsesObjectTypeAndAllScopes) {
  struct Case {
    const char* text;
    const char* object_type;
    bool all;
    ScopeLevel level;
  };
  const Case cases[] = {
      {"charge-points:read", "charge-points", false, ScopeLevel::kRead},
      {"payable:write", "payable", false, ScopeLevel::kWrite},
      {"wallet-transactions:delete", "wallet-transactions", false,
       ScopeLevel::kDelete},
      {"compute.instances:read", "compute.instances", false, ScopeLevel::kRead},
      {"all:delete", "", true, ScopeLevel::kDelete},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<Scope> scope = ParseScope(c.text);
    ASSERT_TRUE(scope.ok()) << scope.status();
    EXPECT_EQ(scope->object_type, c.object_type);
    EXPECT_EQ(scope->all, c.all);
    EXPECT_EQ(scope->level, c.level);
    EXPECT_EQ(scope->ToString(), c.text);
  }
}

TEST(ScopeTest, RejectsMalformedScopesWithPosition) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"", "scope \"\" is empty; expected <object-type>:<level>"},
      {"payable",
       "scope \"payable\" has no level; expected <object-type>:<level>"},
      {":read",
       "scope \":read\" has an empty object type at position 0; expected "
       "<object-type>:<level>"},
      {"payable:",
       "scope \"payable:\" has an empty level at position 8; expected read, "
       "write or delete"},
      {"payable:admin",
       "scope \"payable:admin\" has unknown level \"admin\" at position 8; "
       "expected read, write or delete"},
      {"payable:READ",
       "scope \"payable:READ\" has unknown level \"READ\" at position 8; "
       "expected read, write or delete"},
      {"payable:read:write",
       "scope \"payable:read:write\" has a second ':' at position 12; expected "
       "<object-type>:<level>"},
      {"pay able:read",
       "scope \"pay able:read\" has stray whitespace at position 3; expected "
       "<object-type>:<level>"},
      {"pay$:read",
       "scope \"pay$:read\" has an invalid character '$' at position 3; an "
       "object type is letters, digits and _ - . /"},
      {" payable:read",
       "scope \" payable:read\" has stray whitespace at position 0; expected "
       "<object-type>:<level>"},
      {"payable:read ",
       "scope \"payable:read \" has stray whitespace at position 12; expected "
       "<object-type>:<level>"},
      {"payable:\x01",
       "scope \"payable:\\x01\" has unknown level \"\\x01\" at position 8; "
       "expected read, write or delete"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<Scope> scope = ParseScope(c.text);
    ASSERT_FALSE(scope.ok());
    EXPECT_EQ(scope.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(scope.status().message(), c.error);
  }
}

TEST(ScopeListTest, ParsesSpaceSeparatedList) {
  absl::StatusOr<std::vector<Scope>> scopes =
      ParseScopeList("charge-points:read all:write charge-points:read");
  ASSERT_TRUE(scopes.ok()) << scopes.status();
  ASSERT_EQ(scopes->size(), 3u);  // an exact repeat is accepted
  EXPECT_EQ((*scopes)[0].ToString(), "charge-points:read");
  EXPECT_EQ((*scopes)[1].ToString(), "all:write");
}

TEST(ScopeListTest, ErrorsNameTheScopeThePositionAndWhatWasExpected) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"",
       "scope list is empty; expected scopes like \"payable:read\" "
       "separated by single spaces"},
      {" payable:read",
       "scope 1 at position 0 is empty: stray whitespace; separate scopes "
       "with single spaces"},
      {"payable:read  all:read",
       "scope 2 at position 13 is empty: stray whitespace; separate scopes "
       "with single spaces"},
      {"payable:read ",
       "scope list has stray whitespace at position 12; separate scopes with "
       "single spaces"},
      {"payable:read,all:read",
       "scope 1 \"payable:read,all:read\" at position 0 has separator ',' at "
       "position 12; separate scopes with single spaces"},
      {"payable:read;all:read",
       "scope 1 \"payable:read;all:read\" at position 0 has separator ';' at "
       "position 12; separate scopes with single spaces"},
      {"all:read payable:read;sites:read",
       "scope 2 \"payable:read;sites:read\" at position 9 has separator ';' "
       "at position 21; separate scopes with single spaces"},
      {"payable;read",
       "scope 1 \"payable;read\" at position 0 has separator ';' at position "
       "7; separate scopes with single spaces"},
      {"all:read payable:rread",
       "scope 2 \"payable:rread\" at position 9 has unknown level \"rread\" at "
       "position 17; expected read, write or delete"},
      {"all:read\tpayable:read",
       "scope 1 \"all:read\\tpayable:read\" at position 0 has stray "
       "whitespace at position 8; expected <object-type>:<level>"},
      {"payable:read all:read payable:write",
       "scope 3 \"payable:write\" at position 22 conflicts with scope 1 "
       "\"payable:read\" at position 0; list each object type once"},
      {"all:read all:delete",
       "scope 2 \"all:delete\" at position 9 conflicts with scope 1 "
       "\"all:read\" at position 0; list each object type once"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<std::vector<Scope>> scopes = ParseScopeList(c.text);
    ASSERT_FALSE(scopes.ok());
    EXPECT_EQ(scopes.status().message(), c.error);
  }
}

TEST(ScopeListTest, UnknownObjectTypesAreRejectedWhenACatalogIsGiven) {
  auto known = [](absl::string_view type) { return type == "charge-points"; };
  EXPECT_TRUE(ParseScopeList("charge-points:read all:read", known).ok());
  EXPECT_EQ(
      ParseScopeList("all:read charge-point:read", known).status().message(),
      "scope 2 \"charge-point:read\" at position 9 names unknown object "
      "type \"charge-point\"");
}

}  // namespace
}  // namespace portcullis
