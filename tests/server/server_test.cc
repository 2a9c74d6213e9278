// `portcullis serve` over real HTTP: an in-process Server on a loopback
// ephemeral port, a temporary state directory, and a Beast client writing
// raw requests (so that malformed ones can be sent too).
#include <sys/stat.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/auth/jwt.h"
#include "engine/auth/token_format.h"
#include "engine/common/ed25519_key.h"
#include "gtest/gtest.h"
#include "server/config.h"
#include "server/service.h"
#include "tests/server/test_http.h"

namespace portcullis::server::testing {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions options;
    // The Monta example, with operator 7's client limited to 2 requests.
    options.policy = ReadFile("examples/monta/policy.txtpb");
    const size_t op7 = options.policy.find("monta-op7-full-access");
    ASSERT_NE(op7, std::string::npos);
    const size_t count = options.policy.find("count: 1000", op7);
    options.policy.replace(count, strlen("count: 1000"), "count: 2");
    absl::StatusOr<Ed25519KeyPair> jwt_key = Ed25519KeyPair::Generate("test-1");
    ASSERT_TRUE(jwt_key.ok()) << jwt_key.status();
    const std::string key_file = MakeTempDir() + "/jwt.key";
    ASSERT_TRUE(auth::SaveKeyPairFile(*jwt_key, key_file).ok());
    options.files["jwt.key"] = ReadFile(key_file);
    options.keys = "jwt_signing_key_file: \"jwt.key\"\n";
    options.users =
        "users { id: \"u-anna\" entity: \"team-north\" }\n"
        "users { id: \"u-bo\" entity: \"team-north\" role: "
        "\"team-north-admin\" }\n";
    // A reuse interval short enough for RefreshRevokeMeIntrospect to wait
    // it out.
    options.tokens = R"pb(
      tokens {
        jwt { issuer: "https://auth.test" audience: "https://api.test" }
        refresh_reuse_interval_ms: 1000
      }
    )pb";
    options.routes = R"pb(
      routes {
        method: "GET"
        path: "/teams/{team}/sites"
        object_type: "sites"
        action: "read"
        entity_path_param: "team"
      }
    )pb";
    options.config =
        "limits { header_bytes: 4096 authorization_bytes: 1024 }\n";
    test_ = TestServer::Start(options);
    ASSERT_NE(test_, nullptr);
    for (const char* client : {"monta-cp-reader", "monta-member-app",
                               "monta-op7-full-access", "monta-full-access"}) {
      secrets_[client] = test_->Secret(client);
      ASSERT_FALSE(secrets_[client].empty()) << client;
    }
  }

  // Sends `raw` bytes and reads one answer.
  Response Raw(const std::string& raw) { return SendRaw(test_->port(), raw); }

  Response Send(const std::string& method, const std::string& target,
                const std::string& headers, const std::string& body = "") {
    return test_->Send(method, target, headers, body);
  }

  Response Json(const std::string& target, const std::string& body,
                const std::string& headers = "") {
    return Send("POST", target,
                absl::StrCat("Content-Type: application/json\r\n", headers),
                body);
  }

  Response Form(const std::string& target, const std::string& body,
                const std::string& headers = "") {
    return Send(
        "POST", target,
        absl::StrCat("Content-Type: application/x-www-form-urlencoded\r\n",
                     headers),
        body);
  }

  std::string Basic(const std::string& id, const std::string& secret) {
    return absl::StrCat("Authorization: Basic ",
                        absl::Base64Escape(absl::StrCat(id, ":", secret)),
                        "\r\n");
  }

  // An access token of `client` (client_credentials, Monta's dialect).
  std::string Token(const std::string& client) { return test_->Token(client); }

  Response Authorize(const std::string& token, const std::string& method,
                     const std::string& uri, const std::string& entity) {
    std::string headers = absl::StrCat("X-Original-Method: ", method,
                                       "\r\nX-Original-URI: ", uri, "\r\n");
    if (!token.empty()) {
      absl::StrAppend(&headers, "Authorization: Bearer ", token, "\r\n");
    }
    if (!entity.empty()) {
      absl::StrAppend(&headers, "x-monite-entity-id: ", entity, "\r\n");
    }
    return Send("GET", "/v1/authorize", headers);
  }

  std::unique_ptr<TestServer> test_;
  std::map<std::string, std::string> secrets_;
};

TEST_F(ServerTest, HealthReadyMetrics) {
  EXPECT_EQ(Send("GET", "/healthz", "").result_int(), 200u);
  EXPECT_EQ(Send("GET", "/readyz", "").result_int(), 200u);
  Response metrics = Send("GET", "/metrics", "");
  EXPECT_EQ(metrics.result_int(), 200u);
  EXPECT_TRUE(
      absl::StrContains(metrics.body(), "portcullis_policy_generation 1"))
      << metrics.body();
  EXPECT_TRUE(
      absl::StrContains(metrics.body(), "portcullis_http_requests_total"));
  EXPECT_EQ(Send("GET", "/nope", "").result_int(), 404u);
  EXPECT_EQ(Send("GET", "/auth/token", "").result_int(), 405u);
}

TEST_F(ServerTest, TokenDialectsAndClientAuthentication) {
  const std::string secret = secrets_["monta-cp-reader"];
  // RFC 6749 form with HTTP Basic.
  Response r = Form("/auth/token", "grant_type=client_credentials",
                    Basic("monta-cp-reader", secret));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(Header(r, "Cache-Control"), "no-store");
  EXPECT_TRUE(absl::StrContains(r.body(), "\"token_type\":\"Bearer\""));
  EXPECT_FALSE(JsonField(r.body(), "access_token").empty());
  // Credentials in a form body.
  r = Form("/auth/token",
           absl::StrCat("grant_type=client_credentials&client_id=monta-cp-"
                        "reader&client_secret=",
                        secret));
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  // Monite's snake_case JSON: RFC 6749's answer.
  r = Json("/auth/token",
           absl::StrCat("{\"grant_type\":\"client_credentials\",\"client_id\":"
                        "\"monta-cp-reader\",\"client_secret\":\"",
                        secret, "\"}"));
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_FALSE(JsonField(r.body(), "access_token").empty());
  // Monta's camelCase JSON: Monta's answer.
  EXPECT_FALSE(Token("monta-cp-reader").empty());

  // Failures.
  r = Form("/auth/token", "grant_type=client_credentials",
           Basic("monta-cp-reader", "wrong"));
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_client");
  EXPECT_TRUE(absl::StartsWith(Header(r, "WWW-Authenticate"), "Basic"));
  EXPECT_FALSE(absl::StrContains(r.body(), secret));
  r = Form("/auth/token", "grant_type=client_credentials",
           "Authorization: Basic !!!notbase64\r\n");
  EXPECT_EQ(r.result_int(), 401u);
  r = Form("/auth/token", "grant_type=client_credentials",
           "Authorization: Basic bm9jb2xvbg==\r\n");  // "nocolon"
  EXPECT_EQ(r.result_int(), 401u);
  r = Form("/auth/token", "grant_type=password",
           Basic("monta-cp-reader", secret));
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(JsonField(r.body(), "error"), "unsupported_grant_type");
  r = Form("/auth/token", "client_id=monta-cp-reader");
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_request");
  r = Form("/auth/token",
           "grant_type=client_credentials&grant_type=client_credentials",
           Basic("monta-cp-reader", secret));
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_request");
  r = Form("/auth/token",
           absl::StrCat("grant_type=client_credentials&client_secret=", secret),
           Basic("monta-cp-reader", secret));
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_request");
  r = Json("/auth/token", "{\"clientId\":\"a\",");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_request");
  r = Json("/auth/token", "{\"clientId\":\"a\",\"clientId\":\"b\"}");
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_request");
  r = Send("POST", "/auth/token", "Content-Type: text/plain\r\n", "x");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_request");
  r = Form("/auth/token",
           "grant_type=client_credentials&client_id=nobody&"
           "client_secret=x");
  EXPECT_EQ(r.result_int(), 401u);
}

// The JSON number field `name` of a flat JSON object (test helper only).
int64_t NumberField(const std::string& json, const std::string& name) {
  const std::string key = absl::StrCat("\"", name, "\":");
  size_t start = json.find(key);
  if (start == std::string::npos) return -1;
  return std::strtoll(json.c_str() + start + key.size(), nullptr, 10);
}

// `jwt` verified by the library's JwtVerifier knowing only the one key of
// the JWK Set `jwks` (which must have kid `kid`).
absl::StatusOr<auth::JwtClaims> VerifyWithJwks(const std::string& jwks,
                                               const std::string& kid,
                                               const std::string& issuer,
                                               const std::string& audience,
                                               const std::string& jwt) {
  constexpr absl::string_view kOpen = "{\"keys\":[";
  if (!absl::StartsWith(jwks, kOpen) || !absl::EndsWith(jwks, "]}")) {
    return absl::InvalidArgumentError(absl::StrCat("not a JWKS: ", jwks));
  }
  absl::StatusOr<Ed25519PublicKey> key = auth::PublicKeyFromJwk(
      jwks.substr(kOpen.size(), jwks.size() - kOpen.size() - 2));
  if (!key.ok()) return key.status();
  if (key->kid() != kid) {
    return absl::InvalidArgumentError(absl::StrCat("kid ", key->kid()));
  }
  auth::JwtVerifierOptions options;
  options.issuer = issuer;
  options.audience = audience;
  options.keys = {*key};
  absl::StatusOr<auth::JwtVerifier> verifier =
      auth::JwtVerifier::Create(options);
  if (!verifier.ok()) return verifier.status();
  return verifier->Verify(jwt, absl::Now());
}

TEST_F(ServerTest, MoniteDialectGetsJwtMontaDialectOpaque) {
  const std::string secret = secrets_["monta-cp-reader"];
  // Monite's snake_case JSON: a JWT, 30 minutes.
  Response r =
      Json("/auth/token",
           absl::StrCat("{\"grant_type\":\"client_credentials\",\"client_id\":"
                        "\"monta-cp-reader\",\"client_secret\":\"",
                        secret, "\"}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::string jwt = JsonField(r.body(), "access_token");
  ASSERT_TRUE(absl::StartsWith(jwt, "eyJ")) << r.body();
  const std::vector<std::string> parts = absl::StrSplit(jwt, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string header;
  ASSERT_TRUE(Base64UrlDecode(parts[0], header));
  EXPECT_EQ(header, R"({"alg":"EdDSA","typ":"at+jwt","kid":"test-1"})");
  EXPECT_EQ(NumberField(r.body(), "expires_in"), 1800);
  EXPECT_TRUE(auth::ParseToken(JsonField(r.body(), "refresh_token")).ok());

  // The JWKS serves the key; the library's verifier, given only the JWKS,
  // accepts the token.
  Response jwks = Send("GET", "/.well-known/jwks.json", "");
  ASSERT_EQ(jwks.result_int(), 200u);
  EXPECT_EQ(Header(jwks, "Content-Type"), "application/json");
  EXPECT_EQ(Header(jwks, "Cache-Control"), "public, max-age=300");
  absl::StatusOr<auth::JwtClaims> claims = VerifyWithJwks(
      jwks.body(), "test-1", "https://auth.test", "https://api.test", jwt);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "monta-cp-reader");
  EXPECT_EQ(claims->client_id, "monta-cp-reader");
  EXPECT_EQ(claims->expires_at - claims->issued_at, absl::Seconds(1800));
  EXPECT_EQ(Send("POST", "/.well-known/jwks.json", "").result_int(), 405u);

  // Monta's camelCase JSON: an opaque token, one hour.
  r = Json("/auth/token", absl::StrCat("{\"clientId\":\"monta-cp-reader\","
                                       "\"clientSecret\":\"",
                                       secret, "\"}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::string opaque = JsonField(r.body(), "accessToken");
  EXPECT_TRUE(auth::ParseToken(opaque).ok()) << r.body();

  // Both authorize.
  for (const std::string& token : {jwt, opaque}) {
    r = Authorize(token, "GET", "/charge-points", "team-north");
    ASSERT_EQ(r.result_int(), 200u) << r.body();
    EXPECT_EQ(Header(r, "X-Portcullis-Principal"), "client:monta-cp-reader");
    r = Authorize(token, "POST", "/charge-points", "team-north");
    EXPECT_EQ(r.result_int(), 403u);
  }
  // RFC 7662 introspection of the JWT.
  r = Form("/auth/introspect", absl::StrCat("token=", jwt),
           Basic("monta-cp-reader", secret));
  ASSERT_EQ(r.result_int(), 200u);
  EXPECT_TRUE(absl::StartsWith(r.body(), "{\"active\":true")) << r.body();

  // A tampered JWT: 401 invalid_token.
  std::string tampered = jwt;
  char& c = tampered[parts[0].size() + 5];
  c = c == 'A' ? 'B' : 'A';
  r = Authorize(tampered, "GET", "/charge-points", "team-north");
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_TRUE(
      absl::StrContains(Header(r, "WWW-Authenticate"), "invalid_token"));

  // Revoked at /auth/revoke (RFC 7009 form): refused from then on.
  r = Form("/auth/revoke", absl::StrCat("token=", jwt),
           Basic("monta-cp-reader", secret));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  r = Authorize(jwt, "GET", "/charge-points", "team-north");
  EXPECT_EQ(r.result_int(), 401u);
  r = Authorize(opaque, "GET", "/charge-points", "team-north");
  EXPECT_EQ(r.result_int(), 200u);
}

TEST_F(ServerTest, RefreshKeepsTheDialectsFormat) {
  const std::string secret = secrets_["monta-cp-reader"];
  Response r = Form("/auth/token", "grant_type=client_credentials",
                    Basic("monta-cp-reader", secret));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::string jwt = JsonField(r.body(), "access_token");
  ASSERT_TRUE(absl::StartsWith(jwt, "eyJ"));
  r = Form("/auth/token",
           absl::StrCat("grant_type=refresh_token&refresh_token=",
                        JsonField(r.body(), "refresh_token")),
           Basic("monta-cp-reader", secret));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::string jwt2 = JsonField(r.body(), "access_token");
  EXPECT_TRUE(absl::StartsWith(jwt2, "eyJ"));
  // The refresh revoked the previous JWT.
  EXPECT_EQ(Authorize(jwt, "GET", "/charge-points", "team-north").result_int(),
            401u);
  EXPECT_EQ(Authorize(jwt2, "GET", "/charge-points", "team-north").result_int(),
            200u);
  // Monta's /auth/refresh: an opaque token again.
  r = Json("/auth/refresh",
           absl::StrCat("{\"refreshToken\":\"",
                        JsonField(r.body(), "refresh_token"), "\"}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_TRUE(auth::ParseToken(JsonField(r.body(), "accessToken")).ok())
      << r.body();
}

TEST_F(ServerTest, ProxyAuthorization) {
  const std::string token = Token("monta-cp-reader");
  Response r = Authorize(token, "GET", "/charge-points?page=2", "team-north");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(Header(r, "X-Portcullis-Principal"), "client:monta-cp-reader");
  EXPECT_EQ(Header(r, "X-Portcullis-Decision"), "allowed");
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "granted");
  r = Authorize(token, "POST", "/charge-points", "team-north");
  EXPECT_EQ(r.result_int(), 403u);
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "scope");
  r = Authorize(token, "GET", "/unknown", "team-north");
  EXPECT_EQ(r.result_int(), 403u);
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "unknown_route");
  r = Authorize(token, "GET", "/charge-points/../x", "team-north");
  EXPECT_EQ(r.result_int(), 403u);
  r = Authorize(token, "GET", "/charge-points", "");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "missing_entity");
  r = Authorize(token, "GET", "/charge-points", "team-nowhere");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "unknown_entity");
  r = Authorize(token, "GET", "/charge-points", "team-west");
  EXPECT_EQ(r.result_int(), 403u);
  EXPECT_EQ(Header(r, "X-Portcullis-Reason"), "tenant");
  // Entity from a path parameter.
  const std::string full = Token("monta-full-access");
  r = Authorize(full, "GET", "/teams/team-north/sites", "");
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  r = Authorize(full, "GET", "/teams/team-west/sites", "");
  EXPECT_EQ(r.result_int(), 403u);
  // Tokens: missing, malformed, unknown, oversized.
  r = Authorize("", "GET", "/charge-points", "team-north");
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_TRUE(absl::StartsWith(Header(r, "WWW-Authenticate"), "Bearer"));
  r = Authorize("garbage", "GET", "/charge-points", "team-north");
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_TRUE(absl::StrContains(Header(r, "WWW-Authenticate"),
                                "error=\"invalid_token\""));
  r = Authorize("00000000-0000-0000-0000-000000000000", "GET", "/charge-points",
                "team-north");
  EXPECT_EQ(r.result_int(), 401u);
  r = Authorize(std::string(2000, 'a'), "GET", "/charge-points", "team-north");
  EXPECT_EQ(r.result_int(), 401u);
  // nginx headers missing.
  r = Send("GET", "/v1/authorize",
           absl::StrCat("Authorization: Bearer ", token, "\r\n"));
  EXPECT_EQ(r.result_int(), 400u);
  // A repeated entity header.
  r = Send("GET", "/v1/authorize",
           absl::StrCat("Authorization: Bearer ", token,
                        "\r\nX-Original-Method: GET\r\nX-Original-URI: "
                        "/charge-points\r\nx-monite-entity-id: team-north\r\n"
                        "x-monite-entity-id: team-south\r\n"));
  EXPECT_EQ(r.result_int(), 400u);
  // Envoy ext_authz: the original method and path are the request's own.
  r = Send("GET", "/v1/ext_authz/charge-points?x=1",
           absl::StrCat("Authorization: Bearer ", token,
                        "\r\nx-monite-entity-id: team-north\r\n"));
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  r = Send("DELETE", "/v1/ext_authz/charge-points/17",
           absl::StrCat("Authorization: Bearer ", token,
                        "\r\nx-monite-entity-id: team-north\r\n"));
  EXPECT_EQ(r.result_int(), 403u);
  r = Send("DELETE", "/v1/ext_authz/charge-points/17",
           absl::StrCat("Authorization: Bearer ", full,
                        "\r\nx-monite-entity-id: team-north\r\n"));
  EXPECT_EQ(r.result_int(), 200u);
}

// nginx returns a connection to its keepalive pool only after an answer
// without a body (auth_request never reads one): every /v1/authorize answer,
// whatever its status, is headers only with Content-Length: 0. Envoy's
// ext_authz passes a denial's body to the client, so /v1/ext_authz keeps it.
TEST_F(ServerTest, ProxyAuthorizationAnswersHaveNoBody) {
  const std::string token = Token("monta-cp-reader");
  const std::string original = "X-Original-Method: GET\r\nX-Original-URI: ";
  struct Case {
    const char* name;
    std::string headers;
    unsigned status;
  };
  const Case cases[] = {
      {"allowed",
       absl::StrCat(original, "/charge-points\r\nAuthorization: Bearer ", token,
                    "\r\nx-monite-entity-id: team-north\r\n"),
       200},
      {"denied",
       absl::StrCat(original, "/charge-points\r\nAuthorization: Bearer ", token,
                    "\r\nx-monite-entity-id: team-west\r\n"),
       403},
      {"no entity",
       absl::StrCat(original, "/charge-points\r\nAuthorization: Bearer ", token,
                    "\r\n"),
       400},
      {"no token", absl::StrCat(original, "/charge-points\r\n"), 401},
      {"bad token",
       absl::StrCat(original, "/charge-points\r\nAuthorization: Bearer x\r\n"),
       401},
      {"no original request",
       absl::StrCat("Authorization: Bearer ", token, "\r\n"), 400},
  };
  // One keep-alive connection, as nginx's: every answer keeps it open.
  HttpClient proxy(test_->port());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Response r = proxy.Send("GET", "/v1/authorize", c.headers);
    EXPECT_EQ(r.result_int(), c.status);
    EXPECT_EQ(Header(r, "Content-Length"), "0");
    EXPECT_EQ(r.body(), "");
    EXPECT_EQ(Header(r, "Content-Type"), "");
    EXPECT_TRUE(r.keep_alive());
  }
  const Response envoy =
      Send("GET", "/v1/ext_authz/charge-points",
           absl::StrCat("Authorization: Bearer ", token,
                        "\r\nx-monite-entity-id: team-west\r\n"));
  EXPECT_EQ(envoy.result_int(), 403u);
  EXPECT_EQ(envoy.body(), R"({"decision":"not_allowed","reason":"tenant"})");
}

TEST_F(ServerTest, EntityUserAllowedForOwn) {
  Response r =
      Json("/auth/token",
           absl::StrCat("{\"grant_type\":\"entity_user\",\"client_id\":\"monta-"
                        "member-app\",\"client_secret\":\"",
                        secrets_["monta-member-app"],
                        "\",\"entity_user_id\":\"u-anna\"}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::string token = JsonField(r.body(), "access_token");
  r = Authorize(token, "GET", "/charges", "team-north");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(Header(r, "X-Portcullis-Decision"), "allowed_for_own");
  EXPECT_EQ(Header(r, "X-Portcullis-Owner"), "u-anna");
  EXPECT_EQ(Header(r, "X-Portcullis-Principal"), "user:u-anna");
  r = Json("/auth/token",
           absl::StrCat("{\"grant_type\":\"entity_user\",\"client_id\":\"monta-"
                        "member-app\",\"client_secret\":\"",
                        secrets_["monta-member-app"],
                        "\",\"entity_user_id\":\"u-nobody\"}"));
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_grant");
}

TEST_F(ServerTest, RefreshRevokeMeIntrospect) {
  const std::string secret = secrets_["monta-cp-reader"];
  Response r =
      Json("/auth/token", absl::StrCat("{\"clientId\":\"monta-cp-reader\","
                                       "\"clientSecret\":\"",
                                       secret, "\"}"));
  const std::string refresh = JsonField(r.body(), "refreshToken");
  ASSERT_FALSE(refresh.empty());
  r = Json("/auth/refresh",
           absl::StrCat("{\"refreshToken\":\"", refresh, "\"}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::string access = JsonField(r.body(), "accessToken");
  const std::string refresh2 = JsonField(r.body(), "refreshToken");
  // Reuse within the reuse interval (a lost race): refused, the family kept.
  r = Json("/auth/refresh",
           absl::StrCat("{\"refreshToken\":\"", refresh, "\"}"));
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_grant");
  EXPECT_EQ(
      Authorize(access, "GET", "/charge-points", "team-north").result_int(),
      200u);
  // After it (theft): refused, and the family is revoked.
  absl::SleepFor(absl::Milliseconds(1100));
  r = Json("/auth/refresh",
           absl::StrCat("{\"refreshToken\":\"", refresh, "\"}"));
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_grant");
  EXPECT_EQ(
      Authorize(access, "GET", "/charge-points", "team-north").result_int(),
      401u);

  // RFC 6749 §6 at /auth/token, with the client authenticated.
  r = Form("/auth/token", "grant_type=client_credentials",
           Basic("monta-cp-reader", secret));
  std::string rt = JsonField(r.body(), "refresh_token");
  r = Form("/auth/token",
           absl::StrCat("grant_type=refresh_token&refresh_token=", rt),
           Basic("monta-full-access", secrets_["monta-full-access"]));
  EXPECT_EQ(JsonField(r.body(), "error"), "invalid_grant");  // another client's
  r = Form("/auth/token",
           absl::StrCat("grant_type=refresh_token&refresh_token=", rt),
           Basic("monta-cp-reader", secret));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::string access2 = JsonField(r.body(), "access_token");

  // /auth/me.
  r = Send("GET", "/auth/me",
           absl::StrCat("Authorization: Bearer ", access2, "\r\n"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_TRUE(absl::StrContains(r.body(), "\"clientId\":\"monta-cp-reader\""));
  EXPECT_TRUE(absl::StrContains(r.body(), "\"clientSecret\":null"));
  EXPECT_EQ(Send("GET", "/auth/me", "").result_int(), 401u);

  // Introspection (RFC 7662).
  r = Form("/auth/introspect", absl::StrCat("token=", access2),
           Basic("monta-cp-reader", secret));
  ASSERT_EQ(r.result_int(), 200u);
  EXPECT_TRUE(absl::StrContains(r.body(), "\"active\":true")) << r.body();
  r = Form("/auth/introspect", "token=nonsense",
           Basic("monta-cp-reader", secret));
  EXPECT_EQ(r.body(), "{\"active\":false}");
  r = Form("/auth/introspect", absl::StrCat("token=", access2),
           Basic("monta-full-access", secrets_["monta-full-access"]));
  EXPECT_EQ(r.body(), "{\"active\":false}");
  r = Form("/auth/introspect", absl::StrCat("token=", access2),
           Basic("monta-cp-reader", "wrong"));
  EXPECT_EQ(r.result_int(), 401u);

  // Revocation: Monite's JSON, then RFC 7009's form.
  r = Json("/auth/revoke",
           absl::StrCat("{\"client_id\":\"monta-cp-reader\",\"client_secret\":"
                        "\"",
                        secret, "\",\"token\":\"", access2, "\"}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(r.body(), "{\"message\":\"ok\"}");
  EXPECT_EQ(
      Authorize(access2, "GET", "/charge-points", "team-north").result_int(),
      401u);
  r = Form("/auth/revoke",
           absl::StrCat("token=", refresh2, "&token_type_hint=refresh_token"),
           Basic("monta-cp-reader", secret));
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r.body(), "");
  r = Form("/auth/revoke", "token=not-a-token",
           Basic("monta-cp-reader", secret));
  EXPECT_EQ(r.result_int(), 200u);
  r = Form("/auth/revoke", "token=x", Basic("monta-cp-reader", "bad"));
  EXPECT_EQ(r.result_int(), 401u);
}

TEST_F(ServerTest, RateLimit) {
  const std::string token = Token("monta-op7-full-access");
  EXPECT_EQ(Authorize(token, "GET", "/charge-points", "team-west").result_int(),
            200u);
  EXPECT_EQ(Authorize(token, "GET", "/charge-points", "team-west").result_int(),
            200u);
  Response r = Authorize(token, "GET", "/charge-points", "team-west");
  EXPECT_EQ(r.result_int(), 429u);
  EXPECT_FALSE(Header(r, "Retry-After").empty());
  EXPECT_TRUE(absl::StrContains(Send("GET", "/metrics", "").body(),
                                "portcullis_rate_limited_total 1"));
}

TEST_F(ServerTest, LimitsAndMalformedRequests) {
  // A body over the /auth/* limit: 413 from the header, body never sent.
  Response r =
      Raw("POST /auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: "
          "application/json\r\nContent-Length: 70000\r\n\r\n");
  EXPECT_EQ(r.result_int(), 413u);
  // Chunked, over the limit.
  std::string chunked =
      "POST /auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: "
      "application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    absl::StrAppend(&chunked, "1000\r\n", std::string(4096, 'x'), "\r\n");
  }
  r = Raw(chunked);
  EXPECT_EQ(r.result_int(), 413u);
  // Headers over the limit.
  r = Raw(absl::StrCat("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ",
                       std::string(8000, 'x'), "\r\n\r\n"));
  EXPECT_EQ(r.result_int(), 431u);
  // CR inside a header value; a bare LF; a bad request line.
  r = Raw(
      "GET /v1/authorize HTTP/1.1\r\nHost: t\r\nX-Original-URI: /a\rb\r\n\r\n");
  EXPECT_EQ(r.result_int(), 400u);
  r = Raw("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\nb\r\n\r\n");
  EXPECT_EQ(r.result_int() / 100, 4u);
  r = Raw("GARBAGE\r\n\r\n");
  EXPECT_EQ(r.result_int(), 400u);
  // Still serving.
  EXPECT_EQ(Send("GET", "/healthz", "").result_int(), 200u);
}

TEST_F(ServerTest, KeepAlive) {
  HttpClient client(test_->port());
  for (int i = 0; i < 3; ++i) {
    client.Write("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    Response r = client.Read();
    EXPECT_EQ(r.result_int(), 200u);
    EXPECT_TRUE(r.keep_alive());
  }
}

TEST_F(ServerTest, StateSurvivesARestart) {
  const std::string token = Token("monta-cp-reader");
  ASSERT_TRUE(test_->Stop());
  const std::string& dir = test_->dir();
  struct stat info;
  ASSERT_EQ(stat((dir + "/state/tokens.sealed").c_str(), &info), 0);
  ASSERT_EQ(stat((dir + "/state/clients.sealed").c_str(), &info), 0);
  EXPECT_FALSE(
      absl::StrContains(ReadFile(dir + "/state/tokens.sealed"), token));
  ASSERT_TRUE(test_->Restart());
  EXPECT_EQ(
      Authorize(token, "GET", "/charge-points", "team-north").result_int(),
      200u);
  // The registered secret survived too.
  Response r = Form("/auth/token", "grant_type=client_credentials",
                    Basic("monta-cp-reader", secrets_["monta-cp-reader"]));
  EXPECT_EQ(r.result_int(), 200u);
}

// examples/server starts as committed, and its README's demo secret works.
TEST(ExampleServerTest, StartsAndIssuesWithTheDemoSecret) {
  const std::string readme = ReadFile("examples/server/README.md");
  const std::string row = "| `monta-cp-reader` | `";
  const size_t at = readme.find(row);
  ASSERT_NE(at, std::string::npos);
  const std::string secret = readme.substr(at + row.size(), 36);
  Overrides overrides;
  overrides.listen = "127.0.0.1:0";
  overrides.state_dir = MakeTempDir();
  overrides.log_level = "error";
  absl::StatusOr<ServerSettings> settings =
      LoadServerConfig("examples/server/server.txtpb", overrides);
  ASSERT_TRUE(settings.ok()) << settings.status();
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(std::move(*settings));
  ASSERT_TRUE(server.ok()) << server.status();
  HttpClient client((*server)->endpoints()[0].port());
  const std::string body = absl::StrCat(
      "{\"clientId\":\"monta-cp-reader\",\"clientSecret\":\"", secret, "\"}");
  client.Write(
      absl::StrCat("POST /auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: "
                   "application/json\r\nContent-Length: ",
                   body.size(), "\r\n\r\n", body));
  Response r = client.Read();
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_TRUE(auth::ParseToken(JsonField(r.body(), "accessToken")).ok())
      << r.body();

  // Monite's dialect: a JWT that the served JWKS verifies.
  const std::string monite = absl::StrCat(
      "{\"grant_type\":\"client_credentials\",\"client_id\":\"monta-cp-"
      "reader\",\"client_secret\":\"",
      secret, "\"}");
  client.Write(
      absl::StrCat("POST /auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: "
                   "application/json\r\nContent-Length: ",
                   monite.size(), "\r\n\r\n", monite,
                   "GET /.well-known/jwks.json HTTP/1.1\r\nHost: t\r\n\r\n"));
  Response token = client.Read();
  ASSERT_EQ(token.result_int(), 200u) << token.body();
  EXPECT_EQ(NumberField(token.body(), "expires_in"), 1800);
  const std::string jwt = JsonField(token.body(), "access_token");
  EXPECT_TRUE(absl::StartsWith(jwt, "eyJ")) << token.body();
  Response jwks = client.Read();
  ASSERT_EQ(jwks.result_int(), 200u);
  absl::StatusOr<auth::JwtClaims> claims =
      VerifyWithJwks(jwks.body(), "demo-1", "http://127.0.0.1:8181",
                     "http://127.0.0.1:8181", jwt);
  EXPECT_TRUE(claims.ok()) << claims.status();
}

}  // namespace
}  // namespace portcullis::server::testing
