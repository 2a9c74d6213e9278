// The decision_log, admin and decision_api sections of the configuration.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/api_settings.h"
#include "server/config.h"

namespace portcullis::server {
namespace {

constexpr char kBase[] = R"pb(
  listen: "127.0.0.1:0"
  policy { files: "p.txtpb" }
  keys { token_key_file: "t.key" registry_key_file: "r.key" }
  tokens { oauth_token_format: "opaque" }
)pb";

absl::StatusOr<ServerSettings> Parse(const std::string& extra) {
  return ParseServerConfig(absl::StrCat(kBase, extra), "/etc/pc");
}

TEST(ApiConfigTest, Defaults) {
  absl::StatusOr<ServerSettings> s = Parse("");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->api.decision_log.enabled);
  EXPECT_EQ(s->api.decision_log.sample_rate, 1.0);
  EXPECT_FALSE(s->api.decision_log.sample_denials);
  EXPECT_EQ(s->api.decision_log.queue_size, 8192u);
  EXPECT_FALSE(s->api.admin.enabled);
  EXPECT_EQ(s->api.max_batch_size, 1000u);
  EXPECT_EQ(s->api.check_body_bytes, 1u << 20);
}

TEST(ApiConfigTest, Values) {
  absl::StatusOr<ServerSettings> s = Parse(R"pb(
    decision_log {
      enabled: true
      path: "logs/d.log"
      sample_rate: 0
      sample_denials: true
      queue_size: 10
    }
    admin { listen: "[::1]:9000" token_file: "admin.token" }
    decision_api { max_batch_size: 10 check_body_bytes: 2048 }
  )pb");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->api.decision_log.path, "/etc/pc/logs/d.log");
  EXPECT_EQ(s->api.decision_log.sample_rate, 0.0);
  EXPECT_TRUE(s->api.decision_log.sample_denials);
  EXPECT_EQ(s->api.decision_log.queue_size, 10u);
  EXPECT_TRUE(s->api.admin.enabled);
  EXPECT_EQ(s->api.admin.host, "::1");
  EXPECT_EQ(s->api.admin.port, 9000);
  EXPECT_EQ(s->api.admin.token_file, "/etc/pc/admin.token");
  EXPECT_EQ(s->api.max_batch_size, 10u);
  EXPECT_EQ(s->api.check_body_bytes, 2048u);
}

TEST(ApiConfigTest, Errors) {
  struct Case {
    const char* extra;
    const char* message;
  } cases[] = {
      {"decision_log { sample_rate: 1.5 }", "decision_log.sample_rate"},
      {"decision_log { sample_rate: -0.1 }", "decision_log.sample_rate"},
      {"admin { listen: \"0.0.0.0:9000\" token_file: \"a\" }",
       "admin.listen: must be a loopback address"},
      {"admin { listen: \"10.0.0.1:9000\" token_file: \"a\" }",
       "admin.listen: must be a loopback address"},
      {"admin { listen: \"127.0.0.1:9000\" }", "admin.token_file: required"},
      {"admin { token_file: \"a\" }", "admin.token_file: given without"},
      {"admin { listen: \"127.0.0.1\" token_file: \"a\" }", "admin.listen"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ServerSettings> s = Parse(c.extra);
    ASSERT_FALSE(s.ok()) << c.extra;
    EXPECT_TRUE(absl::StrContains(s.status().message(), c.message))
        << c.extra << " -> " << s.status();
  }
}

TEST(ApiConfigTest, LoopbackHosts) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.8.9.10"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("example.com"));
}

}  // namespace
}  // namespace portcullis::server
