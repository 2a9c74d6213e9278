#include "engine/live/policy_store.h"

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace portcullis {
namespace internal {

// One publication: immutable once published.
struct StoreSnapshot {
  std::shared_ptr<const CompiledPolicy> policy;
  std::shared_ptr<ShadowEvaluator> shadow;
  PolicyStore::SnapshotInfo info;
};

// A reader's hazard pointer, alone in its cache line: only its reader writes
// it, and only after a swap.
struct alignas(64) StoreSlot {
  std::atomic<StoreSnapshot*> hazard{nullptr};
  uint32_t index = 0;
  bool in_use = false;  // guarded by StoreState::mu
};

// Shared by the store and its readers, so that readers may outlive the store.
struct StoreState {
  // The one word every check loads; nothing else in its cache line.
  alignas(64) std::atomic<StoreSnapshot*> current{nullptr};

  // std::mutex rather than absl::Mutex: ThreadSanitizer understands it
  // without an instrumented Abseil. Guards the members below.
  alignas(64) std::mutex mu;
  uint64_t generation = 0;
  std::vector<StoreSnapshot*> retired;
  std::vector<std::unique_ptr<StoreSlot>> slots;

  ~StoreState() {
    // No reader is left: each holds a reference to this state.
    delete current.load(std::memory_order_relaxed);
    for (StoreSnapshot* snapshot : retired) delete snapshot;
  }

  // Under `mu`: makes `fresh` current and retires the snapshot it replaces;
  // returns the retired snapshots no reader holds, for the caller to free after
  // unlocking.
  std::vector<StoreSnapshot*> SwapLocked(StoreSnapshot* fresh) {
    // Sequentially consistent with the readers' hazard announcements (see
    // Reader::Refresh): a reader that saw `old` still current after
    // announcing it is seen by the scan below.
    StoreSnapshot* old = current.exchange(fresh, std::memory_order_seq_cst);
    if (old != nullptr) retired.push_back(old);
    return CollectLocked();
  }

  // Under `mu`: the retired snapshots no reader announces, removed from
  // `retired`.
  std::vector<StoreSnapshot*> CollectLocked() {
    std::vector<StoreSnapshot*> held;
    for (const std::unique_ptr<StoreSlot>& slot : slots) {
      StoreSnapshot* hazard = slot->hazard.load(std::memory_order_seq_cst);
      if (hazard != nullptr) held.push_back(hazard);
    }
    std::vector<StoreSnapshot*> freed;
    auto is_held = [&](StoreSnapshot* s) {
      return std::find(held.begin(), held.end(), s) != held.end();
    };
    auto kept = std::partition(retired.begin(), retired.end(), is_held);
    freed.assign(kept, retired.end());
    retired.erase(kept, retired.end());
    return freed;
  }
};

}  // namespace internal

namespace {

using internal::StoreSnapshot;
using internal::StoreState;

// What a reader reports before anything is published.
const PolicyStore::SnapshotInfo kNoSnapshot{};

void Free(const std::vector<StoreSnapshot*>& snapshots) {
  for (StoreSnapshot* snapshot : snapshots) delete snapshot;
}

}  // namespace

LivePrincipal LivePrincipal::Partner(absl::string_view client_id) {
  LivePrincipal principal;
  principal.partner_ = true;
  principal.client_id_ = std::string(client_id);
  return principal;
}

LivePrincipal LivePrincipal::EntityUser(absl::string_view user_id,
                                        absl::string_view entity_id,
                                        absl::string_view role_id,
                                        absl::string_view client_id) {
  LivePrincipal principal;
  principal.user_id_ = std::string(user_id);
  principal.entity_id_ = std::string(entity_id);
  principal.role_id_ = std::string(role_id);
  principal.client_id_ = std::string(client_id);
  return principal;
}

Reason LivePrincipal::Rebind(const CompiledPolicy& policy) {
  const uint32_t tag = policy.snapshot();
  // The reason first, without allocating; the Principal only when it binds.
  internal::PrincipalFacts facts;
  bound_ = partner_
               ? internal::IdAccess::BindPartner(policy, client_id_, facts)
               : internal::IdAccess::BindEntityUser(
                     policy, user_id_, entity_id_, role_id_, client_id_, facts);
  bound_to_ = tag;
  if (bound_ == Reason::kGranted) {
    absl::StatusOr<Principal> bound =
        partner_
            ? policy.BindPartner(client_id_)
            : policy.BindEntityUser(user_id_, entity_id_, role_id_, client_id_);
    principal_ = *std::move(bound);
  }
  return bound_;
}

PolicyStore::Reader::Reader(std::shared_ptr<StoreState> state,
                            internal::StoreSlot* slot)
    : state_(std::move(state)),
      current_(&state_->current),
      slot_(slot),
      info_(&kNoSnapshot),
      stripe_(slot->index) {}

PolicyStore::Reader::Reader(Reader&& other) noexcept
    : state_(std::move(other.state_)),
      current_(other.current_),
      slot_(other.slot_),
      cached_(other.cached_),
      policy_(other.policy_),
      shadow_(other.shadow_),
      info_(other.info_),
      shadow_countdown_(other.shadow_countdown_),
      stripe_(other.stripe_),
      guards_(other.guards_) {
  other.slot_ = nullptr;
}

PolicyStore::Reader& PolicyStore::Reader::operator=(Reader&& other) noexcept {
  if (this == &other) return *this;
  Release();
  state_ = std::move(other.state_);
  current_ = other.current_;
  slot_ = other.slot_;
  cached_ = other.cached_;
  policy_ = other.policy_;
  shadow_ = other.shadow_;
  info_ = other.info_;
  shadow_countdown_ = other.shadow_countdown_;
  stripe_ = other.stripe_;
  guards_ = other.guards_;
  other.slot_ = nullptr;
  return *this;
}

PolicyStore::Reader::~Reader() { Release(); }

void PolicyStore::Reader::Release() noexcept {
  if (slot_ == nullptr) return;
  slot_->hazard.store(nullptr, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    slot_->in_use = false;
  }
  slot_ = nullptr;
  state_.reset();
}

void PolicyStore::Reader::Refresh() noexcept {
  // Hazard-pointer protocol: announce the snapshot, then confirm that it is
  // still current. Once confirmed, the writer's scan (after its exchange)
  // sees the announcement and does not free it. Lock-free: a retry only
  // follows another publication.
  StoreSnapshot* snapshot = current_->load(std::memory_order_seq_cst);
  for (;;) {
    slot_->hazard.store(snapshot, std::memory_order_seq_cst);
    StoreSnapshot* again = current_->load(std::memory_order_seq_cst);
    if (again == snapshot) break;
    snapshot = again;
  }
  cached_ = snapshot;
  policy_ = snapshot != nullptr ? snapshot->policy.get() : nullptr;
  info_ = snapshot != nullptr ? &snapshot->info : &kNoSnapshot;
  ShadowEvaluator* shadow =
      snapshot != nullptr ? snapshot->shadow.get() : nullptr;
  if (shadow != shadow_) {
    shadow_ = shadow;
    shadow_countdown_ =
        shadow != nullptr ? shadow->options().sample_one_in : uint32_t{1};
  }
}

void PolicyStore::Reader::Sample(const Principal& principal, ActionId action,
                                 EntityId entity, const ResourceRef* resource,
                                 Decision decision) noexcept {
  shadow_countdown_ = shadow_->options().sample_one_in;
  shadow_->Observe(principal, action, entity, resource, decision, stripe_);
}

void PolicyStore::Reader::Sample(const CheckRequestView& request,
                                 Decision decision) noexcept {
  shadow_countdown_ = shadow_->options().sample_one_in;
  shadow_->Observe(request, decision, stripe_);
}

Decision PolicyStore::Reader::Check(const CheckRequestView& request) noexcept {
  const CompiledPolicy* policy = Acquire();
  if (policy == nullptr) return {Verdict::kNotAllowed, Reason::kNoPolicy};
  const Decision decision = portcullis::Check(*policy, request);
  if (shadow_ != nullptr && --shadow_countdown_ == 0) Sample(request, decision);
  return decision;
}

PolicyStore::PolicyStore() : state_(std::make_shared<StoreState>()) {}

PolicyStore::~PolicyStore() = default;

absl::StatusOr<PolicyStore::SnapshotInfo> PolicyStore::Publish(
    std::shared_ptr<const CompiledPolicy> policy) {
  if (policy == nullptr) {
    return absl::InvalidArgumentError("cannot publish a null policy");
  }
  auto fresh = std::make_unique<StoreSnapshot>();
  fresh->info.digest = DigestOf(*policy);
  fresh->info.snapshot = policy->snapshot();
  fresh->policy = std::move(policy);
  SnapshotInfo info;
  std::vector<StoreSnapshot*> freed;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    fresh->info.generation = ++state_->generation;
    info = fresh->info;
    freed = state_->SwapLocked(fresh.release());
  }
  // Freeing a large policy takes a while: not under the lock.
  Free(freed);
  return info;
}

std::shared_ptr<const CompiledPolicy> PolicyStore::policy() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  // Only writers, which hold the lock, replace or free the current snapshot.
  const StoreSnapshot* current =
      state_->current.load(std::memory_order_relaxed);
  return current != nullptr ? current->policy : nullptr;
}

std::optional<PolicyStore::SnapshotInfo> PolicyStore::info() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  const StoreSnapshot* current =
      state_->current.load(std::memory_order_relaxed);
  if (current == nullptr) return std::nullopt;
  return current->info;
}

absl::StatusOr<std::shared_ptr<ShadowEvaluator>> PolicyStore::StartShadow(
    std::shared_ptr<const CompiledPolicy> candidate,
    const ShadowOptions& options) {
  std::shared_ptr<ShadowEvaluator> shadow;
  std::vector<StoreSnapshot*> freed;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    const StoreSnapshot* current =
        state_->current.load(std::memory_order_relaxed);
    if (current == nullptr) {
      return absl::FailedPreconditionError(
          "no policy is published: there is nothing to shadow");
    }
    absl::StatusOr<std::unique_ptr<ShadowEvaluator>> created =
        ShadowEvaluator::Create(current->policy, std::move(candidate), options);
    if (!created.ok()) return created.status();
    shadow = std::move(*created);
    freed = state_->SwapLocked(
        new StoreSnapshot{current->policy, shadow, current->info});
  }
  Free(freed);
  return shadow;
}

void PolicyStore::StopShadow() {
  std::vector<StoreSnapshot*> freed;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    const StoreSnapshot* current =
        state_->current.load(std::memory_order_relaxed);
    if (current == nullptr || current->shadow == nullptr) return;
    freed = state_->SwapLocked(
        new StoreSnapshot{current->policy, nullptr, current->info});
  }
  Free(freed);
}

size_t PolicyStore::Reclaim() {
  std::vector<StoreSnapshot*> freed;
  size_t held;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    freed = state_->CollectLocked();
    held = state_->retired.size();
  }
  Free(freed);
  return held;
}

PolicyStore::Reader PolicyStore::NewReader() {
  std::lock_guard<std::mutex> lock(state_->mu);
  internal::StoreSlot* slot = nullptr;
  for (const std::unique_ptr<internal::StoreSlot>& s : state_->slots) {
    if (!s->in_use) {
      slot = s.get();
      break;
    }
  }
  if (slot == nullptr) {
    state_->slots.push_back(std::make_unique<internal::StoreSlot>());
    slot = state_->slots.back().get();
    slot->index = static_cast<uint32_t>(state_->slots.size() - 1);
  }
  slot->in_use = true;
  return Reader(state_, slot);
}

}  // namespace portcullis
