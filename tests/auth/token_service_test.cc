#include "engine/auth/token_service.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/token_format.h"
#include "engine/auth/token_store.h"
#include "engine/evaluate/evaluator.h"
#include "gtest/gtest.h"
#include "proto/policy.pb.h"
#include "tests/auth/service_fixture.h"

namespace portcullis::auth {
namespace {

using testing::CompileEdited;
using testing::CompileText;
using testing::Describe;
using testing::kPolicy;
using testing::kStart;
using testing::ServiceFixture;

constexpr absl::Duration kHour = absl::Hours(1);
constexpr absl::Duration kThirtyDays = absl::Hours(24 * 30);

using GrantOr = absl::StatusOr<std::shared_ptr<const AccessGrant>>;

// "verdict/reason" of a check by names.
std::string CheckNames(const AccessGrant& grant, absl::string_view object_type,
                       absl::string_view action, absl::string_view entity,
                       absl::string_view created_by = "") {
  RequestNames request;
  request.object_type = object_type;
  request.action = action;
  request.entity_id = entity;
  if (!created_by.empty()) {
    request.has_resource = true;
    request.resource_entity_id = entity;
    request.resource_created_by = created_by;
  }
  const Decision d = Check(grant.policy(), grant.principal(), request);
  return absl::StrCat(VerdictName(d.verdict), "/", ReasonName(d.reason));
}

// A thread that runs tasks one at a time and stays alive, with its
// thread-local introspection caches, between them.
class Worker {
 public:
  Worker() : thread_([this] { Loop(); }) {}
  ~Worker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  // Runs `task` on the worker and waits until it is done.
  void Run(std::function<void()> task) {
    std::unique_lock<std::mutex> lock(mu_);
    task_ = std::move(task);
    wake_.notify_all();
    wake_.wait(lock, [this] { return task_ == nullptr; });
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || task_ != nullptr; });
      if (task_ == nullptr) return;
      task_();
      task_ = nullptr;
      wake_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::function<void()> task_;  // Guarded by mu_.
  bool stopping_ = false;       // Guarded by mu_.
  std::thread thread_;
};

// The status of introspecting `token` at `now`, "OK" when accepted.
std::string IntrospectStatus(const TokenService& service,
                             absl::string_view token, absl::Time now) {
  return Describe(service.Introspect(token, now).status());
}

// A token of the right shape that was never issued.
std::string NeverIssued() { return FormatToken(GenerateToken()); }

TEST(TokenServiceCreateTest, OptionErrors) {
  struct Case {
    const char* name;
    TokenServiceOptions options;
    const char* message;
  };
  auto with = [](auto mutate) {
    TokenServiceOptions options;
    mutate(options);
    return options;
  };
  const Case cases[] = {
      {"zero access lifetime",
       with([](auto& o) { o.access_token_ttl = absl::ZeroDuration(); }),
       "token service: access_token_ttl must be positive, got 0"},
      {"negative refresh lifetime",
       with([](auto& o) { o.refresh_token_ttl = -absl::Seconds(1); }),
       "token service: refresh_token_ttl must be positive, got -1s"},
      {"negative reuse interval",
       with([](auto& o) { o.refresh_reuse_interval = -absl::Seconds(1); }),
       "token service: refresh_reuse_interval must be in [0s, 60s], got -1s"},
      {"reuse interval over a minute",
       with([](auto& o) { o.refresh_reuse_interval = absl::Seconds(61); }),
       "token service: refresh_reuse_interval must be in [0s, 60s], got 1m1s"},
      {"cache too small", with([](auto& o) { o.cache_entries_per_thread = 3; }),
       "token service: cache_entries_per_thread must be in [4, 16777216], got "
       "3"},
      {"cache too large", with([](auto& o) {
         o.cache_entries_per_thread = (size_t{1} << 24) + 1;
       }),
       "token service: cache_entries_per_thread must be in [4, 16777216], got "
       "16777217"},
  };
  ManualClock clock;
  ClientRegistry clients(SecretKey::Generate(), clock);
  InMemoryTokenStore store;
  InMemoryUserDirectory users;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::unique_ptr<TokenService>> service =
        TokenService::Create(c.options, SecretKey::Generate(), clients, store,
                             users, clock);
    EXPECT_EQ(service.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(service.status().message(), c.message);
  }
}

TEST(TokenServiceTest, EveryEndpointWaitsForAPolicy) {
  ServiceFixture f(/*policy=*/nullptr);
  EXPECT_EQ(f.service().policy(), nullptr);
  const std::string token = NeverIssued();
  const std::string unavailable = "UNAVAILABLE: token service: no policy";
  EXPECT_EQ(
      Describe(f.service()
                   .IssueToken({"client_credentials", "c-backend", token, ""})
                   .status()),
      unavailable);
  EXPECT_EQ(Describe(f.service().Refresh(token).status()), unavailable);
  EXPECT_EQ(IntrospectStatus(f.service(), token, kStart), unavailable);
  EXPECT_FALSE(f.service().CheckRateLimit("c-backend", kStart).allowed);
  EXPECT_EQ(Describe(f.service().SetPolicy(nullptr)),
            "INVALID_ARGUMENT: token service: policy is null");
}

TEST(TokenServiceTest, ClientCredentialsGrant) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens issued = f.Issue("c-backend", secret);
  EXPECT_TRUE(ParseToken(issued.access_token).ok());
  EXPECT_TRUE(ParseToken(issued.refresh_token).ok());
  EXPECT_NE(issued.access_token, issued.refresh_token);
  EXPECT_EQ(issued.issued_at, kStart);
  EXPECT_EQ(issued.access_token_expires_at, kStart + kHour);
  EXPECT_EQ(issued.refresh_token_expires_at, kStart + kThirtyDays);
  EXPECT_EQ(issued.client_id, "c-backend");
  EXPECT_EQ(issued.grant, GrantKind::kPartner);
  EXPECT_TRUE(issued.user_id.empty());

  GrantOr grant = f.service().Introspect(issued.access_token, kStart);
  ASSERT_TRUE(grant.ok()) << grant.status();
  const AccessGrant& g = **grant;
  EXPECT_TRUE(g.principal().is_partner());
  EXPECT_EQ(g.principal().snapshot(), f.service().policy()->snapshot());
  EXPECT_EQ(&g.policy(), f.service().policy().get());
  EXPECT_EQ(g.client_id(), "c-backend");
  EXPECT_EQ(g.grant(), GrantKind::kPartner);
  EXPECT_EQ(g.issued_at(), kStart);
  EXPECT_EQ(g.expires_at(), kStart + kHour);
  // A partner token: every entity of its partner, no RBAC.
  EXPECT_EQ(CheckNames(g, "payable", "approve", "e-1"), "allowed/granted");
  EXPECT_EQ(CheckNames(g, "entity", "create", "e-2"), "allowed/granted");
  EXPECT_EQ(CheckNames(g, "payable", "read", "e-9"), "not_allowed/tenant");
  // The service's clock and the header form give the same answer.
  EXPECT_TRUE(f.service().Introspect(issued.access_token).ok());
  EXPECT_TRUE(
      f.service()
          .IntrospectHeader(absl::StrCat("Bearer ", issued.access_token))
          .ok());
}

TEST(TokenServiceTest, EntityUserGrant) {
  ServiceFixture f;
  const std::string secret = f.Register("c-app");
  const IssuedTokens ann = f.Issue("c-app", secret, "u-ann");
  EXPECT_EQ(ann.grant, GrantKind::kEntityUser);
  EXPECT_EQ(ann.user_id, "u-ann");
  EXPECT_EQ(ann.entity_id, "e-1");
  EXPECT_EQ(ann.role_id, "r-approver");

  GrantOr grant = f.service().Introspect(ann.access_token, kStart);
  ASSERT_TRUE(grant.ok()) << grant.status();
  const AccessGrant& g = **grant;
  EXPECT_TRUE(g.principal().is_entity_user());
  EXPECT_EQ(g.principal().user_id(), "u-ann");
  EXPECT_EQ(g.user_id(), "u-ann");
  EXPECT_EQ(g.entity_id(), "e-1");
  EXPECT_EQ(g.role_id(), "r-approver");
  // RBAC and ownership apply; the client's scope (payable:write) too.
  EXPECT_EQ(CheckNames(g, "payable", "approve", "e-1", "u-ann"),
            "allowed/ownership");
  EXPECT_EQ(CheckNames(g, "payable", "approve", "e-1", "u-bob"),
            "not_allowed/ownership");
  EXPECT_EQ(CheckNames(g, "payable", "delete", "e-1"), "not_allowed/scope");
  EXPECT_EQ(CheckNames(g, "entity", "create", "e-1"), "not_allowed/scope");
  EXPECT_EQ(CheckNames(g, "payable", "read", "e-2"), "not_allowed/tenant");

  // No role in the directory: the entity's default role.
  const IssuedTokens bob = f.Issue("c-app", secret, "u-bob");
  EXPECT_EQ(bob.role_id, "");
  GrantOr bob_grant = f.service().Introspect(bob.access_token, kStart);
  ASSERT_TRUE(bob_grant.ok()) << bob_grant.status();
  EXPECT_EQ(CheckNames(**bob_grant, "payable", "read", "e-1"),
            "allowed/granted");
  EXPECT_EQ(CheckNames(**bob_grant, "payable", "approve", "e-1", "u-bob"),
            "not_allowed/rbac");
}

TEST(TokenServiceTest, IssueTokenErrors) {
  ServiceFixture f;
  const std::string backend = f.Register("c-backend");
  const std::string app = f.Register("c-app");
  ASSERT_TRUE(f.users().SetUser("u-eve", {"e-404", ""}).ok());
  ASSERT_TRUE(f.users().SetUser("u-fay", {"e-1", "r-404"}).ok());
  std::string wrong = backend;
  wrong[35] = wrong[35] == '0' ? '1' : '0';
  const std::string long_type(100, 'x');
  const std::string invalid_credentials =
      "UNAUTHENTICATED: invalid client credentials";
  struct Case {
    const char* name;
    TokenRequest request;
    std::string expected;
  };
  const Case cases[] = {
      {"no grant type",
       {"", "c-backend", backend, ""},
       "INVALID_ARGUMENT: grant_type: missing"},
      {"unsupported grant type",
       {"password", "c-backend", backend, ""},
       "INVALID_ARGUMENT: grant_type: unsupported \"password\" (expected "
       "\"client_credentials\" or \"entity_user\")"},
      {"grant type quoted escaped",
       {"client_credentials\n", "c-backend", backend, ""},
       "INVALID_ARGUMENT: grant_type: unsupported \"client_credentials\\n\" "
       "(expected \"client_credentials\" or \"entity_user\")"},
      {"grant type quoted up to 64 bytes",
       {long_type, "c-backend", backend, ""},
       absl::StrCat("INVALID_ARGUMENT: grant_type: unsupported \"",
                    std::string(64, 'x'),
                    "\" (expected \"client_credentials\" or \"entity_user\")")},
      {"entity user without a user",
       {"entity_user", "c-backend", backend, ""},
       "INVALID_ARGUMENT: entity_user_id: required for grant_type "
       "\"entity_user\""},
      {"partner grant with a user",
       {"client_credentials", "c-backend", backend, "u-ann"},
       "INVALID_ARGUMENT: entity_user_id: not allowed with grant_type "
       "\"client_credentials\""},
      {"wrong secret",
       {"client_credentials", "c-backend", wrong, ""},
       invalid_credentials},
      {"another client's secret",
       {"client_credentials", "c-backend", app, ""},
       invalid_credentials},
      {"unknown client",
       {"client_credentials", "c-nobody", backend, ""},
       invalid_credentials},
      {"unregistered client",
       {"client_credentials", "c-other", backend, ""},
       invalid_credentials},
      {"malformed secret",
       {"client_credentials", "c-backend", "s3cr3t", ""},
       invalid_credentials},
      {"authentication before the user",
       {"entity_user", "c-backend", wrong, "u-nobody"},
       invalid_credentials},
      {"unknown user",
       {"entity_user", "c-backend", backend, "u-nobody"},
       "NOT_FOUND: entity_user_id: unknown user \"u-nobody\""},
      {"user of another partner",
       {"entity_user", "c-backend", backend, "u-dan"},
       "PERMISSION_DENIED: client \"c-backend\" may not issue tokens for user "
       "\"u-dan\": entity \"e-9\" belongs to another partner"},
      {"user outside the client's entities",
       {"entity_user", "c-app", app, "u-cid"},
       "PERMISSION_DENIED: client \"c-app\" may not issue tokens for user "
       "\"u-cid\": entity \"e-2\" is not among the client's entities"},
      {"user's entity not in the policy",
       {"entity_user", "c-backend", backend, "u-eve"},
       "FAILED_PRECONDITION: user \"u-eve\": unknown entity \"e-404\""},
      {"user's role not in the policy",
       {"entity_user", "c-backend", backend, "u-fay"},
       "FAILED_PRECONDITION: user \"u-fay\": unknown role \"r-404\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Describe(f.service().IssueToken(c.request).status()), c.expected);
  }
  // Nothing was stored by the failures.
  EXPECT_EQ(f.store().size(), 0u);
}

// The caller cannot tell the failures apart; the counters can.
TEST(TokenServiceTest, AuthenticationFailuresAreCountedByReason) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  std::string wrong = secret;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  (void)f.service().IssueToken({"client_credentials", "c-backend", wrong, ""});
  (void)f.service().IssueToken({"client_credentials", "c-backend", wrong, ""});
  (void)f.service().IssueToken({"client_credentials", "c-nobody", secret, ""});
  (void)f.service().IssueToken({"client_credentials", "c-other", secret, ""});
  (void)f.service().IssueToken({"client_credentials", "c-backend", "x", ""});
  f.Issue("c-backend", secret);
  const TokenServiceStats stats = f.service().Stats();
  auto count = [&](AuthFailure failure) {
    return stats.authentications[static_cast<size_t>(failure)];
  };
  EXPECT_EQ(count(AuthFailure::kNone), 1u);
  EXPECT_EQ(count(AuthFailure::kWrongSecret), 2u);
  EXPECT_EQ(count(AuthFailure::kUnknownClient), 1u);
  EXPECT_EQ(count(AuthFailure::kUnregisteredClient), 1u);
  EXPECT_EQ(count(AuthFailure::kMalformedSecret), 1u);
  EXPECT_EQ(count(AuthFailure::kRemovedClient), 0u);
  EXPECT_EQ(stats.tokens_issued, 1u);
}

// A token is valid while now < expiry: at the expiry instant it is expired,
// whether the introspection finds it in the cache or in the store.
TEST(TokenServiceTest, ExpiryIsExclusive) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens cached = f.Issue("c-backend", secret);
  const IssuedTokens fresh = f.Issue("c-backend", secret);
  const absl::Time expiry = kStart + kHour;
  ASSERT_EQ(cached.access_token_expires_at, expiry);

  EXPECT_EQ(IntrospectStatus(f.service(), cached.access_token, kStart), "OK");
  EXPECT_EQ(IntrospectStatus(f.service(), cached.access_token,
                             expiry - absl::Nanoseconds(1)),
            "OK");
  const std::string expired = "UNAUTHENTICATED: access token: expired";
  EXPECT_EQ(IntrospectStatus(f.service(), cached.access_token, expiry),
            expired);
  // First seen at the expiry instant: the store path says the same.
  EXPECT_EQ(IntrospectStatus(f.service(), fresh.access_token, expiry), expired);
  EXPECT_EQ(IntrospectStatus(f.service(), fresh.access_token,
                             expiry + absl::Hours(5)),
            expired);
  // And through the service's own clock.
  const IssuedTokens third = f.Issue("c-backend", secret);
  f.clock().Set(expiry - absl::Nanoseconds(1));
  EXPECT_TRUE(f.service().Introspect(third.access_token).ok());
  f.clock().Set(expiry);
  EXPECT_EQ(Describe(f.service().Introspect(third.access_token).status()),
            expired);

  // The refresh token lives 30 days, exclusive too.
  f.clock().Set(kStart + kThirtyDays - absl::Nanoseconds(1));
  EXPECT_TRUE(f.service().Refresh(cached.refresh_token).ok());
  f.clock().Set(kStart + kThirtyDays);
  EXPECT_EQ(Describe(f.service().Refresh(fresh.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: expired");
}

TEST(TokenServiceTest, LifetimesAreOptions) {
  TokenServiceOptions options = ServiceFixture::SmallCache();
  options.access_token_ttl = absl::Minutes(30);
  options.refresh_token_ttl = absl::Hours(24);
  ServiceFixture f(CompileText(kPolicy), options);
  const IssuedTokens issued = f.Issue("c-backend", f.Register("c-backend"));
  EXPECT_EQ(issued.access_token_expires_at, kStart + absl::Minutes(30));
  EXPECT_EQ(issued.refresh_token_expires_at, kStart + absl::Hours(24));
  EXPECT_NE(OAuthTokenJson(issued).find("\"expires_in\":1800,"),
            std::string::npos);
}

TEST(TokenServiceTest, RefreshRotatesThePair) {
  ServiceFixture f;
  const IssuedTokens first = f.Issue("c-backend", f.Register("c-backend"));
  f.clock().Advance(absl::Minutes(3));
  absl::StatusOr<IssuedTokens> second =
      f.service().Refresh(first.refresh_token);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->access_token, first.access_token);
  EXPECT_NE(second->refresh_token, first.refresh_token);
  // Both lifetimes start again at the refresh, as Monta's dates move.
  const absl::Time refreshed = kStart + absl::Minutes(3);
  EXPECT_EQ(second->issued_at, refreshed);
  EXPECT_EQ(second->access_token_expires_at, refreshed + kHour);
  EXPECT_EQ(second->refresh_token_expires_at, refreshed + kThirtyDays);
  EXPECT_EQ(second->client_id, "c-backend");
  EXPECT_EQ(second->grant, GrantKind::kPartner);

  EXPECT_EQ(IntrospectStatus(f.service(), second->access_token, refreshed),
            "OK");
  // The old access token is revoked by the refresh (as Hydra does), not
  // left alive until it runs out.
  EXPECT_EQ(IntrospectStatus(f.service(), first.access_token, refreshed),
            "UNAUTHENTICATED: access token: revoked");
  // The new refresh token refreshes in turn, and ends the second access
  // token, cached on this thread meanwhile.
  f.clock().Advance(absl::Minutes(3));
  absl::StatusOr<IssuedTokens> third =
      f.service().Refresh(second->refresh_token);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(IntrospectStatus(f.service(), second->access_token, refreshed),
            "UNAUTHENTICATED: access token: revoked");
  EXPECT_EQ(IntrospectStatus(f.service(), third->access_token, refreshed),
            "OK");
  EXPECT_EQ(f.service().Stats().tokens_issued, 3u);
}

// A refresh token presented twice was copied: the whole family goes, the
// tokens of the legitimate holder included.
TEST(TokenServiceTest, RefreshReuseRevokesTheFamily) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens first = f.Issue("c-backend", secret);
  const IssuedTokens unrelated = f.Issue("c-backend", secret);
  absl::StatusOr<IssuedTokens> second =
      f.service().Refresh(first.refresh_token);
  ASSERT_TRUE(second.ok()) << second.status();
  // Cached on this thread before the reuse.
  ASSERT_EQ(IntrospectStatus(f.service(), second->access_token, kStart), "OK");

  // At the end of the reuse interval: theft, not a race.
  f.clock().Advance(TokenServiceOptions().refresh_reuse_interval);
  EXPECT_EQ(Describe(f.service().Refresh(first.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: already used; its token family "
            "is revoked");
  const std::string revoked = "UNAUTHENTICATED: access token: revoked";
  EXPECT_EQ(IntrospectStatus(f.service(), first.access_token, kStart), revoked);
  EXPECT_EQ(IntrospectStatus(f.service(), second->access_token, kStart),
            revoked);
  EXPECT_EQ(Describe(f.service().Refresh(second->refresh_token).status()),
            "UNAUTHENTICATED: refresh token: revoked");
  // Presenting the spent token again changes nothing more.
  EXPECT_EQ(Describe(f.service().Refresh(first.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: revoked");
  // Another family of the same client is untouched.
  EXPECT_EQ(IntrospectStatus(f.service(), unrelated.access_token, kStart),
            "OK");
  EXPECT_TRUE(f.service().Refresh(unrelated.refresh_token).ok());
  EXPECT_EQ(f.service().Stats().refresh_reuses, 1u);
}

// Reuse of a spent refresh token is theft whatever else has become wrong with
// the token since (expired, its user or client gone): the family is revoked
// all the same, and the successor pair stops working.
TEST(TokenServiceTest, RefreshReuseRevokesTheFamilyWhateverElseIsWrong) {
  struct Case {
    const char* name;
    void (*after_rotation)(ServiceFixture& f);
    // The successor's access token at the end, as introspected.
    const char* successor_access;
  };
  const Case cases[] = {
      {"expired since",
       [](ServiceFixture& f) { f.clock().Set(kStart + kThirtyDays); },
       "UNAUTHENTICATED: access token: revoked"},
      {"user left the directory",
       [](ServiceFixture& f) { ASSERT_TRUE(f.users().RemoveUser("u-ann")); },
       "UNAUTHENTICATED: access token: revoked"},
      {"client removed from the policy",
       [](ServiceFixture& f) {
         ASSERT_TRUE(f.service()
                         .SetPolicy(CompileEdited([](v1::PolicySet& set) {
                           set.mutable_credentials()->DeleteSubrange(0, 1);
                         }))
                         .ok());
       },
       "UNAUTHENTICATED: access token: revoked"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ServiceFixture f;
    const IssuedTokens first =
        f.Issue("c-backend", f.Register("c-backend"), "u-ann");
    f.clock().Advance(absl::Minutes(1));
    absl::StatusOr<IssuedTokens> second =
        f.service().Refresh(first.refresh_token);
    ASSERT_TRUE(second.ok()) << second.status();
    c.after_rotation(f);
    f.clock().Advance(TokenServiceOptions().refresh_reuse_interval);
    EXPECT_EQ(Describe(f.service().Refresh(first.refresh_token).status()),
              "UNAUTHENTICATED: refresh token: already used; its token family "
              "is revoked");
    EXPECT_EQ(f.service().Stats().refresh_reuses, 1u);
    // The family went, in the store: the successor's tokens are revoked
    // (introspected while the access token is live; revocation is checked
    // before the client).
    EXPECT_EQ(
        IntrospectStatus(f.service(), second->access_token, second->issued_at),
        c.successor_access);
    EXPECT_EQ(Describe(f.service().Refresh(second->refresh_token).status()),
              "UNAUTHENTICATED: refresh token: revoked");
  }
}

// The reuse interval: a spent refresh token presented again less than
// refresh_reuse_interval after its rotation lost a race (a retry, two tabs,
// two replicas): refused alone, the family and the winner's pair intact. At
// or after the interval it is theft: the family goes. The clock is the
// service's (ManualClock), the rotation time the store's record.
TEST(TokenServiceTest, RefreshReuseInterval) {
  struct Case {
    const char* name;
    absl::Duration interval;
    absl::Duration reuse_after;  // the rotation
    bool family_revoked;
  };
  const Case cases[] = {
      {"at once", absl::Seconds(3), absl::ZeroDuration(), false},
      {"just inside", absl::Seconds(3), absl::Seconds(3) - absl::Nanoseconds(1),
       false},
      {"at the end", absl::Seconds(3), absl::Seconds(3), true},
      {"long after", absl::Seconds(3), absl::Minutes(30), true},
      {"clock behind the rotation", absl::Seconds(3), -absl::Seconds(1), false},
      {"interval 0, at once", absl::ZeroDuration(), absl::ZeroDuration(), true},
      {"interval 60 s, at 59 s", absl::Seconds(60), absl::Seconds(59), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TokenServiceOptions options = ServiceFixture::SmallCache();
    options.refresh_reuse_interval = c.interval;
    ServiceFixture f(CompileText(kPolicy), options);
    const IssuedTokens first = f.Issue("c-backend", f.Register("c-backend"));
    const absl::Time rotation = kStart + absl::Minutes(1);
    f.clock().Set(rotation);
    absl::StatusOr<IssuedTokens> winner =
        f.service().Refresh(first.refresh_token);
    ASSERT_TRUE(winner.ok()) << winner.status();
    f.clock().Set(rotation + c.reuse_after);

    const absl::Status reuse =
        f.service().Refresh(first.refresh_token).status();
    const absl::Time now = f.clock().Now();
    if (c.family_revoked) {
      EXPECT_EQ(Describe(reuse),
                "UNAUTHENTICATED: refresh token: already used; its token "
                "family is revoked");
      EXPECT_EQ(IntrospectStatus(f.service(), winner->access_token, now),
                "UNAUTHENTICATED: access token: revoked");
      EXPECT_EQ(Describe(f.service().Refresh(winner->refresh_token).status()),
                "UNAUTHENTICATED: refresh token: revoked");
      EXPECT_EQ(f.service().Stats().refresh_reuses, 1u);
      EXPECT_EQ(f.service().Stats().refresh_races, 0u);
    } else {
      EXPECT_EQ(Describe(reuse),
                "UNAUTHENTICATED: refresh token: already used by a "
                "concurrent refresh");
      EXPECT_EQ(f.service().Stats().refresh_reuses, 0u);
      EXPECT_EQ(f.service().Stats().refresh_races, 1u);
      // The winner's pair works: introspection, then its own refresh.
      EXPECT_EQ(IntrospectStatus(f.service(), winner->access_token, now), "OK");
      EXPECT_EQ(IntrospectStatus(f.service(), first.access_token, now),
                "UNAUTHENTICATED: access token: revoked")
          << "the spent pair's access token went with the rotation";
      f.clock().Set(std::max(now, rotation) + c.interval);
      // The same spent token once the interval is over: theft after all.
      EXPECT_EQ(Describe(f.service().Refresh(first.refresh_token).status()),
                "UNAUTHENTICATED: refresh token: already used; its token "
                "family is revoked");
      EXPECT_EQ(Describe(f.service().Refresh(winner->refresh_token).status()),
                "UNAUTHENTICATED: refresh token: revoked");
    }
  }
}

// Of concurrent refreshes with one token, exactly one wins, and keeps its new
// pair: the others lost a race within the reuse interval (the clock does not
// move), and are refused without revoking the family.
TEST(TokenServiceTest, ConcurrentRefreshesWithOneToken) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 20;
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    const IssuedTokens first = f.Issue("c-backend", secret);
    std::vector<absl::StatusOr<IssuedTokens>> results(
        kThreads, absl::UnknownError("not run"));
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) std::this_thread::yield();
        results[i] = f.service().Refresh(first.refresh_token);
      });
    }
    go.store(true);
    for (std::thread& thread : threads) thread.join();
    const IssuedTokens* winner = nullptr;
    for (const auto& result : results) {
      if (result.ok()) {
        EXPECT_EQ(winner, nullptr) << "two winners";
        winner = &*result;
      } else {
        EXPECT_EQ(Describe(result.status()),
                  "UNAUTHENTICATED: refresh token: already used by a "
                  "concurrent refresh");
      }
    }
    ASSERT_NE(winner, nullptr) << "no winner";
    EXPECT_EQ(IntrospectStatus(f.service(), winner->access_token, kStart),
              "OK");
    EXPECT_EQ(IntrospectStatus(f.service(), first.access_token, kStart),
              "UNAUTHENTICATED: access token: revoked");
    EXPECT_TRUE(f.service().Refresh(winner->refresh_token).ok());
  }
  EXPECT_EQ(f.service().Stats().refresh_races,
            static_cast<uint64_t>(kRounds * (kThreads - 1)));
  EXPECT_EQ(f.service().Stats().refresh_reuses, 0u);
}

TEST(TokenServiceTest, RefreshErrors) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens issued = f.Issue("c-backend", secret);
  const IssuedTokens revoked = f.Issue("c-backend", secret);
  ASSERT_TRUE(
      f.service().Revoke({"c-backend", secret, revoked.refresh_token}).ok());
  struct Case {
    const char* name;
    std::string token;
    const char* expected;
  };
  const Case cases[] = {
      {"malformed", "not-a-token",
       "UNAUTHENTICATED: refresh token: malformed: token: expected 36 "
       "characters, got 11"},
      {"unknown", NeverIssued(), "UNAUTHENTICATED: refresh token: unknown"},
      {"an access token", issued.access_token,
       "UNAUTHENTICATED: refresh token: an access token cannot be used to "
       "refresh"},
      {"revoked", revoked.refresh_token,
       "UNAUTHENTICATED: refresh token: revoked"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Describe(f.service().Refresh(c.token).status()), c.expected);
  }
}

// Entity-user tokens re-read the directory at each refresh.
TEST(TokenServiceTest, RefreshReadsTheUserAgain) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens first = f.Issue("c-backend", secret, "u-bob");
  ASSERT_TRUE(f.users().SetUser("u-bob", {"e-2", "r-approver"}).ok());
  absl::StatusOr<IssuedTokens> moved = f.service().Refresh(first.refresh_token);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->entity_id, "e-2");
  EXPECT_EQ(moved->role_id, "r-approver");
  GrantOr grant = f.service().Introspect(moved->access_token, kStart);
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(CheckNames(**grant, "payable", "approve", "e-2", "u-bob"),
            "allowed/ownership");
  // The old access token went with the refresh token it was issued with:
  // the new entity and role apply at once.
  EXPECT_EQ(IntrospectStatus(f.service(), first.access_token, kStart),
            "UNAUTHENTICATED: access token: revoked");

  // A user who left the directory cannot refresh, and the family goes: if
  // the user id returns (another person, say), the old tokens stay dead.
  ASSERT_TRUE(f.users().RemoveUser("u-bob"));
  EXPECT_EQ(Describe(f.service().Refresh(moved->refresh_token).status()),
            "NOT_FOUND: entity_user_id: unknown user \"u-bob\"");
  ASSERT_TRUE(f.users().SetUser("u-bob", {"e-1", ""}).ok());
  EXPECT_EQ(Describe(f.service().Refresh(moved->refresh_token).status()),
            "UNAUTHENTICATED: refresh token: revoked");
  EXPECT_EQ(IntrospectStatus(f.service(), moved->access_token, kStart),
            "UNAUTHENTICATED: access token: revoked");
}

// Logout everywhere: every token of one entity user, through every client,
// cached or not; other users' tokens and later tokens are untouched.
TEST(TokenServiceTest, RevokeUserTokensEndsEveryTokenOfTheUser) {
  ServiceFixture f;
  const std::string backend = f.Register("c-backend");
  const std::string app = f.Register("c-app");
  const IssuedTokens ann_backend = f.Issue("c-backend", backend, "u-ann");
  const IssuedTokens ann_app = f.Issue("c-app", app, "u-ann");
  const IssuedTokens bob = f.Issue("c-app", app, "u-bob");
  const IssuedTokens partner = f.Issue("c-backend", backend);
  ASSERT_EQ(IntrospectStatus(f.service(), ann_backend.access_token, kStart),
            "OK");  // cached

  ASSERT_TRUE(f.service().RevokeUserTokens("u-ann").ok());
  EXPECT_EQ(f.store().UserRevocation("u-ann").value_or(0), 1u);
  const std::string revoked =
      "UNAUTHENTICATED: access token: revoked with every token of user "
      "\"u-ann\"";
  EXPECT_EQ(IntrospectStatus(f.service(), ann_backend.access_token, kStart),
            revoked);
  EXPECT_EQ(IntrospectStatus(f.service(), ann_app.access_token, kStart),
            revoked);
  EXPECT_EQ(Describe(f.service().Refresh(ann_app.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: revoked with every token of user "
            "\"u-ann\"");
  EXPECT_EQ(IntrospectStatus(f.service(), bob.access_token, kStart), "OK");
  EXPECT_EQ(IntrospectStatus(f.service(), partner.access_token, kStart), "OK");
  const IssuedTokens again = f.Issue("c-app", app, "u-ann");
  EXPECT_EQ(IntrospectStatus(f.service(), again.access_token, kStart), "OK");
  EXPECT_TRUE(f.service().Refresh(again.refresh_token).ok());
  EXPECT_EQ(Describe(f.service().RevokeUserTokens("")),
            "INVALID_ARGUMENT: user_id: empty");
}

TEST(TokenServiceTest, RevokeAnAccessToken) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens issued = f.Issue("c-backend", secret);
  const IssuedTokens other = f.Issue("c-backend", secret);
  // Cached before the revocation: the cache must not outlive it.
  ASSERT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
  ASSERT_EQ(IntrospectStatus(f.service(), other.access_token, kStart), "OK");

  absl::StatusOr<RevokeResult> result =
      f.service().Revoke({"c-backend", secret, issued.access_token});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->found);
  EXPECT_EQ(result->kind, TokenKind::kAccess);
  EXPECT_EQ(result->tokens_revoked, 1u);
  EXPECT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart),
            "UNAUTHENTICATED: access token: revoked");
  // Only that token: its refresh token and other tokens still work.
  EXPECT_EQ(IntrospectStatus(f.service(), other.access_token, kStart), "OK");
  EXPECT_TRUE(f.service().Refresh(issued.refresh_token).ok());
  // Revoking again is harmless.
  result = f.service().Revoke({"c-backend", secret, issued.access_token});
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->found);
  EXPECT_EQ(result->tokens_revoked, 0u);
  EXPECT_EQ(RevokeJson(*result), R"({"message":"ok"})");
}

// RFC 7009 §2.1: revoking a refresh token revokes the access tokens issued
// with it.
TEST(TokenServiceTest, RevokeARefreshTokenRevokesItsFamily) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens first = f.Issue("c-backend", secret);
  absl::StatusOr<IssuedTokens> second =
      f.service().Refresh(first.refresh_token);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(IntrospectStatus(f.service(), second->access_token, kStart), "OK");
  absl::StatusOr<RevokeResult> result =
      f.service().Revoke({"c-backend", secret, second->refresh_token});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->kind, TokenKind::kRefresh);
  // Both pairs, but for the first access token: the refresh revoked it.
  EXPECT_EQ(result->tokens_revoked, 3u);
  for (const std::string& token : {first.access_token, second->access_token}) {
    EXPECT_EQ(IntrospectStatus(f.service(), token, kStart),
              "UNAUTHENTICATED: access token: revoked");
  }
  EXPECT_EQ(Describe(f.service().Refresh(second->refresh_token).status()),
            "UNAUTHENTICATED: refresh token: revoked");
}

TEST(TokenServiceTest, RevokeErrors) {
  ServiceFixture f;
  const std::string backend = f.Register("c-backend");
  const std::string app = f.Register("c-app");
  const IssuedTokens issued = f.Issue("c-backend", backend);
  std::string wrong = backend;
  wrong[10] = wrong[10] == 'f' ? 'e' : 'f';
  EXPECT_EQ(Describe(f.service()
                         .Revoke({"c-backend", wrong, issued.access_token})
                         .status()),
            "UNAUTHENTICATED: invalid client credentials");
  EXPECT_EQ(
      Describe(
          f.service().Revoke({"c-app", app, issued.access_token}).status()),
      "PERMISSION_DENIED: token: issued to another client");
  EXPECT_EQ(Describe(f.service().Revoke({"c-app", app, "abc"}).status()),
            "INVALID_ARGUMENT: token: malformed: token: expected 36 "
            "characters, got 3");
  // An unknown token is not an error (RFC 7009 §2.2).
  absl::StatusOr<RevokeResult> unknown =
      f.service().Revoke({"c-app", app, NeverIssued()});
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_FALSE(unknown->found);
  EXPECT_EQ(unknown->tokens_revoked, 0u);
  // Nothing above touched the token.
  EXPECT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
}

TEST(TokenServiceTest, IntrospectErrors) {
  ServiceFixture f;
  const IssuedTokens issued = f.Issue("c-backend", f.Register("c-backend"));
  const std::string& token = issued.access_token;
  const std::string malformed = "UNAUTHENTICATED: access token: malformed: ";
  struct Case {
    const char* name;
    std::string token;
    std::string expected;
  };
  const Case cases[] = {
      {"the token", token, "OK"},
      {"upper case", absl::AsciiStrToUpper(token), "OK"},
      {"empty", "", malformed + "token: expected 36 characters, got 0"},
      {"truncated", token.substr(0, 35),
       malformed + "token: expected 36 characters, got 35"},
      {"dash missing", token.substr(0, 8) + "0" + token.substr(9),
       malformed + "token: expected '-' at position 8"},
      {"not hex", "g" + token.substr(1),
       malformed + "token: invalid character 'g' at position 0"},
      {"never issued", NeverIssued(), "UNAUTHENTICATED: access token: unknown"},
      {"a refresh token", issued.refresh_token,
       "UNAUTHENTICATED: access token: a refresh token cannot be used as an "
       "access token"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(IntrospectStatus(f.service(), c.token, kStart), c.expected);
    // The lending form answers the same, with the grant the cache holds.
    absl::StatusOr<const AccessGrant*> lent =
        f.service().IntrospectLent(c.token, kStart);
    EXPECT_EQ(Describe(lent.status()), c.expected);
    if (lent.ok()) {
      GrantOr shared = f.service().Introspect(c.token, kStart);
      ASSERT_TRUE(shared.ok());
      EXPECT_EQ(*lent, shared->get());
    }
  }
  const Case headers[] = {
      {"the header", "Bearer " + token, "OK"},
      {"scheme in any case", "bEARER " + absl::AsciiStrToUpper(token), "OK"},
      {"empty", "", malformed + "authorization: missing scheme"},
      {"token alone", token, malformed + "authorization: missing scheme"},
      {"another scheme", "Basic " + token,
       malformed + "authorization: wrong scheme, expected 'Bearer'"},
      {"no token", "Bearer", malformed + "authorization: empty token"},
      {"two spaces", "Bearer  " + token,
       malformed + "authorization: unexpected whitespace at position 7"},
      {"space inside the token",
       "Bearer " + token.substr(0, 10) + " " + token.substr(11),
       malformed + "authorization: unexpected whitespace at position 17"},
      {"trailing newline", "Bearer " + token + "\n",
       malformed + "authorization: unexpected whitespace at position 43"},
      {"short token", "Bearer abc",
       malformed + "token: expected 36 characters, got 3"},
      {"bad character, fast path length", "Bearer " + token.substr(0, 35) + "z",
       malformed + "token: invalid character 'z' at position 35"},
      {"Bearer-like scheme", "Bearex " + token,
       malformed + "authorization: wrong scheme, expected 'Bearer'"},
      // 0x02 | 0x20 is '"', not 'b': only letters are lowered.
      {"control character in the scheme",
       "\x02"
       "earer " +
           token,
       malformed + "authorization: wrong scheme, expected 'Bearer'"},
      {"tab after the scheme", "Bearer\t" + token,
       malformed + "authorization: unexpected whitespace at position 6"},
      {"never issued", "Bearer " + NeverIssued(),
       "UNAUTHENTICATED: access token: unknown"},
  };
  for (const Case& c : headers) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Describe(f.service().IntrospectHeader(c.token, kStart).status()),
              c.expected);
    absl::StatusOr<const AccessGrant*> lent =
        f.service().IntrospectHeaderLent(c.token, kStart);
    EXPECT_EQ(Describe(lent.status()), c.expected);
    if (lent.ok()) {
      GrantOr shared = f.service().IntrospectHeader(c.token, kStart);
      ASSERT_TRUE(shared.ok());
      EXPECT_EQ(*lent, shared->get());
    }
  }
}

// Issue 14's reproduction: a transient policy without the clients (a
// half-written file) suspends them: while absent they can neither get nor
// use tokens, but when the original policy returns, the old secrets
// authenticate and the earlier tokens introspect and refresh again.
TEST(TokenServiceTest, PolicyWithoutTheClientsSuspendsThemUntilTheyReturn) {
  ServiceFixture f;
  const std::string app_secret = f.Register("c-app");
  const std::string backend_secret = f.Register("c-backend");
  const IssuedTokens app = f.Issue("c-app", app_secret, "u-ann");
  const IssuedTokens backend = f.Issue("c-backend", backend_secret);
  ASSERT_EQ(IntrospectStatus(f.service(), app.access_token, kStart), "OK");
  ASSERT_EQ(IntrospectStatus(f.service(), backend.access_token, kStart), "OK");

  f.clock().Advance(absl::Minutes(1));
  const absl::Time now = f.clock().Now();
  ASSERT_TRUE(f.service()
                  .SetPolicy(CompileEdited([](v1::PolicySet& set) {
                    set.mutable_credentials()->DeleteSubrange(0, 2);
                  }))
                  .ok());
  EXPECT_EQ(IntrospectStatus(f.service(), app.access_token, now),
            "UNAUTHENTICATED: access token: client \"c-app\" is no longer in "
            "the policy");
  EXPECT_EQ(IntrospectStatus(f.service(), backend.access_token, now),
            "UNAUTHENTICATED: access token: client \"c-backend\" is no longer "
            "in the policy");
  EXPECT_EQ(Describe(f.service().Refresh(app.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: client \"c-app\" is no longer in "
            "the policy");
  EXPECT_EQ(
      Describe(f.service()
                   .IssueToken({"entity_user", "c-app", app_secret, "u-ann"})
                   .status()),
      "UNAUTHENTICATED: invalid client credentials");
  EXPECT_EQ(Describe(f.service()
                         .IssueToken({"client_credentials", "c-backend",
                                      backend_secret, ""})
                         .status()),
            "UNAUTHENTICATED: invalid client credentials");
  EXPECT_EQ(f.service().Stats().authentications[static_cast<size_t>(
                AuthFailure::kSuspendedClient)],
            2u);
  EXPECT_EQ(f.clients().Find("c-app")->state, ClientState::kSuspended);

  // The original policy again: same secrets, same tokens.
  f.clock().Advance(absl::Minutes(1));
  ASSERT_TRUE(f.service().SetPolicy(CompileText(kPolicy)).ok());
  EXPECT_EQ(IntrospectStatus(f.service(), app.access_token, f.clock().Now()),
            "OK");
  EXPECT_EQ(
      IntrospectStatus(f.service(), backend.access_token, f.clock().Now()),
      "OK");
  EXPECT_TRUE(f.service()
                  .IssueToken({"entity_user", "c-app", app_secret, "u-ann"})
                  .ok());
  EXPECT_TRUE(
      f.service()
          .IssueToken({"client_credentials", "c-backend", backend_secret, ""})
          .ok());
  EXPECT_TRUE(f.service().Refresh(app.refresh_token).ok());
}

// An operator's RemoveClient is what destroys a secret: the client's tokens
// are dead for good, and if it is registered again it needs a new secret.
TEST(TokenServiceTest, RemoveClientEndsTheSecretAndTokensForGood) {
  ServiceFixture f;
  const std::string secret = f.Register("c-app");
  const IssuedTokens issued = f.Issue("c-app", secret, "u-ann");
  ASSERT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
  f.clock().Advance(absl::Minutes(1));
  ASSERT_TRUE(f.clients().RemoveClient("c-app").ok());
  const std::string dead =
      "UNAUTHENTICATED: access token: revoked with every earlier token of "
      "client \"c-app\"";
  EXPECT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), dead);
  EXPECT_EQ(Describe(f.service()
                         .IssueToken({"entity_user", "c-app", secret, "u-ann"})
                         .status()),
            "UNAUTHENTICATED: invalid client credentials");
  const std::string new_secret = f.Register("c-app");
  const IssuedTokens fresh = f.Issue("c-app", new_secret, "u-ann");
  EXPECT_EQ(IntrospectStatus(f.service(), fresh.access_token, f.clock().Now()),
            "OK");
  EXPECT_EQ(IntrospectStatus(f.service(), issued.access_token, f.clock().Now()),
            dead);

  // An operator's suspension refuses the tokens while it lasts.
  ASSERT_TRUE(f.clients().SuspendClient("c-app").ok());
  EXPECT_EQ(IntrospectStatus(f.service(), fresh.access_token, f.clock().Now()),
            "UNAUTHENTICATED: access token: client \"c-app\" is suspended");
  ASSERT_TRUE(f.clients().ResumeClient("c-app").ok());
  EXPECT_EQ(IntrospectStatus(f.service(), fresh.access_token, f.clock().Now()),
            "OK");
}

// The grace period is enforced by the service's periodic maintenance.
TEST(TokenServiceTest, RemoveExpiredTokensRemovesLongAbsentClients) {
  ServiceFixture f;
  const std::string secret = f.Register("c-app");
  const IssuedTokens issued = f.Issue("c-app", secret, "u-ann");
  ASSERT_TRUE(f.service()
                  .SetPolicy(CompileEdited([](v1::PolicySet& set) {
                    set.mutable_credentials()->DeleteSubrange(1, 1);  // c-app
                  }))
                  .ok());
  f.clock().Advance(absl::Hours(24 * 30));
  (void)f.service().RemoveExpiredTokens();
  EXPECT_EQ(f.clients().Find("c-app")->state, ClientState::kRemoved);
  ASSERT_TRUE(f.service().SetPolicy(CompileText(kPolicy)).ok());
  EXPECT_EQ(f.clients().Find("c-app")->state, ClientState::kUnregistered);
  EXPECT_EQ(Describe(f.service()
                         .IssueToken({"entity_user", "c-app", secret, "u-ann"})
                         .status()),
            "UNAUTHENTICATED: invalid client credentials");
}

// Cached grants are re-bound to a new snapshot on their next use; a grant
// already handed out stays bound to (and keeps alive) its own.
TEST(TokenServiceTest, PolicySwapRebindsCachedTokens) {
  ServiceFixture f;
  const IssuedTokens issued = f.Issue("c-backend", f.Register("c-backend"));
  GrantOr before = f.service().Introspect(issued.access_token, kStart);
  ASSERT_TRUE(before.ok());
  const uint32_t old_snapshot = (*before)->policy().snapshot();

  // The new policy drops scope delete from c-backend.
  ASSERT_TRUE(f.service()
                  .SetPolicy(CompileEdited([](v1::PolicySet& set) {
                    set.mutable_credentials(0)->set_scopes(0, "all:write");
                  }))
                  .ok());
  GrantOr after = f.service().Introspect(issued.access_token, kStart);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE((*after)->policy().snapshot(), old_snapshot);
  EXPECT_EQ((*after)->principal().snapshot(), (*after)->policy().snapshot());
  EXPECT_EQ(&(*after)->policy(), f.service().policy().get());
  EXPECT_EQ(CheckNames(**after, "payable", "delete", "e-1"),
            "not_allowed/scope");
  EXPECT_EQ(CheckNames(**before, "payable", "delete", "e-1"),
            "allowed/granted");
  // A principal checked against the wrong snapshot fails closed.
  RequestNames read;
  read.object_type = "payable";
  read.action = "read";
  read.entity_id = "e-1";
  EXPECT_EQ(Check((*after)->policy(), (*before)->principal(), read).reason,
            Reason::kStaleSnapshot);
}

TEST(TokenServiceTest, EntityOrRoleLeavesThePolicy) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens cid = f.Issue("c-backend", secret, "u-cid");  // e-2
  const IssuedTokens ann = f.Issue("c-backend", secret, "u-ann");  // r-approver
  ASSERT_EQ(IntrospectStatus(f.service(), cid.access_token, kStart), "OK");
  ASSERT_TRUE(f.service()
                  .SetPolicy(CompileEdited([](v1::PolicySet& set) {
                    set.mutable_entities()->DeleteSubrange(1, 1);  // e-2
                    set.mutable_roles()->DeleteSubrange(1, 1);     // r-approver
                  }))
                  .ok());
  EXPECT_EQ(IntrospectStatus(f.service(), cid.access_token, kStart),
            "UNAUTHENTICATED: access token: no longer valid in the policy: "
            "unknown entity \"e-2\"");
  EXPECT_EQ(IntrospectStatus(f.service(), ann.access_token, kStart),
            "UNAUTHENTICATED: access token: no longer valid in the policy: "
            "unknown role \"r-approver\"");
}

TEST(TokenServiceTest, RevokingAClientsTokensReachesCachedTokens) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens issued = f.Issue("c-backend", secret);
  ASSERT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
  ASSERT_TRUE(f.clients().RevokeTokens("c-backend").ok());
  EXPECT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart),
            "UNAUTHENTICATED: access token: revoked with every earlier token "
            "of client \"c-backend\"");
  EXPECT_EQ(Describe(f.service().Refresh(issued.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: revoked with every earlier token "
            "of client \"c-backend\"");
  // A token issued right after, in the same clock tick, is valid.
  const IssuedTokens after = f.Issue("c-backend", secret);
  EXPECT_EQ(after.issued_at, kStart);
  EXPECT_EQ(IntrospectStatus(f.service(), after.access_token, kStart), "OK");
}

// Issue 14: a token issued while the clock was an hour ahead survived
// RevokeTokens once the clock was corrected (its issue time was after the
// wall-clock revocation instant). The counter revokes it whatever its date.
TEST(TokenServiceTest, RevocationHoldsForTokensIssuedWhileTheClockWasAhead) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  f.clock().Set(kStart + kHour);  // ahead
  const IssuedTokens ahead = f.Issue("c-backend", secret);
  f.clock().Set(kStart);  // corrected
  ASSERT_TRUE(f.clients().RevokeTokens("c-backend").ok());
  const absl::Time later = kStart + absl::Hours(1) + absl::Minutes(1);
  EXPECT_EQ(IntrospectStatus(f.service(), ahead.access_token, later),
            "UNAUTHENTICATED: access token: revoked with every earlier token "
            "of client \"c-backend\"");
  f.clock().Set(later);
  EXPECT_EQ(Describe(f.service().Refresh(ahead.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: revoked with every earlier token "
            "of client \"c-backend\"");
}

// A token dated beyond the leeway (issued_at_leeway, default 5 minutes)
// after now was issued by a clock that was ahead: refused.
TEST(TokenServiceTest, TokensIssuedInTheFutureAreRefused) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  f.clock().Set(kStart + kHour);
  const IssuedTokens ahead = f.Issue("c-backend", secret);
  const IssuedTokens near = f.Issue("c-backend", secret);
  EXPECT_EQ(IntrospectStatus(f.service(), ahead.access_token,
                             kStart + absl::Minutes(54)),
            "UNAUTHENTICATED: access token: issued in the future (the clock "
            "stepped back?)");
  EXPECT_EQ(IntrospectStatus(f.service(), near.access_token,
                             kStart + absl::Minutes(55)),
            "OK");
  f.clock().Set(kStart);
  EXPECT_EQ(Describe(f.service().Refresh(ahead.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: issued in the future (the clock "
            "stepped back?)");
}

// A client removed and registered again: its old tokens stay dead even if
// the clock stepped back in between (they were dated by time before).
TEST(TokenServiceTest, RemovedAndReturnedClientsOldTokensStayDead) {
  ServiceFixture f;
  const IssuedTokens old = f.Issue("c-app", f.Register("c-app"), "u-ann");
  ASSERT_TRUE(f.clients().RemoveClient("c-app").ok());
  f.clock().Set(kStart - kHour);
  const std::string secret = f.Register("c-app");
  f.clock().Set(kStart);
  EXPECT_EQ(IntrospectStatus(f.service(), old.access_token, kStart),
            "UNAUTHENTICATED: access token: revoked with every earlier token "
            "of client \"c-app\"");
  EXPECT_EQ(
      IntrospectStatus(f.service(),
                       f.Issue("c-app", secret, "u-ann").access_token, kStart),
      "OK");
}

// A token once seen expired stays expired after a clock step back, whether
// it was seen from the cache, from the store, or at refresh.
TEST(TokenServiceTest, ExpiredStaysExpiredAfterAClockStepBack) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens cached = f.Issue("c-backend", secret);
  const IssuedTokens fresh = f.Issue("c-backend", secret);
  const absl::Time expiry = kStart + kHour;
  ASSERT_EQ(IntrospectStatus(f.service(), cached.access_token, kStart), "OK");
  Worker other;  // a thread that cached the token too
  other.Run([&] {
    EXPECT_EQ(IntrospectStatus(f.service(), cached.access_token, kStart), "OK");
  });
  EXPECT_EQ(IntrospectStatus(f.service(), cached.access_token, expiry),
            "UNAUTHENTICATED: access token: expired");
  EXPECT_EQ(IntrospectStatus(f.service(), fresh.access_token, expiry),
            "UNAUTHENTICATED: access token: expired");
  // The clock steps back: still refused, here and on the other thread.
  const absl::Time back = expiry - absl::Minutes(10);
  EXPECT_EQ(IntrospectStatus(f.service(), cached.access_token, back),
            "UNAUTHENTICATED: access token: revoked");
  EXPECT_EQ(IntrospectStatus(f.service(), fresh.access_token, back),
            "UNAUTHENTICATED: access token: revoked");
  other.Run([&] {
    EXPECT_EQ(IntrospectStatus(f.service(), cached.access_token, back),
              "UNAUTHENTICATED: access token: revoked");
  });
  // A refresh token seen expired, then the clock back.
  f.clock().Set(kStart + kThirtyDays);
  EXPECT_EQ(Describe(f.service().Refresh(fresh.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: expired");
  f.clock().Set(kStart + kThirtyDays - kHour);
  EXPECT_EQ(Describe(f.service().Refresh(fresh.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: revoked");
}

// c-backend: 3 requests per 30 s, so a burst of 3 and then one per 10 s.
TEST(TokenServiceTest, RateLimitsThroughTheService) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  GrantOr grant =
      f.service().Introspect(f.Issue("c-backend", secret).access_token, kStart);
  ASSERT_TRUE(grant.ok());
  for (int i = 0; i < 3; ++i) {
    const RateDecision d = f.service().CheckRateLimit(**grant, kStart);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, static_cast<uint32_t>(2 - i));
  }
  RateDecision refused = f.service().CheckRateLimit(**grant, kStart);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, absl::Seconds(10));
  // One nanosecond short of the window edge: still refused, by exactly that.
  refused = f.service().CheckRateLimit(
      **grant, kStart + absl::Seconds(10) - absl::Nanoseconds(1));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, absl::Nanoseconds(1));
  // At the edge: allowed, and the next is refused again.
  EXPECT_TRUE(
      f.service().CheckRateLimit(**grant, kStart + absl::Seconds(10)).allowed);
  EXPECT_FALSE(
      f.service().CheckRateLimit(**grant, kStart + absl::Seconds(10)).allowed);
  // By client id: the same limiter.
  EXPECT_FALSE(f.service()
                   .CheckRateLimit("c-backend", kStart + absl::Seconds(10))
                   .allowed);
  // Several tokens of one client share its limit.
  GrantOr second =
      f.service().Introspect(f.Issue("c-backend", secret).access_token, kStart);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(
      f.service().CheckRateLimit(**second, kStart + absl::Seconds(10)).allowed);

  // c-app has no limit; an unknown client is refused.
  const RateDecision unlimited = f.service().CheckRateLimit("c-app", kStart);
  EXPECT_TRUE(unlimited.allowed);
  EXPECT_EQ(unlimited.remaining, UINT32_MAX);
  const RateDecision unknown = f.service().CheckRateLimit("c-nobody", kStart);
  EXPECT_FALSE(unknown.allowed);
  EXPECT_EQ(unknown.retry_after, absl::InfiniteDuration());
}

// A reload keeps the state of clients that remain (by client id, whatever
// their position), and applies a changed limit to it.
TEST(TokenServiceTest, RateLimitStateSurvivesAReload) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens issued = f.Issue("c-backend", secret);
  GrantOr grant = f.service().Introspect(issued.access_token, kStart);
  ASSERT_TRUE(grant.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(f.service().CheckRateLimit(**grant, kStart).allowed);
  }
  // c-backend moves to the end of the list, with 6 per 30 s (T = 5 s).
  ASSERT_TRUE(f.service()
                  .SetPolicy(CompileEdited([](v1::PolicySet& set) {
                    v1::Credential backend = set.credentials(0);
                    backend.mutable_rate_limit()->set_count(6);
                    set.mutable_credentials()->DeleteSubrange(0, 1);
                    *set.add_credentials() = backend;
                  }))
                  .ok());
  GrantOr rebound = f.service().Introspect(issued.access_token, kStart);
  ASSERT_TRUE(rebound.ok());
  const RateDecision d = f.service().CheckRateLimit(**rebound, kStart);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, absl::Seconds(5));
  EXPECT_TRUE(
      f.service().CheckRateLimit(**rebound, kStart + absl::Seconds(5)).allowed);
}

// Issue 14's reproduction: a caller holding a grant across a policy swap
// spent the old snapshot's limiter and the new one's (6 requests passed at
// one instant against 3). The state is the client's, whatever the snapshot.
TEST(TokenServiceTest, RateLimitIsSharedByGrantsOfEverySnapshot) {
  ServiceFixture f;
  const IssuedTokens issued = f.Issue("c-backend", f.Register("c-backend"));
  GrantOr old_grant = f.service().Introspect(issued.access_token, kStart);
  ASSERT_TRUE(old_grant.ok());
  ASSERT_TRUE(f.service().SetPolicy(CompileText(kPolicy)).ok());
  GrantOr new_grant = f.service().Introspect(issued.access_token, kStart);
  ASSERT_TRUE(new_grant.ok());
  ASSERT_NE(&(*old_grant)->policy(), &(*new_grant)->policy());
  int admitted = 0;
  for (int i = 0; i < 3; ++i) {
    admitted += f.service().CheckRateLimit(**old_grant, kStart).allowed;
    admitted += f.service().CheckRateLimit(**new_grant, kStart).allowed;
  }
  EXPECT_EQ(admitted, 3);
  EXPECT_FALSE(f.service().CheckRateLimit("c-backend", kStart).allowed);

  // A policy without the client: its grants are refused until it returns,
  // and the state is kept meanwhile.
  ASSERT_TRUE(f.service()
                  .SetPolicy(CompileEdited([](v1::PolicySet& set) {
                    set.mutable_credentials()->DeleteSubrange(0, 1);
                  }))
                  .ok());
  EXPECT_EQ(f.service()
                .CheckRateLimit(**old_grant, kStart + absl::Hours(1))
                .retry_after,
            absl::InfiniteDuration());
  ASSERT_TRUE(f.service().SetPolicy(CompileText(kPolicy)).ok());
  EXPECT_TRUE(f.service()
                  .CheckRateLimit(**new_grant, kStart + absl::Seconds(10))
                  .allowed);
  EXPECT_FALSE(f.service()
                   .CheckRateLimit(**old_grant, kStart + absl::Seconds(10))
                   .allowed);
}

TEST(TokenServiceTest, MeReportsTheApplication) {
  ServiceFixture f;
  absl::StatusOr<std::string> secret =
      f.clients().RegisterClient("c-app", "AP app");
  ASSERT_TRUE(secret.ok());
  f.clock().Advance(absl::Hours(2));
  ASSERT_TRUE(f.clients().RotateSecret("c-app").ok());
  absl::StatusOr<std::string> rotated = f.clients().RotateSecret("c-app");
  ASSERT_TRUE(rotated.ok());
  const IssuedTokens issued = f.Issue("c-app", *rotated, "u-ann");
  GrantOr grant = f.service().Introspect(issued.access_token, f.clock().Now());
  ASSERT_TRUE(grant.ok()) << grant.status();
  absl::StatusOr<ApplicationInfo> me = f.service().Me(**grant);
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_EQ(me->client_id, "c-app");
  EXPECT_EQ(me->name, "AP app");
  EXPECT_EQ(me->partner_id, "p-1");
  EXPECT_EQ(me->entity_ids, std::vector<std::string>{"e-1"});
  EXPECT_EQ(me->scopes, std::vector<std::string>{"payable:write"});
  EXPECT_EQ(me->rate_limit, 0u);
  EXPECT_EQ(me->grant, GrantKind::kEntityUser);
  EXPECT_EQ(me->user_id, "u-ann");
  EXPECT_EQ(me->entity_id, "e-1");
  EXPECT_EQ(me->role_id, "r-approver");
  EXPECT_EQ(me->created_at, kStart);
  EXPECT_EQ(me->updated_at, kStart + absl::Hours(2));
  EXPECT_EQ(ApplicationInfoJson(*me),
            R"({"id":"c-app","userId":"u-ann","name":"AP app",)"
            R"("operatorId":"p-1","teamIds":["e-1"],"clientId":"c-app",)"
            R"("clientSecret":null,"rateLimit":null,)"
            R"("rateLimitIntervalInSeconds":null,"scopes":["payable:write"],)"
            R"("createdAt":"2024-01-31T11:20:00.123456789Z",)"
            R"("updatedAt":"2024-01-31T13:20:00.123456789Z"})");
  // The secret is nowhere in the answer.
  EXPECT_EQ(ApplicationInfoJson(*me).find(*rotated), std::string::npos);

  // Without a display name, the policy's name; a partner token has no user.
  const IssuedTokens backend = f.Issue("c-backend", f.Register("c-backend"));
  grant = f.service().Introspect(backend.access_token, f.clock().Now());
  ASSERT_TRUE(grant.ok());
  me = f.service().Me(**grant);
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->name, "Backend");
  EXPECT_TRUE(me->entity_ids.empty());
  EXPECT_EQ(me->rate_limit, 3u);
  EXPECT_EQ(me->rate_limit_interval_seconds, 30u);
  EXPECT_TRUE(me->user_id.empty());
}

// The documented shapes, on Monta's sample values.
TEST(TokenServiceJsonTest, DocumentedShapes) {
  IssuedTokens tokens;
  tokens.access_token = "4596d494-5f6c-4f87-aed5-db68240a58dd";
  tokens.refresh_token = "bbf8c0ed-dbb0-434f-8512-ab24eb64c46a";
  absl::Time issued;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(
      absl::RFC3339_full, "2023-02-16T06:53:02.059724728Z", &issued, &error))
      << error;
  tokens.issued_at = issued;
  tokens.access_token_expires_at = issued + kHour;
  tokens.refresh_token_expires_at = issued + absl::Hours(24);
  EXPECT_EQ(
      MontaTokenJson(tokens),
      R"({"accessToken":"4596d494-5f6c-4f87-aed5-db68240a58dd",)"
      R"("refreshToken":"bbf8c0ed-dbb0-434f-8512-ab24eb64c46a",)"
      R"("accessTokenExpirationDate":"2023-02-16T07:53:02.059724728Z",)"
      R"("refreshTokenExpirationDate":"2023-02-17T06:53:02.059724728Z"})");
  EXPECT_EQ(OAuthTokenJson(tokens),
            R"({"access_token":"4596d494-5f6c-4f87-aed5-db68240a58dd",)"
            R"("token_type":"Bearer","expires_in":3600,)"
            R"("refresh_token":"bbf8c0ed-dbb0-434f-8512-ab24eb64c46a"})");

  // The Partner API documents no applicationId or userId: none is added.
  EXPECT_EQ(MontaTokenJson(tokens).find("applicationId"), std::string::npos);

  ApplicationInfo info;
  info.client_id = "73d86c7f-48de-4a0f-bd3c-da243e16b630";
  info.name = "Partner API Demo";
  info.partner_id = "42";
  info.scopes = {"all:delete"};
  info.rate_limit = 1000;
  info.rate_limit_interval_seconds = 600;
  info.created_at = absl::FromUnixSeconds(1683210546);  // 2023-05-04T14:29:06Z
  info.updated_at = info.created_at;
  EXPECT_EQ(
      ApplicationInfoJson(info),
      R"({"id":"73d86c7f-48de-4a0f-bd3c-da243e16b630","userId":null,)"
      R"("name":"Partner API Demo","operatorId":"42","teamIds":[],)"
      R"("clientId":"73d86c7f-48de-4a0f-bd3c-da243e16b630",)"
      R"("clientSecret":null,"rateLimit":1000,)"
      R"("rateLimitIntervalInSeconds":600,"scopes":["all:delete"],)"
      R"("createdAt":"2023-05-04T14:29:06Z","updatedAt":"2023-05-04T14:29:06Z"})");

  // Strings are escaped; UTF-8 passes through; bytes that are not UTF-8 (a
  // policy's names are bytes) become U+FFFD, so the answer stays valid JSON.
  info.name = "Qu\"ote\\ new\nline \x01 caf\xc3\xa9 \xff";
  const std::string json = ApplicationInfoJson(info);
  EXPECT_NE(json.find(R"("name":"Qu\"ote\\ new\nline \u0001 caf)"
                      "\xc3\xa9 \\ufffd\""),
            std::string::npos)
      << json;
}

// Monta's Public API answer, on its documented sample: the application and
// its user first, then each token with its expiry.
TEST(TokenServiceJsonTest, MontaPublicApiShape) {
  IssuedTokens tokens;
  tokens.access_token = "dba896fe-8f14-46bd-89ac-4270091e9db1";
  tokens.refresh_token = "8f449e8c-864e-4bbc-a328-aa3ad876351b";
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2023-05-10T17:35:31.703819Z",
                              &tokens.access_token_expires_at, &error))
      << error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2023-06-09T16:35:31.703832Z",
                              &tokens.refresh_token_expires_at, &error))
      << error;
  tokens.client_id = "1";
  tokens.grant = GrantKind::kEntityUser;
  tokens.user_id = "1";
  EXPECT_EQ(MontaPublicTokenJson(tokens),
            R"({"applicationId":"1","userId":"1",)"
            R"("accessToken":"dba896fe-8f14-46bd-89ac-4270091e9db1",)"
            R"("accessTokenExpirationDate":"2023-05-10T17:35:31.703819Z",)"
            R"("refreshToken":"8f449e8c-864e-4bbc-a328-aa3ad876351b",)"
            R"("refreshTokenExpirationDate":"2023-06-09T16:35:31.703832Z"})");
  // A partner token has no user.
  tokens.grant = GrantKind::kPartner;
  tokens.user_id.clear();
  tokens.client_id = "c-\"quoted\"";
  EXPECT_EQ(MontaPublicTokenJson(tokens),
            R"({"applicationId":"c-\"quoted\"","userId":null,)"
            R"("accessToken":"dba896fe-8f14-46bd-89ac-4270091e9db1",)"
            R"("accessTokenExpirationDate":"2023-05-10T17:35:31.703819Z",)"
            R"("refreshToken":"8f449e8c-864e-4bbc-a328-aa3ad876351b",)"
            R"("refreshTokenExpirationDate":"2023-06-09T16:35:31.703832Z"})");
}

// From the service: the issued pair's client and user.
TEST(TokenServiceJsonTest, MontaPublicApiShapeOfIssuedTokens) {
  ServiceFixture f;
  const IssuedTokens issued =
      f.Issue("c-backend", f.Register("c-backend"), "u-ann");
  EXPECT_EQ(
      MontaPublicTokenJson(issued),
      absl::StrCat(R"({"applicationId":"c-backend","userId":"u-ann",)",
                   R"("accessToken":")", issued.access_token,
                   R"(","accessTokenExpirationDate":")",
                   "2024-01-31T12:20:00.123456789Z", R"(","refreshToken":")",
                   issued.refresh_token, R"(","refreshTokenExpirationDate":")",
                   "2024-03-01T11:20:00.123456789Z", R"("})"));
}

// Many more tokens than a small cache holds: evictions never confuse two
// tokens, and revoking one leaves the others alone.
TEST(TokenServiceTest, SmallCacheStaysCorrect) {
  TokenServiceOptions options;
  options.cache_entries_per_thread = 4;
  ServiceFixture f(CompileText(kPolicy), options);
  const std::string secret = f.Register("c-backend");
  std::vector<IssuedTokens> issued;
  for (int i = 0; i < 40; ++i) issued.push_back(f.Issue("c-backend", secret));
  for (int round = 0; round < 3; ++round) {
    for (const IssuedTokens& t : issued) {
      GrantOr grant = f.service().Introspect(t.access_token, kStart);
      ASSERT_TRUE(grant.ok()) << grant.status();
      ASSERT_EQ((*grant)->issued_at(), t.issued_at);
    }
  }
  ASSERT_TRUE(
      f.service().Revoke({"c-backend", secret, issued[7].access_token}).ok());
  for (size_t i = 0; i < issued.size(); ++i) {
    EXPECT_EQ(IntrospectStatus(f.service(), issued[i].access_token, kStart),
              i == 7 ? "UNAUTHENTICATED: access token: revoked" : "OK")
        << i;
  }
}

// Repeated introspection on one thread takes the cached path: no store
// lookup, no BLAKE2b.
TEST(TokenServiceTest, RepeatedIntrospectionIsCached) {
  ServiceFixture f;
  const IssuedTokens issued = f.Issue("c-backend", f.Register("c-backend"));
  ASSERT_TRUE(f.service().Introspect(issued.access_token, kStart).ok());
  const uint64_t slow = f.service().Stats().introspection_slow_paths;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(f.service().Introspect(issued.access_token, kStart).ok());
    ASSERT_TRUE(f.service()
                    .IntrospectHeader("Bearer " + issued.access_token, kStart)
                    .ok());
  }
  EXPECT_EQ(f.service().Stats().introspection_slow_paths, slow);
  // The same grant object, shared.
  EXPECT_EQ(f.service().Introspect(issued.access_token, kStart)->get(),
            f.service().Introspect(issued.access_token, kStart)->get());
  // Another service has its own cache, even on the same thread.
  ServiceFixture other;
  EXPECT_EQ(IntrospectStatus(other.service(), issued.access_token, kStart),
            "UNAUTHENTICATED: access token: unknown");
  EXPECT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
}

TEST(TokenServiceTest, RemoveExpiredTokens) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  f.Issue("c-backend", secret);
  f.Issue("c-backend", secret);
  EXPECT_EQ(f.store().size(), 4u);
  f.clock().Set(kStart + kHour);
  EXPECT_EQ(f.service().RemoveExpiredTokens(), 2u);  // the access tokens
  f.clock().Set(kStart + kThirtyDays);
  EXPECT_EQ(f.service().RemoveExpiredTokens(), 2u);
  EXPECT_EQ(f.store().size(), 0u);
}

// A replaced snapshot is held by the caches only until each thread that
// cached grants of it introspects once more, any token: the cache drops its
// stale grants when it sees the swap, not only when the same token returns.
TEST(TokenServiceCacheTest, OldSnapshotIsFreedAfterOneIntrospectionPerThread) {
  ServiceFixture f(/*policy=*/nullptr);
  std::shared_ptr<const CompiledPolicy> first = CompileText(kPolicy);
  const std::weak_ptr<const CompiledPolicy> old = first;
  ASSERT_TRUE(f.service().SetPolicy(std::move(first)).ok());
  const std::string secret = f.Register("c-backend");
  std::vector<IssuedTokens> cached;
  for (int i = 0; i < 3; ++i) cached.push_back(f.Issue("c-backend", secret));
  const IssuedTokens other = f.Issue("c-backend", secret, "u-ann");
  auto introspect_all = [&](const std::vector<IssuedTokens>& tokens) {
    for (const IssuedTokens& t : tokens) {
      // The grant is dropped at once: only the cache keeps it.
      EXPECT_EQ(IntrospectStatus(f.service(), t.access_token, kStart), "OK");
    }
  };
  Worker worker;
  introspect_all(cached);
  worker.Run([&] { introspect_all(cached); });

  ASSERT_TRUE(f.service().SetPolicy(CompileText(kPolicy)).ok());
  EXPECT_FALSE(old.expired()) << "both threads' caches hold grants of it";
  // One introspection on this thread, of a token it never cached.
  introspect_all({other});
  EXPECT_FALSE(old.expired()) << "the worker has not come back yet";
  worker.Run([&] { introspect_all({other}); });
  EXPECT_TRUE(old.expired());

  // The dropped tokens still introspect, bound to the new snapshot.
  GrantOr again = f.service().Introspect(cached[0].access_token, kStart);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(&(*again)->policy(), f.service().policy().get());
}

// A thread that will not come back can let go of its cache, and with it the
// snapshots it holds.
TEST(TokenServiceCacheTest, ReleaseThreadCacheFreesTheThreadsSnapshots) {
  ServiceFixture f(/*policy=*/nullptr);
  std::shared_ptr<const CompiledPolicy> first = CompileText(kPolicy);
  const std::weak_ptr<const CompiledPolicy> old = first;
  ASSERT_TRUE(f.service().SetPolicy(std::move(first)).ok());
  const IssuedTokens issued = f.Issue("c-backend", f.Register("c-backend"));
  Worker worker;
  worker.Run([&] {
    EXPECT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
  });
  ASSERT_TRUE(f.service().SetPolicy(CompileText(kPolicy)).ok());
  EXPECT_FALSE(old.expired());
  worker.Run([&] { f.service().ReleaseThreadCache(); });
  EXPECT_TRUE(old.expired());
  // Releasing is harmless: the next introspection starts a new cache, and
  // releasing a thread without a cache does nothing.
  f.service().ReleaseThreadCache();
  worker.Run([&] {
    EXPECT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
    const uint64_t slow = f.service().Stats().introspection_slow_paths;
    EXPECT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
    EXPECT_EQ(f.service().Stats().introspection_slow_paths, slow);
  });
}

// After a swap, the first introspection of each cached token on a thread is
// a slow path (the cache dropped it); the next ones are hits again.
TEST(TokenServiceCacheTest, TokensAreCachedAgainAfterASwap) {
  ServiceFixture f;
  const IssuedTokens issued = f.Issue("c-backend", f.Register("c-backend"));
  ASSERT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
  ASSERT_TRUE(f.service().SetPolicy(CompileText(kPolicy)).ok());
  const uint64_t before = f.service().Stats().introspection_slow_paths;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(IntrospectStatus(f.service(), issued.access_token, kStart), "OK");
  }
  EXPECT_EQ(f.service().Stats().introspection_slow_paths, before + 1);
}

// Stats().introspection_cache_hits counts every hit exactly once: on this
// thread and on others, by Introspect and IntrospectHeader, after a thread
// exited or released its cache, and never a slow path or a refusal.
TEST(TokenServiceCacheTest, CacheHitsAreCountedExactly) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const IssuedTokens a = f.Issue("c-backend", secret);
  const IssuedTokens b = f.Issue("c-backend", secret);
  EXPECT_EQ(f.service().Stats().introspection_cache_hits, 0u);
  // First use on this thread: a slow path, not a hit.
  ASSERT_EQ(IntrospectStatus(f.service(), a.access_token, kStart), "OK");
  EXPECT_EQ(f.service().Stats().introspection_cache_hits, 0u);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(IntrospectStatus(f.service(), a.access_token, kStart), "OK");
    ASSERT_TRUE(
        f.service().IntrospectHeader("Bearer " + a.access_token, kStart).ok());
  }
  EXPECT_EQ(f.service().Stats().introspection_cache_hits, 10u);
  // Refusals are not hits: unknown, malformed, and a cached token past its
  // expiry (found in the cache, refused).
  EXPECT_NE(IntrospectStatus(f.service(), "not-a-token", kStart), "OK");
  {
    // A second service on the same thread counts its own hits.
    ServiceFixture other;
    const IssuedTokens o =
        other.Issue("c-backend", other.Register("c-backend"));
    ASSERT_EQ(IntrospectStatus(other.service(), o.access_token, kStart), "OK");
    ASSERT_EQ(IntrospectStatus(other.service(), o.access_token, kStart), "OK");
    EXPECT_EQ(other.service().Stats().introspection_cache_hits, 1u);
  }
  EXPECT_EQ(f.service().Stats().introspection_cache_hits, 10u);
  {
    // Another thread: 1 slow path and 3 hits per token, counted while the
    // thread lives, after it released its cache, and after it exited.
    Worker worker;
    worker.Run([&] {
      for (const IssuedTokens* t : {&a, &b}) {
        for (int i = 0; i < 4; ++i) {
          EXPECT_EQ(IntrospectStatus(f.service(), t->access_token, kStart),
                    "OK");
        }
      }
    });
    EXPECT_EQ(f.service().Stats().introspection_cache_hits, 16u);
    worker.Run([&] { f.service().ReleaseThreadCache(); });
    EXPECT_EQ(f.service().Stats().introspection_cache_hits, 16u);
    worker.Run([&] {
      EXPECT_EQ(IntrospectStatus(f.service(), b.access_token, kStart), "OK");
      EXPECT_EQ(IntrospectStatus(f.service(), b.access_token, kStart), "OK");
    });
    EXPECT_EQ(f.service().Stats().introspection_cache_hits, 17u);
  }
  EXPECT_EQ(f.service().Stats().introspection_cache_hits, 17u);
  EXPECT_EQ(IntrospectStatus(f.service(), a.access_token, kStart + kHour),
            "UNAUTHENTICATED: access token: expired");
  EXPECT_EQ(f.service().Stats().introspection_cache_hits, 17u);
}

// Issue, introspect, refresh, revoke and policy swaps from several threads
// at once, bounded. Under ThreadSanitizer this finds unsynchronized access;
// everywhere it checks that a revocation is complete when Revoke returns.
TEST(TokenServiceConcurrencyTest, IssueIntrospectRevokeAndSwap) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const std::shared_ptr<const CompiledPolicy> policy = f.service().policy();
  constexpr int kWorkers = 3;
  constexpr int kRounds = 60;
  std::mutex mu;
  std::vector<std::string> shared_tokens;  // Guarded by mu.
  std::atomic<int> failures{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kRounds; ++i) {
        absl::StatusOr<IssuedTokens> issued = f.service().IssueToken(
            {w == 0 ? "entity_user" : "client_credentials", "c-backend", secret,
             w == 0 ? "u-ann" : ""});
        if (!issued.ok()) {
          failures.fetch_add(1);
          continue;
        }
        GrantOr grant = f.service().Introspect(issued->access_token, kStart);
        if (!grant.ok() || CheckNames(**grant, "payable", "read", "e-1") !=
                               "allowed/granted") {
          failures.fetch_add(1);
          continue;
        }
        (void)f.service().CheckRateLimit(**grant, kStart);
        {
          std::lock_guard<std::mutex> lock(mu);
          shared_tokens.push_back(issued->access_token);
        }
        // Someone else's token, maybe: revoke it and see it gone.
        std::string victim;
        {
          std::lock_guard<std::mutex> lock(mu);
          victim = shared_tokens[(i * 7 + w) % shared_tokens.size()];
        }
        if (i % 3 == 0) {
          if (!f.service().Revoke({"c-backend", secret, victim}).ok() ||
              f.service().Introspect(victim, kStart).ok()) {
            failures.fetch_add(1);
          }
        } else {
          (void)f.service().Introspect(victim, kStart);
        }
        if (i % 10 == 0) (void)f.service().Refresh(issued->refresh_token);
      }
    });
  }
  threads.emplace_back([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < 20; ++i) {
      (void)f.service().SetPolicy(i % 2 == 0 ? CompileText(kPolicy) : policy);
      std::this_thread::yield();
    }
  });
  go.store(true);
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(shared_tokens.size(), 0u);
}

// A lent grant stays whole, with its snapshot, while other threads revoke
// its token and swap the policy, until this thread introspects again: the
// documented lifetime (under AddressSanitizer, a use within it that read
// freed memory would fail). The next introspection sees both changes.
TEST(TokenServiceLentTest, LentGrantLivesUntilTheThreadsNextIntrospection) {
  ServiceFixture f(/*policy=*/nullptr);
  std::shared_ptr<const CompiledPolicy> first = CompileText(kPolicy);
  const std::weak_ptr<const CompiledPolicy> old = first;
  ASSERT_TRUE(f.service().SetPolicy(std::move(first)).ok());
  const std::string secret = f.Register("c-backend");
  const IssuedTokens revoked = f.Issue("c-backend", secret);
  const IssuedTokens kept = f.Issue("c-backend", secret, "u-ann");
  const std::string header = "Bearer " + revoked.access_token;

  absl::StatusOr<const AccessGrant*> lent =
      f.service().IntrospectHeaderLent(header, kStart);
  ASSERT_TRUE(lent.ok()) << lent.status();
  const AccessGrant& grant = **lent;
  // Revoked and swapped away on another thread, with no reference to the
  // grant held anywhere but in this thread's cache.
  Worker other;
  other.Run([&] {
    ASSERT_TRUE(
        f.service().Revoke({"c-backend", secret, revoked.access_token}).ok());
    ASSERT_TRUE(f.service()
                    .SetPolicy(CompileEdited([](v1::PolicySet& set) {
                      set.mutable_credentials(0)->set_scopes(0, "all:write");
                    }))
                    .ok());
  });
  EXPECT_FALSE(old.expired());
  EXPECT_EQ(grant.client_id(), "c-backend");
  EXPECT_EQ(grant.principal().snapshot(), grant.policy().snapshot());
  EXPECT_EQ(CheckNames(grant, "payable", "delete", "e-1"), "allowed/granted");
  EXPECT_TRUE(f.service().CheckRateLimit(grant, kStart).allowed);

  // The next introspection refuses the revoked token, drops the old
  // snapshot's grants from this thread's cache, and binds the other token
  // to the new snapshot.
  EXPECT_EQ(Describe(f.service().IntrospectHeaderLent(header, kStart).status()),
            "UNAUTHENTICATED: access token: revoked");
  EXPECT_TRUE(old.expired());
  absl::StatusOr<const AccessGrant*> again =
      f.service().IntrospectLent(kept.access_token, kStart);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(&(*again)->policy(), f.service().policy().get());
  EXPECT_EQ(CheckNames(**again, "payable", "delete", "e-1"),
            "not_allowed/scope");
}

// A lent grant is the cache's: its shared_ptr count does not move on a hit,
// and a shared grant of the same token is the same object.
TEST(TokenServiceLentTest, AHitWritesNoReferenceCount) {
  ServiceFixture f;
  const IssuedTokens issued = f.Issue("c-backend", f.Register("c-backend"));
  GrantOr shared = f.service().Introspect(issued.access_token, kStart);
  ASSERT_TRUE(shared.ok());
  const long count = shared->use_count();  // The cache's and this one.
  EXPECT_EQ(count, 2);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<const AccessGrant*> lent =
        f.service().IntrospectLent(issued.access_token, kStart);
    ASSERT_TRUE(lent.ok());
    EXPECT_EQ(*lent, shared->get());
    EXPECT_EQ(shared->use_count(), count);
  }
}

// Lending threads use each grant until their next introspection while
// others revoke tokens and swap policies. Under ThreadSanitizer this finds
// unsynchronized access (and under AddressSanitizer, a grant freed within
// its lifetime); everywhere it checks that a grant lent is consistent with
// its snapshot and that a revocation complete before an introspection began
// is never lent past.
TEST(TokenServiceLentTest, LendingRevokingAndSwappingConcurrently) {
  ServiceFixture f;
  const std::string secret = f.Register("c-backend");
  const std::shared_ptr<const CompiledPolicy> policy = f.service().policy();
  constexpr int kTokens = 24;
  constexpr int kRounds = 400;
  std::vector<std::string> headers;
  for (int i = 0; i < kTokens; ++i) {
    headers.push_back(
        "Bearer " +
        f.Issue("c-backend", secret, i % 2 == 0 ? "u-ann" : "").access_token);
  }
  // Set before Revoke is called, and after it returns.
  std::array<std::atomic<bool>, kTokens> revoking{};
  std::array<std::atomic<bool>, kTokens> revoked{};
  std::atomic<int> failures{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kRounds; ++i) {
        const int t = (i * 5 + w) % kTokens;
        const bool was_revoked = revoked[t].load();
        absl::StatusOr<const AccessGrant*> grant =
            f.service().IntrospectHeaderLent(headers[t], kStart);
        if (!grant.ok()) {
          if (!revoking[t].load()) failures.fetch_add(1);
          continue;
        }
        if (was_revoked) failures.fetch_add(1);
        const AccessGrant& g = **grant;
        if (g.principal().snapshot() != g.policy().snapshot() ||
            CheckNames(g, "payable", "read", "e-1") != "allowed/granted") {
          failures.fetch_add(1);
        }
        (void)f.service().CheckRateLimit(g, kStart);
        std::this_thread::yield();
        // Still whole after the yield, whatever the others did meanwhile.
        if (g.client_id() != "c-backend") failures.fetch_add(1);
      }
    });
  }
  threads.emplace_back([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < 30; ++i) {
      (void)f.service().SetPolicy(i % 2 == 0 ? CompileText(kPolicy) : policy);
      if (i % 3 == 0) {
        const int t = (i * 7) % kTokens;
        const std::string token = headers[t].substr(7);
        revoking[t].store(true);
        if (!f.service().Revoke({"c-backend", secret, token}).ok()) {
          failures.fetch_add(1);
        }
        revoked[t].store(true);
      }
      std::this_thread::yield();
    }
  });
  go.store(true);
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace portcullis::auth
