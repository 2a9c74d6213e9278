#include "engine/live/shadow_evaluator.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/quote.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis {
namespace {

using internal::IdAccess;
using internal::kNone;
using internal::PolicyTables;
using internal::PrincipalFacts;

// A role or slot as a disagreement records it: an index of the active policy,
// or of the candidate with kFromCandidate set; kRefNone when neither knows it.
constexpr uint32_t kRefNone = ~uint32_t{0};
constexpr uint32_t kFromCandidate = uint32_t{1} << 31;

// Principal kinds in a key.
constexpr uint32_t kKindNone = 0;
constexpr uint32_t kKindPartner = 1;
constexpr uint32_t kKindEntityUser = 2;

// Entry states: empty, claimed by an inserting thread, or kReady | key bits.
constexpr uint32_t kEmpty = 0;
constexpr uint32_t kClaimed = 1;
constexpr uint32_t kReady = uint32_t{1} << 31;

constexpr uint32_t kStripes = 16;
constexpr int kMaxProbes = 64;

// A decision in 6 bits: the verdict in 2, the reason in 4.
constexpr uint32_t kVerdictBits = 2;
constexpr uint32_t kReasonBits = 4;
constexpr uint32_t kDecisionBits = kVerdictBits + kReasonBits;
constexpr uint32_t kDecisionMask = (uint32_t{1} << kDecisionBits) - 1;
static_assert(kVerdictCount <= (uint32_t{1} << kVerdictBits),
              "PackDecision: a Verdict no longer fits in its bits");
static_assert(kReasonCount <= (uint32_t{1} << kReasonBits),
              "PackDecision: a Reason no longer fits in its bits");

uint32_t PackDecision(Decision d) {
  return static_cast<uint32_t>(d.verdict) |
         (static_cast<uint32_t>(d.reason) << kVerdictBits);
}

Decision UnpackDecision(uint32_t bits) {
  return {static_cast<Verdict>(bits & ((1u << kVerdictBits) - 1)),
          static_cast<Reason>(bits >> kVerdictBits)};
}

// A key: the kind in 2 bits, then the two decisions, then kReady.
constexpr uint32_t kKindBits = 2;
constexpr uint32_t kKindMask = (uint32_t{1} << kKindBits) - 1;
static_assert(kKindEntityUser <= kKindMask, "a kind fits in its bits");
static_assert(kKindBits + 2 * kDecisionBits < 31,
              "a key's bits stay below kReady");

uint32_t KeyBits(uint32_t kind, Decision active, Decision candidate) {
  return kReady | kind | (PackDecision(active) << kKindBits) |
         (PackDecision(candidate) << (kKindBits + kDecisionBits));
}

uint64_t Mix(uint64_t x) {
  // splitmix64's finalizer: spreads nearby indices over the table.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

// The request a check by ids stood for, by the active policy's names.
// Precondition: the ids are in range.
CheckRequestView ViewOfIds(const PolicyTables& t, const Principal& principal,
                           ActionId action, EntityId entity,
                           const ResourceRef* resource) {
  const PrincipalFacts& p = principal.facts();
  CheckRequestView view;
  if (p.kind == PrincipalFacts::Kind::kPartner) {
    view.principal_kind = CheckRequestView::PrincipalKind::kPartner;
    view.client_id = t.credentials.name(p.credential);
  } else {
    view.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
    view.user_id = principal.user_id();
    view.user_entity_id = t.entities.name(p.entity);
    if (!p.default_role && p.role != kNone) view.role_id = t.roles.name(p.role);
    if (p.credential != kNone)
      view.client_id = t.credentials.name(p.credential);
  }
  view.object_type = t.object_types.name(t.slots[action.index()].object_type);
  view.action = t.actions.name(action.index());
  view.entity_id = t.entities.name(entity.index());
  if (resource != nullptr) {
    view.has_resource = true;
    view.resource_entity_id = t.entities.name(resource->entity.index());
    view.resource_created_by = resource->created_by;
  }
  return view;
}

// The role `request` resolves to in `policy`, or kNone.
uint32_t RoleOf(const CompiledPolicy& policy, const CheckRequestView& request) {
  if (request.principal_kind != CheckRequestView::PrincipalKind::kEntityUser) {
    return kNone;
  }
  PrincipalFacts facts;
  if (IdAccess::BindEntityUser(policy, request.user_id, request.user_entity_id,
                               request.role_id, request.client_id,
                               facts) != Reason::kGranted) {
    return kNone;
  }
  return facts.role;
}

uint32_t SlotOf(const CompiledPolicy& policy, const CheckRequestView& request) {
  const std::optional<ActionId> action =
      policy.FindAction(request.object_type, request.action);
  return action.has_value() ? action->index() : kNone;
}

std::string DecisionText(Decision d) {
  return absl::StrCat(VerdictName(d.verdict), " (", ReasonName(d.reason), ")");
}

}  // namespace

struct ShadowEvaluator::Entry {
  std::atomic<uint32_t> state{kEmpty};
  std::atomic<uint64_t> refs{0};  // role << 32 | slot
  std::atomic<uint64_t> count{0};
};

struct alignas(64) ShadowEvaluator::Stripe {
  std::atomic<uint64_t> sampled{0};
  std::atomic<uint64_t> disagreed{0};
};

absl::StatusOr<std::unique_ptr<ShadowEvaluator>> ShadowEvaluator::Create(
    std::shared_ptr<const CompiledPolicy> active,
    std::shared_ptr<const CompiledPolicy> candidate,
    const ShadowOptions& options) {
  if (active == nullptr || candidate == nullptr) {
    return absl::InvalidArgumentError("shadow: a policy is null");
  }
  if (options.sample_one_in == 0) {
    return absl::InvalidArgumentError(
        "shadow: sample_one_in must be at least 1");
  }
  if (options.max_disagreements == 0 ||
      options.max_disagreements > (size_t{1} << 30)) {
    return absl::InvalidArgumentError(
        "shadow: max_disagreements must be between 1 and 2^30");
  }
  for (const CompiledPolicy* policy : {active.get(), candidate.get()}) {
    if (policy->tables().roles.size() >= kFromCandidate ||
        policy->tables().slots.size() >= kFromCandidate) {
      return absl::InvalidArgumentError(
          "shadow: a policy has 2^31 roles or actions or more");
    }
  }
  return std::unique_ptr<ShadowEvaluator>(
      new ShadowEvaluator(std::move(active), std::move(candidate), options));
}

ShadowEvaluator::ShadowEvaluator(
    std::shared_ptr<const CompiledPolicy> active,
    std::shared_ptr<const CompiledPolicy> candidate,
    const ShadowOptions& options)
    : active_(std::move(active)),
      candidate_(std::move(candidate)),
      options_(options) {
  // At most half full, so that probes stay short.
  size_t size = 2;
  while (size < 2 * options_.max_disagreements) size *= 2;
  mask_ = size - 1;
  table_.reset(new Entry[size]);
  stripes_.reset(new Stripe[kStripes]);
}

ShadowEvaluator::~ShadowEvaluator() = default;

bool ShadowEvaluator::Count(Decision active, Decision candidate,
                            uint32_t stripe) noexcept {
  Stripe& s = stripes_[stripe % kStripes];
  s.sampled.fetch_add(1, std::memory_order_relaxed);
  // The verdict is what the service acts on; the same verdict for another
  // reason is not a disagreement.
  if (active.verdict == candidate.verdict) return false;
  s.disagreed.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void ShadowEvaluator::Insert(uint32_t kind, uint32_t role, uint32_t slot,
                             Decision active, Decision candidate) noexcept {
  const uint32_t key = KeyBits(kind, active, candidate);
  const uint64_t refs = (uint64_t{role} << 32) | slot;
  const uint64_t hash = Mix(refs ^ (uint64_t{key} << 17));
  // Linear probing without deletion: a key is before the first empty entry
  // of its sequence. An entry another thread is still filling is skipped, so
  // a key can rarely be kept twice; Report() merges such twins.
  for (int probe = 0; probe < kMaxProbes; ++probe) {
    Entry& e = table_[(hash + probe) & mask_];
    uint32_t state = e.state.load(std::memory_order_acquire);
    if (state == kEmpty) {
      if (kept_.load(std::memory_order_relaxed) >= options_.max_disagreements) {
        break;
      }
      if (e.state.compare_exchange_strong(state, kClaimed,
                                          std::memory_order_acq_rel)) {
        kept_.fetch_add(1, std::memory_order_relaxed);
        e.refs.store(refs, std::memory_order_relaxed);
        e.count.fetch_add(1, std::memory_order_relaxed);
        e.state.store(key, std::memory_order_release);
        return;
      }
      // Lost the race: `state` now holds the winner's state.
    }
    if (state == key && e.refs.load(std::memory_order_relaxed) == refs) {
      e.count.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  overflow_.fetch_add(1, std::memory_order_relaxed);
}

void ShadowEvaluator::Observe(const Principal& principal, ActionId action,
                              EntityId entity, const ResourceRef* resource,
                              Decision decision, uint32_t stripe) noexcept {
  const PolicyTables& t = active_->tables();
  const uint32_t tag = active_->snapshot();
  const PrincipalFacts& p = principal.facts();
  if (p.snapshot() != tag || action.snapshot() != tag ||
      entity.snapshot() != tag ||
      (resource != nullptr && resource->entity.snapshot() != tag) ||
      p.kind == PrincipalFacts::Kind::kNone ||
      action.index() >= t.slots.size() ||
      entity.index() >= t.entity_partner.size() ||
      (resource != nullptr &&
       resource->entity.index() >= t.entity_partner.size())) {
    return;
  }
  const CheckRequestView view =
      ViewOfIds(t, principal, action, entity, resource);
  const Decision candidate = portcullis::Check(*candidate_, view);
  if (!Count(decision, candidate, stripe)) return;
  const bool partner = p.kind == PrincipalFacts::Kind::kPartner;
  uint32_t role = partner ? kNone : p.role;
  if (!partner && role == kNone) {
    role = RoleOf(*candidate_, view);
    if (role != kNone) role |= kFromCandidate;
  }
  Insert(partner ? kKindPartner : kKindEntityUser, role, action.index(),
         decision, candidate);
}

void ShadowEvaluator::Observe(const CheckRequestView& request,
                              Decision decision, uint32_t stripe) noexcept {
  const Decision candidate = portcullis::Check(*candidate_, request);
  if (!Count(decision, candidate, stripe)) return;
  uint32_t kind = kKindNone;
  switch (request.principal_kind) {
    case CheckRequestView::PrincipalKind::kNone:
      break;
    case CheckRequestView::PrincipalKind::kPartner:
      kind = kKindPartner;
      break;
    case CheckRequestView::PrincipalKind::kEntityUser:
      kind = kKindEntityUser;
      break;
  }
  // Each reference from the active policy when it knows the name, else from
  // the candidate.
  auto either = [&](auto of) {
    const uint32_t in_active = of(*active_);
    if (in_active != kNone) return in_active;
    const uint32_t in_candidate = of(*candidate_);
    return in_candidate == kNone ? kRefNone : in_candidate | kFromCandidate;
  };
  const uint32_t role =
      either([&](const CompiledPolicy& p) { return RoleOf(p, request); });
  const uint32_t slot =
      either([&](const CompiledPolicy& p) { return SlotOf(p, request); });
  Insert(kind, role, slot, decision, candidate);
}

Decision ShadowEvaluator::Check(const CheckRequestView& request,
                                uint32_t stripe) noexcept {
  const Decision decision = portcullis::Check(*active_, request);
  Observe(request, decision, stripe);
  return decision;
}

ShadowReport ShadowEvaluator::Report() const {
  ShadowReport report;
  for (uint32_t i = 0; i < kStripes; ++i) {
    report.sampled += stripes_[i].sampled.load(std::memory_order_relaxed);
    report.disagreed += stripes_[i].disagreed.load(std::memory_order_relaxed);
  }
  report.overflow = overflow_.load(std::memory_order_relaxed);

  // Twins (see Insert) merge here.
  absl::flat_hash_map<std::pair<uint32_t, uint64_t>, uint64_t> counts;
  for (size_t i = 0; i <= mask_; ++i) {
    const Entry& e = table_[i];
    const uint32_t state = e.state.load(std::memory_order_acquire);
    if ((state & kReady) == 0) continue;
    counts[{state, e.refs.load(std::memory_order_relaxed)}] +=
        e.count.load(std::memory_order_relaxed);
  }
  auto tables_of = [&](uint32_t ref) -> const PolicyTables& {
    return (ref & kFromCandidate) != 0 ? candidate_->tables()
                                       : active_->tables();
  };
  for (const auto& [key, count] : counts) {
    const uint32_t state = key.first;
    const uint32_t role = static_cast<uint32_t>(key.second >> 32);
    const uint32_t slot = static_cast<uint32_t>(key.second);
    ShadowDisagreement d;
    d.partner = (state & kKindMask) == kKindPartner;
    if (role != kRefNone) {
      d.role = std::string(tables_of(role).roles.name(role & ~kFromCandidate));
    }
    if (slot != kRefNone) {
      const PolicyTables& t = tables_of(slot);
      const uint32_t index = slot & ~kFromCandidate;
      d.object_type =
          std::string(t.object_types.name(t.slots[index].object_type));
      d.action = std::string(t.actions.name(index));
    }
    d.active = UnpackDecision((state >> kKindBits) & kDecisionMask);
    d.candidate =
        UnpackDecision((state >> (kKindBits + kDecisionBits)) & kDecisionMask);
    d.count = count;
    report.disagreements.push_back(std::move(d));
  }
  auto order = [](const ShadowDisagreement& d) {
    return std::make_tuple(-static_cast<int64_t>(d.count), !d.partner,
                           std::cref(d.role), std::cref(d.object_type),
                           std::cref(d.action), PackDecision(d.active),
                           PackDecision(d.candidate));
  };
  std::sort(report.disagreements.begin(), report.disagreements.end(),
            [&](const ShadowDisagreement& a, const ShadowDisagreement& b) {
              return order(a) < order(b);
            });
  return report;
}

std::string ShadowReport::ToText() const {
  std::string text =
      absl::StrCat("shadow: ", sampled, " checks sampled, ", disagreed,
                   " disagreed (", overflow, " not kept)\n");
  for (const ShadowDisagreement& d : disagreements) {
    const std::string who =
        d.partner        ? "partner"
        : d.role.empty() ? "no role"
                         : absl::StrCat("role ", internal::Quote(d.role));
    const std::string what = d.object_type.empty()
                                 ? "(unknown action)"
                                 : absl::StrCat(d.object_type, ".", d.action);
    absl::StrAppend(&text, "  ", d.count, "  ", who, "  ", what, "  ",
                    DecisionText(d.active), " -> ", DecisionText(d.candidate),
                    "\n");
  }
  return text;
}

}  // namespace portcullis
