// The decision procedure of docs/design.md, inline so that Check() by ids
// compiles into its caller. Not part of the public API: use evaluator.h.
#ifndef PORTCULLIS_ENGINE_EVALUATE_DECIDE_H_
#define PORTCULLIS_ENGINE_EVALUATE_DECIDE_H_

#include <cstdint>

#include "absl/base/optimization.h"
#include "absl/strings/string_view.h"
#include "engine/common/decision.h"
#include "engine/snapshot/compiled_policy.h"
#include "engine/snapshot/decision_rows.h"
#include "engine/snapshot/name_table.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis::internal {

// The hot path's tracer: records nothing, so the explanation code compiles
// away. Explain() uses Tracer (evaluator.cc), which records every step: a
// tracer with kEnabled has
//   void Fail(Reason reason, absl::string_view detail);  // a failed check
//   void Rules(const RuleOutcomes& outcomes);            // see below
// which Decide() calls only under `if constexpr (Trace::kEnabled)`: the
// untraced path compiles to the same code as without them.
struct NoTrace {
  static constexpr bool kEnabled = false;
};

// What Decide() computed for each rule, and from what, handed to the tracer
// when tracing: the explanation reports the very outcomes that decided, so it
// cannot disagree with the decision. Filled only when tracing.
struct RuleOutcomes {
  // The request, as Decide() read it.
  const CompiledPolicy* policy = nullptr;
  const PrincipalFacts* principal = nullptr;
  absl::string_view user_id;
  ActionId action;
  uint32_t entity = 0;
  const ResourceRef* resource = nullptr;
  SlotInfo slot{};
  // The rules in order: each one's outcome, and the facts it read.
  bool tenant = false;
  uint32_t granted = 0;  // the scope level the credential grants
  bool scope = false;
  bool partner_only_ok = false;
  uint32_t permission = 0;  // the role's 2-bit permission code
  bool rbac = false;
};

// kStaleSnapshot when the principal or an id is not of the snapshot of `h`
// (a principal that was never bound has snapshot 0, which no snapshot has),
// else kInvalidRequest when an id is out of range, else kGranted: the
// request may be decided. Ids carrying the snapshot's tag came from it; the
// bounds checks are defence in depth. Both are one compare per id
// (HotTables::snapshot_word) and one branch in all; which failed is sorted
// out only on the failure path.
inline Reason StaleOrOutOfRange(const HotTables& h, const PrincipalFacts& p,
                                ActionId action, EntityId entity,
                                const ResourceRef* resource) {
  // Bitwise on 0/1 integers: every compare is made, with one branch.
  uint32_t unusable =
      static_cast<uint32_t>(p.snapshot_word != h.snapshot_word) |
      static_cast<uint32_t>((IdAccess::Word(action) ^ h.snapshot_word) >=
                            h.slot_count) |
      static_cast<uint32_t>((IdAccess::Word(entity) ^ h.snapshot_word) >=
                            h.entity_count);
  if (resource != nullptr) {
    unusable |= static_cast<uint32_t>(
        (IdAccess::Word(resource->entity) ^ h.snapshot_word) >= h.entity_count);
  }
  if (ABSL_PREDICT_TRUE(!unusable)) return Reason::kGranted;
  const bool stale =
      p.snapshot_word != h.snapshot_word || action.snapshot() != h.snapshot ||
      entity.snapshot() != h.snapshot ||
      (resource != nullptr && resource->entity.snapshot() != h.snapshot);
  return stale ? Reason::kStaleSnapshot : Reason::kInvalidRequest;
}

// 1. tenant: the entity is in the principal's range (its partner's entities,
// or the user's own; one compare instead of a read of the entity's partner),
// its bit set in the principal's tenant bits (the restriction, or all ones:
// HotTables::tenant_bits), and the resource's entity is the entity itself.
// False, too, when the entity or the resource's entity is of another
// snapshot or out of range (PrincipalFacts::tenant_origin). Precondition:
// `p` is bound to the snapshot being checked.
inline bool TenantRule(const PrincipalFacts& p, EntityId entity,
                       const ResourceRef* resource) {
  // Early returns rather than a combined bool: inlined into a caller that
  // branches on the result, each becomes one compare and jump (the bit test
  // a `bt`).
  const uint64_t offset = IdAccess::Word(entity) - p.tenant_origin;
  if (offset >= p.tenant_count) return false;
  // offset < tenant_count, a 32-bit count.
  if (!GetBit(p.tenant_bits, static_cast<uint32_t>(offset))) return false;
  return resource == nullptr ||
         IdAccess::Word(resource->entity) == IdAccess::Word(entity);
}

// 5. ownership: `allowed_for_own` on a given resource allows when the user
// created it. `decision` is that of rules 1 to 4; `created_by` is the
// resource's creator, null when the request names no resource.
inline Decision OwnershipRule(Decision decision, absl::string_view user_id,
                              const absl::string_view* created_by) {
  if (decision.verdict != Verdict::kAllowedForOwn || created_by == nullptr) {
    return decision;
  }
  // Inline: the creator and the user id are short, and std::string's ==
  // calls memcmp.
  const bool own = !created_by->empty() && NamesEqual(*created_by, user_id);
  return {own ? Verdict::kAllowed : Verdict::kNotAllowed, Reason::kOwnership};
}
inline Decision OwnershipRule(Decision decision, absl::string_view user_id,
                              const ResourceRef* resource) {
  return OwnershipRule(decision, user_id,
                       resource == nullptr ? nullptr : &resource->created_by);
}

// The decision for one request by ids, evaluating every rule: what checks
// entirely by names (whose principal has no decision row) and explanations
// run. A handful of reads from `policy.hot()` and the principal, and at most
// three data-dependent branches: every rule's outcome is computed first,
// without branching (on a varied stream of requests mispredicted branches
// cost more than the reads), then packed into a key whose decision is one
// read of kDecisionTable. Every read is in bounds whatever the outcome: a
// principal without a usable role reads permission row 0, which denies all,
// and the tenant bit read is clamped to the principal's range.
template <typename Trace>
inline Decision Decide(const CompiledPolicy& policy, const PrincipalFacts& p,
                       absl::string_view user_id, ActionId action,
                       EntityId entity, const ResourceRef* resource,
                       Trace& trace) {
  const HotTables& h = policy.hot();
  const uint32_t slot_index = action.index();
  const uint32_t e = entity.index();
  const Reason unusable = StaleOrOutOfRange(h, p, action, entity, resource);
  if (ABSL_PREDICT_FALSE(unusable != Reason::kGranted)) {
    if constexpr (Trace::kEnabled) {
      trace.Fail(unusable,
                 unusable == Reason::kStaleSnapshot
                     ? "the principal or an id was bound to another snapshot"
                     : "an id is out of range");
    }
    return Deny(unusable);
  }
  const SlotInfo slot = h.slots[slot_index];
  const bool is_partner = p.kind == PrincipalFacts::Kind::kPartner;

  // 1. tenant
  const bool tenant = TenantRule(p, entity, resource);
  // 2. scope, 3. partner_only, 4. rbac
  const SlotRules rules = EvaluateSlotRules(h, p.scope_row, p.role_row,
                                            is_partner, slot_index, slot);

  if constexpr (Trace::kEnabled) {
    RuleOutcomes outcomes;
    outcomes.policy = &policy;
    outcomes.principal = &p;
    outcomes.user_id = user_id;
    outcomes.action = action;
    outcomes.entity = e;
    outcomes.resource = resource;
    outcomes.slot = slot;
    outcomes.tenant = tenant;
    outcomes.granted = rules.granted;
    outcomes.scope = rules.scope;
    outcomes.partner_only_ok = rules.partner_only_ok;
    outcomes.permission = rules.permission;
    outcomes.rbac = is_partner | (rules.permission != kPermNotAllowed);
    trace.Rules(outcomes);
  }

  const uint32_t key = static_cast<uint32_t>(!tenant) | rules.Key();
  return OwnershipRule(kDecisionTable.decisions[key], user_id, resource);
}

// DecideByRow's failure path: stale_snapshot, invalid_request or tenant, in
// that order. Out of line, so that the hot path keeps its registers. The
// action comes as DecideByRow's `slot` word, which it is XORed back from:
// the hot path then needs no copy of the action's word.
ABSL_ATTRIBUTE_NOINLINE inline Decision DecideByRowFailed(
    const HotTables& h, const PrincipalFacts& p, uint64_t slot, EntityId entity,
    const ResourceRef* resource) {
  const ActionId action = IdAccess::FromWord<ActionId>(slot ^ p.snapshot_word);
  const Reason unusable = StaleOrOutOfRange(h, p, action, entity, resource);
  return Deny(unusable == Reason::kGranted ? Reason::kTenant : unusable);
}

// The decision for one request by ids of a principal bound with a decision
// row (CompiledPolicy::BindPartner / BindEntityUser): the principal's and the
// action's tags and the action's bounds, one read of the row (rules 2 to 4
// decided for the slot), the tenant rule, and ownership. Decides what
// Decide() does (the differential tests check it); explanations evaluate the
// rules instead.
//
// The principal's tag is compared before the row is read: a principal of
// another snapshot, whose row may have been freed with it, never reads it.
// The entity's and the resource's tags and bounds are folded into the tenant
// rule (an id of another snapshot, or out of range, is outside every
// principal's range), and which of them failed is sorted out only when it
// fails: the same answers as Decide() (stale_snapshot, then
// invalid_request, then tenant), with fewer compares on the way to a grant.
inline Decision DecideByRow(const CompiledPolicy& policy,
                            const Principal& principal, ActionId action,
                            EntityId entity, const ResourceRef* resource) {
  const HotTables& h = policy.hot();
  const PrincipalFacts& p = principal.facts();
  // The slot when the action is the principal's snapshot's, and the
  // principal's tag difference from this snapshot's in the high half (both
  // words hold a tag there, HotTables::snapshot_word): one compare checks
  // both tags and the bound.
  const uint64_t slot = IdAccess::Word(action) ^ p.snapshot_word;
  const uint64_t stale_principal = p.snapshot_word ^ h.snapshot_word;
  if (ABSL_PREDICT_FALSE((slot | stale_principal) >= h.slot_count)) {
    return DecideByRowFailed(h, p, slot, entity, resource);
  }
  const Decision rules = p.decisions[slot];  // slot < slot_count here
  if (ABSL_PREDICT_FALSE(!TenantRule(p, entity, resource))) {
    return DecideByRowFailed(h, p, slot, entity, resource);
  }
  return OwnershipRule(rules, principal.user_id(), resource);
}

// The tenant rule (TenantRule) for an entity, and a resource's entity, that
// the snapshot being checked found itself, for a principal bound to it: their
// tags and bounds hold by construction, so the rule compares indices. With the
// tags equal, an entity's offset in the principal's range is its index minus
// the low half of `tenant_origin`, and one of another partner is past the
// range (the unsigned difference wraps). `resource_entity` is null when the
// request names no resource.
inline bool TenantRuleFound(const PrincipalFacts& p, uint32_t entity,
                            const uint32_t* resource_entity) {
  const uint32_t offset = entity - static_cast<uint32_t>(p.tenant_origin);
  return offset < p.tenant_count && GetBit(p.tenant_bits, offset) &&
         (resource_entity == nullptr || *resource_entity == entity);
}

// DecideByRow for a check by names, whose slot and entities the snapshot being
// checked found itself: only the principal's tag is compared (before the row
// is read, as there), and the tenant rule is TenantRuleFound. Same answers as
// DecideByRow: stale_snapshot, then tenant; the differential tests compare
// the two paths.
inline Decision DecideFoundByRow(const CompiledPolicy& policy,
                                 const Principal& principal, uint32_t slot,
                                 uint32_t entity,
                                 const uint32_t* resource_entity,
                                 absl::string_view created_by) {
  const PrincipalFacts& p = principal.facts();
  if (ABSL_PREDICT_FALSE(p.snapshot_word != policy.hot().snapshot_word)) {
    return Deny(Reason::kStaleSnapshot);
  }
  const Decision rules = p.decisions[slot];
  if (!TenantRuleFound(p, entity, resource_entity)) {
    return Deny(Reason::kTenant);
  }
  return OwnershipRule(rules, principal.user_id(),
                       resource_entity == nullptr ? nullptr : &created_by);
}

// Decide() for a check entirely by names: the principal was bound to
// `policy` for this request (without a decision row) and the slot and
// entities found by it, so no tag or bound is compared, and the tenant rule
// is TenantRuleFound. The same rules and decision table as Decide(), which
// explanations run instead (the differential tests compare the two).
inline Decision DecideFoundByRules(const HotTables& h, const PrincipalFacts& p,
                                   absl::string_view user_id,
                                   uint32_t slot_index, uint32_t entity,
                                   const uint32_t* resource_entity,
                                   absl::string_view created_by) {
  const bool tenant = TenantRuleFound(p, entity, resource_entity);
  const SlotRules rules = EvaluateSlotRules(
      h, p.scope_row, p.role_row, p.kind == PrincipalFacts::Kind::kPartner,
      slot_index, h.slots[slot_index]);
  const uint32_t key = static_cast<uint32_t>(!tenant) | rules.Key();
  return OwnershipRule(kDecisionTable.decisions[key], user_id,
                       resource_entity == nullptr ? nullptr : &created_by);
}

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_EVALUATE_DECIDE_H_
