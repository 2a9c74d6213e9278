// The live policy: a PolicyStore publishes compiled policies while any number
// of threads check against it. Publishing is atomic: a check sees the old
// snapshot or the new one, never a mix; readers never block and, while the
// policy does not change, write no shared memory.
//
// Example:
//   PolicyStore store;
//   PORTCULLIS_RETURN_IF_ERROR(store.Publish(*Compile(set)).status());
//
//   // Each serving thread, once:
//   PolicyStore::Reader reader = store.NewReader();
//   // A principal per token; it follows policy swaps:
//   LivePrincipal user =
//       LivePrincipal::EntityUser("u-7", "e-1", /*role_id=*/"", "c-finance");
//   // Per request, ids resolved in one snapshot:
//   PolicyStore::ReadGuard policy = reader.Read();
//   if (!policy) return Deny();  // no policy published yet
//   std::optional<ActionId> approve = policy->FindAction("payable", "approve");
//   std::optional<EntityId> entity = policy->FindEntity(header);
//   Decision d = reader.Check(user, *approve, *entity);
#ifndef PORTCULLIS_ENGINE_LIVE_POLICY_STORE_H_
#define PORTCULLIS_ENGINE_LIVE_POLICY_STORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/optimization.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/common/decision.h"
#include "engine/evaluate/evaluator.h"
#include "engine/live/shadow_evaluator.h"
#include "engine/snapshot/bundle.h"
#include "engine/snapshot/compiled_policy.h"

namespace portcullis {

namespace internal {
struct StoreSnapshot;
struct StoreSlot;
struct StoreState;
}  // namespace internal

// A principal by the names its token carries, bound lazily to the snapshot it
// is checked against: the first check after a policy swap binds it again (one
// hash lookup per name), later checks reuse the binding (one compare).
// Thread-compatible: keep one per thread (a per-thread token cache) or guard
// it.
class LivePrincipal {
 public:
  static LivePrincipal Partner(absl::string_view client_id);
  // `role_id` empty: the entity's default role; `client_id` empty: no scope
  // restriction (as CompiledPolicy::BindEntityUser).
  static LivePrincipal EntityUser(absl::string_view user_id,
                                  absl::string_view entity_id,
                                  absl::string_view role_id,
                                  absl::string_view client_id);

  // Binds to `policy` unless already bound to it. kGranted, or why it cannot
  // be bound to `policy` (kInvalidRequest for an empty client id, or user or
  // entity id; kUnknownPrincipal, kUnknownEntity, kUnknownRole): checks of it
  // then deny with that reason.
  Reason Bind(const CompiledPolicy& policy) {
    if (ABSL_PREDICT_TRUE(bound_to_ == policy.snapshot())) return bound_;
    return Rebind(policy);
  }

  // The binding made by the last Bind() that returned kGranted.
  const Principal& principal() const { return principal_; }

 private:
  LivePrincipal() = default;
  Reason Rebind(const CompiledPolicy& policy);

  bool partner_ = false;
  std::string user_id_;
  std::string entity_id_;
  std::string role_id_;
  std::string client_id_;
  uint32_t bound_to_ = 0;  // snapshot tag of the last Bind(); 0: none
  Reason bound_ = Reason::kInvalidRequest;
  Principal principal_;
};

// Holds the published policy and hands it to readers. Publish(), Reclaim()
// and the shadow calls are thread-safe and serialize on a writer lock;
// checks go through Readers, one per thread.
//
// Reclamation: each reader announces the snapshot it holds in its own
// cache line (a hazard pointer); a replaced snapshot is freed by the writer
// side (Publish, Reclaim) once no reader holds it. A reader holds the snapshot
// of its last check until its next one, so at most one old snapshot per idle
// reader stays alive.
class PolicyStore {
 public:
  // What was published.
  struct SnapshotInfo {
    // 1 for the first publication, then one more per Publish(). Starting or
    // stopping a shadow does not change it.
    uint64_t generation = 0;
    // DigestOf(policy): the digest of an unkeyed bundle of it.
    PolicyDigest digest;
    // CompiledPolicy::snapshot() of the policy.
    uint32_t snapshot = 0;
  };

  class Reader;

  // Pins the snapshot its reader checks against for as long as it lives:
  // lookups and checks through that reader all use the same snapshot (nested
  // guards too). Move-only; must not outlive its reader, nor its reader be
  // moved while it lives; same thread.
  class ReadGuard {
   public:
    ReadGuard(ReadGuard&& other) noexcept;
    ReadGuard& operator=(ReadGuard&&) = delete;
    ~ReadGuard();

    // Null when nothing was published yet.
    const CompiledPolicy* get() const { return policy_; }
    explicit operator bool() const { return policy_ != nullptr; }
    const CompiledPolicy& operator*() const { return *policy_; }
    const CompiledPolicy* operator->() const { return policy_; }
    // The publication pinned: generation (0 when nothing was published yet),
    // digest and snapshot tag.
    const SnapshotInfo& info() const { return *info_; }
    uint64_t generation() const { return info_->generation; }

   private:
    friend class Reader;
    ReadGuard(Reader* reader, const CompiledPolicy* policy,
              const SnapshotInfo* info)
        : reader_(reader), policy_(policy), info_(info) {}

    Reader* reader_;
    const CompiledPolicy* policy_;
    const SnapshotInfo* info_;
  };

  // A thread's access to the store. Thread-compatible: use each reader from
  // one thread at a time. Checks cost one load of a read-mostly shared word
  // (the current snapshot pointer) over a check of the snapshot itself; after
  // a swap, the first check also publishes the reader's hazard pointer (a
  // store and a fence in the reader's own cache line). Never blocks, never
  // allocates. Movable; a moved-from reader may only be destroyed or
  // assigned. May outlive its store (it then keeps the last snapshot).
  class Reader {
   public:
    Reader(Reader&& other) noexcept;
    Reader& operator=(Reader&& other) noexcept;
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    ~Reader();

    // A check against the current snapshot. Ids or a principal of another
    // snapshot deny with kStaleSnapshot (resolve them again in a ReadGuard);
    // an empty store denies with kNoPolicy.
    Decision Check(const Principal& principal, ActionId action, EntityId entity,
                   const ResourceRef* resource = nullptr) noexcept;
    // The same with a principal that binds itself again after a swap; denies
    // with the binding's reason when it cannot be bound.
    Decision Check(LivePrincipal& principal, ActionId action, EntityId entity,
                   const ResourceRef* resource = nullptr) noexcept;
    // By names: never stale.
    Decision Check(const CheckRequestView& request) noexcept;

    // Pins the current snapshot (see ReadGuard).
    ReadGuard Read() noexcept;

   private:
    friend class PolicyStore;
    friend class ReadGuard;
    Reader(std::shared_ptr<internal::StoreState> state,
           internal::StoreSlot* slot);

    // The snapshot to check against: the cached one while it is current (or
    // pinned by a guard), else the new one, announced first.
    const CompiledPolicy* Acquire() noexcept {
      if (ABSL_PREDICT_FALSE(current_->load(std::memory_order_relaxed) !=
                             cached_) &&
          guards_ == 0) {
        Refresh();
      }
      return policy_;
    }
    void Refresh() noexcept;
    void Sample(const Principal& principal, ActionId action, EntityId entity,
                const ResourceRef* resource, Decision decision) noexcept;
    void Sample(const CheckRequestView& request, Decision decision) noexcept;
    void Release() noexcept;

    std::shared_ptr<internal::StoreState> state_;
    const std::atomic<internal::StoreSnapshot*>* current_ = nullptr;
    internal::StoreSlot* slot_ = nullptr;
    // Copied from the cached snapshot so that a check reads only this object
    // and the one shared word.
    internal::StoreSnapshot* cached_ = nullptr;
    const CompiledPolicy* policy_ = nullptr;
    ShadowEvaluator* shadow_ = nullptr;
    const SnapshotInfo* info_;
    uint32_t shadow_countdown_ = 1;
    uint32_t stripe_ = 0;
    int guards_ = 0;
  };

  PolicyStore();
  ~PolicyStore();
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  // Publishes `policy`: every check that starts after Publish() returns uses
  // it. Computes the policy's digest (one pass over its tables) before taking
  // the writer lock, ends any shadow (it compared against the old policy),
  // and frees replaced snapshots no reader holds. InvalidArgument for null.
  absl::StatusOr<SnapshotInfo> Publish(
      std::shared_ptr<const CompiledPolicy> policy);

  // The published policy and its info; null / nullopt when empty. Takes the
  // writer lock: for administration, not per check.
  std::shared_ptr<const CompiledPolicy> policy() const;
  std::optional<SnapshotInfo> info() const;

  // Evaluates `candidate` beside the published policy on every reader's
  // checks (one in options.sample_one_in per reader) until StopShadow() or
  // the next Publish(). Replaces a running shadow. FailedPrecondition when
  // the store is empty; ShadowEvaluator::Create's errors. The returned
  // evaluator keeps counting only while attached; its Report() stays valid.
  absl::StatusOr<std::shared_ptr<ShadowEvaluator>> StartShadow(
      std::shared_ptr<const CompiledPolicy> candidate,
      const ShadowOptions& options = ShadowOptions());
  void StopShadow();

  // Frees replaced snapshots no reader holds any more (Publish does too).
  // Returns how many replaced snapshots are still held by readers.
  size_t Reclaim();

  // A reader for the calling thread. Takes the writer lock briefly.
  Reader NewReader();

 private:
  std::shared_ptr<internal::StoreState> state_;
};

inline Decision PolicyStore::Reader::Check(
    const Principal& principal, ActionId action, EntityId entity,
    const ResourceRef* resource) noexcept {
  const CompiledPolicy* policy = Acquire();
  if (ABSL_PREDICT_FALSE(policy == nullptr)) {
    return {Verdict::kNotAllowed, Reason::kNoPolicy};
  }
  const Decision decision =
      portcullis::Check(*policy, principal, action, entity, resource);
  if (ABSL_PREDICT_FALSE(shadow_ != nullptr) && --shadow_countdown_ == 0) {
    Sample(principal, action, entity, resource, decision);
  }
  return decision;
}

inline Decision PolicyStore::Reader::Check(
    LivePrincipal& principal, ActionId action, EntityId entity,
    const ResourceRef* resource) noexcept {
  const CompiledPolicy* policy = Acquire();
  if (ABSL_PREDICT_FALSE(policy == nullptr)) {
    return {Verdict::kNotAllowed, Reason::kNoPolicy};
  }
  const Reason bound = principal.Bind(*policy);
  if (ABSL_PREDICT_FALSE(bound != Reason::kGranted)) {
    return {Verdict::kNotAllowed, bound};
  }
  const Decision decision = portcullis::Check(*policy, principal.principal(),
                                              action, entity, resource);
  if (ABSL_PREDICT_FALSE(shadow_ != nullptr) && --shadow_countdown_ == 0) {
    Sample(principal.principal(), action, entity, resource, decision);
  }
  return decision;
}

inline PolicyStore::ReadGuard::ReadGuard(ReadGuard&& other) noexcept
    : reader_(other.reader_), policy_(other.policy_), info_(other.info_) {
  other.reader_ = nullptr;
}

inline PolicyStore::ReadGuard::~ReadGuard() {
  if (reader_ != nullptr) --reader_->guards_;
}

inline PolicyStore::ReadGuard PolicyStore::Reader::Read() noexcept {
  Acquire();
  ++guards_;
  return ReadGuard(this, policy_, info_);
}

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_LIVE_POLICY_STORE_H_
