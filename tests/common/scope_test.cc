// The scope grammar: valid scopes, and every error with its exact message.
#include "engine/common/scope.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
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
      // Monta's /auth/me: "scopes": ["all"]. Echoed as written.
      {"all", "", true, ScopeLevel::kDelete},
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
       "scope \"payable\" has no level; expected <object-type>:<level> or "
       "all"},
      {"ALL",
       "scope \"ALL\" has no level; expected <object-type>:<level> or all"},
      {"all:",
       "scope \"all:\" has an empty level at position 4; expected read, "
       "write or delete"},
      {"all:all",
       "scope \"all:all\" has unknown level \"all\" at position 4; expected "
       "read, write or delete"},
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
      {"all:read alll",
       "scope 2 \"alll\" at position 9 has no level; expected "
       "<object-type>:<level> or all"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<std::vector<Scope>> scopes = ParseScopeList(c.text);
    ASSERT_FALSE(scopes.ok());
    EXPECT_EQ(scopes.status().message(), c.error);
  }
}

// OAuth clients send redundant lists, and every peer engine accepts them: the
// highest level applies, and a warning names both scopes.
TEST(ScopeListTest, RedundantScopesAreAcceptedWithAWarning) {
  struct Case {
    const char* text;
    std::vector<std::string> warnings;
  };
  const Case cases[] = {
      {"charge-points:read charge-points:write",
       {"scope 2 \"charge-points:write\" at position 19 repeats object type "
        "\"charge-points\" of scope 1 \"charge-points:read\"; the highest "
        "level (write) applies"}},
      {"payable:delete all:read payable:read",
       {"scope 3 \"payable:read\" at position 24 repeats object type "
        "\"payable\" of scope 1 \"payable:delete\"; the highest level "
        "(delete) applies"}},
      {"all:read all",
       {"scope 2 \"all\" at position 9 repeats object type \"all\" of scope 1 "
        "\"all:read\"; the highest level (delete) applies"}},
      {"a:read a:read a:write",
       {"scope 2 \"a:read\" at position 7 repeats object type \"a\" of "
        "scope 1 \"a:read\"; the highest level (read) applies",
        "scope 3 \"a:write\" at position 14 repeats object type \"a\" of "
        "scope 1 \"a:read\"; the highest level (write) applies"}},
      // Different object types, or a type beside all: nothing to say.
      {"all charge-points:read sites:write", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    std::vector<std::string> warnings;
    absl::StatusOr<std::vector<Scope>> scopes =
        ParseScopeList(c.text, &warnings);
    ASSERT_TRUE(scopes.ok()) << scopes.status();
    EXPECT_EQ(warnings, c.warnings);
    // Every scope as written, in order.
    std::vector<std::string> written;
    for (const Scope& scope : *scopes) written.push_back(scope.ToString());
    EXPECT_EQ(absl::StrJoin(written, " "), c.text);
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
