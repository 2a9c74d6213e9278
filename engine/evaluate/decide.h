// The decision procedure of docs/design.md, inline so that Check() by ids
// compiles into its caller. Not part of the public API: use evaluator.h.
#ifndef PORTCULLIS_ENGINE_EVALUATE_DECIDE_H_
#define PORTCULLIS_ENGINE_EVALUATE_DECIDE_H_

#include <cstdint>

#include "absl/base/optimization.h"
#include "absl/strings/string_view.h"
#include "engine/common/decision.h"
#include "engine/snapshot/compiled_policy.h"
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

constexpr Decision Deny(Reason reason) {
  return {Verdict::kNotAllowed, reason};
}

// The rules' outcomes packed into a 6-bit key, and the decision for each key:
// Decide() computes every rule without branching, then reads its decision
// from this table instead of ranking the failures with more branches. Bits:
//   0 tenant failed, 1 scope failed, 2 partner_only failed, 3 partner,
//   4-5 the role's 2-bit permission code.
inline constexpr uint32_t kKeyTenantFailed = 1u << 0;
inline constexpr uint32_t kKeyScopeFailed = 1u << 1;
inline constexpr uint32_t kKeyPartnerOnlyFailed = 1u << 2;
inline constexpr uint32_t kKeyPartner = 1u << 3;
inline constexpr uint32_t kKeyPermissionShift = 4;

// The first failure in rule order decides; partners skip rbac and ownership;
// `allowed_for_own` leaves ownership to the caller (Decide compares the
// creator only when there is a resource).
constexpr Decision DecisionForKey(uint32_t key) {
  if (key & kKeyTenantFailed) return Deny(Reason::kTenant);
  if (key & kKeyScopeFailed) return Deny(Reason::kScope);
  if (key & kKeyPartnerOnlyFailed) return Deny(Reason::kPartnerOnly);
  if (key & kKeyPartner) return {Verdict::kAllowed, Reason::kGranted};
  switch (key >> kKeyPermissionShift) {
    case kPermAllowed:
      return {Verdict::kAllowed, Reason::kGranted};
    case kPermAllowedForOwn:
      return {Verdict::kAllowedForOwn, Reason::kOwnership};
    default:  // kPermNotAllowed, and the unused code 3
      return Deny(Reason::kRbac);
  }
}

struct DecisionTable {
  Decision decisions[64];
};
constexpr DecisionTable MakeDecisionTable() {
  DecisionTable table{};
  for (uint32_t key = 0; key < 64; ++key) {
    table.decisions[key] = DecisionForKey(key);
  }
  return table;
}
inline constexpr DecisionTable kDecisionTable = MakeDecisionTable();

// The decision for one request by ids. A handful of reads from `policy.hot()`
// and the principal, and at most three data-dependent branches: every rule's
// outcome is computed first, without branching (on a varied stream of requests
// mispredicted branches cost more than the reads), then packed into a key
// whose decision is one read of kDecisionTable. Every read is in bounds
// whatever the outcome: a principal without a usable role reads permission
// row 0, which denies all, and the tenant bit read is clamped to the
// principal's range.
template <typename Trace>
inline Decision Decide(const CompiledPolicy& policy, const PrincipalFacts& p,
                       absl::string_view user_id, ActionId action,
                       EntityId entity, const ResourceRef* resource,
                       Trace& trace) {
  const HotTables& h = policy.hot();
  const uint32_t slot_index = action.index();
  const uint32_t e = entity.index();
  // A principal that was never bound has snapshot 0, which no snapshot has:
  // it is stale before its kind is looked at.
  uint32_t stale = (p.snapshot ^ h.snapshot) |
                   (action.snapshot() ^ h.snapshot) |
                   (entity.snapshot() ^ h.snapshot);
  if (resource != nullptr) stale |= resource->entity.snapshot() ^ h.snapshot;
  if (ABSL_PREDICT_FALSE(stale != 0)) {
    if constexpr (Trace::kEnabled) {
      trace.Fail(Reason::kStaleSnapshot,
                 "the principal or an id was bound to another snapshot");
    }
    return Deny(Reason::kStaleSnapshot);
  }
  // Ids carrying this snapshot's tag came from it; the bounds checks are
  // defence in depth.
  const bool out_of_range =
      (slot_index >= h.slot_count) | (e >= h.entity_count) |
      (resource != nullptr && resource->entity.index() >= h.entity_count);
  if (ABSL_PREDICT_FALSE(out_of_range)) {
    if constexpr (Trace::kEnabled) {
      trace.Fail(Reason::kInvalidRequest, "an id is out of range");
    }
    return Deny(Reason::kInvalidRequest);
  }
  const SlotInfo slot = h.slots[slot_index];
  const bool is_partner = p.kind == PrincipalFacts::Kind::kPartner;

  // 1. tenant: the entity is in the principal's range (its partner's
  // entities, or the user's own; one compare instead of a read of the
  // entity's partner), its bit set in the principal's tenant bits (the
  // restriction, or all ones: HotTables::tenant_bits), and the resource's.
  const uint32_t offset = e - p.tenant_begin;
  const bool in_range = offset < p.tenant_count;
  bool tenant =
      in_range & GetBit(h.tenant_bits + p.restriction, in_range ? offset : 0);
  if (resource != nullptr) tenant &= resource->entity.index() == e;
  // 2. scope: row 0 (no credential) grants delete on everything.
  const uint32_t granted =
      Get2Bits(h.scope_rows + p.scope_row, slot.object_type);
  const bool scope = granted >= slot.level;
  // 3. partner_only
  const bool partner_only_ok = !slot.partner_only | is_partner;
  // 4. rbac (partners skip it)
  const uint32_t permission = PermissionOf(h, p.role_row, slot_index);

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
    outcomes.granted = granted;
    outcomes.scope = scope;
    outcomes.partner_only_ok = partner_only_ok;
    outcomes.permission = permission;
    outcomes.rbac = is_partner | (permission != kPermNotAllowed);
    trace.Rules(outcomes);
  }

  const uint32_t key = static_cast<uint32_t>(!tenant) |
                       static_cast<uint32_t>(!scope) << 1 |
                       static_cast<uint32_t>(!partner_only_ok) << 2 |
                       static_cast<uint32_t>(is_partner) << 3 |
                       permission << kKeyPermissionShift;
  const Decision decision = kDecisionTable.decisions[key];
  // 5. ownership (allowed_for_own, on a given resource)
  if (decision.verdict != Verdict::kAllowedForOwn || resource == nullptr) {
    return decision;
  }
  // Inline: the creator and the user id are short, and std::string's ==
  // calls memcmp.
  const bool own = !resource->created_by.empty() &&
                   NamesEqual(resource->created_by, user_id);
  return {own ? Verdict::kAllowed : Verdict::kNotAllowed, Reason::kOwnership};
}

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_EVALUATE_DECIDE_H_
