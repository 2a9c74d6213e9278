// token_store.kind and the `redis` section of ServerConfig: defaults, and
// every bad value named with its field path.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/config.h"

namespace portcullis::server {
namespace {

constexpr char kBase[] = R"pb(
  listen: "127.0.0.1:0"
  policy { files: "policy.txtpb" }
  keys { token_key_file: "token.key" registry_key_file: "registry.key" }
  tokens { oauth_token_format: "opaque" }
)pb";

absl::StatusOr<ServerSettings> Parse(const std::string& extra) {
  return ParseServerConfig(absl::StrCat(kBase, extra), "/etc/pc");
}

TEST(RedisConfigTest, MemoryIsTheDefault) {
  absl::StatusOr<ServerSettings> s = Parse("");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->token_store_kind, TokenStoreKind::kMemory);
  s = Parse("token_store { kind: \"memory\" }");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->token_store_kind, TokenStoreKind::kMemory);
}

TEST(RedisConfigTest, RedisWithDefaults) {
  absl::StatusOr<ServerSettings> s = Parse(
      "token_store { kind: \"redis\" } redis { address: \"10.0.0.5:6380\" "
      "password_file: \"redis.password\" }");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->token_store_kind, TokenStoreKind::kRedis);
  EXPECT_EQ(s->redis.host, "10.0.0.5");
  EXPECT_EQ(s->redis.port, 6380);
  EXPECT_EQ(s->redis.password_file, "/etc/pc/redis.password");
  EXPECT_EQ(s->redis.key_prefix, "portcullis:");
  EXPECT_EQ(s->redis.staleness_bound, absl::Seconds(1));
  EXPECT_EQ(s->redis.command_timeout, absl::Milliseconds(200));
  EXPECT_EQ(s->redis.pool_size, 0);

  s = Parse(
      "token_store { kind: \"redis\" } redis { address: \"[::1]:6379\" "
      "key_prefix: \"p:\" staleness_bound_ms: 250 pool_size: 4 "
      "command_timeout_ms: 50 }");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->redis.host, "::1");
  EXPECT_EQ(s->redis.key_prefix, "p:");
  EXPECT_EQ(s->redis.staleness_bound, absl::Milliseconds(250));
  EXPECT_EQ(s->redis.pool_size, 4);
  EXPECT_EQ(s->redis.command_timeout, absl::Milliseconds(50));
}

TEST(RedisConfigTest, BadValuesNameTheField) {
  struct Case {
    const char* name;
    const char* extra;
    const char* message;
  };
  const Case cases[] = {
      {"unknown kind", "token_store { kind: \"etcd\" }",
       "token_store.kind: \"etcd\": expected \"memory\" or \"redis\""},
      {"no address", "token_store { kind: \"redis\" }",
       "redis.address: required with token_store.kind \"redis\""},
      {"no port",
       "token_store { kind: \"redis\" } redis { address: \"localhost\" }",
       "redis.address: \"localhost\": expected HOST:PORT with a port in [1, "
       "65535]"},
      {"port 0", "token_store { kind: \"redis\" } redis { address: \"h:0\" }",
       "redis.address: \"h:0\": expected HOST:PORT with a port in [1, "
       "65535]"},
      {"bound too small",
       "token_store { kind: \"redis\" } redis { address: \"h:1\" "
       "staleness_bound_ms: 5 }",
       "redis.staleness_bound_ms: 5 is out of range [20, 60000]"},
      {"timeout too large",
       "token_store { kind: \"redis\" } redis { address: \"h:1\" "
       "command_timeout_ms: 60001 }",
       "redis.command_timeout_ms: 60001 is out of range [1, 60000]"},
      {"backoff order",
       "token_store { kind: \"redis\" } redis { address: \"h:1\" "
       "reconnect_backoff_min_ms: 500 reconnect_backoff_max_ms: 100 }",
       "redis.reconnect_backoff_max_ms: less than reconnect_backoff_min_ms"},
      {"pool too large",
       "token_store { kind: \"redis\" } redis { address: \"h:1\" "
       "pool_size: 5000 }",
       "redis.pool_size: 5000 is out of range [1, 1024]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<ServerSettings> s = Parse(c.extra);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.status().message(), c.message);
  }
}

}  // namespace
}  // namespace portcullis::server
