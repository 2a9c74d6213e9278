#include "engine/evaluate/evaluator.h"

#include <utility>

#include "absl/numeric/bits.h"
#include "absl/strings/str_cat.h"
#include "engine/common/quote.h"
#include "engine/evaluate/decide.h"
#include "engine/snapshot/name_table.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis {
namespace {

using internal::Deny;
using internal::IdAccess;
using internal::kNone;
using internal::kPermAllowed;
using internal::LevelName;
using internal::PermissionName;
using internal::PolicyTables;
using internal::PrincipalFacts;
using internal::Quote;
using internal::SlotInfo;

// What the name tables and the action index answer for a name they lack.
constexpr uint32_t kNotFound = internal::NameTable::kNotFound;
static_assert(kNotFound == internal::ActionIndex::kNotFound);

bool InRestriction(const PolicyTables& t, const PrincipalFacts& p,
                   uint32_t entity) {
  return internal::GetBit(p.tenant_bits,
                          entity - t.partner_entity_begin[p.partner]);
}

// Describes the tenant rule's facts for an explanation: the first condition
// that fails, or that all hold.
std::string TenantDetail(const CompiledPolicy& policy, const PrincipalFacts& p,
                         uint32_t entity, const ResourceRef* resource) {
  const PolicyTables& t = policy.tables();
  const std::string entity_name = Quote(t.entities.name(entity));
  const std::string partner_name =
      Quote(t.partners.name(t.entity_partner[entity]));
  if (p.kind == PrincipalFacts::Kind::kPartner) {
    const std::string client = Quote(t.credentials.name(p.credential));
    if (t.entity_partner[entity] != p.partner) {
      return absl::StrCat("entity ", entity_name, " belongs to partner ",
                          partner_name, ", not to client ", client,
                          "'s partner ", Quote(t.partners.name(p.partner)));
    }
    if (t.credential_restriction[p.credential] != kNone &&
        !InRestriction(t, p, entity)) {
      return absl::StrCat("client ", client,
                          " is restricted to other entities than ",
                          entity_name);
    }
  } else {
    const std::string user_entity = Quote(t.entities.name(p.entity));
    if (entity != p.entity) {
      return absl::StrCat("the user belongs to entity ", user_entity, ", not ",
                          entity_name);
    }
    if (!p.tenant_ok) {
      const std::string client = Quote(t.credentials.name(p.credential));
      if (t.credential_partner[p.credential] != p.partner) {
        return absl::StrCat(
            "client ", client, " belongs to partner ",
            Quote(t.partners.name(t.credential_partner[p.credential])),
            ", not to entity ", user_entity, "'s partner ", partner_name);
      }
      return absl::StrCat("client ", client,
                          " is restricted to other entities than ",
                          user_entity);
    }
  }
  if (resource != nullptr && resource->entity.index() != entity) {
    return absl::StrCat("the resource belongs to entity ",
                        Quote(t.entities.name(resource->entity.index())),
                        ", not ", entity_name);
  }
  return absl::StrCat("entity ", entity_name, " of partner ", partner_name,
                      " is the principal's",
                      resource != nullptr ? ", and so is the resource" : "");
}

// Resolves a request's names (a RequestNames, or a CheckRequestView, read in
// place) against a bound principal to indices of `policy`, then decides with
// `decide(uint32_t slot, uint32_t entity, const uint32_t* resource_entity)`
// (null when the request names no resource): from the principal's decision row,
// or by evaluating the rules (a principal bound without one, explanations).
// Indices rather than ids: the row's check needs no tags for what the snapshot
// found itself.
//
// `user_entity_name` is the user's entity id (empty for a partner): most
// requests act in it, and comparing the names in place saves the entity's
// hash lookup.
template <typename Trace, typename Request, typename DecideIds>
Decision DecideNames(const CompiledPolicy& policy, const PrincipalFacts& facts,
                     absl::string_view user_entity_name, const Request& request,
                     Trace& trace, DecideIds&& decide) {
  auto fail = [&](Reason reason, auto detail) {
    if constexpr (Trace::kEnabled) {
      trace.Fail(reason, detail());
    }
    return Deny(reason);
  };
  // Every name in a snapshot is non-empty (CheckSnapshotInvariants), so an
  // empty name is never found: a request missing one is sorted out on the
  // failure paths below, not before the lookups of every request.
  auto missing_name = [&] {
    return request.object_type.empty() || request.action.empty() ||
           request.entity_id.empty();
  };
  auto fail_missing_name = [&] {
    return fail(Reason::kInvalidRequest, [] {
      return std::string("object_type, action and entity_id are required");
    });
  };
  const uint32_t slot =
      IdAccess::FindSlot(policy, request.object_type, request.action);
  if (slot == kNotFound) {
    if (missing_name()) return fail_missing_name();
    // Which of the two names is unknown: only on this failure path.
    if (!policy.FindObjectType(request.object_type).has_value()) {
      return fail(Reason::kUnknownObjectType, [&] {
        return absl::StrCat("object type ", Quote(request.object_type),
                            " is not in the catalog");
      });
    }
    return fail(Reason::kUnknownAction, [&] {
      return absl::StrCat("object type ", Quote(request.object_type),
                          " has no action ", Quote(request.action));
    });
  }
  // Most requests act in the user's own entity, on a resource of it: a string
  // compare then saves a hash lookup. (A partner's `user_entity_name` is
  // empty, and matches nothing, not even an empty entity id.)
  const internal::NameTable& entities = policy.tables().entities;
  const uint32_t entity =
      !user_entity_name.empty() &&
              internal::NamesEqual(request.entity_id, user_entity_name)
          ? facts.entity
          : entities.Find(0, request.entity_id);
  if (entity == kNotFound) {
    if (missing_name()) return fail_missing_name();
    return fail(Reason::kTenant, [&] {
      return absl::StrCat("entity ", Quote(request.entity_id),
                          " does not exist");
    });
  }
  uint32_t resource_entity = kNotFound;
  if (request.has_resource) {
    resource_entity =
        internal::NamesEqual(request.resource_entity_id, request.entity_id)
            ? entity
            : entities.Find(0, request.resource_entity_id);
    if (resource_entity == kNotFound) {
      return fail(Reason::kTenant, [&] {
        return absl::StrCat("the resource's entity ",
                            Quote(request.resource_entity_id),
                            " does not exist");
      });
    }
  }
  return decide(slot, entity,
                request.has_resource ? &resource_entity : nullptr);
}

// Decides by evaluating the rules (Decide), for `facts`.
template <typename Trace, typename Request>
Decision DecideNamesByRules(const CompiledPolicy& policy,
                            const PrincipalFacts& facts,
                            absl::string_view user_id,
                            absl::string_view user_entity_name,
                            const Request& request, Trace& trace) {
  return DecideNames(
      policy, facts, user_entity_name, request, trace,
      [&](uint32_t slot, uint32_t entity, const uint32_t* resource_entity) {
        const uint32_t snapshot = policy.snapshot();
        const ResourceRef resource{
            IdAccess::Make<EntityId>(
                snapshot, resource_entity == nullptr ? 0 : *resource_entity),
            request.resource_created_by};
        return internal::Decide(
            policy, facts, user_id, IdAccess::Make<ActionId>(snapshot, slot),
            IdAccess::Make<EntityId>(snapshot, entity),
            resource_entity == nullptr ? nullptr : &resource, trace);
      });
}

template <typename Trace>
Decision DecideByNames(const CompiledPolicy& policy,
                       const CheckRequestView& request, Trace& trace) {
  auto fail = [&](Reason reason, auto detail) {
    if constexpr (Trace::kEnabled) {
      trace.Fail(reason, detail());
    }
    return Deny(reason);
  };
  PrincipalFacts facts;
  Reason bound = Reason::kInvalidRequest;
  switch (request.principal_kind) {
    case CheckRequestView::PrincipalKind::kNone:
      return fail(Reason::kInvalidRequest,
                  [] { return std::string("the request has no principal"); });
    case CheckRequestView::PrincipalKind::kPartner:
      bound = IdAccess::BindPartner(policy, request.client_id, facts);
      break;
    case CheckRequestView::PrincipalKind::kEntityUser:
      bound = IdAccess::BindEntityUser(policy, request.user_id,
                                       request.user_entity_id, request.role_id,
                                       request.client_id, facts);
      break;
  }
  if (bound != Reason::kGranted) {
    return fail(bound, [&] {
      switch (bound) {
        case Reason::kInvalidRequest:
          return std::string(request.principal_kind ==
                                     CheckRequestView::PrincipalKind::kPartner
                                 ? internal::kPartnerNeedsClient
                                 : internal::kEntityUserNeedsIds);
        case Reason::kUnknownEntity:
          return absl::StrCat("the user's entity ",
                              Quote(request.user_entity_id), " does not exist");
        case Reason::kUnknownRole:
          return absl::StrCat("role ", Quote(request.role_id),
                              " does not exist");
        default:
          return absl::StrCat("client ", Quote(request.client_id),
                              " does not exist");
      }
    });
  }
  const absl::string_view user_entity_name =
      facts.kind == PrincipalFacts::Kind::kEntityUser ? request.user_entity_id
                                                      : absl::string_view();
  if constexpr (Trace::kEnabled) {
    // Explanations trace every rule through Decide().
    return DecideNamesByRules(policy, facts, request.user_id, user_entity_name,
                              request, trace);
  } else {
    // The principal and the names were all found by `policy` just now.
    return DecideNames(
        policy, facts, user_entity_name, request, trace,
        [&](uint32_t slot, uint32_t entity, const uint32_t* resource_entity) {
          return internal::DecideFoundByRules(
              policy.hot(), facts, request.user_id, slot, entity,
              resource_entity, request.resource_created_by);
        });
  }
}

}  // namespace

namespace internal {

// Records every step of a decision, for Explain(). The tracer interface of
// decide.h.
class Tracer {
 public:
  static constexpr bool kEnabled = true;

  void Fail(Reason reason, absl::string_view detail) {
    Step(reason, false, [&] { return std::string(detail); });
  }
  // Reports the rules Decide() evaluated, in order, up to the first that
  // failed.
  void Rules(const RuleOutcomes& outcomes);

  std::vector<ExplanationStep> TakeSteps() { return std::move(steps_); }

 private:
  template <typename DetailFn>
  void Step(Reason rule, bool passed, DetailFn&& detail) {
    steps_.push_back({std::string(ReasonName(rule)), passed, detail()});
  }

  std::vector<ExplanationStep> steps_;
};

void Tracer::Rules(const RuleOutcomes& o) {
  const PrincipalFacts& p = *o.principal;
  const ResourceRef* resource = o.resource;
  const SlotInfo slot = o.slot;
  const PolicyTables& t = o.policy->tables();
  const bool is_partner = p.kind == PrincipalFacts::Kind::kPartner;
  const std::string action_name =
      absl::StrCat(t.object_types.name(slot.object_type), ".",
                   t.actions.name(o.action.index()));
  Step(Reason::kTenant, o.tenant,
       [&] { return TenantDetail(*o.policy, p, o.entity, resource); });
  if (!o.tenant) return;
  Step(Reason::kScope, o.scope, [&] {
    const std::string needed =
        absl::StrCat(action_name, " needs ", LevelName(slot.level));
    if (p.credential == kNone) {
      return absl::StrCat("no client: scopes do not apply (", needed, ")");
    }
    return absl::StrCat(
        "client ", Quote(t.credentials.name(p.credential)), " grants ",
        o.granted == internal::kLevelNone ? "nothing" : LevelName(o.granted),
        " on ", t.object_types.name(slot.object_type), "; ", needed);
  });
  if (!o.scope) return;
  Step(Reason::kPartnerOnly, o.partner_only_ok, [&] {
    if (!slot.partner_only) {
      return absl::StrCat(action_name, " is not partner-only");
    }
    return absl::StrCat(action_name, " is partner-only; the principal is ",
                        is_partner ? "a partner" : "an entity user");
  });
  if (!o.partner_only_ok) return;
  Step(Reason::kRbac, o.rbac, [&] {
    if (is_partner) {
      return std::string("partners skip rbac: the partner manages access");
    }
    if (p.role == kNone) {
      return absl::StrCat("the user has no role and entity ",
                          Quote(t.entities.name(p.entity)),
                          " has no default role");
    }
    const std::string role = Quote(t.roles.name(p.role));
    if (!p.role_usable) {
      return absl::StrCat("role ", role, " is owned by entity ",
                          Quote(t.entities.name(t.role_owner[p.role])),
                          ", not the user's entity ",
                          Quote(t.entities.name(p.entity)));
    }
    return absl::StrCat("role ", role, " (row at ", t.role_row[p.role],
                        "): ", action_name, " = ",
                        PermissionName(o.permission));
  });
  if (!o.rbac || is_partner) return;
  if (o.permission == kPermAllowed) {
    Step(Reason::kOwnership, true, [] {
      return std::string("allowed on any object: ownership does not apply");
    });
    return;
  }
  if (resource == nullptr) {
    Step(Reason::kOwnership, true, [] {
      return std::string("no resource: allowed on the user's own objects only");
    });
    return;
  }
  const bool own =
      !resource->created_by.empty() && resource->created_by == o.user_id;
  Step(Reason::kOwnership, own, [&] {
    if (resource->created_by.empty()) {
      return std::string("the resource's creator is unknown: not the user's");
    }
    return absl::StrCat(
        "the resource was created by ", Quote(resource->created_by),
        own ? ", the user" : absl::StrCat(", not by ", Quote(o.user_id)));
  });
}

}  // namespace internal

Decision Check(const CompiledPolicy& policy, const Principal& principal,
               const RequestNames& request) noexcept {
  internal::NoTrace trace;
  const PrincipalFacts& facts = principal.facts();
  return DecideNames(
      policy, facts, IdAccess::UserEntityName(policy, principal), request,
      trace,
      [&](uint32_t slot, uint32_t entity, const uint32_t* resource_entity) {
        return internal::DecideFoundByRow(policy, principal, slot, entity,
                                          resource_entity,
                                          request.resource_created_by);
      });
}

Decision Check(const CompiledPolicy& policy,
               const CheckRequestView& request) noexcept {
  internal::NoTrace trace;
  return DecideByNames(policy, request, trace);
}

CheckRequestView ViewOf(const v1::CheckRequest& request) {
  CheckRequestView view;
  switch (request.principal().kind_case()) {
    case v1::Principal::kPartner:
      view.principal_kind = CheckRequestView::PrincipalKind::kPartner;
      view.client_id = request.principal().partner().client_id();
      break;
    case v1::Principal::kEntityUser: {
      const v1::EntityUserPrincipal& user = request.principal().entity_user();
      view.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
      view.user_id = user.user_id();
      view.user_entity_id = user.entity_id();
      view.role_id = user.role_id();
      view.client_id = user.client_id();
      break;
    }
    case v1::Principal::KIND_NOT_SET:
      break;
  }
  view.object_type = request.object_type();
  view.action = request.action();
  view.entity_id = request.entity_id();
  view.has_resource = request.has_resource();
  view.resource_entity_id = request.resource().entity_id();
  view.resource_created_by = request.resource().created_by();
  return view;
}

Explanation Explain(const CompiledPolicy& policy, const Principal& principal,
                    ActionId action, EntityId entity,
                    const ResourceRef* resource) {
  internal::Tracer tracer;
  Explanation explanation;
  explanation.decision =
      internal::Decide(policy, principal.facts(), principal.user_id(), action,
                       entity, resource, tracer);
  explanation.steps = tracer.TakeSteps();
  return explanation;
}

Explanation Explain(const CompiledPolicy& policy, const Principal& principal,
                    const RequestNames& request) {
  internal::Tracer tracer;
  Explanation explanation;
  explanation.decision = DecideNamesByRules(
      policy, principal.facts(), principal.user_id(),
      IdAccess::UserEntityName(policy, principal), request, tracer);
  explanation.steps = tracer.TakeSteps();
  return explanation;
}

Explanation Explain(const CompiledPolicy& policy,
                    const CheckRequestView& request) {
  internal::Tracer tracer;
  Explanation explanation;
  explanation.decision = DecideByNames(policy, request, tracer);
  explanation.steps = tracer.TakeSteps();
  return explanation;
}

std::string Explanation::ToText() const {
  std::string text;
  for (const ExplanationStep& step : steps) {
    absl::StrAppend(&text, step.rule, ": ", step.passed ? "pass" : "FAIL", ": ",
                    step.detail, "\n");
  }
  absl::StrAppend(&text, "decision: ", VerdictName(decision.verdict),
                  " (reason: ", ReasonName(decision.reason), ")\n");
  return text;
}

v1::CheckResponse Explanation::ToResponse(absl::string_view id) const {
  v1::CheckResponse response;
  response.set_id(std::string(id));
  response.set_decision(std::string(VerdictName(decision.verdict)));
  response.set_reason(std::string(ReasonName(decision.reason)));
  for (const ExplanationStep& step : steps) {
    v1::ExplanationStep* out = response.add_explanation();
    out->set_rule(step.rule);
    out->set_passed(step.passed);
    out->set_detail(step.detail);
  }
  return response;
}

}  // namespace portcullis
