// Checks: may this principal perform this action in this entity (on this
// resource)? Implements docs/design.md's decision procedure — tenant, scope,
// partner_only, rbac, ownership, in that order; the first rule that fails
// decides and names the reason.
//
// Example:
//   // Once per route, at startup:
//   std::optional<ActionId> approve = policy->FindAction("payable", "approve");
//   // Once per token:
//   absl::StatusOr<Principal> user =
//       policy->BindEntityUser("u-7", "e-1", /*role_id=*/"", "c-finance");
//   // Per request (the x-monite-entity-id header names the entity):
//   std::optional<EntityId> entity = policy->FindEntity(header);
//   ResourceRef invoice{*entity, /*created_by=*/"u-7"};
//   Decision d = Check(*policy, *user, *approve, *entity, &invoice);
//   if (d.verdict == Verdict::kAllowed) ...
#ifndef PORTCULLIS_ENGINE_EVALUATE_EVALUATOR_H_
#define PORTCULLIS_ENGINE_EVALUATE_EVALUATOR_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/common/decision.h"
#include "engine/evaluate/decide.h"
#include "engine/snapshot/compiled_policy.h"
#include "proto/check.pb.h"

namespace portcullis {

// The hot path, inline. Reads a fixed number of words of `policy` whatever its
// size: no allocation, no hashing, no locks, no virtual calls. Ids or a
// principal from another snapshot answer kStaleSnapshot; `resource` may be
// null (list, create). Thread-safe.
inline Decision Check(const CompiledPolicy& policy, const Principal& principal,
                      ActionId action, EntityId entity,
                      const ResourceRef* resource = nullptr) noexcept {
  return internal::DecideByRow(policy, principal, action, entity, resource);
}

// A request's own names, as a middleware reads them per request once the
// token is bound: the route gives the object type and action, the
// x-monite-entity-id header the entity. Views must outlive the call.
struct RequestNames {
  absl::string_view object_type;
  absl::string_view action;
  absl::string_view entity_id;
  bool has_resource = false;
  absl::string_view resource_entity_id;
  absl::string_view resource_created_by;  // empty: unknown creator
};

// A bound principal (per token) and the request's names: one hash lookup for
// (object type, action) and one for the entity unless it is the user's own.
// No allocation. An unknown object type or action answers
// unknown_object_type / unknown_action; an unknown entity fails the tenant
// rule. Thread-safe.
Decision Check(const CompiledPolicy& policy, const Principal& principal,
               const RequestNames& request) noexcept;

// A request entirely by names, principal included, as the CLI reads it. All
// views must outlive the call.
struct CheckRequestView {
  enum class PrincipalKind : uint8_t { kNone, kPartner, kEntityUser };
  PrincipalKind principal_kind = PrincipalKind::kNone;
  absl::string_view client_id;       // partner: required; entity user: optional
  absl::string_view user_id;         // entity user
  absl::string_view user_entity_id;  // entity user
  absl::string_view role_id;         // entity user; empty: the entity's default
  absl::string_view object_type;
  absl::string_view action;
  absl::string_view entity_id;  // the entity the request acts in
  bool has_resource = false;
  absl::string_view resource_entity_id;
  absl::string_view resource_created_by;  // empty: unknown creator
};

// The same decision entirely by names: the principal is bound on every call
// (a lookup each for the client, the user's entity and role), then as above.
// No allocation.
// Failures are checked in this order, before the rules: invalid_request (no
// principal, or a required name empty), unknown_principal / unknown_entity (the
// user's entity) / unknown_role, unknown_object_type, unknown_action. An
// unknown request or resource entity fails the tenant rule. Thread-safe.
Decision Check(const CompiledPolicy& policy,
               const CheckRequestView& request) noexcept;

// The request message of proto/check.proto, read as a CheckRequestView.
CheckRequestView ViewOf(const v1::CheckRequest& request);

// One rule (or pre-rule failure) as evaluated.
struct ExplanationStep {
  // A rule ("tenant", ..., "ownership") or a failure ("unknown_action", ...),
  // named as in ReasonName().
  std::string rule;
  bool passed = false;
  // What the rule looked at: `role "r-approver" (row 3): payable.approve =
  // allowed_for_own`.
  std::string detail;
};

// The decision with the chain that led to it. Every rule evaluated is listed
// in order; the last failed step, if any, is the decision's reason.
struct Explanation {
  Decision decision;
  std::vector<ExplanationStep> steps;

  // One line per step: `tenant: pass: entity "e-1" ...`, then the decision.
  std::string ToText() const;
  // The answer message (decision, reason, explanation) for request `id`.
  v1::CheckResponse ToResponse(absl::string_view id) const;
};

// The decision of Check(), explained. Same answer, not the hot path: allocates.
Explanation Explain(const CompiledPolicy& policy, const Principal& principal,
                    ActionId action, EntityId entity,
                    const ResourceRef* resource = nullptr);
Explanation Explain(const CompiledPolicy& policy, const Principal& principal,
                    const RequestNames& request);
Explanation Explain(const CompiledPolicy& policy,
                    const CheckRequestView& request);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_EVALUATE_EVALUATOR_H_
