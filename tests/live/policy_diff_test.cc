// Policy diffs: a golden diff covering every kind of change, identities, and
// random edits found exactly.
#include "engine/live/policy_diff.h"

#include <memory>
#include <random>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/random_policy.h"

namespace portcullis {
namespace {

constexpr absl::string_view kBefore = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
      actions { name: "pay" }
    }
    object_types {
      name: "entity"
      actions { name: "update" partner_only: true }
    }
    object_types {
      name: "legacy"
      actions { name: "read" }
    }
  }
  roles {
    id: "r-admin"
    name: "Admin"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED }
      }
    }
  }
  roles {
    id: "r-clerk"
    name: "Clerk"
    entity_id: "e-1"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED_FOR_OWN }
      }
    }
  }
  roles {
    id: "r-old"
    name: "Old"
    permissions {
      objects {
        object_type: "legacy"
        actions { action_name: "read" permission: ALLOWED }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-clerk" }
  entities { id: "e-2" partner_id: "p-1" default_role_id: "r-admin" }
  entities { id: "e-3" partner_id: "p-2" }
  credentials {
    client_id: "c-1"
    partner_id: "p-1"
    entity_ids: "e-1"
    scopes: "payable:read"
  }
  credentials {
    client_id: "c-2"
    partner_id: "p-2"
    scopes: "all:write"
    rate_limit { count: 10 interval_seconds: 60 }
  }
  credentials { client_id: "c-old" partner_id: "p-1" scopes: "legacy:read" }
)pb";

constexpr absl::string_view kAfter = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" level: DELETE }
      actions { name: "export" level: READ }
    }
    object_types {
      name: "entity"
      actions { name: "update" }
    }
    object_types {
      name: "receivable"
      actions { name: "read" }
    }
  }
  roles {
    id: "r-admin"
    name: "Administrator"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED_FOR_OWN }
        actions { action_name: "export" permission: ALLOWED }
      }
    }
  }
  roles {
    id: "r-clerk"
    name: "Clerk"
    entity_id: "e-2"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED_FOR_OWN }
      }
    }
  }
  roles {
    id: "r-new"
    name: "New"
    permissions {
      objects {
        object_type: "receivable"
        actions { action_name: "read" permission: ALLOWED }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-admin" }
  entities { id: "e-2" partner_id: "p-1" default_role_id: "r-clerk" }
  entities { id: "e-3" partner_id: "p-3" }
  entities { id: "e-4" partner_id: "p-1" }
  credentials {
    client_id: "c-1"
    partner_id: "p-1"
    entity_ids: "e-4"
    entity_ids: "e-1"
    scopes: "payable:write"
    scopes: "receivable:read"
  }
  credentials { client_id: "c-2" partner_id: "p-3" scopes: "all:write" }
  credentials {
    client_id: "c-new"
    partner_id: "p-1"
    scopes: "all:read"
    rate_limit { count: 5 interval_seconds: 1 }
  }
)pb";

constexpr absl::string_view kGolden =
    R"(~ action entity.update: partner_only true -> false
- object type "legacy"
- action legacy.read: level read, partner_only false
~ action payable.approve: level write -> delete
+ action payable.export: level read, partner_only false
- action payable.pay: level write, partner_only false
+ object type "receivable"
+ action receivable.read: level read, partner_only false
~ role "r-admin": payable.approve: allowed -> allowed_for_own
~ role "r-admin": payable.export: (absent) -> allowed
~ role "r-clerk": owner entity "e-1" -> entity "e-2"
+ role "r-new": owner (global)
~ role "r-new": receivable.read: (absent) -> allowed
- role "r-old": owner (global)
~ role "r-old": legacy.read: allowed -> (absent)
~ entity "e-1": default role "r-clerk" -> "r-admin"
~ entity "e-2": default role "r-admin" -> "r-clerk"
~ entity "e-3": partner "p-2" -> "p-3"
+ entity "e-4": partner "p-1", default role (none)
~ credential "c-1": entities "e-1" -> "e-1", "e-4"
~ credential "c-1": scope payable: read -> write
~ credential "c-1": scope receivable: (absent) -> read
~ credential "c-2": partner "p-2" -> "p-3"
~ credential "c-2": rate limit 10 per 60 s -> (none)
~ credential "c-2": scope legacy: write -> (absent)
~ credential "c-2": scope receivable: (absent) -> write
+ credential "c-new": partner "p-1"
~ credential "c-new": rate limit (none) -> 5 per 1 s
~ credential "c-new": scope entity: (absent) -> read
~ credential "c-new": scope payable: (absent) -> read
~ credential "c-new": scope receivable: (absent) -> read
- credential "c-old": partner "p-1"
~ credential "c-old": scope legacy: read -> (absent)
)";

std::unique_ptr<const CompiledPolicy> CompileSet(const v1::PolicySet& set) {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(set);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

std::unique_ptr<const CompiledPolicy> CompileText(absl::string_view text) {
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(text);
  EXPECT_TRUE(set.ok()) << set.status();
  return CompileSet(*set);
}

TEST(PolicyDiffTest, GoldenDiffCoversEveryKindOfChange) {
  const auto before = CompileText(kBefore);
  const auto after = CompileText(kAfter);
  const PolicyDiff diff = DiffPolicies(*before, *after);
  EXPECT_EQ(diff.ToText(), kGolden);
  ASSERT_EQ(diff.changes.size(), 33u);
  EXPECT_EQ(diff.changes[8],
            (PolicyChange{PolicyChange::Kind::kRolePermission, "r-admin",
                          "payable", "approve", "allowed", "allowed_for_own"}));
  EXPECT_EQ(diff.changes[19],
            (PolicyChange{PolicyChange::Kind::kCredentialRestriction, "c-1", "",
                          "", "\"e-1\"", "\"e-1\", \"e-4\""}));
}

TEST(PolicyDiffTest, ReversedDiffHasAsManyChanges) {
  const auto before = CompileText(kBefore);
  const auto after = CompileText(kAfter);
  const PolicyDiff reversed = DiffPolicies(*after, *before);
  EXPECT_EQ(reversed.changes.size(), 33u);
  EXPECT_THAT(reversed.ToText(),
              ::testing::HasSubstr(
                  "~ role \"r-admin\": payable.approve: allowed_for_own -> "
                  "allowed\n"));
}

TEST(PolicyDiffTest, SamePolicyHasNoDifference) {
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({"examples/monite"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto a = CompileSet(loaded->policy);
  const auto b = CompileSet(loaded->policy);
  EXPECT_TRUE(DiffPolicies(*a, *b).empty());
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> bundled =
      ParseBundle(*SerializeBundle(*a));
  ASSERT_TRUE(bundled.ok());
  EXPECT_TRUE(DiffPolicies(*a, **bundled).empty());
  EXPECT_EQ(DiffPolicies(*a, **bundled).ToText(), "");
}

TEST(PolicyDiffTest, DisplayNamesAreNotSemantic) {
  v1::PolicySet set = *ParsePolicyText(kBefore);
  const auto before = CompileSet(set);
  set.mutable_roles(0)->set_name("Renamed");
  set.mutable_credentials(0)->set_name("Renamed");
  EXPECT_TRUE(DiffPolicies(*before, *CompileSet(set)).empty());
}

// One permission of one role changed at random: the diff is that change, and
// every answer that moved is one of that role's.
TEST(PolicyDiffTest, RandomPermissionEditsAreFoundExactly) {
  std::mt19937_64 rng(3);
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE(seed);
    testing::SizedPolicyOptions options;
    options.seed = seed;
    options.roles = 6;
    const v1::PolicySet before_set = testing::SizedRandomPolicy(options);
    v1::PolicySet after_set = before_set;
    v1::Role& role = *after_set.mutable_roles(rng() % after_set.roles_size());
    const v1::ObjectType& type = after_set.catalog().object_types(
        rng() % after_set.catalog().object_types_size());
    const v1::Action& action = type.actions(rng() % type.actions_size());
    // Listed last, and alone in its object entry, so that it overrides
    // nothing and merges with the role's other entries for the type.
    bool listed = false;
    for (v1::ObjectPermissions& object :
         *role.mutable_permissions()->mutable_objects()) {
      if (object.object_type() != type.name()) continue;
      for (v1::ActionPermission& permission : *object.mutable_actions()) {
        if (permission.action_name() == action.name()) {
          permission.set_permission(permission.permission() == v1::ALLOWED
                                        ? v1::NOT_ALLOWED
                                        : v1::ALLOWED);
          listed = true;
        }
      }
    }
    if (!listed) {
      v1::ObjectPermissions* object = role.mutable_permissions()->add_objects();
      object->set_object_type(type.name());
      v1::ActionPermission* permission = object->add_actions();
      permission->set_action_name(action.name());
      permission->set_permission(v1::ALLOWED);
    }
    const auto before = CompileSet(before_set);
    const auto after = CompileSet(after_set);
    const PolicyDiff diff = DiffPolicies(*before, *after);
    // Setting NOT_ALLOWED where nothing was listed changes nothing.
    ASSERT_LE(diff.changes.size(), 1u) << diff.ToText();
    for (const CheckRequestView& request :
         testing::AllRequests(before_set, 5000)) {
      if (Check(*before, request) == Check(*after, request)) continue;
      ASSERT_EQ(diff.changes.size(), 1u);
      const PolicyChange& change = diff.changes[0];
      EXPECT_EQ(change.kind, PolicyChange::Kind::kRolePermission);
      EXPECT_EQ(change.object_type, request.object_type);
      EXPECT_EQ(change.action, request.action);
      EXPECT_EQ(change.subject, role.id());
    }
  }
}

}  // namespace
}  // namespace portcullis
