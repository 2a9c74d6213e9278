// The compiled evaluator against the reference evaluator on thousands of random
// policies and requests (seeded, so a failure reproduces): entirely by names
// and explained (which evaluate the rules), by interned ids and by names with
// a bound principal (which read the principal's decision row), every answer
// must equal the reference's.
#include <random>

#include "absl/strings/str_cat.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "gtest/gtest.h"
#include "tests/random_policy.h"
#include "tests/reference_evaluator.h"

namespace portcullis {
namespace {

constexpr int kPolicies = 3000;
constexpr int kRequestsPerPolicy = 60;

// What the checks with a bound principal (the decision-row path) were asked,
// so that the test can require every kind of principal and rule to be seen.
struct RowCoverage {
  int reasons[kReasonCount] = {};
  int partners = 0;
  int restricted_partners = 0;
  int users_without_credential = 0;
  int users_without_role = 0;
  int users_with_unusable_role = 0;
  int users_outside_restriction = 0;  // tenant_ok false
  int partner_only_slots = 0;
  int for_own_without_resource = 0;
  int for_own_with_resource = 0;
};

// Checks by ids whenever the request can be interned, which is the API a
// service uses once names are resolved.
std::optional<Decision> CheckByIds(const CompiledPolicy& policy,
                                   const v1::CheckRequest& request,
                                   RowCoverage& coverage) {
  absl::StatusOr<Principal> principal = absl::NotFoundError("");
  if (request.principal().has_partner()) {
    principal = policy.BindPartner(request.principal().partner().client_id());
  } else if (request.principal().has_entity_user()) {
    const v1::EntityUserPrincipal& user = request.principal().entity_user();
    if (user.user_id().empty()) return std::nullopt;
    principal = policy.BindEntityUser(user.user_id(), user.entity_id(),
                                      user.role_id(), user.client_id());
  }
  const std::optional<ActionId> action =
      policy.FindAction(request.object_type(), request.action());
  const std::optional<EntityId> entity = policy.FindEntity(request.entity_id());
  if (!principal.ok() || !action.has_value() || !entity.has_value()) {
    return std::nullopt;
  }
  ResourceRef resource;
  if (request.has_resource()) {
    const std::optional<EntityId> resource_entity =
        policy.FindEntity(request.resource().entity_id());
    if (!resource_entity.has_value()) return std::nullopt;
    resource = {*resource_entity, request.resource().created_by()};
  }
  const ResourceRef* resource_ref =
      request.has_resource() ? &resource : nullptr;
  const Decision by_ids =
      Check(policy, *principal, *action, *entity, resource_ref);
  // The rules, evaluated, with the same ids.
  EXPECT_EQ(
      Explain(policy, *principal, *action, *entity, resource_ref).decision,
      by_ids);
  const internal::PrincipalFacts& facts = principal->facts();
  ++coverage.reasons[static_cast<int>(by_ids.reason)];
  if (principal->is_partner()) {
    ++coverage.partners;
    coverage.restricted_partners +=
        policy.tables().credential_restriction[facts.credential] !=
        internal::kNone;
  } else {
    coverage.users_without_credential += facts.credential == internal::kNone;
    coverage.users_without_role += facts.role == internal::kNone;
    coverage.users_with_unusable_role +=
        facts.role != internal::kNone && !facts.role_usable;
    coverage.users_outside_restriction += !facts.tenant_ok;
  }
  coverage.partner_only_slots +=
      policy.tables().slots[action->index()].partner_only;
  if (by_ids.reason == Reason::kOwnership) {
    (request.has_resource() ? coverage.for_own_with_resource
                            : coverage.for_own_without_resource)++;
  }
  // The bound principal with the request's names must agree.
  const RequestNames names{request.object_type(),
                           request.action(),
                           request.entity_id(),
                           request.has_resource(),
                           request.resource().entity_id(),
                           request.resource().created_by()};
  EXPECT_EQ(Check(policy, *principal, names), by_ids);
  EXPECT_EQ(Explain(policy, *principal, names).decision, by_ids);
  return by_ids;
}

TEST(DifferentialTest, CompiledEvaluatorAgreesWithReference) {
  std::mt19937_64 random(20261123);
  int by_ids = 0;
  int reasons[kReasonCount] = {};
  RowCoverage coverage;
  for (int p = 0; p < kPolicies; ++p) {
    const v1::PolicySet policy = testing::RandomPolicy(random);
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
        Compile(policy);
    ASSERT_TRUE(compiled.ok())
        << "policy " << p << ": " << compiled.status() << "\n"
        << policy.DebugString();
    for (int r = 0; r < kRequestsPerPolicy; ++r) {
      const v1::CheckRequest request = testing::RandomRequest(policy, random);
      const Decision want = ReferenceCheck(policy, request);
      ++reasons[static_cast<int>(want.reason)];
      const Decision by_names = Check(**compiled, ViewOf(request));
      ASSERT_EQ(by_names, want)
          << "policy " << p << " request " << r << ": got "
          << VerdictName(by_names.verdict) << "/" << ReasonName(by_names.reason)
          << ", reference " << VerdictName(want.verdict) << "/"
          << ReasonName(want.reason) << "\nrequest: " << request.DebugString()
          << "policy: " << policy.DebugString()
          << Explain(**compiled, ViewOf(request)).ToText();
      ASSERT_EQ(Explain(**compiled, ViewOf(request)).decision, want);
      // The same bytes with the object type / action boundary moved (names
      // the catalog may lack, which the action index must not confuse with
      // the pair they were cut from).
      if (request.action().size() > 1) {
        v1::CheckRequest moved = request;
        moved.set_object_type(request.object_type() + request.action()[0]);
        moved.set_action(request.action().substr(1));
        ASSERT_EQ(Check(**compiled, ViewOf(moved)),
                  ReferenceCheck(policy, moved))
            << "boundary moved, policy " << p << " request " << r
            << "\nrequest: " << moved.DebugString();
      }
      if (const std::optional<Decision> ids =
              CheckByIds(**compiled, request, coverage)) {
        ++by_ids;
        ASSERT_EQ(*ids, want) << "by ids, policy " << p << " request " << r
                              << "\nrequest: " << request.DebugString()
                              << "policy: " << policy.DebugString();
      }
    }
  }
  // The generator must reach every rule, or the comparison proves little.
  for (Reason reason : {Reason::kGranted, Reason::kTenant, Reason::kScope,
                        Reason::kPartnerOnly, Reason::kRbac, Reason::kOwnership,
                        Reason::kUnknownPrincipal, Reason::kUnknownObjectType,
                        Reason::kUnknownAction, Reason::kUnknownEntity,
                        Reason::kUnknownRole, Reason::kInvalidRequest}) {
    EXPECT_GT(reasons[static_cast<int>(reason)], 100) << ReasonName(reason);
  }
  EXPECT_GT(by_ids, kPolicies * kRequestsPerPolicy / 3);
  // And the decision rows must be read for every rule and kind of principal.
  for (Reason reason :
       {Reason::kGranted, Reason::kTenant, Reason::kScope, Reason::kPartnerOnly,
        Reason::kRbac, Reason::kOwnership}) {
    EXPECT_GT(coverage.reasons[static_cast<int>(reason)], 100)
        << "by ids: " << ReasonName(reason);
  }
  EXPECT_GT(coverage.partners, 1000);
  EXPECT_GT(coverage.restricted_partners, 100);
  EXPECT_GT(coverage.users_without_credential, 100);
  EXPECT_GT(coverage.users_without_role, 100);
  EXPECT_GT(coverage.users_with_unusable_role, 100);
  EXPECT_GT(coverage.users_outside_restriction, 100);
  EXPECT_GT(coverage.partner_only_slots, 100);
  EXPECT_GT(coverage.for_own_without_resource, 100);
  EXPECT_GT(coverage.for_own_with_resource, 100);
}

}  // namespace
}  // namespace portcullis
