// PolicyStore: publication, generations and digests, pinned snapshots,
// stale and live principals, reclamation, and readers racing a writer.
#include "engine/live/policy_store.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace portcullis {
namespace {

// Two versions of one policy whose answers differ for the same requests, and
// a third without the role they use.
constexpr absl::string_view kPolicyA = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
    }
  }
  roles {
    id: "r-1"
    name: "One"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-1" }
  credentials { client_id: "c-1" partner_id: "p-1" scopes: "all:delete" }
)pb";

constexpr absl::string_view kPolicyB = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
    }
  }
  roles {
    id: "r-1"
    name: "One"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED_FOR_OWN }
        actions { action_name: "approve" permission: ALLOWED }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-1" }
  credentials { client_id: "c-1" partner_id: "p-1" scopes: "payable:read" }
)pb";

constexpr absl::string_view kPolicyWithoutRole = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
    }
  }
  entities { id: "e-1" partner_id: "p-1" }
)pb";

std::shared_ptr<const CompiledPolicy> CompileText(absl::string_view text) {
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(text);
  EXPECT_TRUE(set.ok()) << set.status();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(*set);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

CheckRequestView UserRequest(absl::string_view action) {
  CheckRequestView view;
  view.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
  view.user_id = "u-1";
  view.user_entity_id = "e-1";
  view.client_id = "c-1";
  view.object_type = "payable";
  view.action = action;
  view.entity_id = "e-1";
  return view;
}

constexpr Decision kAllowed{Verdict::kAllowed, Reason::kGranted};
constexpr Decision kForOwn{Verdict::kAllowedForOwn, Reason::kOwnership};
constexpr Decision kRbac{Verdict::kNotAllowed, Reason::kRbac};
constexpr Decision kScope{Verdict::kNotAllowed, Reason::kScope};
constexpr Decision kNoPolicy{Verdict::kNotAllowed, Reason::kNoPolicy};
constexpr Decision kStale{Verdict::kNotAllowed, Reason::kStaleSnapshot};

// What A and B answer to read and approve, and to a partner's approve.
struct Answers {
  Decision read;
  Decision approve;
  Decision partner_approve;
};
constexpr Answers kAnswersA{kAllowed, kRbac, kAllowed};
constexpr Answers kAnswersB{kForOwn, kScope, kScope};

TEST(PolicyStoreTest, EmptyStoreDeniesWithNoPolicy) {
  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  EXPECT_EQ(reader.Check(UserRequest("read")), kNoPolicy);
  EXPECT_EQ(reader.Check(Principal(), ActionId(), EntityId()), kNoPolicy);
  LivePrincipal user = LivePrincipal::EntityUser("u-1", "e-1", "", "");
  EXPECT_EQ(reader.Check(user, ActionId(), EntityId()), kNoPolicy);
  PolicyStore::ReadGuard guard = reader.Read();
  EXPECT_FALSE(guard);
  EXPECT_EQ(guard.get(), nullptr);
  EXPECT_EQ(guard.generation(), 0u);
  EXPECT_EQ(guard.info().digest, PolicyDigest());
  EXPECT_EQ(store.policy(), nullptr);
  EXPECT_FALSE(store.info().has_value());
  EXPECT_EQ(store.Reclaim(), 0u);
}

TEST(PolicyStoreTest, PublishNumbersGenerationsAndDigestsContent) {
  PolicyStore store;
  const auto a = CompileText(kPolicyA);
  const auto b = CompileText(kPolicyB);
  absl::StatusOr<PolicyStore::SnapshotInfo> first = store.Publish(a);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->generation, 1u);
  EXPECT_EQ(first->digest, DigestOf(*a));
  EXPECT_EQ(first->snapshot, a->snapshot());
  absl::StatusOr<PolicyStore::SnapshotInfo> second = store.Publish(b);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->generation, 2u);
  EXPECT_EQ(second->digest, DigestOf(*b));
  EXPECT_NE(second->digest, first->digest);
  EXPECT_EQ(store.info()->generation, 2u);
  EXPECT_EQ(store.policy(), b);

  absl::StatusOr<PolicyStore::SnapshotInfo> null = store.Publish(nullptr);
  EXPECT_EQ(null.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(null.status().message()),
            "cannot publish a null policy");
  EXPECT_EQ(store.info()->generation, 2u);
}

TEST(PolicyStoreTest, ChecksUseTheLatestPublication) {
  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  ASSERT_TRUE(store.Publish(CompileText(kPolicyA)).ok());
  EXPECT_EQ(reader.Check(UserRequest("read")), kAnswersA.read);
  EXPECT_EQ(reader.Check(UserRequest("approve")), kAnswersA.approve);
  ASSERT_TRUE(store.Publish(CompileText(kPolicyB)).ok());
  EXPECT_EQ(reader.Check(UserRequest("read")), kAnswersB.read);
  EXPECT_EQ(reader.Check(UserRequest("approve")), kAnswersB.approve);
}

TEST(PolicyStoreTest, PrincipalOfAnOlderSnapshotFailsClosed) {
  PolicyStore store;
  const auto a = CompileText(kPolicyA);
  ASSERT_TRUE(store.Publish(a).ok());
  PolicyStore::Reader reader = store.NewReader();
  const Principal user = *a->BindEntityUser("u-1", "e-1", "", "c-1");
  const ActionId read = *a->FindAction("payable", "read");
  const EntityId entity = *a->FindEntity("e-1");
  EXPECT_EQ(reader.Check(user, read, entity), kAllowed);
  ASSERT_TRUE(store.Publish(CompileText(kPolicyB)).ok());
  EXPECT_EQ(reader.Check(user, read, entity), kStale);
  // Publishing A again makes its ids current again.
  ASSERT_TRUE(store.Publish(a).ok());
  EXPECT_EQ(reader.Check(user, read, entity), kAllowed);
}

TEST(PolicyStoreTest, LivePrincipalBindsAgainAfterASwap) {
  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  LivePrincipal user = LivePrincipal::EntityUser("u-1", "e-1", "", "c-1");
  LivePrincipal explicit_role =
      LivePrincipal::EntityUser("u-1", "e-1", "r-1", "");
  LivePrincipal partner = LivePrincipal::Partner("c-1");
  for (const auto& [text, answers] :
       {std::pair<absl::string_view, Answers>{kPolicyA, kAnswersA},
        {kPolicyB, kAnswersB},
        {kPolicyA, kAnswersA}}) {
    ASSERT_TRUE(store.Publish(CompileText(text)).ok());
    PolicyStore::ReadGuard policy = reader.Read();
    const ActionId read = *policy->FindAction("payable", "read");
    const ActionId approve = *policy->FindAction("payable", "approve");
    const EntityId entity = *policy->FindEntity("e-1");
    EXPECT_EQ(reader.Check(user, read, entity), answers.read);
    EXPECT_EQ(reader.Check(user, approve, entity), answers.approve);
    EXPECT_EQ(reader.Check(partner, approve, entity), answers.partner_approve);
    EXPECT_EQ(user.principal().snapshot(), policy->snapshot());
    // Its decision row is the new snapshot's, the one a fresh binding gets.
    EXPECT_EQ(
        user.principal().facts().decisions,
        policy->BindEntityUser("u-2", "e-1", "", "c-1")->facts().decisions);
    EXPECT_EQ(explicit_role.Bind(*policy), Reason::kGranted);
  }
  // A role that is gone denies with the binding's reason.
  ASSERT_TRUE(store.Publish(CompileText(kPolicyWithoutRole)).ok());
  PolicyStore::ReadGuard policy = reader.Read();
  const ActionId read = *policy->FindAction("payable", "read");
  const EntityId entity = *policy->FindEntity("e-1");
  EXPECT_EQ(reader.Check(explicit_role, read, entity),
            (Decision{Verdict::kNotAllowed, Reason::kUnknownRole}));
  EXPECT_EQ(reader.Check(partner, read, entity),
            (Decision{Verdict::kNotAllowed, Reason::kUnknownPrincipal}));
  EXPECT_EQ(reader.Check(user, read, entity),
            (Decision{Verdict::kNotAllowed, Reason::kUnknownPrincipal}));
}

// Empty names deny as invalid requests, as the check entirely by names does,
// even where the other names would bind (e-1 exists).
TEST(PolicyStoreTest, LivePrincipalWithAnEmptyNameIsAnInvalidRequest) {
  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  ASSERT_TRUE(store.Publish(CompileText(kPolicyA)).ok());
  PolicyStore::ReadGuard policy = reader.Read();
  const ActionId read = *policy->FindAction("payable", "read");
  const EntityId entity = *policy->FindEntity("e-1");
  for (LivePrincipal principal :
       {LivePrincipal::EntityUser("", "e-1", "", "c-1"),
        LivePrincipal::EntityUser("u-1", "", "", "c-1"),
        LivePrincipal::Partner("")}) {
    EXPECT_EQ(principal.Bind(*policy), Reason::kInvalidRequest);
    EXPECT_EQ(reader.Check(principal, read, entity),
              (Decision{Verdict::kNotAllowed, Reason::kInvalidRequest}));
  }
}

TEST(PolicyStoreTest, GuardPinsOneSnapshot) {
  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  const auto a = CompileText(kPolicyA);
  ASSERT_TRUE(store.Publish(a).ok());
  {
    PolicyStore::ReadGuard guard = reader.Read();
    ASSERT_TRUE(guard);
    EXPECT_EQ(guard.get(), a.get());
    EXPECT_EQ(guard.generation(), 1u);
    EXPECT_EQ(guard.info().digest, DigestOf(*a));
    EXPECT_EQ(guard.info().snapshot, a->snapshot());
    ASSERT_TRUE(store.Publish(CompileText(kPolicyB)).ok());
    // Everything through this reader stays on A while the guard lives.
    EXPECT_EQ(reader.Check(UserRequest("read")), kAnswersA.read);
    PolicyStore::ReadGuard nested = reader.Read();
    EXPECT_EQ(nested.get(), a.get());
    PolicyStore::ReadGuard moved = std::move(nested);
    EXPECT_EQ(moved.generation(), 1u);
    // Another reader sees B.
    PolicyStore::Reader other = store.NewReader();
    EXPECT_EQ(other.Check(UserRequest("read")), kAnswersB.read);
  }
  EXPECT_EQ(reader.Check(UserRequest("read")), kAnswersB.read);
  EXPECT_EQ(reader.Read().generation(), 2u);
}

TEST(PolicyStoreTest, ReplacedSnapshotsAreFreedOnceNoReaderHoldsThem) {
  PolicyStore store;
  std::weak_ptr<const CompiledPolicy> a;
  {
    std::shared_ptr<const CompiledPolicy> policy = CompileText(kPolicyA);
    a = policy;
    ASSERT_TRUE(store.Publish(std::move(policy)).ok());
  }
  PolicyStore::Reader busy = store.NewReader();
  PolicyStore::Reader idle = store.NewReader();
  EXPECT_EQ(busy.Check(UserRequest("read")), kAnswersA.read);
  EXPECT_EQ(idle.Check(UserRequest("read")), kAnswersA.read);

  ASSERT_TRUE(store.Publish(CompileText(kPolicyB)).ok());
  // Both readers still hold A until their next check.
  EXPECT_FALSE(a.expired());
  EXPECT_EQ(store.Reclaim(), 1u);
  EXPECT_EQ(busy.Check(UserRequest("read")), kAnswersB.read);
  EXPECT_EQ(store.Reclaim(), 1u);
  EXPECT_FALSE(a.expired());
  // The idle reader lets go when it is destroyed.
  { PolicyStore::Reader gone = std::move(idle); }
  EXPECT_EQ(store.Reclaim(), 0u);
  EXPECT_TRUE(a.expired());
}

TEST(PolicyStoreTest, ReaderSlotsAreReused) {
  PolicyStore store;
  ASSERT_TRUE(store.Publish(CompileText(kPolicyA)).ok());
  for (int i = 0; i < 100; ++i) {
    PolicyStore::Reader reader = store.NewReader();
    EXPECT_EQ(reader.Check(UserRequest("read")), kAnswersA.read);
  }
  PolicyStore::Reader a = store.NewReader();
  PolicyStore::Reader b = store.NewReader();
  a = std::move(b);
  EXPECT_EQ(a.Check(UserRequest("read")), kAnswersA.read);
}

TEST(PolicyStoreTest, ReaderMayOutliveTheStore) {
  auto store = std::make_unique<PolicyStore>();
  ASSERT_TRUE(store->Publish(CompileText(kPolicyA)).ok());
  PolicyStore::Reader reader = store->NewReader();
  store.reset();
  EXPECT_EQ(reader.Check(UserRequest("read")), kAnswersA.read);
}

TEST(PolicyStoreTest, ShadowThroughTheStore) {
  PolicyStore store;
  absl::StatusOr<std::shared_ptr<ShadowEvaluator>> none =
      store.StartShadow(CompileText(kPolicyB));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::string(none.status().message()),
            "no policy is published: there is nothing to shadow");

  ASSERT_TRUE(store.Publish(CompileText(kPolicyA)).ok());
  PolicyStore::Reader reader = store.NewReader();
  ShadowOptions options;
  options.sample_one_in = 2;
  absl::StatusOr<std::shared_ptr<ShadowEvaluator>> shadow =
      store.StartShadow(CompileText(kPolicyB), options);
  ASSERT_TRUE(shadow.ok()) << shadow.status();
  EXPECT_EQ(store.info()->generation, 1u);
  for (int i = 0; i < 10; ++i) {
    // The active policy answers.
    EXPECT_EQ(reader.Check(UserRequest("read")), kAnswersA.read);
  }
  EXPECT_EQ((*shadow)->Report().sampled, 5u);
  EXPECT_EQ((*shadow)->Report().disagreed, 5u);
  store.StopShadow();
  for (int i = 0; i < 10; ++i) reader.Check(UserRequest("read"));
  EXPECT_EQ((*shadow)->Report().sampled, 5u);

  // A publication ends a shadow.
  shadow = store.StartShadow(CompileText(kPolicyB));
  ASSERT_TRUE(shadow.ok());
  reader.Check(UserRequest("read"));
  ASSERT_TRUE(store.Publish(CompileText(kPolicyB)).ok());
  reader.Check(UserRequest("read"));
  EXPECT_EQ((*shadow)->Report().sampled, 1u);
}

// Readers race a writer that swaps A and B (and starts and stops shadows)
// thousands of times. Every answer must be the answer of exactly one of the
// two snapshots; inside a guard, the one its generation names (A is
// published at odd generations, B at even ones).
TEST(PolicyStoreTest, ConcurrentReadersSeeExactlyOneSnapshotPerCheck) {
#ifdef PORTCULLIS_SANITIZED
  constexpr int kSwaps = 2000;
#else
  constexpr int kSwaps = 20000;
#endif
  constexpr int kReaders = 3;
  const auto a = CompileText(kPolicyA);
  const auto b = CompileText(kPolicyB);
  PolicyStore store;
  ASSERT_TRUE(store.Publish(a).ok());
  const Principal user_a = *a->BindEntityUser("u-1", "e-1", "", "c-1");
  const ActionId read_a = *a->FindAction("payable", "read");
  const EntityId entity_a = *a->FindEntity("e-1");

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> checks{0};
  auto expect = [&](bool ok) {
    if (!ok) failures.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      PolicyStore::Reader reader = store.NewReader();
      LivePrincipal live = LivePrincipal::EntityUser("u-1", "e-1", "", "c-1");
      uint64_t last_generation = 0;
      uint64_t local = 0;
      while (!done.load(std::memory_order_acquire)) {
        // Unpinned: one of the two answers, never anything else.
        const Decision read = reader.Check(UserRequest("read"));
        expect(read == kAnswersA.read || read == kAnswersB.read);
        const Decision by_ids = reader.Check(user_a, read_a, entity_a);
        expect(by_ids == kAnswersA.read || by_ids == kStale);
        // Pinned: exactly the answers of the generation's policy.
        PolicyStore::ReadGuard guard = reader.Read();
        const bool is_a = guard.generation() % 2 == 1;
        const Answers& want = is_a ? kAnswersA : kAnswersB;
        expect(guard.get() == (is_a ? a.get() : b.get()));
        expect(guard.generation() >= last_generation);
        last_generation = guard.generation();
        expect(reader.Check(UserRequest("read")) == want.read);
        expect(reader.Check(UserRequest("approve")) == want.approve);
        expect(reader.Check(user_a, read_a, entity_a) ==
               (is_a ? kAnswersA.read : kStale));
        const ActionId approve = *guard->FindAction("payable", "approve");
        const EntityId entity = *guard->FindEntity("e-1");
        expect(reader.Check(live, approve, entity) == want.approve);
        local += 7;
        if (r == 0 && local % 700 == 0) std::this_thread::yield();
      }
      checks.fetch_add(local);
    });
  }
  for (int swap = 0; swap < kSwaps; ++swap) {
    ASSERT_TRUE(store.Publish(swap % 2 == 0 ? b : a).ok());
    if (swap % 100 == 0) {
      ASSERT_TRUE(store.StartShadow(swap % 200 == 0 ? a : b).ok());
    }
    if (swap % 100 == 50) store.StopShadow();
  }
  done.store(true, std::memory_order_release);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(checks.load(), 0u);
  EXPECT_EQ(store.info()->generation, static_cast<uint64_t>(kSwaps + 1));
  EXPECT_EQ(store.Reclaim(), 0u);
}

}  // namespace
}  // namespace portcullis
