// Decision rows (engine/snapshot/decision_rows.h): shared between principals
// of one combination (kind, scope row, role row), built once, counted in
// Stats(), never read through a principal of another snapshot, and built
// safely by concurrent binds.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/load/policy_loader.h"
#include "gtest/gtest.h"

namespace portcullis {
namespace {

// Two roles with different rows, two credentials with different scopes, one
// partner-only action.
constexpr absl::string_view kPolicy = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
    }
    object_types {
      name: "entity"
      actions { name: "update" partner_only: true }
    }
  }
  roles {
    id: "r-reader"
    name: "Reader"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
      }
    }
  }
  roles {
    id: "r-approver"
    name: "Approver"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED_FOR_OWN }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-reader" }
  entities { id: "e-2" partner_id: "p-1" }
  credentials { client_id: "c-read" partner_id: "p-1" scopes: "all:read" }
  credentials { client_id: "c-read-2" partner_id: "p-1" scopes: "all:read" }
  credentials { client_id: "c-all" partner_id: "p-1" scopes: "all" }
)pb";

std::unique_ptr<const CompiledPolicy> CompileText(absl::string_view text) {
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(text);
  EXPECT_TRUE(set.ok()) << set.status();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(*set);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

const Decision* RowOf(const Principal& principal) {
  return principal.facts().decisions;
}

TEST(DecisionRowsTest, NoRowBeforeABind) {
  const auto policy = CompileText(kPolicy);
  EXPECT_EQ(policy->Stats().decision_rows, 0u);
  EXPECT_EQ(policy->Stats().decision_row_bytes, 0u);
  // A check entirely by names binds without a row, and builds none.
  CheckRequestView view;
  view.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
  view.user_id = "u-1";
  view.user_entity_id = "e-1";
  view.object_type = "payable";
  view.action = "read";
  view.entity_id = "e-1";
  EXPECT_EQ(Check(*policy, view),
            (Decision{Verdict::kAllowed, Reason::kGranted}));
  EXPECT_EQ(policy->Stats().decision_rows, 0u);
}

TEST(DecisionRowsTest, PrincipalsOfOneCombinationShareARow) {
  const auto policy = CompileText(kPolicy);
  // Same role and same scope row: one row, whoever the user, whichever
  // credential of those scopes, whether the role is named or the default.
  const Principal a =
      *policy->BindEntityUser("u-1", "e-1", "r-reader", "c-read");
  const Principal b = *policy->BindEntityUser("u-2", "e-1", "", "c-read-2");
  EXPECT_EQ(RowOf(a), RowOf(b));
  EXPECT_EQ(policy->Stats().decision_rows, 1u);
  const size_t one_row_bytes = policy->Stats().decision_row_bytes;
  EXPECT_GT(one_row_bytes, 0u);
  // Another role, another scope row, a partner: each its own row.
  const Principal approver =
      *policy->BindEntityUser("u-1", "e-1", "r-approver", "c-read");
  const Principal all_scopes =
      *policy->BindEntityUser("u-1", "e-1", "r-reader", "c-all");
  const Principal partner = *policy->BindPartner("c-read");
  for (const Principal* other : {&approver, &all_scopes, &partner}) {
    EXPECT_NE(RowOf(*other), RowOf(a));
  }
  EXPECT_NE(RowOf(approver), RowOf(all_scopes));
  EXPECT_EQ(policy->Stats().decision_rows, 4u);
  // Partners of one scope row share theirs, whatever their credential.
  EXPECT_EQ(RowOf(*policy->BindPartner("c-read-2")), RowOf(partner));
  // A user whose role is unusable (e-2 has no default role) and one without
  // a credential read rows of their own combinations.
  const Principal no_role = *policy->BindEntityUser("u-3", "e-2", "", "");
  const Principal no_role_again = *policy->BindEntityUser("u-4", "e-2", "", "");
  EXPECT_EQ(RowOf(no_role), RowOf(no_role_again));
  EXPECT_EQ(policy->Stats().decision_rows, 5u);
  // Binding again reuses every row: the cache grows with combinations only.
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(RowOf(*policy->BindEntityUser(absl::StrCat("u-", i), "e-1", "",
                                            "c-read")),
              RowOf(a));
  }
  EXPECT_EQ(policy->Stats().decision_rows, 5u);
  // The rows are outside the snapshot's own figure.
  EXPECT_EQ(CompileText(kPolicy)->Stats().memory_bytes,
            policy->Stats().memory_bytes);
}

// Each row holds what the rules decide; checked entry by entry against the
// rules (Explain evaluates them) for every principal kind of the policy.
TEST(DecisionRowsTest, RowsDecideAsTheRules) {
  const auto policy = CompileText(kPolicy);
  struct Case {
    const char* name;
    absl::StatusOr<Principal> principal;
  };
  const Case cases[] = {
      {"reader", policy->BindEntityUser("u-1", "e-1", "", "c-read")},
      {"approver", policy->BindEntityUser("u-1", "e-1", "r-approver", "c-all")},
      {"no credential", policy->BindEntityUser("u-1", "e-1", "r-approver", "")},
      {"no role", policy->BindEntityUser("u-1", "e-2", "", "c-all")},
      {"partner read", policy->BindPartner("c-read")},
      {"partner all", policy->BindPartner("c-all")},
  };
  const ResourceRef own{*policy->FindEntity("e-1"), "u-1"};
  const ResourceRef others{*policy->FindEntity("e-1"), "u-2"};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(c.principal.ok()) << c.principal.status();
    for (const auto& [type, action] :
         {std::pair<const char*, const char*>{"payable", "read"},
          {"payable", "approve"},
          {"entity", "update"}}) {
      SCOPED_TRACE(absl::StrCat(type, ".", action));
      const ActionId id = *policy->FindAction(type, action);
      for (const char* entity : {"e-1", "e-2"}) {
        const EntityId e = *policy->FindEntity(entity);
        for (const ResourceRef* resource :
             {static_cast<const ResourceRef*>(nullptr), &own, &others}) {
          EXPECT_EQ(Check(*policy, *c.principal, id, e, resource),
                    Explain(*policy, *c.principal, id, e, resource).decision)
              << entity << (resource == nullptr ? "" : resource->created_by);
        }
      }
    }
  }
}

// A principal of a snapshot that is gone answers stale_snapshot without
// reading its row, which went with that snapshot: under AddressSanitizer a
// read would be a heap-use-after-free.
TEST(DecisionRowsTest, StalePrincipalIsRefusedWithoutReadingItsRow) {
  auto old_policy = CompileText(kPolicy);
  const Principal user = *old_policy->BindEntityUser("u-1", "e-1", "", "");
  const Principal partner = *old_policy->BindPartner("c-all");
  ASSERT_NE(RowOf(user), nullptr);
  old_policy.reset();  // frees the rows `user` and `partner` point at
  const auto policy = CompileText(kPolicy);
  const ActionId read = *policy->FindAction("payable", "read");
  const EntityId entity = *policy->FindEntity("e-1");
  const ResourceRef resource{entity, "u-1"};
  for (const Principal* principal : {&user, &partner}) {
    EXPECT_EQ(Check(*policy, *principal, read, entity),
              (Decision{Verdict::kNotAllowed, Reason::kStaleSnapshot}));
    EXPECT_EQ(Check(*policy, *principal, read, entity, &resource),
              (Decision{Verdict::kNotAllowed, Reason::kStaleSnapshot}));
    EXPECT_EQ(Check(*policy, *principal,
                    RequestNames{"payable", "read", "e-1", false, "", ""}),
              (Decision{Verdict::kNotAllowed, Reason::kStaleSnapshot}));
  }
  // A principal that was never bound has no row either.
  EXPECT_EQ(Check(*policy, Principal(), read, entity),
            (Decision{Verdict::kNotAllowed, Reason::kStaleSnapshot}));
}

// Threads bind principals of every combination at once (the first bind of a
// combination builds its row while others look it up) and check with them:
// one row per combination, and every decision the rules'. Run under
// ThreadSanitizer by CI.
TEST(DecisionRowsTest, ConcurrentBindsShareRowsSafely) {
  const auto policy = CompileText(kPolicy);
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  const char* roles[] = {"", "r-reader", "r-approver"};
  const char* clients[] = {"", "c-read", "c-read-2", "c-all"};
  const ActionId approve = *policy->FindAction("payable", "approve");
  const EntityId entity = *policy->FindEntity("e-1");
  const ResourceRef resource{entity, "u-1"};
  std::vector<std::vector<const Decision*>> seen(kThreads);
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        // Each thread walks the combinations in its own order.
        const int i = (round * (t + 1)) % 12;
        const Principal principal =
            i < 3 ? *policy->BindPartner(clients[1 + i])
                  : *policy->BindEntityUser("u-1", "e-1", roles[(i - 3) % 3],
                                            clients[(i - 3) / 3 % 4]);
        seen[t].push_back(RowOf(principal));
        if (Check(*policy, principal, approve, entity, &resource) !=
            Explain(*policy, principal, approve, entity, &resource).decision) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0);
  // Partners: 2 scope rows; users: 3 roles (two share a row) × 3 scope rows
  // (c-read and c-read-2 share one).
  EXPECT_LE(policy->Stats().decision_rows, 2u + 2u * 3u);
  // The same combination got the same row in every thread.
  const Principal reader = *policy->BindEntityUser("u-9", "e-1", "", "c-read");
  int readers = 0;
  for (const auto& rows : seen) {
    for (const Decision* row : rows) readers += row == RowOf(reader);
  }
  EXPECT_GT(readers, 0);
}

}  // namespace
}  // namespace portcullis
