// Shadow evaluation: answers live checks with the active policy while a
// candidate policy answers the same checks on the side, and counts where the
// two disagree — what a policy change will do to real traffic before it goes
// live. Usually started through PolicyStore::StartShadow(), which makes every
// Reader feed the shadow; usable alone with Check().
//
// Example:
//   ShadowOptions options;
//   options.sample_one_in = 16;
//   absl::StatusOr<std::shared_ptr<ShadowEvaluator>> shadow =
//       store.StartShadow(candidate, options);
//   ...  // traffic flows through the store's readers
//   std::cout << (*shadow)->Report().ToText();
#ifndef PORTCULLIS_ENGINE_LIVE_SHADOW_EVALUATOR_H_
#define PORTCULLIS_ENGINE_LIVE_SHADOW_EVALUATOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/common/decision.h"
#include "engine/evaluate/evaluator.h"
#include "engine/snapshot/compiled_policy.h"

namespace portcullis {

struct ShadowOptions {
  // The candidate answers one check in `sample_one_in`, counted by each
  // reader on its own (no shared counter on the hot path). Default 1: every
  // check. Must be at least 1.
  uint32_t sample_one_in = 1;
  // Distinct disagreements kept, each a (role, object type, action, active
  // decision, candidate decision); further ones are counted in
  // ShadowReport::overflow. Memory is fixed at creation: 48 bytes per kept
  // disagreement (the table is kept at most half full) plus 1 KiB of
  // counters. Default 4,096; at least 1.
  size_t max_disagreements = 4096;
};

// One kind of disagreement and how often it was seen.
struct ShadowDisagreement {
  // "partner" for a partner principal; otherwise the entity user's role id as
  // the active policy resolved it (the candidate's when the active policy does
  // not know it), or "" when the user has none.
  bool partner = false;
  std::string role;
  // Names as the active policy knows them (the candidate's for an object type
  // or action only it has); "" when neither knows them.
  std::string object_type;
  std::string action;
  Decision active;
  Decision candidate;
  uint64_t count = 0;
};

struct ShadowReport {
  uint64_t sampled = 0;  // checks both policies answered
  // Of which the verdicts differed (allowed, not_allowed, allowed_for_own);
  // the same verdict for another reason is not a disagreement.
  uint64_t disagreed = 0;
  uint64_t overflow = 0;  // of those, not kept: the table was full
  // Most frequent first, then by role, object type, action, decisions.
  std::vector<ShadowDisagreement> disagreements;

  // A summary line, then one line per disagreement:
  //   shadow: 1200 checks sampled, 37 disagreed (0 not kept)
  //     30  role "r-clerk"  payable.approve  not_allowed (rbac) -> allowed
  //     (granted)
  std::string ToText() const;
};

// Evaluates `candidate` beside `active` and counts disagreements in a
// fixed-size lock-free table. Immutable configuration; Observe() and Check()
// are thread-safe and never block or allocate; Report() may run concurrently
// with them. Cost per observed check: one name-based check of the candidate
// (a hash lookup per name) plus, on a disagreement, one table update.
class ShadowEvaluator {
 public:
  // InvalidArgument when a policy is null, sample_one_in or max_disagreements
  // is 0, or a policy has 2^31 roles or actions or more.
  static absl::StatusOr<std::unique_ptr<ShadowEvaluator>> Create(
      std::shared_ptr<const CompiledPolicy> active,
      std::shared_ptr<const CompiledPolicy> candidate,
      const ShadowOptions& options = ShadowOptions());

  ShadowEvaluator(const ShadowEvaluator&) = delete;
  ShadowEvaluator& operator=(const ShadowEvaluator&) = delete;
  ~ShadowEvaluator();

  // Records a check that active() answered with `decision`: the candidate
  // answers the same request (bound again by names) and a difference is
  // counted. A principal or ids of another snapshot than active() are not
  // observed. `stripe` spreads the counters: pass a number that differs
  // between threads (a reader's index).
  void Observe(const Principal& principal, ActionId action, EntityId entity,
               const ResourceRef* resource, Decision decision,
               uint32_t stripe = 0) noexcept;
  void Observe(const CheckRequestView& request, Decision decision,
               uint32_t stripe = 0) noexcept;

  // Without a store: the active policy's answer, with every call observed.
  Decision Check(const CheckRequestView& request, uint32_t stripe = 0) noexcept;

  // The counts so far. Allocates; linear in max_disagreements.
  ShadowReport Report() const;

  const CompiledPolicy& active() const { return *active_; }
  const CompiledPolicy& candidate() const { return *candidate_; }
  const ShadowOptions& options() const { return options_; }

 private:
  struct Entry;
  struct Stripe;

  ShadowEvaluator(std::shared_ptr<const CompiledPolicy> active,
                  std::shared_ptr<const CompiledPolicy> candidate,
                  const ShadowOptions& options);

  // Counts one observed check; true when the verdicts differ.
  bool Count(Decision active, Decision candidate, uint32_t stripe) noexcept;
  // Counts one disagreement; `role` and `slot` are indices tagged with the
  // policy they index (see shadow_evaluator.cc).
  void Insert(uint32_t kind, uint32_t role, uint32_t slot, Decision active,
              Decision candidate) noexcept;

  std::shared_ptr<const CompiledPolicy> active_;
  std::shared_ptr<const CompiledPolicy> candidate_;
  ShadowOptions options_;
  size_t mask_;  // table size - 1
  std::unique_ptr<Entry[]> table_;
  std::unique_ptr<Stripe[]> stripes_;
  std::atomic<uint64_t> kept_{0};
  std::atomic<uint64_t> overflow_{0};
};

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_LIVE_SHADOW_EVALUATOR_H_
