// The server's configuration, body parameters and route table, without HTTP.
#include "server/config.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/params.h"
#include "server/routes.h"

namespace portcullis::server {
namespace {

constexpr char kMinimal[] = R"pb(
  listen: "127.0.0.1:0"
  policy { files: "policy.txtpb" }
  keys { token_key_file: "token.key" registry_key_file: "/abs/registry.key" }
  tokens { oauth_token_format: "opaque" }
  routes {
    routes {
      method: "GET"
      path: "/charge-points"
      object_type: "charge-points"
      action: "read"
    }
    routes {
      method: "DELETE"
      path: "/teams/{team}/charge-points/{id}"
      object_type: "charge-points"
      action: "delete"
      entity_path_param: "team"
    }
  }
)pb";

TEST(ConfigTest, DefaultsAndRelativePaths) {
  absl::StatusOr<ServerSettings> s = ParseServerConfig(kMinimal, "/etc/pc");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->listen.size(), 1u);
  EXPECT_EQ(s->listen[0].host, "127.0.0.1");
  EXPECT_EQ(s->listen[0].port, 0);
  ASSERT_EQ(s->policy_source.paths.size(), 1u);
  EXPECT_EQ(s->policy_source.paths[0], "/etc/pc/policy.txtpb");
  EXPECT_EQ(s->token_key_file, "/etc/pc/token.key");
  EXPECT_EQ(s->registry_key_file, "/abs/registry.key");
  EXPECT_EQ(s->state_dir, "/etc/pc/state");
  EXPECT_EQ(s->limits.auth_body_bytes, 65536u);
  EXPECT_EQ(s->entity_header, "x-monite-entity-id");
  EXPECT_EQ(s->routes[0].entity_header, "x-monite-entity-id");
  EXPECT_EQ(s->log_level, LogLevel::kInfo);
  EXPECT_GE(s->threads, 1u);
}

// policy.max_file_bytes and max_total_bytes set the loader's limits
// (LoadOptions); a larger file limit raises the total's default with it.
TEST(ConfigTest, PolicyFileLimits) {
  absl::StatusOr<ServerSettings> s = ParseServerConfig(kMinimal, "/");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->watcher.source.load.max_file_bytes, size_t{1} << 30);
  EXPECT_EQ(s->watcher.source.load.max_total_bytes, size_t{2} << 30);
  std::string raised = kMinimal;
  const size_t policy = raised.find("policy {");
  ASSERT_NE(policy, std::string::npos);
  raised.insert(policy + 8, " max_file_bytes: 4294967296 ");
  s = ParseServerConfig(raised, "/");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->watcher.source.load.max_file_bytes, size_t{4} << 30);
  EXPECT_EQ(s->watcher.source.load.max_total_bytes, size_t{4} << 30);
  raised.insert(policy + 8, " max_total_bytes: 8589934592 ");
  s = ParseServerConfig(raised, "/");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->watcher.source.load.max_total_bytes, size_t{8} << 30);
}

TEST(ConfigTest, TokenFormatsAndJwt) {
  constexpr char kBase[] =
      "listen: \"h:1\" policy { files: \"p\" } keys { token_key_file: \"a\" "
      "registry_key_file: \"b\" ";
  // The RFC 6749 dialect issues JWTs by default: a key is required.
  absl::StatusOr<ServerSettings> s =
      ParseServerConfig(absl::StrCat(kBase, "}"), "/etc");
  EXPECT_EQ(s.status().message(),
            "keys.jwt_signing_key_file: required: a dialect issues JWTs (the "
            "RFC 6749 dialect's default; set tokens.oauth_token_format: "
            "\"opaque\" for none)");
  s = ParseServerConfig(
      absl::StrCat(kBase, "jwt_signing_key_file: \"jwt.key\" }"), "/etc");
  EXPECT_EQ(s.status().message(),
            "tokens.jwt.issuer: required: a dialect issues JWTs (the RFC 6749 "
            "dialect's default; set tokens.oauth_token_format: \"opaque\" for "
            "none)");
  s = ParseServerConfig(
      absl::StrCat(kBase,
                   "jwt_signing_key_file: \"jwt.key\" jwt_public_key_files: "
                   "\"old.jwk\" } tokens { jwt { issuer: \"https://i\" "
                   "audience: \"https://a\" } }"),
      "/etc");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->monta_token_format, auth::TokenFormat::kOpaque);
  EXPECT_EQ(s->oauth_token_format, auth::TokenFormat::kJwt);
  EXPECT_EQ(s->access_token_ttl, absl::Hours(1));
  EXPECT_EQ(s->oauth_access_token_ttl, absl::Seconds(1800));
  EXPECT_EQ(s->jwt_signing_key_file, "/etc/jwt.key");
  ASSERT_EQ(s->jwt_public_key_files.size(), 1u);
  EXPECT_EQ(s->jwt_public_key_files[0], "/etc/old.jwk");
  EXPECT_EQ(s->jwt_leeway, absl::Seconds(60));
  s = ParseServerConfig(
      absl::StrCat(kBase,
                   "} tokens { oauth_token_format: \"opaque\" "
                   "monta_token_format: \"JWT\" }"),
      "/etc");
  EXPECT_EQ(s.status().message(),
            "tokens.monta_token_format: expected \"opaque\" or \"jwt\"");
  s = ParseServerConfig(
      absl::StrCat(kBase,
                   "} tokens { oauth_token_format: \"opaque\" "
                   "oauth_access_token_ttl_seconds: 600 }"),
      "/etc");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->oauth_access_token_ttl, absl::Seconds(600));
  EXPECT_TRUE(s->jwt_signing_key_file.empty());
}

// tokens.refresh_reuse_interval_ms: default 3 s, 0 only with the _zero flag,
// at most a minute.
TEST(ConfigTest, RefreshReuseInterval) {
  const auto parse = [](absl::string_view tokens) {
    return ParseServerConfig(
        absl::StrCat("listen: \"h:1\" policy { files: \"p\" } keys { "
                     "token_key_file: \"a\" registry_key_file: \"b\" "
                     "} tokens { oauth_token_format: \"opaque\" ",
                     tokens, " }"),
        "/etc");
  };
  struct Case {
    const char* tokens;
    absl::Duration interval;  // when accepted
    const char* error;        // empty when accepted
  };
  const Case cases[] = {
      {"", absl::Seconds(3), ""},
      {"refresh_reuse_interval_ms: 250", absl::Milliseconds(250), ""},
      {"refresh_reuse_interval_ms: 60000", absl::Seconds(60), ""},
      {"refresh_reuse_interval_zero: true", absl::ZeroDuration(), ""},
      {"refresh_reuse_interval_ms: 60001", absl::ZeroDuration(),
       "tokens.refresh_reuse_interval_ms: at most 60000, got 60001"},
      {"refresh_reuse_interval_ms: 5 refresh_reuse_interval_zero: true",
       absl::ZeroDuration(),
       "tokens.refresh_reuse_interval_zero: set with a nonzero "
       "refresh_reuse_interval_ms"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.tokens);
    absl::StatusOr<ServerSettings> s = parse(c.tokens);
    if (*c.error == '\0') {
      ASSERT_TRUE(s.ok()) << s.status();
      EXPECT_EQ(s->refresh_reuse_interval, c.interval);
    } else {
      EXPECT_EQ(s.status().message(), c.error);
    }
  }
}

TEST(ConfigTest, OverridesWin) {
  Overrides o;
  o.listen = "[::1]:8181";
  o.state_dir = "/tmp/x";
  o.log_level = "debug";
  absl::StatusOr<ServerSettings> s = ParseServerConfig(kMinimal, "/etc", o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->listen[0].host, "::1");
  EXPECT_EQ(s->listen[0].port, 8181);
  EXPECT_EQ(s->state_dir, "/tmp/x");
  EXPECT_EQ(s->log_level, LogLevel::kDebug);
}

TEST(ConfigTest, Rejects) {
  const char* bad[] = {
      "listen: \"127.0.0.1:0\" policy { files: \"p\" }",  // no keys
      "policy { files: \"p\" } keys { token_key_file: \"a\" "
      "registry_key_file: \"b\" }",  // no listen
      "listen: \"nope\" policy { files: \"p\" } keys { token_key_file: \"a\" "
      "registry_key_file: \"b\" }",
      "listen: \"h:1\" policy { files: \"p\" bundle: \"b\" } keys { "
      "token_key_file: \"a\" registry_key_file: \"b\" }",
      "listen: \"h:1\" policy { files: \"p\" } keys { token_key_file: \"a\" "
      "registry_key_file: \"b\" } routes { routes { method: \"GET\" path: "
      "\"/x/{a\" object_type: \"t\" action: \"r\" } }",
      "listen: \"h:1\" policy { files: \"p\" } keys { token_key_file: \"a\" "
      "registry_key_file: \"b\" } routes { routes { method: \"GET\" path: "
      "\"/x\" object_type: \"t\" action: \"r\" entity_path_param: \"id\" } }",
      "listen: \"h:1\" unknown_field: 1",
      "listen: \"h:1\" policy { files: \"p\" } keys { token_key_file: \"a\" "
      "registry_key_file: \"b\" } log_level: \"loud\"",
  };
  for (const char* text : bad) {
    EXPECT_FALSE(ParseServerConfig(text, "/").ok()) << text;
  }
}

// policy.bundle_url: defaults, paths, and the options a bundle server uses.
TEST(ConfigTest, BundleServer) {
  const std::string keys =
      "keys { token_key_file: \"a\" registry_key_file: \"b\" } tokens { "
      "oauth_token_format: \"opaque\" }";
  absl::StatusOr<ServerSettings> s = ParseServerConfig(
      absl::StrCat("listen: \"127.0.0.1:0\" policy { bundle_url: "
                   "\"https://bundles.example.com/p.bundle\" "
                   "bundle_public_key_files: \"ci.jwk.pub\" }",
                   keys),
      "/etc/pc");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->bundle_poller.url, "https://bundles.example.com/p.bundle");
  EXPECT_EQ(s->policy_public_key_files,
            std::vector<std::string>{"/etc/pc/ci.jwk.pub"});
  EXPECT_EQ(s->bundle_poller.min_delay, absl::Seconds(10));
  EXPECT_EQ(s->bundle_poller.max_delay, absl::Seconds(30));
  EXPECT_EQ(s->bundle_poller.max_backoff, absl::Seconds(120));
  EXPECT_EQ(s->bundle_poller.connect_timeout, absl::Seconds(5));
  EXPECT_EQ(s->bundle_poller.timeout, absl::Seconds(60));
  EXPECT_EQ(s->bundle_poller.max_bundle_bytes, size_t{256} << 20);
  EXPECT_EQ(s->bundle_poller.max_redirects, 0);
  EXPECT_EQ(s->bundle_cache_file, "last-good.bundle");
  EXPECT_FALSE(s->bundle_poller.allow_empty);
  EXPECT_EQ(s->bundle_poller.max_removed_share, 0.5);

  s = ParseServerConfig(
      absl::StrCat(
          "listen: \"127.0.0.1:0\" policy { bundle_url: "
          "\"http://127.0.0.1:8080/p.bundle\" bundle_public_key_files: "
          "\"/k/a.pub\" bundle_public_key_files: \"b.pub\" "
          "min_poll_delay_ms: 100 max_poll_delay_ms: 200 max_backoff_ms: 400 "
          "connect_timeout_ms: 300 fetch_timeout_ms: 900 max_bundle_bytes: "
          "1000000 max_redirects: 2 bundle_cache_file: \"b.cache\" "
          "allow_empty: true max_removed_share: 1 }",
          keys),
      "/etc/pc");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->policy_public_key_files,
            (std::vector<std::string>{"/k/a.pub", "/etc/pc/b.pub"}));
  EXPECT_EQ(s->bundle_poller.min_delay, absl::Milliseconds(100));
  EXPECT_EQ(s->bundle_poller.max_delay, absl::Milliseconds(200));
  EXPECT_EQ(s->bundle_poller.max_backoff, absl::Milliseconds(400));
  EXPECT_EQ(s->bundle_poller.connect_timeout, absl::Milliseconds(300));
  EXPECT_EQ(s->bundle_poller.timeout, absl::Milliseconds(900));
  EXPECT_EQ(s->bundle_poller.max_bundle_bytes, 1000000u);
  EXPECT_EQ(s->bundle_poller.max_redirects, 2);
  EXPECT_EQ(s->bundle_cache_file, "b.cache");
  EXPECT_TRUE(s->bundle_poller.allow_empty);
  EXPECT_EQ(s->bundle_poller.max_removed_share, 1);

  struct Case {
    std::string policy;
    std::string error;
  };
  const Case cases[] = {
      {"files: \"p\" bundle_url: \"http://h/p\"",
       "policy: exactly one of files, manifest, bundle or bundle_url"},
      {"bundle_url: \"http://h/p\"",
       "policy.bundle_public_key_files: required with bundle_url: a bundle "
       "fetched over a network is accepted only when signed"},
      {"bundle_url: \"ftp://h/p\" bundle_public_key_files: \"k\"",
       "policy.bundle_url: \"ftp://h/p\": only http:// and https:// URLs"},
      {"bundle_url: \"http://h/p\" bundle_public_key_files: \"k\" "
       "poll_interval_seconds: 5",
       "policy.bundle_url: poll_interval_seconds and the quiet period are for "
       "files"},
      {"bundle_url: \"http://h/p\" bundle_public_key_files: \"k\" "
       "quiet_period_zero: true",
       "policy.bundle_url: poll_interval_seconds and the quiet period are for "
       "files"},
      {"bundle_url: \"http://h/p\" bundle_public_key_files: \"k\" "
       "min_poll_delay_ms: 5000 max_poll_delay_ms: 1000",
       "policy.min_poll_delay_ms: 5000 is above max_poll_delay_ms (1000)"},
      {"bundle_url: \"http://h/p\" bundle_public_key_files: \"k\" "
       "max_backoff_ms: 1000",
       "policy.max_backoff_ms: 1000 is below max_poll_delay_ms (30000)"},
      {"bundle_url: \"http://h/p\" bundle_public_key_files: \"k\" "
       "max_redirects: 21",
       "policy.max_redirects: 21 is above 20"},
      {"bundle_url: \"http://h/p\" bundle_public_key_files: \"k\" "
       "bundle_cache_file: \"../x\"",
       "policy.bundle_cache_file: \"../x\" is not a file name (the file is "
       "kept in the state directory)"},
      {"files: \"p\" min_poll_delay_ms: 100",
       "policy.min_poll_delay_ms: only with bundle_url"},
      {"files: \"p\" bundle_cache_file: \"x\"",
       "policy.bundle_cache_file: only with bundle_url"},
      {"files: \"p\" bundle_public_key_files: \"k\"",
       "policy.bundle_public_key_files: only for a bundle or bundle_url "
       "source"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.policy);
    s = ParseServerConfig(
        absl::StrCat("listen: \"127.0.0.1:0\" policy { ", c.policy, " }", keys),
        "/");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(s.status().message()).substr(0, c.error.size()),
              c.error);
  }
}

TEST(RoutesTest, MatchesTemplatesAndRefusesOddPaths) {
  absl::StatusOr<ServerSettings> s = ParseServerConfig(kMinimal, "/");
  ASSERT_TRUE(s.ok());
  RouteTable table(s->routes);
  std::optional<RouteMatch> m = table.Match("GET", "/charge-points?limit=5");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->route->action, "read");
  m = table.Match("DELETE", "/teams/team-north/charge-points/17");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->Param("team"), "team-north");
  EXPECT_EQ(m->Param("id"), "17");
  EXPECT_FALSE(table.Match("POST", "/charge-points").has_value());
  EXPECT_FALSE(table.Match("GET", "/charge-points/").has_value());
  EXPECT_FALSE(table.Match("GET", "//charge-points").has_value());
  EXPECT_FALSE(table.Match("GET", "charge-points").has_value());
  EXPECT_FALSE(table.Match("DELETE", "/teams/../charge-points/17").has_value());
  EXPECT_FALSE(table.Match("DELETE", "/teams//charge-points/17").has_value());
}

TEST(ParamsTest, Form) {
  absl::StatusOr<Params> p =
      ParseForm("grant_type=client_credentials&client_id=a%20b&x=1+2");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p->Get("client_id"), "a b");
  EXPECT_EQ(*p->Get("x"), "1 2");
  EXPECT_FALSE(ParseForm("a=1&a=2").ok());
  EXPECT_FALSE(ParseForm("a=%zz").ok());
  EXPECT_FALSE(ParseForm("a=%4").ok());
  EXPECT_FALSE(ParseForm("=1").ok());
}

TEST(ParamsTest, Json) {
  absl::StatusOr<Params> p =
      ParseJson(R"({"clientId":"a","clientSecret":"b"})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->dialect, BodyDialect::kCamelJson);
  EXPECT_EQ(*p->Get("client_secret"), "b");
  p = ParseJson(R"({"client_id":"a","grant_type":"client_credentials"})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->dialect, BodyDialect::kSnakeJson);
  EXPECT_FALSE(ParseJson(R"({"client_id":"a","client_id":"b"})").ok());
  EXPECT_FALSE(ParseJson(R"({"client_id":"a","clientId":"a"})").ok());
  EXPECT_FALSE(ParseJson(R"({"client_id":1})").ok());
  EXPECT_FALSE(ParseJson(R"({"client_id":"a",})").ok());
  EXPECT_FALSE(ParseJson(R"(["a"])").ok());
  EXPECT_FALSE(ParseJson(R"({"bogus":"a"})").ok());
  EXPECT_FALSE(ParseJson("{").ok());
  EXPECT_FALSE(ParseBody("text/plain", "a=b").ok());
  EXPECT_TRUE(ParseBody("application/json; charset=utf-8", "{}").ok());
}

TEST(ParamsTest, Basic) {
  // "a%3Ab:s%2B+t" -> id "a:b", secret "s+ t".
  absl::StatusOr<std::optional<BasicCredentials>> b =
      ParseBasic("Basic YSUzQWI6cyUyQit0");
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b->has_value());
  EXPECT_EQ((*b)->client_id, "a:b");
  EXPECT_EQ((*b)->client_secret, "s+ t");
  EXPECT_FALSE(ParseBasic("Basic !!!!").ok());
  EXPECT_FALSE(ParseBasic("Basic YWJj").ok());  // "abc": no colon
  EXPECT_FALSE(ParseBasic("basic").ok());
  b = ParseBasic("Bearer x");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->has_value());
}

}  // namespace
}  // namespace portcullis::server
