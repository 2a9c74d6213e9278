// The configuration of `portcullis serve`: proto/server.proto read from a
// text-format file, checked, with defaults filled in and every path resolved
// against the configuration file's directory (docs/server.md).
#ifndef PORTCULLIS_SERVER_CONFIG_H_
#define PORTCULLIS_SERVER_CONFIG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/crypto.h"
#include "engine/auth/jwt.h"
#include "engine/auth/token_messages.h"
#include "engine/auth/user_directory.h"
#include "engine/live/bundle_poller.h"
#include "engine/live/policy_watcher.h"
#include "proto/server.pb.h"
#include "server/api_settings.h"
#include "server/ratelimit/rate_limit_options.h"

namespace portcullis::server {

enum class LogLevel : uint8_t { kError, kWarning, kInfo, kDebug };

// "error", "warning", "info", "debug"; InvalidArgument otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

// One listen address.
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};

// "HOST:PORT" or "[IPV6]:PORT". InvalidArgument `listen: ...` otherwise.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text);

struct RouteSettings {
  std::string method;
  std::string path;
  std::string object_type;
  std::string action;
  std::string entity_path_param;
  std::string entity_header;  // lower case; never empty after loading
};

struct LimitSettings {
  size_t auth_body_bytes = 64 * 1024;
  size_t body_bytes = 64 * 1024;
  size_t header_bytes = 8 * 1024;
  size_t max_connections = 10000;
  size_t authorization_bytes = 4096;
  absl::Duration read_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration write_timeout = absl::Seconds(10);
  absl::Duration drain_timeout = absl::Seconds(5);
};

// Where the tokens live (TokenStoreConfig.kind).
enum class TokenStoreKind : uint8_t { kMemory, kRedis };

// RedisConfig with defaults applied (docs/replicas.md). Used only with
// TokenStoreKind::kRedis.
struct RedisSettings {
  std::string host;
  int port = 0;
  std::string password_file;  // empty: no AUTH
  std::string key_prefix = "portcullis:";
  absl::Duration connect_timeout = absl::Milliseconds(200);
  absl::Duration command_timeout = absl::Milliseconds(200);
  int pool_size = 0;  // 0: 2 per worker thread, at least 8
  absl::Duration reconnect_backoff_min = absl::Milliseconds(10);
  absl::Duration reconnect_backoff_max = absl::Seconds(1);
  absl::Duration staleness_bound = absl::Seconds(1);
};

// The configuration with defaults applied and paths resolved.
struct ServerSettings {
  std::string config_path;
  std::vector<ListenAddress> listen;
  PolicySource policy_source;
  PolicyWatcherOptions watcher;  // on_reload is the server's
  // A bundle server (policy.bundle_url): its URL is not empty. The
  // verification keys (from policy_public_key_files), the cache path (in
  // state_dir) and on_reload are the service's.
  BundlePollerOptions bundle_poller;
  // Public JWK files of the keys a bundle (policy.bundle or bundle_url) must
  // be signed by; empty: a bundle file is not checked for a signature.
  std::vector<std::string> policy_public_key_files;
  // The last good bundle of a bundle server, in state_dir.
  std::string bundle_cache_file = "last-good.bundle";
  std::string registry_seed_file;
  absl::Duration save_interval = absl::Seconds(1);
  TokenStoreKind token_store_kind = TokenStoreKind::kMemory;
  RedisSettings redis;
  std::string user_directory_file;
  std::string token_key_file;
  std::string registry_key_file;
  bool allow_readable_key_files = false;
  // JWT access tokens: empty signing key file: none.
  std::string jwt_signing_key_file;
  std::vector<std::string> jwt_public_key_files;
  std::string jwt_issuer;
  std::string jwt_audience;
  absl::Duration jwt_leeway = absl::Seconds(60);
  // tokens.refresh_reuse_interval_ms (TokenServiceOptions).
  absl::Duration refresh_reuse_interval = absl::Seconds(3);
  // Per answer dialect: Monta's (camelCase JSON) and RFC 6749 / Monite's.
  auth::TokenFormat monta_token_format = auth::TokenFormat::kOpaque;
  auth::TokenFormat oauth_token_format = auth::TokenFormat::kJwt;
  absl::Duration oauth_access_token_ttl = absl::Seconds(1800);
  // Monta's.
  absl::Duration access_token_ttl = absl::Hours(1);
  absl::Duration refresh_token_ttl = absl::Hours(24 * 30);
  std::string entity_header = "x-monite-entity-id";
  std::vector<RouteSettings> routes;
  bool allow_unmatched = false;
  LimitSettings limits;
  std::string state_dir;
  LogLevel log_level = LogLevel::kInfo;
  size_t threads = 0;  // resolved: at least 1
  absl::Duration reload_failure_grace = absl::Seconds(60);
  // Decision API, decision logs, admin listener (api_settings.h).
  ApiSettings api;
  // Where rate limits are counted (ServerConfig.rate_limit).
  ratelimit::RateLimitOptions rate_limit;
};

// What the command line overrides (empty: keep the configuration's).
struct Overrides {
  std::string listen;
  std::string state_dir;
  std::string log_level;
};

// Reads and checks a ServerSettings from the text-format file at `path`.
// InvalidArgument naming the file and field for anything wrong, NotFound if
// the file cannot be read.
absl::StatusOr<ServerSettings> LoadServerConfig(
    const std::string& path, const Overrides& overrides = Overrides());

// The same from text; `base_dir` resolves relative paths.
absl::StatusOr<ServerSettings> ParseServerConfig(
    absl::string_view text, const std::string& base_dir,
    const Overrides& overrides = Overrides());

// A 32-byte key from a file of 64 hex digits (whitespace around ignored).
// Refuses a file readable by group or others (PermissionDenied). Errors
// never quote the file's content.
// Lines starting with '#' are comments. `allow_readable` lifts the
// permission check (demo keys only).
absl::StatusOr<auth::SecretKey> ReadKeyFile(const std::string& path,
                                            bool allow_readable = false);

// The users of a text-format UserDirectoryFile (`path` names it in errors):
// InvalidArgument for a parse error, a user without id or entity, or an id
// given twice.
absl::StatusOr<std::vector<std::pair<std::string, auth::DirectoryUser>>>
ParseUserDirectory(const std::string& text, const std::string& path);

// The JWT signer of `settings`: the private JWK of jwt_signing_key_file
// (refused when readable by group or others unless allow_readable_key_files,
// like ReadKeyFile) and the public JWKs of jwt_public_key_files. Null when
// no signing key is configured. Errors name the file, never the key.
absl::StatusOr<std::shared_ptr<const auth::JwtSigner>> LoadJwtSigner(
    const ServerSettings& settings);

// Fills `directory` from a text-format UserDirectoryFile.
absl::Status LoadUserDirectory(const std::string& path,
                               auth::InMemoryUserDirectory& directory);

// Reads a whole file; NotFound / Internal naming it.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `contents` to `path` atomically: a temporary file in the same
// directory (mode 0600), fsync, rename, fsync of the directory.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_CONFIG_H_
