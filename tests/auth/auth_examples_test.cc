// The documented flows end to end on the example policies: Monta's client
// credentials (examples/monta) and Monite's partner and entity-user tokens
// (examples/monite), from /auth/token to a decision.
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/token_service.h"
#include "engine/evaluate/evaluator.h"
#include "gtest/gtest.h"
#include "tests/auth/service_fixture.h"

namespace portcullis::auth {
namespace {

using testing::CompileFiles;
using testing::Describe;
using testing::kStart;
using testing::ServiceFixture;

using GrantOr = absl::StatusOr<std::shared_ptr<const AccessGrant>>;

std::string Decide(const AccessGrant& grant, absl::string_view object_type,
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

// Monta: "call our /auth/token endpoint and provide your clientId and
// clientSecret", then "pass [the accessToken] to the Authorization header as
// Bearer token"; /auth/me; the refresh flow; scopes and team restrictions.
TEST(MontaScenarioTest, ClientCredentialsToDecisions) {
  ServiceFixture f(CompileFiles({"examples/monta/policy.txtpb"}));
  // The partner creates credentials in the portal; each secret is shown once.
  const std::string reader = f.Register("monta-cp-reader");

  absl::StatusOr<IssuedTokens> tokens =
      f.service().IssueToken({"client_credentials", "monta-cp-reader", reader,
                              /*entity_user_id=*/""});
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  // "the accessToken will expire within 1 hour".
  EXPECT_EQ(tokens->access_token_expires_at, kStart + absl::Hours(1));
  EXPECT_EQ(MontaTokenJson(*tokens),
            absl::StrCat(R"({"accessToken":")", tokens->access_token,
                         R"(","refreshToken":")", tokens->refresh_token,
                         R"(","accessTokenExpirationDate":)",
                         R"("2024-01-31T12:20:00.123456789Z",)",
                         R"("refreshTokenExpirationDate":)",
                         R"("2024-03-01T11:20:00.123456789Z"})"));

  // Authorization: Bearer <accessToken>, then the checks of a request.
  GrantOr grant =
      f.service().IntrospectHeader("Bearer " + tokens->access_token);
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(Decide(**grant, "charge-points", "read", "team-north"),
            "allowed/granted");
  EXPECT_EQ(Decide(**grant, "charge-points", "read", "team-south"),
            "allowed/granted");
  // "charge-points:read - you can only read charge points."
  EXPECT_EQ(Decide(**grant, "charge-points", "update", "team-north"),
            "not_allowed/scope");
  EXPECT_EQ(Decide(**grant, "charge-points", "delete", "team-north"),
            "not_allowed/scope");
  EXPECT_EQ(Decide(**grant, "charges", "read", "team-north"),
            "not_allowed/scope");
  // Another operator's team.
  EXPECT_EQ(Decide(**grant, "charge-points", "read", "team-west"),
            "not_allowed/tenant");
  // By interned ids, the hot path.
  const CompiledPolicy& policy = (*grant)->policy();
  const Decision by_ids = Check(policy, (*grant)->principal(),
                                *policy.FindAction("charge-points", "read"),
                                *policy.FindEntity("team-north"));
  EXPECT_TRUE(by_ids.allowed());

  // /auth/me.
  absl::StatusOr<ApplicationInfo> me = f.service().Me(**grant);
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_EQ(ApplicationInfoJson(*me),
            R"({"id":"monta-cp-reader","userId":null,)"
            R"("name":"Charge point dashboard","operatorId":"operator-42",)"
            R"("teamIds":[],"clientId":"monta-cp-reader","clientSecret":null,)"
            R"("rateLimit":1000,"rateLimitIntervalInSeconds":600,)"
            R"("scopes":["charge-points:read"],)"
            R"("createdAt":"2024-01-31T11:20:00.123456789Z",)"
            R"("updatedAt":"2024-01-31T11:20:00.123456789Z"})");

  // The refresh flow, three minutes later: a new pair, new dates.
  f.clock().Advance(absl::Minutes(3));
  absl::StatusOr<IssuedTokens> refreshed =
      f.service().Refresh(tokens->refresh_token);
  ASSERT_TRUE(refreshed.ok()) << refreshed.status();
  EXPECT_EQ(refreshed->access_token_expires_at, kStart + absl::Minutes(63));
  GrantOr after =
      f.service().IntrospectHeader("Bearer " + refreshed->access_token);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(Decide(**after, "charge-points", "read", "team-north"),
            "allowed/granted");

  // The credential's rate limit, 1000 per 600 s: the burst, then one every
  // 600 ms.
  const absl::Time now = f.clock().Now();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(f.service().CheckRateLimit(**after, now).allowed) << i;
  }
  const RateDecision refused = f.service().CheckRateLimit(**after, now);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, absl::Milliseconds(600));
}

// "all resources from defined teams only within your operator account".
TEST(MontaScenarioTest, TeamRestrictedAndFullAccessCredentials) {
  ServiceFixture f(CompileFiles({"examples/monta/policy.txtpb"}));
  const std::string finance = f.Register("monta-finance-north");
  const std::string full = f.Register("monta-full-access");

  GrantOr team = f.service().Introspect(
      f.Issue("monta-finance-north", finance).access_token);
  ASSERT_TRUE(team.ok()) << team.status();
  EXPECT_EQ(Decide(**team, "wallet-transactions", "read", "team-north"),
            "allowed/granted");
  EXPECT_EQ(Decide(**team, "wallet-transactions", "read", "team-south"),
            "not_allowed/tenant");
  EXPECT_EQ(Decide(**team, "wallet-transactions", "update", "team-north"),
            "not_allowed/scope");
  absl::StatusOr<ApplicationInfo> me = f.service().Me(**team);
  ASSERT_TRUE(me.ok());
  EXPECT_TRUE(absl::StrContains(ApplicationInfoJson(*me),
                                R"("teamIds":["team-north"])"));

  // all:delete: "you can access and modify any resource".
  GrantOr all =
      f.service().Introspect(f.Issue("monta-full-access", full).access_token);
  ASSERT_TRUE(all.ok()) << all.status();
  for (const char* type : {"charge-points", "charges", "sites", "teams",
                           "users", "wallet-transactions", "webhooks"}) {
    SCOPED_TRACE(type);
    EXPECT_EQ(Decide(**all, type, "delete", "team-south"), "allowed/granted");
  }
  EXPECT_EQ(Decide(**all, "charges", "start", "team-north"), "allowed/granted");
  EXPECT_EQ(Decide(**all, "charge-points", "read", "team-west"),
            "not_allowed/tenant");

  // One credential's secret does not open another.
  EXPECT_EQ(Describe(f.service()
                         .IssueToken({"client_credentials", "monta-full-access",
                                      finance, ""})
                         .status()),
            "UNAUTHENTICATED: invalid client credentials");
}

// Monta's Public API /auth/me sample: "scopes": ["all"], "This credential has
// access to all resources" — every action of every type, and /auth/me echoes
// the scope as written.
TEST(MontaScenarioTest, TheAuthMeSampleWithBareAll) {
  ServiceFixture f(CompileFiles({"examples/monta/policy.txtpb"}));
  const std::string secret = f.Register("monta-public-api-demo");
  GrantOr grant = f.service().Introspect(
      f.Issue("monta-public-api-demo", secret).access_token);
  ASSERT_TRUE(grant.ok()) << grant.status();
  for (const char* type : {"charge-points", "charges", "sites", "teams",
                           "users", "wallet-transactions", "webhooks"}) {
    SCOPED_TRACE(type);
    EXPECT_EQ(Decide(**grant, type, "delete", "team-north"), "allowed/granted");
    EXPECT_EQ(Decide(**grant, type, "read", "team-south"), "allowed/granted");
  }
  absl::StatusOr<ApplicationInfo> me = f.service().Me(**grant);
  ASSERT_TRUE(me.ok()) << me.status();
  const std::string json = ApplicationInfoJson(*me);
  EXPECT_TRUE(absl::StrContains(json, R"("scopes":["all"])")) << json;
  EXPECT_TRUE(absl::StrContains(json, R"("name":"Public Api Demo")")) << json;
}

// Monite: a partner token (client_credentials) for the partner-managed
// model, and entity-user tokens (entity_user, entity_user_id) whose
// permissions come from the user's role or the entity's default role.
TEST(MoniteScenarioTest, PartnerAndEntityUserTokens) {
  // Monite's example answer has "expires_in": 1800.
  TokenServiceOptions options = ServiceFixture::SmallCache();
  options.access_token_ttl = absl::Minutes(30);
  ServiceFixture f(CompileFiles({"examples/monite"}), options);
  ASSERT_TRUE(f.users().SetUser("u-anna", {"e-acme-gmbh", "admin"}).ok());
  ASSERT_TRUE(f.users()
                  .SetUser("u-carl", {"e-acme-gmbh", "r-acme-gmbh-ap-clerk"})
                  .ok());
  ASSERT_TRUE(f.users().SetUser("u-ben", {"e-acme-gmbh", ""}).ok());
  ASSERT_TRUE(f.users().SetUser("u-eve", {"e-acme-ltd", ""}).ok());
  ASSERT_TRUE(f.users().SetUser("u-gus", {"e-globex", "approver_member"}).ok());
  const std::string backend = f.Register("c-acme-backend");
  const std::string ap_app = f.Register("c-acme-ap-app");

  // Partner token: {"grant_type": "client_credentials", ...}.
  absl::StatusOr<IssuedTokens> partner = f.service().IssueToken(
      {"client_credentials", "c-acme-backend", backend, ""});
  ASSERT_TRUE(partner.ok()) << partner.status();
  EXPECT_EQ(
      OAuthTokenJson(*partner),
      absl::StrCat(R"({"access_token":")", partner->access_token,
                   R"(","token_type":"Bearer","expires_in":1800,)",
                   R"("refresh_token":")", partner->refresh_token, R"("})"));
  GrantOr partner_grant =
      f.service().IntrospectHeader("Bearer " + partner->access_token);
  ASSERT_TRUE(partner_grant.ok()) << partner_grant.status();
  // Operations on /entities are for partner tokens only.
  EXPECT_EQ(Decide(**partner_grant, "entity", "create", "e-acme-gmbh"),
            "allowed/granted");
  EXPECT_EQ(
      Decide(**partner_grant, "payable", "update", "e-acme-gmbh", "u-ben"),
      "allowed/granted");
  EXPECT_EQ(Decide(**partner_grant, "payable", "read", "e-globex"),
            "not_allowed/tenant");

  // Entity-user token: {"grant_type": "entity_user", "entity_user_id": ...}.
  absl::StatusOr<IssuedTokens> carl = f.service().IssueToken(
      {"entity_user", "c-acme-ap-app", ap_app, "u-carl"});
  ASSERT_TRUE(carl.ok()) << carl.status();
  GrantOr carl_grant =
      f.service().IntrospectHeader("Bearer " + carl->access_token);
  ASSERT_TRUE(carl_grant.ok()) << carl_grant.status();
  // The custom role: payable read/update allowed_for_own, approve unlisted.
  EXPECT_EQ(Decide(**carl_grant, "payable", "read", "e-acme-gmbh"),
            "allowed_for_own/ownership");
  EXPECT_EQ(Decide(**carl_grant, "payable", "update", "e-acme-gmbh", "u-carl"),
            "allowed/ownership");
  EXPECT_EQ(Decide(**carl_grant, "payable", "update", "e-acme-gmbh", "u-anna"),
            "not_allowed/ownership");
  EXPECT_EQ(Decide(**carl_grant, "payable", "approve", "e-acme-gmbh"),
            "not_allowed/rbac");

  // No role assigned: "the role will be taken from the default user role
  // configured for the entity" (basic_member allows payable.pay).
  GrantOr ben = f.service().Introspect(
      f.Issue("c-acme-backend", backend, "u-ben").access_token);
  ASSERT_TRUE(ben.ok()) << ben.status();
  EXPECT_EQ(Decide(**ben, "payable", "pay", "e-acme-gmbh"), "allowed/granted");

  // An admin's entity-user token still cannot do partner-only operations.
  GrantOr anna = f.service().Introspect(
      f.Issue("c-acme-backend", backend, "u-anna").access_token);
  ASSERT_TRUE(anna.ok()) << anna.status();
  EXPECT_EQ(Decide(**anna, "entity", "create", "e-acme-gmbh"),
            "not_allowed/partner_only");
  EXPECT_EQ(Decide(**anna, "payable", "approve", "e-acme-gmbh"),
            "allowed/granted");

  // The app is restricted to e-acme-gmbh; u-gus belongs to another partner.
  EXPECT_EQ(Describe(f.service()
                         .IssueToken(
                             {"entity_user", "c-acme-ap-app", ap_app, "u-eve"})
                         .status()),
            "PERMISSION_DENIED: client \"c-acme-ap-app\" may not issue tokens "
            "for user \"u-eve\": entity \"e-acme-ltd\" is not among the "
            "client's entities");
  EXPECT_EQ(Describe(f.service()
                         .IssueToken({"entity_user", "c-acme-backend", backend,
                                      "u-gus"})
                         .status()),
            "PERMISSION_DENIED: client \"c-acme-backend\" may not issue tokens "
            "for user \"u-gus\": entity \"e-globex\" belongs to another "
            "partner");

  // POST /auth/revoke {client_id, client_secret, token}: {"message": "ok"}.
  absl::StatusOr<RevokeResult> revoked =
      f.service().Revoke({"c-acme-ap-app", ap_app, carl->access_token});
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(RevokeJson(*revoked), R"({"message":"ok"})");
  EXPECT_EQ(Describe(f.service()
                         .IntrospectHeader("Bearer " + carl->access_token)
                         .status()),
            "UNAUTHENTICATED: access token: revoked");
  // The partner's own token is another client's: the app cannot revoke it.
  EXPECT_EQ(
      Describe(f.service()
                   .Revoke({"c-acme-ap-app", ap_app, partner->access_token})
                   .status()),
      "PERMISSION_DENIED: token: issued to another client");
}

}  // namespace
}  // namespace portcullis::auth
