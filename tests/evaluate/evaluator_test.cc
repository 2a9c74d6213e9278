// Table-driven tests of every decision rule, by ids and by names.
#include "engine/evaluate/evaluator.h"

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace portcullis {
namespace {

using ::testing::HasSubstr;

constexpr Decision kAllowed{Verdict::kAllowed, Reason::kGranted};
constexpr Decision kOwnAllowed{Verdict::kAllowed, Reason::kOwnership};
constexpr Decision kForOwn{Verdict::kAllowedForOwn, Reason::kOwnership};
constexpr Decision Deny(Reason reason) {
  return {Verdict::kNotAllowed, reason};
}

std::string Describe(Decision d) {
  return absl::StrCat(VerdictName(d.verdict), "/", ReasonName(d.reason));
}

constexpr char kPolicy[] = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "create" }
      actions { name: "approve" }
      actions { name: "delete" }
    }
    object_types {
      name: "receivable"
      actions { name: "read" }
      actions { name: "update" }
    }
    object_types {
      name: "entity"
      actions { name: "read" }
      actions { name: "create" partner_only: true }
    }
  }
  roles {
    id: "r-allowed"
    name: "Allowed"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "approve" permission: ALLOWED }
      }
    }
  }
  roles {
    id: "r-own"
    name: "Own"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "approve" permission: ALLOWED_FOR_OWN }
      }
    }
  }
  roles {
    id: "r-not"
    name: "Not"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "approve" permission: NOT_ALLOWED }
      }
    }
  }
  roles { id: "r-unlisted" name: "Unlisted" }
  roles {
    id: "r-custom-e2"
    name: "Custom of e-2"
    entity_id: "e-2"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "approve" permission: ALLOWED }
      }
    }
  }
  roles {
    id: "r-admin"
    name: "Admin"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "create" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED }
        actions { action_name: "delete" permission: ALLOWED }
      }
      objects {
        object_type: "entity"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "create" permission: ALLOWED }
      }
    }
  }
  roles {
    id: "r-own-entity"
    name: "Own entities"
    permissions {
      objects {
        object_type: "entity"
        actions { action_name: "create" permission: ALLOWED_FOR_OWN }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-own" }
  entities { id: "e-2" partner_id: "p-1" }
  entities { id: "e-3" partner_id: "p-2" default_role_id: "r-allowed" }
  credentials { client_id: "c-p1-all" partner_id: "p-1" scopes: "all:delete" }
  credentials {
    client_id: "c-p1-e1"
    partner_id: "p-1"
    entity_ids: "e-1"
    scopes: "payable:write"
  }
  credentials { client_id: "c-p2" partner_id: "p-2" scopes: "all:read" }
  credentials {
    client_id: "c-p1-read"
    partner_id: "p-1"
    scopes: "payable:read"
    scopes: "receivable:delete"
  }
  credentials {
    client_id: "c-payable-read"
    partner_id: "p-1"
    scopes: "payable:read"
  }
  credentials {
    client_id: "c-payable-write"
    partner_id: "p-1"
    scopes: "payable:write"
  }
  credentials {
    client_id: "c-payable-delete"
    partner_id: "p-1"
    scopes: "payable:delete"
  }
  credentials { client_id: "c-all-read" partner_id: "p-1" scopes: "all:read" }
  credentials { client_id: "c-all-write" partner_id: "p-1" scopes: "all:write" }
  credentials {
    client_id: "c-all-delete"
    partner_id: "p-1"
    scopes: "all:delete"
  }
  credentials {
    client_id: "c-all-read-payable-delete"
    partner_id: "p-1"
    scopes: "all:read"
    scopes: "payable:delete"
  }
)pb";

class EvaluatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<v1::PolicySet> set = ParsePolicyText(kPolicy);
    ASSERT_TRUE(set.ok()) << set.status();
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
        Compile(*set);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    policy_ = compiled->release();
  }
  static void TearDownTestSuite() { delete policy_; }

  static const CompiledPolicy* policy_;
};
const CompiledPolicy* EvaluatorTest::policy_ = nullptr;

// A request by names, checked both by names and by interned ids; the two must
// agree, and the explanation must reach the same decision.
struct Request {
  bool partner = false;
  std::string client_id;
  std::string user_id = "u-7";
  std::string user_entity = "e-1";
  std::string role_id;
  std::string object_type = "payable";
  std::string action = "approve";
  std::string entity = "e-1";
  bool has_resource = false;
  std::string resource_entity = "e-1";
  std::string created_by;
};

Decision CheckBoth(const CompiledPolicy& policy, const Request& r) {
  CheckRequestView view;
  view.principal_kind = r.partner
                            ? CheckRequestView::PrincipalKind::kPartner
                            : CheckRequestView::PrincipalKind::kEntityUser;
  view.client_id = r.client_id;
  view.user_id = r.user_id;
  view.user_entity_id = r.user_entity;
  view.role_id = r.role_id;
  view.object_type = r.object_type;
  view.action = r.action;
  view.entity_id = r.entity;
  view.has_resource = r.has_resource;
  view.resource_entity_id = r.resource_entity;
  view.resource_created_by = r.created_by;
  const Decision by_names = Check(policy, view);
  EXPECT_EQ(Explain(policy, view).decision, by_names);

  absl::StatusOr<Principal> principal =
      r.partner ? policy.BindPartner(r.client_id)
                : policy.BindEntityUser(r.user_id, r.user_entity, r.role_id,
                                        r.client_id);
  const auto action = policy.FindAction(r.object_type, r.action);
  const auto entity = policy.FindEntity(r.entity);
  const auto resource_entity = policy.FindEntity(r.resource_entity);
  if (principal.ok() && action && entity && resource_entity) {
    const ResourceRef resource{*resource_entity, r.created_by};
    const ResourceRef* resource_ptr = r.has_resource ? &resource : nullptr;
    const Decision by_ids =
        Check(policy, *principal, *action, *entity, resource_ptr);
    EXPECT_EQ(Describe(by_ids), Describe(by_names)) << "by ids vs by names";
    const RequestNames names{r.object_type,  r.action,          r.entity,
                             r.has_resource, r.resource_entity, r.created_by};
    EXPECT_EQ(Describe(Check(policy, *principal, names)), Describe(by_names))
        << "bound principal with names";
    EXPECT_EQ(
        Explain(policy, *principal, *action, *entity, resource_ptr).decision,
        by_ids);
  }
  return by_names;
}

// The complete product, one row each with its expected answer: for an entity
// user (u-7 of e-1, no client, so scope never decides) every permission of
// payable.approve (allowed, not_allowed, allowed_for_own, unlisted) x resource
// (none, the user's own, another user's, unknown creator) x where the request
// acts and the resource sits; and the same resources and places for a partner
// (c-p1-all, of p-1), who skips rbac and ownership. Completeness is checked
// below: a missing or repeated row fails.
TEST_F(EvaluatorTest, PermissionResourceEntityPrincipalMatrix) {
  enum class Res { kNone, kOwn, kOther, kUnknownCreator };
  constexpr const char* kResNames[] = {"none", "own", "another user's",
                                       "unknown creator"};
  enum class Where {
    kE1,            // request and resource in e-1: the user's entity, p-1's
    kE2,            // request and resource in e-2: another entity of p-1
    kE3,            // request and resource in e-3: p-2's
    kResourceInE2,  // request in e-1, resource in e-2
  };
  constexpr const char* kWhereNames[] = {"e-1", "e-2", "e-3",
                                         "request e-1, resource e-2"};
  struct Case {
    const char* principal;  // a role id of u-7, or "partner"
    Res resource;
    Where where;
    Decision want;
  };
  const Decision kTenant = Deny(Reason::kTenant);
  const Decision kRbac = Deny(Reason::kRbac);
  const Decision kNotOwn = Deny(Reason::kOwnership);
  const Case cases[] = {
      // allowed
      {"r-allowed", Res::kNone, Where::kE1, kAllowed},
      {"r-allowed", Res::kOwn, Where::kE1, kAllowed},
      {"r-allowed", Res::kOther, Where::kE1, kAllowed},
      {"r-allowed", Res::kUnknownCreator, Where::kE1, kAllowed},
      {"r-allowed", Res::kNone, Where::kE2, kTenant},
      {"r-allowed", Res::kOwn, Where::kE2, kTenant},
      {"r-allowed", Res::kOther, Where::kE2, kTenant},
      {"r-allowed", Res::kUnknownCreator, Where::kE2, kTenant},
      {"r-allowed", Res::kNone, Where::kE3, kTenant},
      {"r-allowed", Res::kOwn, Where::kE3, kTenant},
      {"r-allowed", Res::kOther, Where::kE3, kTenant},
      {"r-allowed", Res::kUnknownCreator, Where::kE3, kTenant},
      {"r-allowed", Res::kOwn, Where::kResourceInE2, kTenant},
      {"r-allowed", Res::kOther, Where::kResourceInE2, kTenant},
      {"r-allowed", Res::kUnknownCreator, Where::kResourceInE2, kTenant},
      // not_allowed
      {"r-not", Res::kNone, Where::kE1, kRbac},
      {"r-not", Res::kOwn, Where::kE1, kRbac},
      {"r-not", Res::kOther, Where::kE1, kRbac},
      {"r-not", Res::kUnknownCreator, Where::kE1, kRbac},
      {"r-not", Res::kNone, Where::kE2, kTenant},
      {"r-not", Res::kOwn, Where::kE2, kTenant},
      {"r-not", Res::kOther, Where::kE2, kTenant},
      {"r-not", Res::kUnknownCreator, Where::kE2, kTenant},
      {"r-not", Res::kNone, Where::kE3, kTenant},
      {"r-not", Res::kOwn, Where::kE3, kTenant},
      {"r-not", Res::kOther, Where::kE3, kTenant},
      {"r-not", Res::kUnknownCreator, Where::kE3, kTenant},
      {"r-not", Res::kOwn, Where::kResourceInE2, kTenant},
      {"r-not", Res::kOther, Where::kResourceInE2, kTenant},
      {"r-not", Res::kUnknownCreator, Where::kResourceInE2, kTenant},
      // allowed_for_own
      {"r-own", Res::kNone, Where::kE1, kForOwn},
      {"r-own", Res::kOwn, Where::kE1, kOwnAllowed},
      {"r-own", Res::kOther, Where::kE1, kNotOwn},
      {"r-own", Res::kUnknownCreator, Where::kE1, kNotOwn},
      {"r-own", Res::kNone, Where::kE2, kTenant},
      {"r-own", Res::kOwn, Where::kE2, kTenant},
      {"r-own", Res::kOther, Where::kE2, kTenant},
      {"r-own", Res::kUnknownCreator, Where::kE2, kTenant},
      {"r-own", Res::kNone, Where::kE3, kTenant},
      {"r-own", Res::kOwn, Where::kE3, kTenant},
      {"r-own", Res::kOther, Where::kE3, kTenant},
      {"r-own", Res::kUnknownCreator, Where::kE3, kTenant},
      {"r-own", Res::kOwn, Where::kResourceInE2, kTenant},
      {"r-own", Res::kOther, Where::kResourceInE2, kTenant},
      {"r-own", Res::kUnknownCreator, Where::kResourceInE2, kTenant},
      // unlisted (not_allowed by default)
      {"r-unlisted", Res::kNone, Where::kE1, kRbac},
      {"r-unlisted", Res::kOwn, Where::kE1, kRbac},
      {"r-unlisted", Res::kOther, Where::kE1, kRbac},
      {"r-unlisted", Res::kUnknownCreator, Where::kE1, kRbac},
      {"r-unlisted", Res::kNone, Where::kE2, kTenant},
      {"r-unlisted", Res::kOwn, Where::kE2, kTenant},
      {"r-unlisted", Res::kOther, Where::kE2, kTenant},
      {"r-unlisted", Res::kUnknownCreator, Where::kE2, kTenant},
      {"r-unlisted", Res::kNone, Where::kE3, kTenant},
      {"r-unlisted", Res::kOwn, Where::kE3, kTenant},
      {"r-unlisted", Res::kOther, Where::kE3, kTenant},
      {"r-unlisted", Res::kUnknownCreator, Where::kE3, kTenant},
      {"r-unlisted", Res::kOwn, Where::kResourceInE2, kTenant},
      {"r-unlisted", Res::kOther, Where::kResourceInE2, kTenant},
      {"r-unlisted", Res::kUnknownCreator, Where::kResourceInE2, kTenant},
      // A partner: its own entities (e-1, e-2) whoever created the resource,
      // not the other partner's (e-3), and never a resource of another entity.
      {"partner", Res::kNone, Where::kE1, kAllowed},
      {"partner", Res::kOwn, Where::kE1, kAllowed},
      {"partner", Res::kOther, Where::kE1, kAllowed},
      {"partner", Res::kUnknownCreator, Where::kE1, kAllowed},
      {"partner", Res::kNone, Where::kE2, kAllowed},
      {"partner", Res::kOwn, Where::kE2, kAllowed},
      {"partner", Res::kOther, Where::kE2, kAllowed},
      {"partner", Res::kUnknownCreator, Where::kE2, kAllowed},
      {"partner", Res::kNone, Where::kE3, kTenant},
      {"partner", Res::kOwn, Where::kE3, kTenant},
      {"partner", Res::kOther, Where::kE3, kTenant},
      {"partner", Res::kUnknownCreator, Where::kE3, kTenant},
      {"partner", Res::kOwn, Where::kResourceInE2, kTenant},
      {"partner", Res::kOther, Where::kResourceInE2, kTenant},
      {"partner", Res::kUnknownCreator, Where::kResourceInE2, kTenant},
  };

  // Every principal x resource x place exactly once; "request e-1, resource
  // e-2" needs a resource.
  std::set<std::tuple<std::string, Res, Where>> seen;
  for (const Case& c : cases) {
    EXPECT_TRUE(seen.emplace(c.principal, c.resource, c.where).second)
        << "repeated row " << c.principal << " "
        << kResNames[static_cast<int>(c.resource)] << " "
        << kWhereNames[static_cast<int>(c.where)];
  }
  for (const char* principal :
       {"r-allowed", "r-not", "r-own", "r-unlisted", "partner"}) {
    for (Res res : {Res::kNone, Res::kOwn, Res::kOther, Res::kUnknownCreator}) {
      for (Where where :
           {Where::kE1, Where::kE2, Where::kE3, Where::kResourceInE2}) {
        if (res == Res::kNone && where == Where::kResourceInE2) continue;
        EXPECT_EQ(seen.count({principal, res, where}), 1u)
            << "missing row " << principal << " "
            << kResNames[static_cast<int>(res)] << " "
            << kWhereNames[static_cast<int>(where)];
      }
    }
  }
  EXPECT_EQ(seen.size(), 5u * 15u);

  for (const Case& c : cases) {
    Request r;
    if (std::string(c.principal) == "partner") {
      r.partner = true;
      r.client_id = "c-p1-all";
    } else {
      r.role_id = c.principal;
    }
    switch (c.where) {
      case Where::kE1:
        r.entity = r.resource_entity = "e-1";
        break;
      case Where::kE2:
        r.entity = r.resource_entity = "e-2";
        break;
      case Where::kE3:
        r.entity = r.resource_entity = "e-3";
        break;
      case Where::kResourceInE2:
        r.entity = "e-1";
        r.resource_entity = "e-2";
        break;
    }
    r.has_resource = c.resource != Res::kNone;
    switch (c.resource) {
      case Res::kNone:
      case Res::kUnknownCreator:
        r.created_by = "";
        break;
      case Res::kOwn:
        r.created_by = "u-7";
        break;
      case Res::kOther:
        r.created_by = "u-8";
        break;
    }
    SCOPED_TRACE(absl::StrCat(
        c.principal, ", resource: ", kResNames[static_cast<int>(c.resource)],
        ", ", kWhereNames[static_cast<int>(c.where)]));
    EXPECT_EQ(Describe(CheckBoth(*policy_, r)), Describe(c.want));
  }
}

TEST_F(EvaluatorTest, TenantRule) {
  struct Case {
    const char* name;
    Request request;
    Decision want;
  };
  auto partner = [](const char* client, const char* entity) {
    Request r;
    r.partner = true;
    r.client_id = client;
    r.entity = entity;
    r.resource_entity = entity;
    return r;
  };
  auto user = [](const char* client, const char* user_entity,
                 const char* entity) {
    Request r;
    r.client_id = client;
    r.user_entity = user_entity;
    r.entity = entity;
    r.role_id = "r-allowed";
    return r;
  };
  Request resource_elsewhere = partner("c-p1-all", "e-1");
  resource_elsewhere.has_resource = true;
  resource_elsewhere.resource_entity = "e-2";
  Request resource_unknown = partner("c-p1-all", "e-1");
  resource_unknown.has_resource = true;
  resource_unknown.resource_entity = "e-404";
  const Case cases[] = {
      {"partner in its entity", partner("c-p1-all", "e-2"), kAllowed},
      {"partner in another partner's entity", partner("c-p1-all", "e-3"),
       Deny(Reason::kTenant)},
      {"other partner back", partner("c-p2", "e-1"), Deny(Reason::kTenant)},
      {"team-restricted, listed team", partner("c-p1-e1", "e-1"), kAllowed},
      {"team-restricted, other team", partner("c-p1-e1", "e-2"),
       Deny(Reason::kTenant)},
      {"unknown request entity", partner("c-p1-all", "e-404"),
       Deny(Reason::kTenant)},
      {"resource in another entity", resource_elsewhere, Deny(Reason::kTenant)},
      {"resource in an unknown entity", resource_unknown,
       Deny(Reason::kTenant)},
      {"user in own entity", user("", "e-1", "e-1"), kAllowed},
      {"user in sibling entity", user("", "e-1", "e-2"), Deny(Reason::kTenant)},
      {"user via restricted client, listed", user("c-p1-e1", "e-1", "e-1"),
       kAllowed},
      {"user of e-2 via client restricted to e-1",
       user("c-p1-e1", "e-2", "e-2"), Deny(Reason::kTenant)},
      {"user via another partner's client", user("c-p2", "e-1", "e-1"),
       Deny(Reason::kTenant)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Describe(CheckBoth(*policy_, c.request)), Describe(c.want));
  }
}

// Every granted level x every required level, per object type and via `all`:
// delete covers write covers read.
TEST_F(EvaluatorTest, ScopeInheritanceTable) {
  struct Case {
    const char* client;
    const char*
        action;  // payable.read needs read, approve write, delete delete
    bool allowed;
  };
  const Case cases[] = {
      {"c-payable-read", "read", true},
      {"c-payable-read", "approve", false},
      {"c-payable-read", "delete", false},
      {"c-payable-write", "read", true},
      {"c-payable-write", "approve", true},
      {"c-payable-write", "delete", false},
      {"c-payable-delete", "read", true},
      {"c-payable-delete", "approve", true},
      {"c-payable-delete", "delete", true},
      {"c-all-read", "read", true},
      {"c-all-read", "approve", false},
      {"c-all-read", "delete", false},
      {"c-all-write", "read", true},
      {"c-all-write", "approve", true},
      {"c-all-write", "delete", false},
      {"c-all-delete", "read", true},
      {"c-all-delete", "approve", true},
      {"c-all-delete", "delete", true},
      // The higher of a type's own scope and `all` counts.
      {"c-all-read-payable-delete", "delete", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.client, " payable.", c.action));
    Request r;
    r.partner = true;
    r.client_id = c.client;
    r.action = c.action;
    EXPECT_EQ(Describe(CheckBoth(*policy_, r)),
              Describe(c.allowed ? kAllowed : Deny(Reason::kScope)));
  }
  // A scope on one object type grants nothing on another.
  Request other_type;
  other_type.partner = true;
  other_type.client_id = "c-payable-delete";
  other_type.object_type = "receivable";
  other_type.action = "read";
  EXPECT_EQ(Describe(CheckBoth(*policy_, other_type)),
            Describe(Deny(Reason::kScope)));
  other_type.client_id = "c-all-read-payable-delete";
  EXPECT_EQ(Describe(CheckBoth(*policy_, other_type)), Describe(kAllowed));
  other_type.action = "update";
  EXPECT_EQ(Describe(CheckBoth(*policy_, other_type)),
            Describe(Deny(Reason::kScope)));
}

// An entity user may do what both the role and the client's scopes allow.
TEST_F(EvaluatorTest, EntityUserGetsScopesIntersectedWithRole) {
  struct Case {
    const char* name;
    const char* client;
    const char* role;
    const char* action;
    Decision want;
  };
  const Case cases[] = {
      {"role and scope allow", "c-p1-all", "r-admin", "delete", kAllowed},
      {"role allows, scope too low", "c-payable-read", "r-admin", "delete",
       Deny(Reason::kScope)},
      {"scope allows, role does not", "c-all-delete", "r-allowed", "delete",
       Deny(Reason::kRbac)},
      {"no client: role alone decides", "", "r-admin", "delete", kAllowed},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Request r;
    r.client_id = c.client;
    r.role_id = c.role;
    r.action = c.action;
    EXPECT_EQ(Describe(CheckBoth(*policy_, r)), Describe(c.want));
  }
}

TEST_F(EvaluatorTest, PartnerOnlyActions) {
  Request admin_user;
  admin_user.role_id = "r-admin";
  admin_user.object_type = "entity";
  admin_user.action = "create";
  EXPECT_EQ(Describe(CheckBoth(*policy_, admin_user)),
            Describe(Deny(Reason::kPartnerOnly)));
  admin_user.action = "read";
  EXPECT_EQ(Describe(CheckBoth(*policy_, admin_user)), Describe(kAllowed));

  Request partner;
  partner.partner = true;
  partner.client_id = "c-p1-all";
  partner.object_type = "entity";
  partner.action = "create";
  EXPECT_EQ(Describe(CheckBoth(*policy_, partner)), Describe(kAllowed));
  // Scope comes before partner_only: a read-only partner credential is
  // denied by scope even though it is a partner.
  partner.client_id = "c-all-read";
  EXPECT_EQ(Describe(CheckBoth(*policy_, partner)),
            Describe(Deny(Reason::kScope)));
}

// Entity users whom two or more rules would deny: the first in docs/design.md's
// order (tenant, scope, partner_only, rbac, ownership) decides. Each row
// names the rules it breaks; the "alone" rows repair all but one, showing
// that each rule does fail on its own. u-7 of e-1 unless said otherwise.
TEST_F(EvaluatorTest, RuleOrderForEntityUsers) {
  struct Case {
    const char* name;
    Request request;
    Decision want;
  };
  auto user = [](const char* client, const char* role, const char* type,
                 const char* action) {
    Request r;
    r.client_id = client;
    r.role_id = role;
    r.object_type = type;
    r.action = action;
    return r;
  };
  auto with_resource = [](Request r, const char* entity,
                          const char* created_by) {
    r.has_resource = true;
    r.resource_entity = entity;
    r.created_by = created_by;
    return r;
  };
  auto in = [](Request r, const char* user_entity, const char* entity,
               const char* resource_entity) {
    r.user_entity = user_entity;
    r.entity = entity;
    r.resource_entity = resource_entity;
    return r;
  };
  // entity.create is partner-only and needs write; c-all-read grants read;
  // r-unlisted lists nothing; u-8 created the resource.
  const Request everything = with_resource(
      user("c-all-read", "r-unlisted", "entity", "create"), "e-1", "u-8");
  const Case cases[] = {
      // scope + partner_only -> scope
      {"scope and partner_only fail",
       user("c-all-read", "r-admin", "entity", "create"), Deny(Reason::kScope)},
      {"partner_only alone (scope repaired: all:write)",
       user("c-all-write", "r-admin", "entity", "create"),
       Deny(Reason::kPartnerOnly)},
      // scope + rbac -> scope
      {"scope and rbac fail",
       user("c-payable-read", "r-not", "payable", "approve"),
       Deny(Reason::kScope)},
      {"rbac alone (scope repaired: payable:write)",
       user("c-payable-write", "r-not", "payable", "approve"),
       Deny(Reason::kRbac)},
      {"scope alone (rbac repaired: r-allowed)",
       user("c-payable-read", "r-allowed", "payable", "approve"),
       Deny(Reason::kScope)},
      // scope + partner_only + rbac -> scope
      {"scope, partner_only and rbac fail",
       user("c-all-read", "r-unlisted", "entity", "create"),
       Deny(Reason::kScope)},
      // partner_only + rbac -> partner_only
      {"partner_only and rbac fail",
       user("c-all-delete", "r-unlisted", "entity", "create"),
       Deny(Reason::kPartnerOnly)},
      {"partner_only and rbac fail, no client",
       user("", "r-unlisted", "entity", "create"), Deny(Reason::kPartnerOnly)},
      {"rbac alone (partner_only repaired: entity.read)",
       user("c-all-delete", "r-unlisted", "entity", "read"),
       Deny(Reason::kRbac)},
      // partner_only + ownership -> partner_only
      {"partner_only and ownership fail",
       with_resource(user("c-all-delete", "r-own-entity", "entity", "create"),
                     "e-1", "u-8"),
       Deny(Reason::kPartnerOnly)},
      // scope + ownership -> scope
      {"scope and ownership fail",
       with_resource(user("c-payable-read", "r-own", "payable", "approve"),
                     "e-1", "u-8"),
       Deny(Reason::kScope)},
      {"ownership alone (scope repaired: payable:write)",
       with_resource(user("c-payable-write", "r-own", "payable", "approve"),
                     "e-1", "u-8"),
       Deny(Reason::kOwnership)},
      // tenant + everything -> tenant, whichever way tenant fails
      {"scope, partner_only and rbac fail, tenant passes", everything,
       Deny(Reason::kScope)},
      {"tenant and everything: request in a sibling entity",
       in(everything, "e-1", "e-2", "e-2"), Deny(Reason::kTenant)},
      {"tenant and everything: resource in a sibling entity",
       in(everything, "e-1", "e-1", "e-2"), Deny(Reason::kTenant)},
      {"tenant and everything: request in another partner's entity",
       in(everything, "e-1", "e-3", "e-3"), Deny(Reason::kTenant)},
      {"tenant and everything: client restricted to e-1, user of e-2",
       [&] {
         Request r = in(everything, "e-2", "e-2", "e-2");
         r.client_id = "c-p1-e1";  // payable:write only: scope fails too
         return r;
       }(),
       Deny(Reason::kTenant)},
      {"tenant and everything: another partner's client",
       [&] {
         Request r = everything;
         r.client_id = "c-p2";  // all:read: scope fails too
         return r;
       }(),
       Deny(Reason::kTenant)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Describe(CheckBoth(*policy_, c.request)), Describe(c.want));
  }
}

TEST_F(EvaluatorTest, RolesAndDefaultRoles) {
  struct Case {
    const char* name;
    const char* user_entity;
    const char* role;
    Decision want;
  };
  const Case cases[] = {
      {"default role of e-1 (allowed_for_own)", "e-1", "", kForOwn},
      {"e-2 has no default role", "e-2", "", Deny(Reason::kRbac)},
      {"custom role in its own entity", "e-2", "r-custom-e2", kAllowed},
      {"custom role of e-2 held in e-1", "e-1", "r-custom-e2",
       Deny(Reason::kRbac)},
      {"unknown role", "e-1", "r-404", Deny(Reason::kUnknownRole)},
      {"unknown user entity", "e-404", "", Deny(Reason::kUnknownEntity)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Request r;
    r.user_entity = c.user_entity;
    r.entity = c.user_entity;
    r.resource_entity = c.user_entity;
    r.role_id = c.role;
    EXPECT_EQ(Describe(CheckBoth(*policy_, r)), Describe(c.want));
  }
}

TEST_F(EvaluatorTest, MalformedAndUnknownRequestsFailClosed) {
  struct Case {
    const char* name;
    CheckRequestView view;
    Reason want;
  };
  CheckRequestView base;
  base.principal_kind = CheckRequestView::PrincipalKind::kPartner;
  base.client_id = "c-p1-all";
  base.object_type = "payable";
  base.action = "read";
  base.entity_id = "e-1";
  auto with = [&](auto mutate) {
    CheckRequestView v = base;
    mutate(v);
    return v;
  };
  const Case cases[] = {
      {"no principal", with([](CheckRequestView& v) {
         v.principal_kind = CheckRequestView::PrincipalKind::kNone;
       }),
       Reason::kInvalidRequest},
      {"partner without client",
       with([](CheckRequestView& v) { v.client_id = ""; }),
       Reason::kInvalidRequest},
      {"user without user id", with([](CheckRequestView& v) {
         v.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
         v.user_entity_id = "e-1";
       }),
       Reason::kInvalidRequest},
      {"user without entity id", with([](CheckRequestView& v) {
         v.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
         v.user_id = "u-7";
       }),
       Reason::kInvalidRequest},
      {"user without user id, of an unknown entity",
       with([](CheckRequestView& v) {
         v.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
         v.user_entity_id = "e-404";
       }),
       Reason::kInvalidRequest},
      {"empty object type",
       with([](CheckRequestView& v) { v.object_type = ""; }),
       Reason::kInvalidRequest},
      {"empty action", with([](CheckRequestView& v) { v.action = ""; }),
       Reason::kInvalidRequest},
      {"empty entity", with([](CheckRequestView& v) { v.entity_id = ""; }),
       Reason::kInvalidRequest},
      {"empty entity, with a resource", with([](CheckRequestView& v) {
         v.entity_id = "";
         v.has_resource = true;
         v.resource_entity_id = "e-1";
       }),
       Reason::kInvalidRequest},
      // Requests are sorted out in a fixed order: a missing name before an
      // unknown one.
      {"empty entity and unknown object type", with([](CheckRequestView& v) {
         v.entity_id = "";
         v.object_type = "invoice";
       }),
       Reason::kInvalidRequest},
      {"empty entity, entity user", with([](CheckRequestView& v) {
         v.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
         v.user_id = "u-7";
         v.user_entity_id = "e-1";
         v.client_id = "";
         v.entity_id = "";
       }),
       Reason::kInvalidRequest},
      {"empty resource entity", with([](CheckRequestView& v) {
         v.has_resource = true;
         v.resource_entity_id = "";
       }),
       Reason::kTenant},
      {"unknown client",
       with([](CheckRequestView& v) { v.client_id = "c-404"; }),
       Reason::kUnknownPrincipal},
      {"unknown object type",
       with([](CheckRequestView& v) { v.object_type = "invoice"; }),
       Reason::kUnknownObjectType},
      {"action of another type",
       with([](CheckRequestView& v) { v.action = "update"; }),
       Reason::kUnknownAction},
      {"names are case-sensitive",
       with([](CheckRequestView& v) { v.object_type = "Payable"; }),
       Reason::kUnknownObjectType},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Describe(Check(*policy_, c.view)), Describe(Deny(c.want)));
    EXPECT_EQ(Describe(Explain(*policy_, c.view).decision),
              Describe(Deny(c.want)));
    // A principal bound once, with the request's names: the same answer
    // from its decision row, when the request's principal is complete and
    // binds.
    const bool is_partner =
        c.view.principal_kind == CheckRequestView::PrincipalKind::kPartner;
    if (is_partner ? c.view.client_id.empty()
                   : c.view.user_id.empty() || c.view.user_entity_id.empty()) {
      continue;
    }
    const absl::StatusOr<Principal> principal =
        is_partner
            ? policy_->BindPartner(c.view.client_id)
            : policy_->BindEntityUser(c.view.user_id, c.view.user_entity_id,
                                      c.view.role_id, c.view.client_id);
    if (!principal.ok()) continue;
    const RequestNames names{
        c.view.object_type,        c.view.action,
        c.view.entity_id,          c.view.has_resource,
        c.view.resource_entity_id, c.view.resource_created_by};
    EXPECT_EQ(Describe(Check(*policy_, *principal, names)),
              Describe(Deny(c.want)));
    EXPECT_EQ(Describe(Explain(*policy_, *principal, names).decision),
              Describe(Deny(c.want)));
  }
}

TEST_F(EvaluatorTest, IdsFromAnotherSnapshotFailClosed) {
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(kPolicy);
  ASSERT_TRUE(set.ok());
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> other = Compile(*set);
  ASSERT_TRUE(other.ok());
  ASSERT_NE((*other)->snapshot(), policy_->snapshot());

  const Principal principal = *policy_->BindPartner("c-p1-all");
  const ActionId action = *policy_->FindAction("payable", "read");
  const EntityId entity = *policy_->FindEntity("e-1");
  ASSERT_EQ(Check(*policy_, principal, action, entity), kAllowed);

  // The same indices, issued by an identical policy compiled separately.
  const Principal other_principal = *(*other)->BindPartner("c-p1-all");
  const ActionId other_action = *(*other)->FindAction("payable", "read");
  const EntityId other_entity = *(*other)->FindEntity("e-1");
  const ResourceRef other_resource{other_entity, "u-7"};
  EXPECT_EQ(Check(*policy_, other_principal, action, entity),
            Deny(Reason::kStaleSnapshot));
  EXPECT_EQ(Check(*policy_, principal, other_action, entity),
            Deny(Reason::kStaleSnapshot));
  EXPECT_EQ(Check(*policy_, principal, action, other_entity),
            Deny(Reason::kStaleSnapshot));
  EXPECT_EQ(Check(*policy_, principal, action, entity, &other_resource),
            Deny(Reason::kStaleSnapshot));
  // Default-constructed ids and principals belong to no snapshot.
  EXPECT_EQ(Check(*policy_, Principal(), action, entity),
            Deny(Reason::kStaleSnapshot));
  EXPECT_EQ(Check(*policy_, principal, ActionId(), entity),
            Deny(Reason::kStaleSnapshot));
  EXPECT_EQ(Check(*policy_, principal, action, EntityId()),
            Deny(Reason::kStaleSnapshot));
}

TEST_F(EvaluatorTest, BindErrorsNameTheUnknownValue) {
  EXPECT_EQ(policy_->BindPartner("c-404").status().message(),
            "unknown client \"c-404\"");
  EXPECT_EQ(policy_->BindEntityUser("u", "e-404", "", "").status().message(),
            "unknown entity \"e-404\"");
  EXPECT_EQ(policy_->BindEntityUser("u", "e-1", "r-404", "").status().message(),
            "unknown role \"r-404\"");
  EXPECT_EQ(policy_->BindEntityUser("u", "e-1", "", "c-404").status().message(),
            "unknown client \"c-404\"");
}

TEST_F(EvaluatorTest, ExplanationNamesRuleRoleAndRowEntry) {
  CheckRequestView view;
  view.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
  view.user_id = "u-7";
  view.user_entity_id = "e-1";
  view.client_id = "c-p1-e1";
  view.object_type = "payable";
  view.action = "approve";
  view.entity_id = "e-1";
  view.has_resource = true;
  view.resource_entity_id = "e-1";
  view.resource_created_by = "u-8";
  const Explanation explanation = Explain(*policy_, view);
  EXPECT_EQ(explanation.ToText(),
            "tenant: pass: entity \"e-1\" of partner \"p-1\" is the "
            "principal's, and so is the resource\n"
            "scope: pass: client \"c-p1-e1\" grants write on payable; "
            "payable.approve needs write\n"
            "partner_only: pass: payable.approve is not partner-only\n"
            "rbac: pass: role \"r-own\" (row at 7): payable.approve = "
            "allowed_for_own\n"
            "ownership: FAIL: the resource was created by \"u-8\", not by "
            "\"u-7\"\n"
            "decision: not_allowed (reason: ownership)\n");
  const v1::CheckResponse response = explanation.ToResponse("42");
  EXPECT_EQ(response.id(), "42");
  EXPECT_EQ(response.decision(), "not_allowed");
  EXPECT_EQ(response.reason(), "ownership");
  ASSERT_EQ(response.explanation_size(), 5);
  EXPECT_EQ(response.explanation(4).rule(), "ownership");
  EXPECT_FALSE(response.explanation(4).passed());
}

TEST(EvaluatorEmptyPolicyTest, EmptyPolicyDeniesEverything) {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(v1::PolicySet());
  ASSERT_TRUE(policy.ok()) << policy.status();
  CheckRequestView view;
  view.principal_kind = CheckRequestView::PrincipalKind::kPartner;
  view.client_id = "c";
  view.object_type = "payable";
  view.action = "read";
  view.entity_id = "e";
  EXPECT_EQ(Check(**policy, view), Deny(Reason::kUnknownPrincipal));
  EXPECT_FALSE((*policy)->FindAction("payable", "read").has_value());
}

// Monite's documented "Manage entity users" role, loaded unchanged: the file
// is the JSON payload of Monite's public authentication guide (after "a role
// that includes permissions to add, view, update, and delete entity users
// would look like this:"), byte for byte, read
// as a v1::Role with ParseJsonMessage (the policy loader's JSON options), then
// used as an entity's default role.
TEST(MoniteDocumentedRoleTest, LoadsUnchangedAndDecides) {
  absl::StatusOr<std::string> json = ReadFileToString(
      "tests/evaluate/testdata/monite_manage_entity_users_role.json", 1 << 20);
  ASSERT_TRUE(json.ok()) << json.status();
  // As printed: 28 lines, three-space indentation, one field per line.
  EXPECT_EQ(std::count(json->begin(), json->end(), '\n'), 28);
  EXPECT_TRUE(
      absl::StartsWith(*json, "{\n   \"name\": \"Manage entity users\",\n"));
  EXPECT_THAT(*json, HasSubstr("               {\n"
                               "                  \"action_name\":\"create\",\n"
                               "                  \"permission\":\"allowed\"\n"
                               "               },\n"));
  EXPECT_TRUE(absl::EndsWith(*json, "      ]\n   }\n}\n"));

  v1::Role role;
  const absl::Status parsed = ParseJsonMessage(*json, role);
  ASSERT_TRUE(parsed.ok()) << parsed;
  EXPECT_EQ(role.id(), "");
  EXPECT_EQ(role.name(), "Manage entity users");
  ASSERT_EQ(role.permissions().objects_size(), 1);
  const v1::ObjectPermissions& objects = role.permissions().objects(0);
  EXPECT_EQ(objects.object_type(), "entity_user");
  const char* const kActions[] = {"create", "read", "update", "delete"};
  ASSERT_EQ(objects.actions_size(), 4);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(kActions[i]);
    EXPECT_EQ(objects.actions(i).action_name(), kActions[i]);
    EXPECT_EQ(objects.actions(i).permission(), v1::ALLOWED);
  }

  // examples/monite carries the same role (reformatted).
  absl::StatusOr<LoadedPolicy> example = LoadPolicyFiles({"examples/monite"});
  ASSERT_TRUE(example.ok()) << example.status();
  int same = 0;
  for (const v1::Role& r : example->policy.roles()) {
    if (r.name() == role.name()) {
      ++same;
      EXPECT_EQ(r.SerializeAsString(), role.SerializeAsString());
    }
  }
  EXPECT_EQ(same, 1);

  absl::StatusOr<LoadedPolicy> loaded =
      LoadPolicyFiles({"examples/monite/catalog.json"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  v1::PolicySet set = loaded->policy;
  *set.add_roles() = role;
  v1::Entity* entity = set.add_entities();
  entity->set_id("e-1");
  entity->set_partner_id("p-1");
  entity->set_default_role_id("Manage entity users");  // identified by name
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(set);
  ASSERT_TRUE(policy.ok()) << policy.status();

  // As documented: add, view, update and delete entity users, nothing else.
  for (const char* action : kActions) {
    Request r;
    r.object_type = "entity_user";
    r.action = action;
    SCOPED_TRACE(action);
    EXPECT_EQ(Describe(CheckBoth(**policy, r)), Describe(kAllowed));
  }
  int denied = 0;
  for (const v1::ObjectType& type : set.catalog().object_types()) {
    if (type.name() == "entity_user") continue;
    for (const v1::Action& action : type.actions()) {
      Request r;
      r.object_type = type.name();
      r.action = action.name();
      SCOPED_TRACE(absl::StrCat(type.name(), ".", action.name()));
      EXPECT_EQ(Describe(CheckBoth(**policy, r)),
                Describe(Deny(action.partner_only() ? Reason::kPartnerOnly
                                                    : Reason::kRbac)));
      ++denied;
    }
  }
  EXPECT_EQ(denied, 130 - 4);  // the catalogue's other object/action pairs
}

// The Monta documentation's scenarios, on examples/monta's partner
// credentials (the example's entity users: examples_test).
TEST(MontaScenariosTest, ScopesAndTeamRestrictionBehaveAsDocumented) {
  absl::StatusOr<LoadedPolicy> loaded =
      LoadPolicyFiles({"examples/monta/policy.txtpb"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(loaded->policy);
  ASSERT_TRUE(policy.ok()) << policy.status();
  const CompiledPolicy& p = **policy;

  // Find the documented credentials by their scopes, so the test does not
  // depend on the example's client ids.
  auto client_with = [&](const std::string& scope, bool restricted) {
    for (const v1::Credential& c : loaded->policy.credentials()) {
      if (c.scopes_size() == 1 && c.scopes(0) == scope &&
          c.entity_ids().empty() != restricted) {
        return c;
      }
    }
    ADD_FAILURE() << "no credential with scope " << scope;
    return v1::Credential();
  };
  const v1::Credential cp_read = client_with("charge-points:read", false);
  const v1::Credential cp_delete = client_with("charge-points:delete", false);
  const v1::Credential all_delete = client_with("all:delete", false);
  const v1::Credential all = client_with("all", false);  // /auth/me's sample
  const v1::Credential team = client_with("wallet-transactions:read", true);
  ASSERT_EQ(team.entity_ids_size(), 1);
  const std::string team_entity = team.entity_ids(0);
  std::string sibling;
  for (const v1::Entity& e : loaded->policy.entities()) {
    if (e.partner_id() == team.partner_id() && e.id() != team_entity)
      sibling = e.id();
  }
  ASSERT_FALSE(sibling.empty());

  auto check = [&](const v1::Credential& c, const std::string& type,
                   const std::string& action, const std::string& entity) {
    Request r;
    r.partner = true;
    r.client_id = c.client_id();
    r.object_type = type;
    r.action = action;
    r.entity = entity;
    r.resource_entity = entity;
    return Describe(CheckBoth(p, r));
  };

  // Every action of every object type, in both teams of the operator:
  // all:delete reaches every endpoint; charge-points:delete reads, writes and
  // deletes charge points and nothing else; charge-points:read only reads
  // them. The catalog writes every level out, and charge-points (and every
  // type together) has all three, so each level is exercised.
  std::set<v1::ScopeLevel> charge_point_levels, all_levels;
  int actions = 0;
  for (const v1::ObjectType& type : loaded->policy.catalog().object_types()) {
    const bool charge_points = type.name() == "charge-points";
    for (const v1::Action& action : type.actions()) {
      ASSERT_NE(action.level(), v1::SCOPE_LEVEL_UNSPECIFIED)
          << type.name() << "." << action.name();
      all_levels.insert(action.level());
      if (charge_points) charge_point_levels.insert(action.level());
      for (const std::string& entity : {team_entity, sibling}) {
        SCOPED_TRACE(absl::StrCat(type.name(), ".", action.name(), " (",
                                  v1::ScopeLevel_Name(action.level()), ") in ",
                                  entity));
        ++actions;
        EXPECT_EQ(check(all_delete, type.name(), action.name(), entity),
                  "allowed/granted");
        EXPECT_EQ(check(all, type.name(), action.name(), entity),
                  "allowed/granted");
        EXPECT_EQ(check(cp_delete, type.name(), action.name(), entity),
                  charge_points ? "allowed/granted" : "not_allowed/scope");
        EXPECT_EQ(check(cp_read, type.name(), action.name(), entity),
                  charge_points && action.level() == v1::READ
                      ? "allowed/granted"
                      : "not_allowed/scope");
      }
    }
  }
  const std::set<v1::ScopeLevel> every_level = {v1::READ, v1::WRITE,
                                                v1::DELETE};
  EXPECT_EQ(charge_point_levels, every_level);
  EXPECT_EQ(all_levels, every_level);
  EXPECT_EQ(actions, 2 * 42);

  EXPECT_EQ(check(team, "wallet-transactions", "read", team_entity),
            "allowed/granted");
  EXPECT_EQ(check(team, "wallet-transactions", "read", sibling),
            "not_allowed/tenant");
}

}  // namespace
}  // namespace portcullis
