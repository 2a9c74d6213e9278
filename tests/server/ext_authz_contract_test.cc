// The Envoy ext_authz HTTP-service contract, without Envoy (which cannot be
// installed here): requests shaped as Envoy's ext_authz filter documentation
// defines them for `http_service` with `path_prefix: /v1/ext_authz`, and the
// answers checked the way Envoy reads them (docs/server.md, "Behind Envoy").
//
// What Envoy sends (HTTP service): the original request's method; the path
// prefix followed by the original path and query; Host (the original
// :authority), Content-Length: 0 and no body (unless with_request_body);
// Authorization and the headers matched by
// authorization_request.allowed_headers (here x-monite-entity-id and
// x-request-id), plus headers_to_add; connections kept alive. What Envoy
// does with the answer: exactly 200 OK allows the request, and the headers
// matched by authorization_response.allowed_upstream_headers go to the
// upstream; any other status is a denial sent to the client with that status
// and (by default) the authorizer's headers (WWW-Authenticate, Retry-After)
// and body.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/test_http.h"

namespace portcullis::server::testing {
namespace {

class ExtAuthzContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Five requests per credential: enough for each client below but the
    // one that runs into its limit.
    server_ = TestServer::Start(MontaPolicy(5), "");
    ASSERT_NE(server_, nullptr);
    envoy_ = std::make_unique<HttpClient>(server_->port());
  }

  // A check request as Envoy's HTTP ext_authz client sends it for the
  // original request `method original_path` with `token` and `entity`.
  Response Check(const std::string& method, const std::string& original_path,
                 const std::string& token, const std::string& entity) {
    std::string headers =
        "x-request-id: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\r\n"
        "x-envoy-expected-rq-timeout-ms: 200\r\n";
    if (!token.empty()) {
      absl::StrAppend(&headers, "authorization: Bearer ", token, "\r\n");
    }
    if (!entity.empty()) {
      absl::StrAppend(&headers, "x-monite-entity-id: ", entity, "\r\n");
    }
    // HttpClient writes "Host" and "Content-Length: 0" (no body), as Envoy.
    return envoy_->Send(method, absl::StrCat("/v1/ext_authz", original_path),
                        headers);
  }

  // What Envoy would add to the upstream request with
  // allowed_upstream_headers matching the prefix "x-portcullis-".
  static std::string UpstreamHeaders(const Response& r) {
    std::string out;
    for (const auto& field : r) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(tolower(c));
      if (absl::StartsWith(name, "x-portcullis-")) {
        absl::StrAppend(&out, name, ": ", std::string(field.value()), "\n");
      }
    }
    return out;
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<HttpClient> envoy_;
};

TEST_F(ExtAuthzContractTest, AllowedIsExactly200WithUpstreamHeaders) {
  const std::string token = server_->Token("monta-cp-reader");
  Response r =
      Check("GET", "/charge-points?page=2&size=50", token, "team-north");
  // Envoy allows on 200 only (a 204 would be a denial).
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(UpstreamHeaders(r),
            "x-portcullis-principal: client:monta-cp-reader\n"
            "x-portcullis-decision: allowed\n"
            "x-portcullis-reason: granted\n");
  // A path parameter route, with another method.
  const std::string full = server_->Token("monta-full-access");
  r = Check("DELETE", "/charge-points/cp-17", full, "team-north");
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  // allowed_for_own: the owner goes to the upstream too.
  Response issued = envoy_->Send(
      "POST", "/auth/token", "Content-Type: application/json\r\n",
      absl::StrCat("{\"grant_type\":\"entity_user\",\"client_id\":\"monta-"
                   "member-app\",\"client_secret\":\"",
                   server_->Secret("monta-member-app"),
                   "\",\"entity_user_id\":\"u-anna\"}"));
  ASSERT_EQ(issued.result_int(), 200u) << issued.body();
  r = Check("GET", "/charges", JsonField(issued.body(), "access_token"),
            "team-north");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_TRUE(
      absl::StrContains(UpstreamHeaders(r), "x-portcullis-owner: u-anna\n"))
      << UpstreamHeaders(r);
}

TEST_F(ExtAuthzContractTest, DenialsKeepTheirStatusAndClientHeaders) {
  const std::string token = server_->Token("monta-cp-reader");
  // The original method is the check request's own: a POST without a body
  // (Content-Length: 0), as Envoy sends it.
  Response r = Check("POST", "/charge-points", token, "team-north");
  EXPECT_EQ(r.result_int(), 403u);
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "scope");
  // Another operator's team.
  r = Check("GET", "/charge-points", token, "team-west");
  EXPECT_EQ(r.result_int(), 403u);
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "tenant");
  // The prefix alone: the original path "/" has no route.
  r = Check("GET", "", token, "team-north");
  EXPECT_EQ(r.result_int(), 403u);
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "unknown_route");
  // 400: no entity header (Envoy passes 400 to the client as it is).
  r = Check("GET", "/charge-points", token, "");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "missing_entity");
  // 401 with WWW-Authenticate (in Envoy's default allowed_client_headers).
  r = Check("GET", "/charge-points", "", "team-north");
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_EQ(Header(r, "WWW-Authenticate"), "Bearer realm=\"portcullis\"");
  r = Check("GET", "/charge-points", "not-a-token", "team-north");
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_TRUE(absl::StrContains(Header(r, "WWW-Authenticate"),
                                "error=\"invalid_token\""));
  // No X-Portcullis-Decision: allowed on any denial (Envoy would not pass
  // it upstream anyway, but nothing must look like an allow).
  EXPECT_NE(Header(r, "X-Portcullis-Decision"), "allowed");
}

TEST_F(ExtAuthzContractTest, RateLimitIs429WithRetryAfter) {
  const std::string token = server_->Token("monta-op7-full-access");
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Check("GET", "/charge-points", token, "team-west").result_int(),
              200u)
        << i;
  }
  Response r = Check("GET", "/charge-points", token, "team-west");
  EXPECT_EQ(r.result_int(), 429u);
  const std::string retry = Header(r, "Retry-After");
  ASSERT_FALSE(retry.empty());
  EXPECT_GT(std::stoi(retry), 0);
}

// One keep-alive connection carries every check, as Envoy's connection pool
// to the authorization cluster does.
TEST_F(ExtAuthzContractTest, KeepAlive) {
  const std::string token = server_->Token("monta-cp-admin");
  for (int i = 0; i < 3; ++i) {
    Response r = Check("GET", "/charge-points", token, "team-south");
    EXPECT_EQ(r.result_int(), 200u);
    EXPECT_TRUE(r.keep_alive());
  }
}

}  // namespace
}  // namespace portcullis::server::testing
