// The compiler: one case per validation error with its exact message, error
// collection and capping, and the shape of valid output (dedup, stats).
#include "engine/compile/compiler.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/policy_tables.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace portcullis {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// A small valid policy that every case extends with text-format fields.
constexpr char kBase[] = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
    }
    object_types {
      name: "receivable"
      actions { name: "read" }
    }
  }
  roles { id: "r-1" name: "One" }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-1" }
  entities { id: "e-2" partner_id: "p-1" }
  entities { id: "e-9" partner_id: "p-9" }
)pb";

// kBase with `extra` merged in, as a second policy file would be.
v1::PolicySet Parse(const std::string& extra) {
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(kBase);
  absl::StatusOr<v1::PolicySet> more = ParsePolicyText(extra);
  EXPECT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(more.ok()) << more.status();
  if (!set.ok() || !more.ok()) return v1::PolicySet();
  set->MergeFrom(*more);
  return *set;
}

std::vector<std::string> Errors(const v1::PolicySet& set,
                                const CompileOptions& options = {}) {
  std::vector<std::string> errors;
  for (const PolicyError& error : Validate(set, options).errors) {
    errors.push_back(error.ToString());
  }
  return errors;
}

TEST(CompilerTest, BasePolicyIsValid) {
  EXPECT_THAT(Errors(Parse("")), ElementsAre());
}

struct ErrorCase {
  const char* name;
  const char* extra;  // text-format fields added to kBase
  std::vector<std::string> errors;
};

class CompilerErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(CompilerErrorTest, ReportsExactly) {
  const v1::PolicySet set = Parse(GetParam().extra);
  EXPECT_THAT(Errors(set), ElementsAreArray(GetParam().errors));
  // Compile reports the same lines.
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled = Compile(set);
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.status().code(), absl::StatusCode::kInvalidArgument);
  std::string joined;
  for (const std::string& e : GetParam().errors) {
    absl::StrAppend(&joined, joined.empty() ? "" : "\n", e);
  }
  EXPECT_EQ(compiled.status().message(), joined);
}

const ErrorCase
    kErrorCases[] =
        {
            // Catalog.
            {"EmptyObjectTypeName",
             R"pb(catalog { object_types { actions { name: "read" } } })pb",
             {"catalog.object_types[2].name: must not be empty"}},
            {"InvalidObjectTypeName",
             R"pb(catalog {
                    object_types {
                      name: "pay able"
                      actions { name: "read" }
                    }
                  })pb",
             {"catalog.object_types[2].name: invalid character ' ' at position "
              "3 in "
              "\"pay able\"; names are letters, digits and _ - . /"}},
            {"ColonInObjectTypeName",
             R"pb(catalog {
                    object_types {
                      name: "a:b"
                      actions { name: "read" }
                    }
                  })pb",
             {"catalog.object_types[2].name: invalid character ':' at position "
              "1 in "
              "\"a:b\"; names are letters, digits and _ - . /"}},
            {"ReservedObjectTypeName",
             R"pb(catalog {
                    object_types {
                      name: "all"
                      actions { name: "read" }
                    }
                  })pb",
             {"catalog.object_types[2].name: \"all\" is reserved: in a scope "
              "it means "
              "every object type"}},
            {"DuplicateObjectType",
             R"pb(catalog {
                    object_types {
                      name: "payable"
                      actions { name: "read" }
                    }
                  })pb",
             {"catalog.object_types[2].name: duplicate object type \"payable\" "
              "(first "
              "at catalog.object_types[0])"}},
            {"ObjectTypeWithoutActions",
             R"pb(catalog { object_types { name: "tag" } })pb",
             {"catalog.object_types[2].actions: object type \"tag\" has no "
              "actions"}},
            {"DuplicateAction",
             R"pb(catalog {
                    object_types {
                      name: "tag"
                      actions { name: "read" }
                      actions { name: "create" }
                      actions { name: "read" }
                    }
                  })pb",
             {"catalog.object_types[2].actions[2].name: duplicate action "
              "\"read\" for "
              "object type \"tag\" (first at "
              "catalog.object_types[2].actions[0])"}},
            {"EmptyActionName",
             R"pb(catalog {
                    object_types {
                      name: "tag"
                      actions { level: READ }
                    }
                  })pb",
             {"catalog.object_types[2].actions[0].name: must not be empty"}},
            // Roles.
            {"RoleWithoutName",
             R"pb(roles { id: "r-2" })pb",
             {"roles[1].name: must not be empty"}},
            {"DuplicateRoleId",
             R"pb(roles { id: "r-1" name: "Again" })pb",
             {"roles[1].id: duplicate role id \"r-1\" (first at roles[0])"}},
            {"DuplicateRoleIdentifiedByName",
             R"pb(roles { name: "Viewer" }
                  roles { name: "Viewer" })pb",
             {"roles[2].name: duplicate role id \"Viewer\" (a role without id "
              "is "
              "identified by its name) (first at roles[1])"}},
            {"RoleOfUnknownEntity",
             R"pb(roles { id: "r-2" name: "Two" entity_id: "e-404" })pb",
             {"roles[1].entity_id: unknown entity \"e-404\""}},
            {"UnknownObjectTypeInRole",
             R"pb(roles {
                    id: "r-2"
                    name: "Two"
                    permissions {
                      objects {
                        object_type: "invoice"
                        actions { action_name: "read" permission: ALLOWED }
                      }
                    }
                  })pb",
             {"roles[1].permissions.objects[0].object_type: unknown object "
              "type "
              "\"invoice\""}},
            {"UnknownActionForObjectType",
             R"pb(roles {
                    id: "r-2"
                    name: "Two"
                    permissions {
                      objects {
                        object_type: "receivable"
                        actions { action_name: "read" permission: ALLOWED }
                      }
                      objects {
                        object_type: "receivable"
                        actions { action_name: "approve" permission: ALLOWED }
                      }
                    }
                  })pb",
             {"roles[1].permissions.objects[1].actions[0].action_name: unknown "
              "action "
              "\"approve\" for object type \"receivable\""}},
            {"PermissionNotSet",
             R"pb(roles {
                    id: "r-2"
                    name: "Two"
                    permissions {
                      objects {
                        object_type: "payable"
                        actions { action_name: "read" }
                      }
                    }
                  })pb",
             {"roles[1].permissions.objects[0].actions[0].permission: must be "
              "set: "
              "allowed, not_allowed or allowed_for_own"}},
            {"ActionListedTwiceWithDifferentPermissions",
             R"pb(roles {
                    id: "r-2"
                    name: "Two"
                    permissions {
                      objects {
                        object_type: "payable"
                        actions { action_name: "read" permission: ALLOWED }
                      }
                      objects {
                        object_type: "payable"
                        actions { action_name: "approve" permission: ALLOWED }
                        actions { action_name: "read" permission: NOT_ALLOWED }
                      }
                    }
                  })pb",
             {"roles[1].permissions.objects[1].actions[1]: action "
              "\"payable.read\" is "
              "listed twice with different permissions (allowed at "
              "roles[1].permissions.objects[0].actions[0], not_allowed here)"}},
            // Entities.
            {"EntityWithoutId",
             R"pb(entities { partner_id: "p-1" })pb",
             {"entities[3].id: must not be empty"}},
            {"DuplicateEntity",
             R"pb(entities { id: "e-1" partner_id: "p-1" })pb",
             {"entities[3].id: duplicate entity \"e-1\" (first at "
              "entities[0])"}},
            {"EntityWithoutPartner",
             R"pb(entities { id: "e-3" })pb",
             {"entities[3].partner_id: must not be empty"}},
            {"UnknownDefaultRole",
             R"pb(entities {
                    id: "e-3"
                    partner_id: "p-1"
                    default_role_id: "r-404"
                  })pb",
             {"entities[3].default_role_id: unknown role \"r-404\""}},
            {"DefaultRoleOwnedByAnotherEntity",
             R"pb(roles { id: "r-e2" name: "Custom" entity_id: "e-2" }
                  entities {
                    id: "e-3"
                    partner_id: "p-1"
                    default_role_id: "r-e2"
                  })pb",
             {"entities[3].default_role_id: role \"r-e2\" is owned by entity "
              "\"e-2\", "
              "not \"e-3\""}},
            {"ControlCharacterInId",
             "entities { id: \"e-\\n3\" partner_id: \"p-1\" }",
             {"entities[3].id: control character \\x0a at position 2 in "
              "\"e-\\n3\""}},
            // Credentials.
            {"CredentialWithoutClientId",
             R"pb(credentials { partner_id: "p-1" scopes: "all:read" })pb",
             {"credentials[0].client_id: must not be empty"}},
            {"DuplicateClientId",
             R"pb(credentials {
                    client_id: "c"
                    partner_id: "p-1"
                    scopes: "all:read"
                  }
                  credentials {
                    client_id: "c"
                    partner_id: "p-1"
                    scopes: "all:read"
                  })pb",
             {"credentials[1].client_id: duplicate client id \"c\" (first at "
              "credentials[0])"}},
            {"UnknownPartner",
             R"pb(credentials {
                    client_id: "c"
                    partner_id: "p-404"
                    scopes: "all:read"
                  })pb",
             {"credentials[0].partner_id: unknown partner \"p-404\": no entity "
              "belongs "
              "to it"}},
            {"RestrictionToUnknownEntity",
             R"pb(credentials {
                    client_id: "c"
                    partner_id: "p-1"
                    entity_ids: "e-404"
                    scopes: "all:read"
                  })pb",
             {"credentials[0].entity_ids[0]: unknown entity \"e-404\""}},
            // The fuzzer's find (its input is kept in tests/fuzz/regressions/
            // policy_property): the only entity of p-x is rejected, so p-x
            // is not a partner; its credential is not built (and its partner
            // is not reported twice), whatever entities it lists.
            {"CredentialOfARejectedPartner",
             R"pb(entities { id: "e-1" partner_id: "p-x" }
                  credentials {
                    client_id: "c"
                    partner_id: "p-x"
                    entity_ids: "e-1"
                    scopes: "all:read"
                  })pb",
             {"entities[3].id: duplicate entity \"e-1\" (first at "
              "entities[0])"}},
            {"RestrictionToAnotherPartnersEntity",
             R"pb(credentials {
                    client_id: "c"
                    partner_id: "p-1"
                    entity_ids: "e-1"
                    entity_ids: "e-9"
                    scopes: "all:read"
                  })pb",
             {"credentials[0].entity_ids[1]: entity \"e-9\" belongs to partner "
              "\"p-9\", not \"p-1\""}},
            {"RestrictionListsEntityTwice",
             R"pb(credentials {
                    client_id: "c"
                    partner_id: "p-1"
                    entity_ids: "e-1"
                    entity_ids: "e-1"
                    scopes: "all:read"
                  })pb",
             {"credentials[0].entity_ids[1]: duplicate entity \"e-1\""}},
            {"CredentialWithoutScopes",
             R"pb(credentials { client_id: "c" partner_id: "p-1" })pb",
             {"credentials[0].scopes: a credential needs at least one scope"}},
            {"MalformedScope",
             R"pb(credentials {
                    client_id: "c"
                    partner_id: "p-1"
                    scopes: "payable:admin"
                  })pb",
             {"credentials[0].scopes[0]: scope \"payable:admin\" has unknown "
              "level "
              "\"admin\" at position 8; expected read, write or delete"}},
            {"ScopeOfUnknownObjectType",
             R"pb(credentials {
                    client_id: "c"
                    partner_id: "p-1"
                    scopes: "invoice:read"
                  })pb",
             {"credentials[0].scopes[0]: unknown object type \"invoice\" in "
              "scope "
              "\"invoice:read\""}},
            {"ZeroRateLimit",
             R"pb(credentials {
                    client_id: "c"
                    partner_id: "p-1"
                    scopes: "all:read"
                    rate_limit { count: 0 interval_seconds: 0 }
                  })pb",
             {"credentials[0].rate_limit.count: must be positive",
              "credentials[0].rate_limit.interval_seconds: must be positive"}},
            // Several problems at once: all are reported, in field order.
            {"EveryErrorIsReported",
             R"pb(roles {
                    id: "r-2"
                    name: "Two"
                    entity_id: "e-404"
                    permissions {
                      objects {
                        object_type: "payable"
                        actions { action_name: "pay" permission: ALLOWED }
                      }
                    }
                  }
                  entities {
                    id: "e-3"
                    partner_id: "p-1"
                    default_role_id: "r-404"
                  }
                  credentials {
                    client_id: "c"
                    partner_id: "p-1"
                    scopes: "payable:rd"
                  })pb",
             {"roles[1].entity_id: unknown entity \"e-404\"",
              "entities[3].default_role_id: unknown role \"r-404\"",
              "credentials[0].scopes[0]: scope \"payable:rd\" has unknown "
              "level \"rd\" "
              "at position 8; expected read, write or delete"}},
};

INSTANTIATE_TEST_SUITE_P(Errors, CompilerErrorTest,
                         ::testing::ValuesIn(kErrorCases),
                         [](const ::testing::TestParamInfo<ErrorCase>& info) {
                           return info.param.name;
                         });

TEST(CompilerTest, UnknownEnumValuesAreErrors) {
  v1::PolicySet set = Parse("");
  set.mutable_catalog()->mutable_object_types(0)->mutable_actions(0)->set_level(
      static_cast<v1::ScopeLevel>(7));
  v1::ActionPermission* entry =
      set.mutable_roles(0)->mutable_permissions()->add_objects()->add_actions();
  set.mutable_roles(0)
      ->mutable_permissions()
      ->mutable_objects(0)
      ->set_object_type("receivable");
  entry->set_action_name("read");
  entry->set_permission(static_cast<v1::Permission>(9));
  EXPECT_THAT(
      Errors(set),
      ElementsAre("catalog.object_types[0].actions[0].level: unknown level 7; "
                  "expected read, write or delete",
                  "roles[0].permissions.objects[0].actions[0].permission: "
                  "unknown permission 9; expected allowed, not_allowed or "
                  "allowed_for_own"));
}

TEST(CompilerTest, NameLengthLimitIsInclusive) {
  CompileOptions options;
  options.max_name_bytes = 10;  // "receivable" is 10 bytes
  v1::PolicySet set = Parse("");
  set.mutable_roles(0)->set_id("1234567890");
  set.mutable_entities(0)->set_default_role_id("1234567890");
  EXPECT_THAT(Errors(set, options), ElementsAre());
  set.mutable_roles(0)->set_id("12345678901");
  set.mutable_entities(0)->set_default_role_id("12345678901");
  EXPECT_THAT(Errors(set, options),
              ElementsAre("roles[0].id: \"12345678901\" is 11 bytes long; the "
                          "limit is 10"));
}

// A role or entity refused for an error of its own is not also unknown where
// it is used: each error is named once.
TEST(CompilerTest, ARefusedElementIsNotAlsoUnknown) {
  CompileOptions options;
  options.max_name_bytes = 10;
  v1::PolicySet set = Parse("");
  set.mutable_roles(0)->set_name("A name too long");
  EXPECT_THAT(Errors(set, options),
              ElementsAre("roles[0].name: \"A name too long\" is 15 bytes "
                          "long; the limit is 10"));

  set = Parse(R"pb(
    entities { id: "e-3" partner_id: "a partner id too long" }
    roles { id: "r-3" name: "Three" entity_id: "e-3" }
    entities { id: "e-4" partner_id: "p-1" default_role_id: "r-3" }
  )pb");
  EXPECT_THAT(Errors(set, options),
              ElementsAre("entities[3].partner_id: \"a partner id too long\" "
                          "is 21 bytes long; the limit is 10"));
  // A reference to what was never there is still an error.
  set = Parse(R"pb(
    entities { id: "e-4" partner_id: "p-1" default_role_id: "r-404" }
  )pb");
  EXPECT_THAT(Errors(set, options),
              ElementsAre("entities[3].default_role_id: unknown role "
                          "\"r-404\""));
}

TEST(CompilerTest, ErrorsPastTheCapAreCounted) {
  CompileOptions options;
  options.max_errors = 2;
  v1::PolicySet set = Parse("");
  for (int i = 0; i < 5; ++i)
    set.add_entities();  // each: id empty, partner empty
  const ValidationReport report = Validate(set, options);
  EXPECT_EQ(report.errors.size(), 2u);
  EXPECT_EQ(report.more_errors, 8u);
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      Compile(set, options);
  EXPECT_EQ(compiled.status().message(),
            "entities[3].id: must not be empty\n"
            "entities[3].partner_id: must not be empty\n"
            "(and 8 more errors)");
}

TEST(CompilerTest, CountLimitsStopCompilationEarly) {
  CompileOptions options;
  options.max_roles = 1;
  options.max_object_types = 1;
  v1::PolicySet set = Parse(R"pb(roles { id: "r-2" name: "Two" })pb");
  EXPECT_THAT(
      Errors(set, options),
      ElementsAre("catalog.object_types: 2 object types; the limit is 1",
                  "roles: 2 roles; the limit is 1"));
}

// A row of word offsets naming distinct words: a word shared by two roles, or
// by two stretches of one catalog, is stored once, and every permission reads
// back through PermissionOf as the role lists it.
TEST(CompilerTest, PermissionWordsAreStoredOnceAndReadBack) {
  // "wide" takes slots 3..72: words 0 (slots 0-31), 1 (32-63), 2 (64-72).
  std::string text = R"pb(catalog { object_types { name: "wide")pb";
  for (int a = 0; a < 70; ++a) {
    absl::StrAppend(&text, "actions { name: \"a", a, "\" } ");
  }
  absl::StrAppend(&text, "} }");
  struct Listed {
    int action;
    uint32_t code;
  };
  const struct {
    const char* id;
    std::vector<Listed> listed;
  } kRoles[] = {
      {"r-a",
       {{0, internal::kPermAllowed}, {40, internal::kPermAllowedForOwn}}},
      // a64 is field 3 of word 2, as a0 is of word 0: the same word.
      {"r-b", {{0, internal::kPermAllowed}, {64, internal::kPermAllowed}}},
      {"r-c", {{40, internal::kPermAllowedForOwn}}},
      {"r-d",
       {{0, internal::kPermAllowed}, {40, internal::kPermAllowedForOwn}}},
      {"r-e", {{0, internal::kPermNotAllowed}, {69, internal::kPermAllowed}}},
  };
  for (const auto& role : kRoles) {
    absl::StrAppend(&text, "roles { id: \"", role.id, "\" name: \"N\" ",
                    "permissions { objects { object_type: \"wide\" ");
    for (const Listed& l : role.listed) {
      absl::StrAppend(
          &text, "actions { action_name: \"a", l.action, "\" permission: ",
          l.code == internal::kPermAllowed         ? "ALLOWED"
          : l.code == internal::kPermAllowedForOwn ? "ALLOWED_FOR_OWN"
                                                   : "NOT_ALLOWED",
          " } ");
    }
    absl::StrAppend(&text, "} } }");
  }
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(Parse(text));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const internal::PolicyTables& t = (*policy)->tables();
  ASSERT_EQ(t.row_words, 3u);
  // Row 0 (r-1, empty), r-a (= r-d), r-b, r-c, r-e.
  EXPECT_EQ((*policy)->Stats().distinct_permission_rows, 5u);
  // Those 5 rows of 3 word offsets, and 3 distinct non-zero words of two
  // entries each (zero is row 0's own first two entries): a0 or a64
  // allowed, a40 allowed_for_own, a69 allowed.
  EXPECT_EQ(t.permissions.size(), 5u * 3 + 3u * 2);
  for (const auto& role : kRoles) {
    SCOPED_TRACE(role.id);
    const uint32_t index = t.roles.Find(0, role.id);
    ASSERT_NE(index, internal::NameTable::kNotFound);
    for (uint32_t slot = 0; slot < t.slots.size(); ++slot) {
      uint32_t expected = internal::kPermNotAllowed;
      for (const Listed& l : role.listed) {
        if (slot == 3u + l.action) expected = l.code;
      }
      EXPECT_EQ(internal::PermissionOf(t, t.role_row[index], slot), expected)
          << "slot " << slot;
    }
  }
}

TEST(CompilerTest, IdenticalPermissionRowsAreStoredOnce) {
  std::string roles;
  for (int i = 0; i < 50; ++i) {
    absl::StrAppend(&roles, "roles { id: \"same-", i, R"(" name: "Same"
      permissions { objects { object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED_FOR_OWN } } } })");
  }
  // Listing an action twice with the same permission is accepted.
  absl::StrAppend(&roles,
                  R"pb(roles {
                         id: "repeat"
                         name: "Repeat"
                         permissions {
                           objects {
                             object_type: "receivable"
                             actions { action_name: "read" permission: ALLOWED }
                           }
                           objects {
                             object_type: "receivable"
                             actions { action_name: "read" permission: ALLOWED }
                           }
                         }
                       })pb");
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(Parse(roles));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const PolicyStats stats = (*policy)->Stats();
  EXPECT_EQ(stats.roles, 52u);
  // r-1 (empty), the 50 identical roles, and "repeat".
  EXPECT_EQ(stats.distinct_permission_rows, 3u);
  EXPECT_EQ(stats.object_types, 2u);
  EXPECT_EQ(stats.actions, 3u);
  EXPECT_EQ(stats.entities, 3u);
  EXPECT_EQ(stats.partners, 2u);
  EXPECT_EQ(stats.credentials, 0u);
  EXPECT_EQ(stats.distinct_scope_rows, 1u);  // the unrestricted row
  EXPECT_GT(stats.memory_bytes, 0u);
}

TEST(CompilerTest, ScopesOfCredentialsAreDeduplicated) {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(Parse(R"pb(
        credentials { client_id: "a" partner_id: "p-1" scopes: "all:delete" }
        credentials {
          client_id: "b"
          partner_id: "p-1"
          scopes: "payable:delete"
          scopes: "receivable:delete"
        }
        credentials { client_id: "c" partner_id: "p-1" scopes: "payable:read" }
      )pb"));
  ASSERT_TRUE(policy.ok()) << policy.status();
  // a and b both grant delete on both types, as does the unrestricted row.
  EXPECT_EQ((*policy)->Stats().distinct_scope_rows, 2u);
}

// Bare `all` is `all:delete`; a credential naming one object type twice is
// redundant, not wrong: the highest level applies, and Validate warns, naming
// both scopes. Equal rows are stored once, so the level each credential gets
// shows in the row count.
TEST(CompilerTest, BareAllAndRedundantScopes) {
  const v1::PolicySet set = Parse(R"pb(
    credentials { client_id: "a" partner_id: "p-1" scopes: "all:delete" }
    credentials { client_id: "b" partner_id: "p-1" scopes: "all" }
    credentials {
      client_id: "c"
      partner_id: "p-1"
      scopes: "payable:read"
      scopes: "receivable:write"
    }
    credentials {
      client_id: "d"
      partner_id: "p-1"
      scopes: "payable:read"
      scopes: "all:read"
      scopes: "receivable:write"
      scopes: "receivable:read"
    }
    credentials {
      client_id: "e"
      partner_id: "p-1"
      scopes: "all:read"
      scopes: "all"
    }
  )pb");
  const ValidationReport report = Validate(set);
  EXPECT_TRUE(report.ok());
  std::vector<std::string> warnings;
  for (const PolicyError& warning : report.warnings) {
    warnings.push_back(warning.ToString());
  }
  EXPECT_THAT(
      warnings,
      ElementsAre("credentials[3].scopes[3]: scope \"receivable:read\" repeats "
                  "object type \"receivable\" of \"receivable:write\" at "
                  "credentials[3].scopes[2]; the highest level (write) "
                  "applies",
                  "credentials[4].scopes[1]: scope \"all\" repeats object type "
                  "\"all\" of \"all:read\" at credentials[4].scopes[0]; the "
                  "highest level (delete) applies"));
  std::vector<PolicyError> compile_warnings;
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(set, CompileOptions(), &compile_warnings);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(compile_warnings.size(), 2u);
  // Rows: everything at delete (the unrestricted row, a, b, e); c and d
  // (payable read, receivable write).
  EXPECT_EQ((*policy)->Stats().distinct_scope_rows, 2u);
}

}  // namespace
}  // namespace portcullis
