// The rules of docs/design.md that do not depend on the request's entity or
// resource (scope, partner_only, rbac), per slot, and the per-principal rows
// of their decisions that a check by ids reads instead of evaluating them.
// Not part of the public API: checks go through evaluator.h.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_DECISION_ROWS_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_DECISION_ROWS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/common/decision.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis::internal {

constexpr Decision Deny(Reason reason) {
  return {Verdict::kNotAllowed, reason};
}

// The rules' outcomes packed into a 6-bit key, and the decision for each key:
// a check computes every rule without branching, then reads its decision from
// kDecisionTable instead of ranking the failures with more branches. Bits:
//   0 tenant failed, 1 scope failed, 2 partner_only failed, 3 partner,
//   4-5 the role's 2-bit permission code.
inline constexpr uint32_t kKeyTenantFailed = 1u << 0;
inline constexpr uint32_t kKeyScopeFailed = 1u << 1;
inline constexpr uint32_t kKeyPartnerOnlyFailed = 1u << 2;
inline constexpr uint32_t kKeyPartner = 1u << 3;
inline constexpr uint32_t kKeyPermissionShift = 4;

// The first failure in rule order decides; partners skip rbac and ownership;
// `allowed_for_own` leaves ownership to the caller (which compares the
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

// Rules 2 to 4 (scope, partner_only, rbac) for one slot, which depend on the
// principal's credential, kind and role but not on the request's entity or
// resource: what a check evaluates, and what a decision row holds per slot.
struct SlotRules {
  uint32_t granted = 0;  // the scope level the credential grants
  bool scope = false;
  bool partner_only_ok = false;
  uint32_t permission = 0;  // the role's 2-bit permission code
  bool partner = false;
  // The bits of the rule key these rules set (all but kKeyTenantFailed).
  // Computed with the rules rather than from the fields above: a check
  // that reads only the key then keeps none of them.
  uint32_t key = 0;

  uint32_t Key() const { return key; }
};

// Precondition: `slot_index` < h.slot_count, `slot` is h.slots[slot_index],
// and the rows are the principal's (row 0 when it has no credential or no
// usable role).
inline SlotRules EvaluateSlotRules(const HotTables& h, uint32_t scope_row,
                                   uint32_t role_row, bool partner,
                                   uint32_t slot_index, SlotInfo slot) {
  SlotRules rules;
  // 2. scope: row 0 (no credential) grants delete on everything.
  rules.granted = Get2Bits(h.scope_rows + scope_row, slot.object_type);
  rules.scope = rules.granted >= slot.level;
  // 3. partner_only
  rules.partner_only_ok = !slot.partner_only | partner;
  // 4. rbac (partners skip it: kKeyPartner)
  rules.permission = PermissionOf(h, role_row, slot_index);
  rules.partner = partner;
  rules.key = static_cast<uint32_t>(!rules.scope) << 1 |
              static_cast<uint32_t>(!rules.partner_only_ok) << 2 |
              static_cast<uint32_t>(partner) << 3 |
              rules.permission << kKeyPermissionShift;
  return rules;
}

// Decision rows: for a combination of principal kind, scope row and role row,
// the decision of rules 2 to 4 for every slot, in slot order (what a check
// decides when the tenant rule passes, before ownership). Principals of the
// same combination share one row, so the cache grows with the distinct
// combinations bound, never with the principals: at most (distinct scope
// rows) × (distinct permission rows + 1) rows of 2 × slots bytes each, and in
// practice the combinations the live tokens hold.
//
// Thread-safe: RowFor() builds a missing row under a mutex (binding is not
// the hot path); a row, once returned, is immutable and never moves or is
// freed before the cache (rows live in chunks that are only ever added), so
// a principal holds a plain pointer to it. Checks read rows through such
// pointers and never touch the cache itself.
class DecisionRowCache {
 public:
  DecisionRowCache() = default;
  DecisionRowCache(const DecisionRowCache&) = delete;
  DecisionRowCache& operator=(const DecisionRowCache&) = delete;

  // The row for (partner, scope_row, role_row) over `h`'s slots, built on
  // first use. Never null, even for a catalog without slots. `h` must be the
  // tables of the snapshot owning this cache; `role_row` is ignored for
  // partners (they skip rbac).
  const Decision* RowFor(const HotTables& h, bool partner, uint32_t scope_row,
                         uint32_t role_row);

  // Rows built so far, and the bytes the cache holds (rows, chunk slack and
  // the index).
  size_t RowCount() const;
  size_t MemoryBytes() const;

 private:
  using Key = std::tuple<bool, uint32_t, uint32_t>;

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer, which would not see absl::Mutex's happens-before.
  mutable std::mutex mutex_;
  // All guarded by mutex_.
  absl::flat_hash_map<Key, const Decision*> rows_;
  // Rows back to back; a new chunk when the last is full. Never reallocated.
  std::vector<std::unique_ptr<Decision[]>> chunks_;
  size_t chunk_capacity_ = 0;  // last chunk's
  size_t chunk_used_ = 0;
  size_t chunk_bytes_ = 0;  // all chunks'
};

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_DECISION_ROWS_H_
