// Fail-closed audit: every way a check can go wrong — a malformed request, a
// name the policy does not define, an id or principal from another snapshot
// or from none, an id out of range, a role that cannot apply — answers
// not_allowed with its own reason, by names and by ids, in Check and Explain
// alike. One table row per error path; a component that answers checks adds
// its rows here (the policy store: nothing published yet, no_policy).
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/common/decision.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/live/policy_store.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/compiled_policy.h"
#include "gtest/gtest.h"
#include "proto/check.pb.h"
#include "proto/policy.pb.h"
#include "tests/reference_evaluator.h"

namespace portcullis {
namespace {

// Partner p-1 owns e-1 (default role r-basic) and e-2 (no default role);
// partner p-2 owns e-3. r-e2 is e-2's custom role.
constexpr absl::string_view kPolicy = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
    }
    object_types {
      name: "entity"
      actions { name: "update" partner_only: true }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-basic" }
  entities { id: "e-2" partner_id: "p-1" }
  entities { id: "e-3" partner_id: "p-2" default_role_id: "r-basic" }
  roles {
    id: "r-basic"
    name: "Basic"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED_FOR_OWN }
      }
    }
  }
  roles {
    id: "r-e2"
    name: "Custom"
    entity_id: "e-2"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
      }
    }
  }
  credentials { client_id: "c-1" partner_id: "p-1" scopes: "all:delete" }
  credentials { client_id: "c-3" partner_id: "p-2" scopes: "all:read" }
)pb";

// Another policy, smaller: its ids index past nothing of kPolicy's.
constexpr absl::string_view kOtherPolicy = R"pb(
  catalog {
    object_types {
      name: "invoice"
      actions { name: "read" }
    }
  }
  entities { id: "x-1" partner_id: "q-1" }
  credentials { client_id: "d-1" partner_id: "q-1" scopes: "all:read" }
)pb";

std::unique_ptr<const CompiledPolicy> MustCompile(const v1::PolicySet& set) {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled = Compile(set);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? *std::move(compiled) : nullptr;
}

v1::PolicySet MustParse(absl::string_view text) {
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(text);
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : v1::PolicySet();
}

// The decision and its explanation must agree, deny, and end with the failed
// step that names `reason`.
void ExpectDenied(Decision decision, const Explanation& explanation,
                  Reason reason) {
  EXPECT_EQ(std::string(VerdictName(decision.verdict)), "not_allowed");
  EXPECT_EQ(std::string(ReasonName(decision.reason)),
            std::string(ReasonName(reason)));
  EXPECT_EQ(explanation.decision, decision) << explanation.ToText();
  ASSERT_FALSE(explanation.steps.empty());
  EXPECT_EQ(explanation.steps.back().rule, ReasonName(reason))
      << explanation.ToText();
  EXPECT_FALSE(explanation.steps.back().passed) << explanation.ToText();
}

struct ByNamesCase {
  std::string name;
  std::string request;  // a request line, as the CLI reads it
  Reason reason;

  friend void PrintTo(const ByNamesCase& test, std::ostream* out) {
    *out << test.name;
  }
};

class FailClosedByNamesTest : public testing::TestWithParam<ByNamesCase> {};

TEST_P(FailClosedByNamesTest, DeniesWithItsOwnReason) {
  const ByNamesCase& test = GetParam();
  const v1::PolicySet set = MustParse(kPolicy);
  const std::unique_ptr<const CompiledPolicy> policy = MustCompile(set);
  ASSERT_NE(policy, nullptr);
  v1::CheckRequest request;
  ASSERT_TRUE(ParseJsonMessage(test.request, request).ok()) << test.request;
  const CheckRequestView view = ViewOf(request);
  ExpectDenied(Check(*policy, view), Explain(*policy, view), test.reason);
  EXPECT_EQ(ReferenceCheck(set, request), Check(*policy, view));
}

// A user of e-1 with the entity's default role, reading a payable of e-1:
// allowed. Each row breaks one part of it.
INSTANTIATE_TEST_SUITE_P(
    FailClosed, FailClosedByNamesTest,
    testing::Values(
        ByNamesCase{"MissingPrincipal",
                    R"({"object_type": "payable", "action": "read",
                        "entity_id": "e-1"})",
                    Reason::kInvalidRequest},
        ByNamesCase{"EmptyPrincipal",
                    R"({"principal": {}, "object_type": "payable",
                        "action": "read", "entity_id": "e-1"})",
                    Reason::kInvalidRequest},
        ByNamesCase{"PartnerWithoutClientId",
                    R"({"principal": {"partner": {}},
                        "object_type": "payable", "action": "read",
                        "entity_id": "e-1"})",
                    Reason::kInvalidRequest},
        ByNamesCase{"UserWithoutUserId",
                    R"({"principal": {"entity_user": {"entity_id": "e-1"}},
                        "object_type": "payable", "action": "read",
                        "entity_id": "e-1"})",
                    Reason::kInvalidRequest},
        ByNamesCase{"UserWithoutEntity",
                    R"({"principal": {"entity_user": {"user_id": "u-1"}},
                        "object_type": "payable", "action": "read",
                        "entity_id": "e-1"})",
                    Reason::kInvalidRequest},
        ByNamesCase{"EmptyObjectType",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1"}}, "action": "read",
                        "entity_id": "e-1"})",
                    Reason::kInvalidRequest},
        ByNamesCase{"EmptyAction",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1"}}, "object_type": "payable",
                        "entity_id": "e-1"})",
                    Reason::kInvalidRequest},
        ByNamesCase{"EmptyEntity",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1"}}, "object_type": "payable",
                        "action": "read"})",
                    Reason::kInvalidRequest},
        ByNamesCase{"UnknownPartnerClient",
                    R"({"principal": {"partner": {"client_id": "c-9"}},
                        "object_type": "payable", "action": "read",
                        "entity_id": "e-1"})",
                    Reason::kUnknownPrincipal},
        ByNamesCase{"UnknownUserClient",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1", "client_id": "c-9"}},
                        "object_type": "payable", "action": "read",
                        "entity_id": "e-1"})",
                    Reason::kUnknownPrincipal},
        ByNamesCase{"UnknownUserEntity",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-9"}}, "object_type": "payable",
                        "action": "read", "entity_id": "e-1"})",
                    Reason::kUnknownEntity},
        ByNamesCase{"UnknownRole",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1", "role_id": "r-9"}},
                        "object_type": "payable", "action": "read",
                        "entity_id": "e-1"})",
                    Reason::kUnknownRole},
        ByNamesCase{"UnknownObjectType",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1"}}, "object_type": "receivable",
                        "action": "read", "entity_id": "e-1"})",
                    Reason::kUnknownObjectType},
        ByNamesCase{"UnknownAction",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1"}}, "object_type": "payable",
                        "action": "pay", "entity_id": "e-1"})",
                    Reason::kUnknownAction},
        // An action of another object type is not this one's.
        ByNamesCase{"ActionOfAnotherObjectType",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1"}}, "object_type": "payable",
                        "action": "update", "entity_id": "e-1"})",
                    Reason::kUnknownAction},
        ByNamesCase{"UnknownRequestEntity",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1"}}, "object_type": "payable",
                        "action": "read", "entity_id": "e-9"})",
                    Reason::kTenant},
        ByNamesCase{"UnknownResourceEntity",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1"}}, "object_type": "payable",
                        "action": "read", "entity_id": "e-1",
                        "resource": {"entity_id": "e-9"}})",
                    Reason::kTenant},
        ByNamesCase{"EmptyResource",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1"}}, "object_type": "payable",
                        "action": "read", "entity_id": "e-1",
                        "resource": {}})",
                    Reason::kTenant},
        ByNamesCase{"RoleOwnedByAnotherEntity",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1", "role_id": "r-e2"}},
                        "object_type": "payable", "action": "read",
                        "entity_id": "e-1"})",
                    Reason::kRbac},
        ByNamesCase{"NoRoleAndNoDefaultRole",
                    R"({"principal": {"entity_user": {"user_id": "u-2",
                        "entity_id": "e-2"}}, "object_type": "payable",
                        "action": "read", "entity_id": "e-2"})",
                    Reason::kRbac},
        // Precedence: the first failure in the documented order decides.
        ByNamesCase{"MissingPrincipalBeforeUnknownNames",
                    R"({"object_type": "receivable", "action": "pay",
                        "entity_id": "e-9"})",
                    Reason::kInvalidRequest},
        ByNamesCase{"UnknownPrincipalBeforeEmptyNames",
                    R"({"principal": {"partner": {"client_id": "c-9"}}})",
                    Reason::kUnknownPrincipal},
        ByNamesCase{"UnknownRoleBeforeUnknownClient",
                    R"({"principal": {"entity_user": {"user_id": "u-1",
                        "entity_id": "e-1", "role_id": "r-9",
                        "client_id": "c-9"}}, "object_type": "payable",
                        "action": "read", "entity_id": "e-1"})",
                    Reason::kUnknownRole},
        ByNamesCase{"UnknownObjectTypeBeforeUnknownEntity",
                    R"({"principal": {"partner": {"client_id": "c-1"}},
                        "object_type": "receivable", "action": "read",
                        "entity_id": "e-9"})",
                    Reason::kUnknownObjectType}),
    [](const testing::TestParamInfo<ByNamesCase>& info) {
      return info.param.name;
    });

// What a check by ids is given.
struct IdRequest {
  Principal principal;
  ActionId action;
  EntityId entity;
  std::optional<ResourceRef> resource;
};

// The snapshot under test, the same policy compiled again (every index in
// range, another tag) and a different policy.
struct Snapshots {
  std::unique_ptr<const CompiledPolicy> policy;
  std::unique_ptr<const CompiledPolicy> recompiled;
  std::unique_ptr<const CompiledPolicy> other;

  // A request that `snapshot` allows: partner c-1 reads a payable of e-1.
  IdRequest Allowed(const CompiledPolicy& snapshot) const {
    return {*snapshot.BindPartner("c-1"),
            *snapshot.FindAction("payable", "read"),
            *snapshot.FindEntity("e-1"),
            ResourceRef{*snapshot.FindEntity("e-1"), "u-1"}};
  }
};

struct ByIdsCase {
  std::string name;
  // Breaks the allowed request (`request` starts as Allowed(*policy)).
  std::function<void(const Snapshots&, IdRequest& request)> change;
  Reason reason;

  friend void PrintTo(const ByIdsCase& test, std::ostream* out) {
    *out << test.name;
  }
};

class FailClosedByIdsTest : public testing::TestWithParam<ByIdsCase> {};

TEST_P(FailClosedByIdsTest, DeniesWithItsOwnReason) {
  const ByIdsCase& test = GetParam();
  const v1::PolicySet set = MustParse(kPolicy);
  Snapshots snapshots{MustCompile(set), MustCompile(set),
                      MustCompile(MustParse(kOtherPolicy))};
  ASSERT_NE(snapshots.policy, nullptr);
  ASSERT_NE(snapshots.recompiled, nullptr);
  ASSERT_NE(snapshots.other, nullptr);
  const CompiledPolicy& policy = *snapshots.policy;

  IdRequest request = snapshots.Allowed(policy);
  const ResourceRef* resource =
      request.resource.has_value() ? &*request.resource : nullptr;
  ASSERT_TRUE(
      Check(policy, request.principal, request.action, request.entity, resource)
          .allowed());

  test.change(snapshots, request);
  resource = request.resource.has_value() ? &*request.resource : nullptr;
  ExpectDenied(Check(policy, request.principal, request.action, request.entity,
                     resource),
               Explain(policy, request.principal, request.action,
                       request.entity, resource),
               test.reason);
}

template <typename Id>
Id Forged(const CompiledPolicy& policy, uint32_t index) {
  return internal::IdAccess::Make<Id>(policy.snapshot(), index);
}

INSTANTIATE_TEST_SUITE_P(
    FailClosed, FailClosedByIdsTest,
    testing::Values(
        // From the same policy compiled again: every index is in range.
        ByIdsCase{"PrincipalOfAnotherSnapshot",
                  [](const Snapshots& s, IdRequest& r) {
                    r.principal = *s.recompiled->BindPartner("c-1");
                  },
                  Reason::kStaleSnapshot},
        ByIdsCase{"ActionOfAnotherSnapshot",
                  [](const Snapshots& s, IdRequest& r) {
                    r.action = *s.recompiled->FindAction("payable", "read");
                  },
                  Reason::kStaleSnapshot},
        ByIdsCase{"EntityOfAnotherSnapshot",
                  [](const Snapshots& s, IdRequest& r) {
                    r.entity = *s.recompiled->FindEntity("e-1");
                  },
                  Reason::kStaleSnapshot},
        ByIdsCase{"ResourceEntityOfAnotherSnapshot",
                  [](const Snapshots& s, IdRequest& r) {
                    r.resource->entity = *s.recompiled->FindEntity("e-1");
                  },
                  Reason::kStaleSnapshot},
        ByIdsCase{"EverythingOfAnotherSnapshot",
                  [](const Snapshots& s, IdRequest& r) {
                    r = s.Allowed(*s.recompiled);
                  },
                  Reason::kStaleSnapshot},
        // From a different policy.
        ByIdsCase{"PrincipalOfAnotherPolicy",
                  [](const Snapshots& s, IdRequest& r) {
                    r.principal = *s.other->BindPartner("d-1");
                  },
                  Reason::kStaleSnapshot},
        ByIdsCase{"ActionOfAnotherPolicy",
                  [](const Snapshots& s, IdRequest& r) {
                    r.action = *s.other->FindAction("invoice", "read");
                  },
                  Reason::kStaleSnapshot},
        // Default-constructed: issued by no snapshot.
        ByIdsCase{"DefaultPrincipal",
                  [](const Snapshots&, IdRequest& r) { r.principal = {}; },
                  Reason::kStaleSnapshot},
        ByIdsCase{"DefaultAction",
                  [](const Snapshots&, IdRequest& r) { r.action = {}; },
                  Reason::kStaleSnapshot},
        ByIdsCase{"DefaultEntity",
                  [](const Snapshots&, IdRequest& r) { r.entity = {}; },
                  Reason::kStaleSnapshot},
        ByIdsCase{
            "DefaultResourceEntity",
            [](const Snapshots&, IdRequest& r) { r.resource->entity = {}; },
            Reason::kStaleSnapshot},
        // This snapshot's tag on an index it never issued.
        ByIdsCase{"ActionOutOfRange",
                  [](const Snapshots& s, IdRequest& r) {
                    r.action = Forged<ActionId>(*s.policy, 3);
                  },
                  Reason::kInvalidRequest},
        ByIdsCase{"EntityOutOfRange",
                  [](const Snapshots& s, IdRequest& r) {
                    r.entity = Forged<EntityId>(*s.policy, 3);
                  },
                  Reason::kInvalidRequest},
        ByIdsCase{"ResourceEntityOutOfRange",
                  [](const Snapshots& s, IdRequest& r) {
                    r.resource->entity = Forged<EntityId>(*s.policy, ~0u);
                  },
                  Reason::kInvalidRequest},
        // Bound, but the role cannot apply.
        ByIdsCase{"RoleOwnedByAnotherEntity",
                  [](const Snapshots& s, IdRequest& r) {
                    r.principal =
                        *s.policy->BindEntityUser("u-1", "e-1", "r-e2", "");
                  },
                  Reason::kRbac},
        ByIdsCase{"NoRoleAndNoDefaultRole",
                  [](const Snapshots& s, IdRequest& r) {
                    r.principal =
                        *s.policy->BindEntityUser("u-2", "e-2", "", "");
                    r.entity = *s.policy->FindEntity("e-2");
                    r.resource->entity = r.entity;
                  },
                  Reason::kRbac}),
    [](const testing::TestParamInfo<ByIdsCase>& info) {
      return info.param.name;
    });

// Names that do not bind are refused when binding, never turned into a
// principal that some later check might let through.
TEST(FailClosedTest, UnknownNamesDoNotBind) {
  const std::unique_ptr<const CompiledPolicy> policy =
      MustCompile(MustParse(kPolicy));
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->BindPartner("c-9").status().ToString(),
            "NOT_FOUND: unknown client \"c-9\"");
  // Empty names are refused as the check entirely by names refuses them.
  EXPECT_EQ(policy->BindPartner("").status().ToString(),
            "INVALID_ARGUMENT: a partner principal needs a client_id");
  for (const auto& [user, entity] :
       {std::pair{"", "e-1"}, std::pair{"u-1", ""}, std::pair{"", ""}}) {
    EXPECT_EQ(policy->BindEntityUser(user, entity, "", "").status().ToString(),
              "INVALID_ARGUMENT: an entity_user principal needs a user_id and "
              "an entity_id")
        << "user \"" << user << "\" entity \"" << entity << "\"";
  }
  EXPECT_EQ(policy->BindEntityUser("u-1", "e-9", "", "").status().ToString(),
            "NOT_FOUND: unknown entity \"e-9\"");
  EXPECT_EQ(policy->BindEntityUser("u-1", "e-1", "r-9", "").status().ToString(),
            "NOT_FOUND: unknown role \"r-9\"");
  EXPECT_EQ(policy->BindEntityUser("u-1", "e-1", "", "c-9").status().ToString(),
            "NOT_FOUND: unknown client \"c-9\"");
  EXPECT_FALSE(policy->FindAction("payable", "update").has_value());
  EXPECT_FALSE(policy->FindAction("", "").has_value());
  EXPECT_FALSE(policy->FindEntity("").has_value());
  // An object type id of another snapshot finds no action.
  const std::unique_ptr<const CompiledPolicy> recompiled =
      MustCompile(MustParse(kPolicy));
  EXPECT_FALSE(
      policy->FindAction(*recompiled->FindObjectType("payable"), "read")
          .has_value());
}

// A service keeps ids across a policy swap (docs/design.md: "once per route, at
// startup") and may log them with the new snapshot: an id the snapshot did not
// issue names nothing, whatever its index.
TEST(FailClosedTest, IdsOfAnotherSnapshotNameNothing) {
  const v1::PolicySet set = MustParse(kPolicy);
  const std::unique_ptr<const CompiledPolicy> policy = MustCompile(set);
  const std::unique_ptr<const CompiledPolicy> recompiled = MustCompile(set);
  const std::unique_ptr<const CompiledPolicy> small =
      MustCompile(MustParse(kOtherPolicy));
  ASSERT_NE(policy, nullptr);
  ASSERT_NE(recompiled, nullptr);
  ASSERT_NE(small, nullptr);

  // Ids of the larger policy: in range there, past the end of the small one.
  const ObjectTypeId type = *policy->FindObjectType("entity");
  const ActionId action = *policy->FindAction("entity", "update");
  const EntityId entity = *policy->FindEntity("e-3");
  const RoleId role = *policy->FindRole("r-e2");
  ASSERT_EQ(policy->ActionName(action), "update");
  for (const CompiledPolicy* other : {small.get(), recompiled.get()}) {
    EXPECT_EQ(other->ObjectTypeName(type), "");
    EXPECT_EQ(other->ActionName(action), "");
    EXPECT_EQ(other->ObjectTypeOf(action), ObjectTypeId());
    EXPECT_EQ(other->EntityName(entity), "");
    EXPECT_EQ(other->RoleName(role), "");
  }
  EXPECT_EQ(policy->ObjectTypeName(ObjectTypeId()), "");
  EXPECT_EQ(policy->ActionName(ActionId()), "");
  EXPECT_EQ(policy->EntityName(EntityId()), "");
  EXPECT_EQ(policy->RoleName(RoleId()), "");
  // This snapshot's tag on an index it never issued.
  EXPECT_EQ(policy->ActionName(Forged<ActionId>(*policy, 1000)), "");
  EXPECT_EQ(policy->ObjectTypeOf(Forged<ActionId>(*policy, 1000)),
            ObjectTypeId());
  EXPECT_EQ(policy->EntityName(Forged<EntityId>(*policy, ~0u)), "");
  EXPECT_EQ(policy->RoleName(Forged<RoleId>(*policy, 2)), "");
  EXPECT_EQ(policy->ObjectTypeName(Forged<ObjectTypeId>(*policy, 2)), "");
}

// A bound entity user keeps a view of its entity's id in its snapshot, so
// that a check by names in the user's own entity skips the entity's lookup.
// Checked against another snapshot after its own is gone, the principal must
// answer stale_snapshot without reading that view (ASan would see the read),
// by names and explained; its own snapshot, recompiled, must not take the
// entity for the user's.
TEST(FailClosedTest, PrincipalOfAFreedSnapshotIsStaleByNames) {
  const v1::PolicySet set = MustParse(kPolicy);
  std::unique_ptr<const CompiledPolicy> policy = MustCompile(set);
  const std::unique_ptr<const CompiledPolicy> recompiled = MustCompile(set);
  ASSERT_NE(policy, nullptr);
  ASSERT_NE(recompiled, nullptr);
  absl::StatusOr<Principal> user =
      policy->BindEntityUser("u-1", "e-1", "r-basic", "c-1");
  ASSERT_TRUE(user.ok()) << user.status();
  RequestNames names;
  names.object_type = "payable";
  names.action = "read";
  names.entity_id = "e-1";
  EXPECT_EQ(Check(*policy, *user, names),
            (Decision{Verdict::kAllowed, Reason::kGranted}));
  policy.reset();
  ExpectDenied(Check(*recompiled, *user, names),
               Explain(*recompiled, *user, names), Reason::kStaleSnapshot);
  // Another entity of the snapshot: stale too. One that no snapshot has
  // fails tenant first, as a check by names always does.
  names.entity_id = "e-2";
  ExpectDenied(Check(*recompiled, *user, names),
               Explain(*recompiled, *user, names), Reason::kStaleSnapshot);
  names.entity_id = "e-unknown";
  EXPECT_EQ(Check(*recompiled, *user, names).reason, Reason::kTenant);
}

// A policy store with nothing published denies every check with no_policy,
// before looking at the request: a request the policy would grant, one naming
// nothing, ids and principals bound to a real snapshot, and a LivePrincipal
// that would bind. Each row is a Reader::Check overload.
TEST(FailClosedTest, EmptyStoreDeniesWithNoPolicy) {
  const std::unique_ptr<const CompiledPolicy> policy =
      MustCompile(MustParse(kPolicy));
  ASSERT_NE(policy, nullptr);
  const absl::StatusOr<Principal> partner = policy->BindPartner("c-1");
  ASSERT_TRUE(partner.ok()) << partner.status();
  const ActionId read = *policy->FindAction("payable", "read");
  const EntityId e1 = *policy->FindEntity("e-1");
  const ResourceRef resource{e1, "u-1"};
  constexpr absl::string_view kGranted =
      R"({"principal": {"partner": {"client_id": "c-1"}}, )"
      R"("object_type": "payable", "action": "read", "entity_id": "e-1"})";
  v1::CheckRequest granted;
  ASSERT_TRUE(ParseJsonMessage(kGranted, granted).ok());
  // What the snapshot itself answers: the denials below are the store's.
  ASSERT_TRUE(Check(*policy, *partner, read, e1).allowed());
  ASSERT_TRUE(Check(*policy, ViewOf(granted)).allowed());

  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  LivePrincipal live = LivePrincipal::Partner("c-1");
  const struct {
    const char* name;
    Decision decision;
  } rows[] = {
      {"ids", reader.Check(*partner, read, e1)},
      {"ids with a resource", reader.Check(*partner, read, e1, &resource)},
      {"default-constructed ids",
       reader.Check(Principal(), ActionId(), EntityId())},
      {"live principal", reader.Check(live, read, e1)},
      {"live principal with a resource",
       reader.Check(live, read, e1, &resource)},
      {"names", reader.Check(ViewOf(granted))},
      {"empty request", reader.Check(CheckRequestView())},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(std::string(VerdictName(row.decision.verdict)), "not_allowed");
    EXPECT_EQ(std::string(ReasonName(row.decision.reason)), "no_policy");
  }
  const PolicyStore::ReadGuard guard = reader.Read();
  EXPECT_FALSE(guard);
  EXPECT_EQ(guard.generation(), 0u);
}

// A default Decision denies: code that forgets to assign one fails closed.
TEST(FailClosedTest, DefaultDecisionDenies) {
  const Decision decision;
  EXPECT_FALSE(decision.allowed());
  EXPECT_EQ(std::string(VerdictName(decision.verdict)), "not_allowed");
  EXPECT_EQ(std::string(ReasonName(decision.reason)), "invalid_request");
}

}  // namespace
}  // namespace portcullis
