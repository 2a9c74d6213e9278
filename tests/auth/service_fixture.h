// A token service over a small policy, a manual clock and in-memory stores,
// for the registry and token service tests.
#ifndef PORTCULLIS_TESTS_AUTH_SERVICE_FIXTURE_H_
#define PORTCULLIS_TESTS_AUTH_SERVICE_FIXTURE_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/clock.h"
#include "engine/auth/crypto.h"
#include "engine/auth/token_service.h"
#include "engine/auth/token_store.h"
#include "engine/auth/user_directory.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/compiled_policy.h"
#include "gtest/gtest.h"

namespace portcullis::auth::testing {

// 2024-01-31T11:20:00.123456789Z: not a round instant.
inline const absl::Time kStart = absl::FromUnixNanos(1'706'700'000'123'456'789);

// Partner p-1 owns e-1 and e-2, partner p-9 owns e-9.
//   c-backend   p-1, every entity, all:delete, 3 requests per 30 s
//   c-app       p-1, restricted to e-1, payable:write, no limit
//   c-other     p-9, all:read, 1000 per 600 s
inline constexpr char kPolicy[] = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
      actions { name: "delete" }
    }
    object_types {
      name: "entity"
      actions { name: "create" partner_only: true }
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
  entities { id: "e-2" partner_id: "p-1" default_role_id: "r-reader" }
  entities { id: "e-9" partner_id: "p-9" default_role_id: "r-reader" }
  credentials {
    client_id: "c-backend"
    partner_id: "p-1"
    name: "Backend"
    scopes: "all:delete"
    rate_limit { count: 3 interval_seconds: 30 }
  }
  credentials {
    client_id: "c-app"
    partner_id: "p-1"
    entity_ids: "e-1"
    name: "Accounts payable app"
    scopes: "payable:write"
  }
  credentials {
    client_id: "c-other"
    partner_id: "p-9"
    name: "Other partner"
    scopes: "all:read"
    rate_limit { count: 1000 interval_seconds: 600 }
  }
)pb";

// Compiles a policy in text format; fails the test on an error.
inline std::shared_ptr<const CompiledPolicy> CompileText(
    absl::string_view text) {
  absl::StatusOr<::portcullis::v1::PolicySet> set = ParsePolicyText(text);
  EXPECT_TRUE(set.ok()) << set.status();
  if (!set.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(*set);
  EXPECT_TRUE(policy.ok()) << policy.status();
  if (!policy.ok()) return nullptr;
  return std::shared_ptr<const CompiledPolicy>(*std::move(policy));
}

// Compiles kPolicy after `edit` changed it.
template <typename Edit>
std::shared_ptr<const CompiledPolicy> CompileEdited(Edit edit) {
  absl::StatusOr<::portcullis::v1::PolicySet> set = ParsePolicyText(kPolicy);
  EXPECT_TRUE(set.ok()) << set.status();
  if (!set.ok()) return nullptr;
  edit(*set);
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(*set);
  EXPECT_TRUE(policy.ok()) << policy.status();
  if (!policy.ok()) return nullptr;
  return std::shared_ptr<const CompiledPolicy>(*std::move(policy));
}

// Compiles a policy loaded from files (paths relative to the workspace).
inline std::shared_ptr<const CompiledPolicy> CompileFiles(
    const std::vector<std::string>& paths) {
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles(paths);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(loaded->policy);
  EXPECT_TRUE(policy.ok()) << policy.status();
  if (!policy.ok()) return nullptr;
  return std::shared_ptr<const CompiledPolicy>(*std::move(policy));
}

// A service with `policy` published. Users: u-ann (e-1, r-approver), u-bob
// (e-1, default role), u-cid (e-2, default role), u-dan (e-9, r-reader).
class ServiceFixture {
 public:
  explicit ServiceFixture(
      std::shared_ptr<const CompiledPolicy> policy = CompileText(kPolicy),
      const TokenServiceOptions& options = SmallCache())
      : clients_(SecretKey::Generate(), clock_) {
    EXPECT_TRUE(users_.SetUser("u-ann", {"e-1", "r-approver"}).ok());
    EXPECT_TRUE(users_.SetUser("u-bob", {"e-1", ""}).ok());
    EXPECT_TRUE(users_.SetUser("u-cid", {"e-2", ""}).ok());
    EXPECT_TRUE(users_.SetUser("u-dan", {"e-9", "r-reader"}).ok());
    absl::StatusOr<std::unique_ptr<TokenService>> service =
        TokenService::Create(options, SecretKey::Generate(), clients_, store_,
                             users_, clock_);
    EXPECT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    if (policy != nullptr) {
      const absl::Status set = service_->SetPolicy(std::move(policy));
      EXPECT_TRUE(set.ok()) << set;
    }
  }

  // Keeps test threads' caches small.
  static TokenServiceOptions SmallCache() {
    TokenServiceOptions options;
    options.cache_entries_per_thread = 64;
    return options;
  }

  ManualClock& clock() { return clock_; }
  ClientRegistry& clients() { return clients_; }
  InMemoryTokenStore& store() { return store_; }
  InMemoryUserDirectory& users() { return users_; }
  TokenService& service() { return *service_; }

  // Registers `client_id` and returns its secret; fails the test on error.
  std::string Register(absl::string_view client_id) {
    absl::StatusOr<std::string> secret = clients_.RegisterClient(client_id, "");
    EXPECT_TRUE(secret.ok()) << secret.status();
    return secret.ok() ? *secret : std::string();
  }

  // Issues a partner token (entity_user_id empty) or an entity-user token;
  // fails the test on error.
  IssuedTokens Issue(absl::string_view client_id, absl::string_view secret,
                     absl::string_view entity_user_id = "") {
    absl::StatusOr<IssuedTokens> issued = service_->IssueToken(
        {entity_user_id.empty() ? "client_credentials" : "entity_user",
         client_id, secret, entity_user_id});
    EXPECT_TRUE(issued.ok()) << issued.status();
    return issued.ok() ? *std::move(issued) : IssuedTokens();
  }

 private:
  ManualClock clock_{kStart};
  ClientRegistry clients_;
  InMemoryTokenStore store_;
  InMemoryUserDirectory users_;
  std::unique_ptr<TokenService> service_;
};

// "<code>: <message>", for comparing statuses in one expectation.
inline std::string Describe(const absl::Status& status) {
  return std::string(status.ToString());
}

}  // namespace portcullis::auth::testing

#endif  // PORTCULLIS_TESTS_AUTH_SERVICE_FIXTURE_H_
