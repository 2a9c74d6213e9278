#include "server/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace portcullis::server {
namespace {

// Collects text-format parse errors as "line L, column C: message".
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(absl::StrCat("line ", line + 1, ", column ", column + 1,
                                   ": ", message));
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}
  std::string Text() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Checks a route's path template: starts with '/', `{name}` segments whole.
absl::Status CheckTemplate(absl::string_view path,
                           std::set<std::string>* params) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError("must start with '/'");
  }
  for (absl::string_view segment :
       absl::StrSplit(path.substr(1), absl::ByChar('/'))) {
    const bool open = absl::StrContains(segment, '{');
    const bool close = absl::StrContains(segment, '}');
    if (!open && !close) continue;
    if (segment.size() < 3 || segment.front() != '{' || segment.back() != '}' ||
        absl::StrContains(segment.substr(1, segment.size() - 2), '{') ||
        absl::StrContains(segment.substr(1, segment.size() - 2), '}')) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment \"", absl::CEscape(segment),
                       "\": a parameter is a whole segment `{name}`"));
    }
    if (!params->insert(std::string(segment.substr(1, segment.size() - 2)))
             .second) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", segment, " appears twice"));
    }
  }
  return absl::OkStatus();
}

bool ValidHeaderName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  if (name == "error") return LogLevel::kError;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "info") return LogLevel::kInfo;
  if (name == "debug") return LogLevel::kDebug;
  return absl::InvalidArgumentError(
      absl::StrCat("log level: expected error, warning, info or debug, got \"",
                   absl::CEscape(name), "\""));
}

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text) {
  ListenAddress address;
  absl::string_view port;
  if (absl::StartsWith(text, "[")) {
    size_t end = text.find("]:");
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen: \"", absl::CEscape(text), "\": expected [IPV6]:PORT"));
    }
    address.host = std::string(text.substr(1, end - 1));
    port = text.substr(end + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen: \"", absl::CEscape(text), "\": expected HOST:PORT"));
    }
    address.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  uint32_t number = 0;
  if (port.empty() || !absl::SimpleAtoi(port, &number) || number > 65535 ||
      !absl::ascii_isdigit(port[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen: \"", absl::CEscape(text), "\": bad port"));
  }
  address.port = static_cast<uint16_t>(number);
  return address;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat(path, ": read error"));
  return out.str();
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  const std::string temp = absl::StrCat(path, ".tmp.", getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat(temp, ": cannot create: ", std::strerror(errno)));
  }
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n =
        ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string error = std::strerror(errno);
      ::close(fd);
      ::unlink(temp.c_str());
      return absl::InternalError(absl::StrCat(temp, ": write: ", error));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string error = std::strerror(errno);
    ::unlink(temp.c_str());
    return absl::InternalError(absl::StrCat(temp, ": fsync: ", error));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string error = std::strerror(errno);
    ::unlink(temp.c_str());
    return absl::InternalError(absl::StrCat(path, ": rename: ", error));
  }
  int dir = ::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const auth::JwtSigner>> LoadJwtSigner(
    const ServerSettings& settings) {
  if (settings.jwt_signing_key_file.empty()) {
    return std::shared_ptr<const auth::JwtSigner>();
  }
  const std::string& path = settings.jwt_signing_key_file;
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot read key file: ", std::strerror(errno)));
  }
  if (!settings.allow_readable_key_files && (info.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, ": key file is readable by group or others (chmod 600 it)"));
  }
  absl::StatusOr<Ed25519KeyPair> key = auth::LoadKeyPairFile(path);
  if (!key.ok()) return key.status();
  std::vector<Ed25519PublicKey> others;
  for (const std::string& public_path : settings.jwt_public_key_files) {
    absl::StatusOr<Ed25519PublicKey> public_key =
        auth::LoadPublicKeyFile(public_path);
    if (!public_key.ok()) return public_key.status();
    others.push_back(*std::move(public_key));
  }
  absl::StatusOr<auth::JwtSigner> signer =
      auth::JwtSigner::Create(*std::move(key), std::move(others));
  if (!signer.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWT keys: ", signer.status().message()));
  }
  return std::make_shared<const auth::JwtSigner>(*std::move(signer));
}

absl::StatusOr<auth::SecretKey> ReadKeyFile(const std::string& path,
                                            bool allow_readable) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot read key file: ", std::strerror(errno)));
  }
  if (!allow_readable && (info.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, ": key file is readable by group or others (chmod 600 it)"));
  }
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::string content;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!absl::StartsWith(line, "#")) absl::StrAppend(&content, line);
  }
  std::fill(text->begin(), text->end(), '\0');
  absl::string_view hex = content;
  bool all_hex = hex.size() == 2 * auth::SecretKey::kSize;
  for (char c : hex) all_hex = all_hex && absl::ascii_isxdigit(c);
  if (!all_hex) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected 64 hex digits"));
  }
  std::string bytes = absl::HexStringToBytes(hex);
  absl::StatusOr<auth::SecretKey> key =
      auth::SecretKey::FromBytes(absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  std::fill(bytes.begin(), bytes.end(), '\0');
  std::fill(content.begin(), content.end(), '\0');
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

absl::StatusOr<std::vector<std::pair<std::string, auth::DirectoryUser>>>
ParseUserDirectory(const std::string& text, const std::string& path) {
  v1::UserDirectoryFile file;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &file)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", errors.Text()));
  }
  std::vector<std::pair<std::string, auth::DirectoryUser>> users;
  std::set<std::string> seen;
  for (int i = 0; i < file.users_size(); ++i) {
    const v1::User& user = file.users(i);
    const std::string where = absl::StrCat(path, ": users[", i, "]");
    if (user.id().empty() || user.entity().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": id and entity are required"));
    }
    if (!seen.insert(user.id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": user \"", absl::CEscape(user.id()), "\" appears twice"));
    }
    users.emplace_back(user.id(),
                       auth::DirectoryUser{user.entity(), user.role()});
  }
  return users;
}

absl::Status LoadUserDirectory(const std::string& path,
                               auth::InMemoryUserDirectory& directory) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto users = ParseUserDirectory(*text, path);
  if (!users.ok()) return users.status();
  for (auto& [id, user] : *users) {
    absl::Status status = directory.SetUser(id, std::move(user));
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": user \"", absl::CEscape(id), "\": ", status.message()));
    }
  }
  return absl::OkStatus();
}

namespace {

// The bundle server fields of `policy` (bundle_url and the fields only it
// uses) into `s.bundle_poller`; InvalidArgument naming the field and value.
absl::Status ParseBundleServer(const v1::PolicySourceConfig& policy,
                               ServerSettings& s) {
  auto invalid = [](absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy.", field, ": ", message));
  };
  if (policy.bundle_url().empty()) {
    struct Field {
      bool set;
      absl::string_view name;
    };
    for (const Field& field :
         {Field{policy.min_poll_delay_ms() > 0, "min_poll_delay_ms"},
          Field{policy.max_poll_delay_ms() > 0, "max_poll_delay_ms"},
          Field{policy.max_backoff_ms() > 0, "max_backoff_ms"},
          Field{policy.connect_timeout_ms() > 0, "connect_timeout_ms"},
          Field{policy.fetch_timeout_ms() > 0, "fetch_timeout_ms"},
          Field{policy.max_bundle_bytes() > 0, "max_bundle_bytes"},
          Field{policy.max_redirects() > 0, "max_redirects"},
          Field{!policy.bundle_cache_file().empty(), "bundle_cache_file"}}) {
      if (field.set) return invalid(field.name, "only with bundle_url");
    }
    return absl::OkStatus();
  }
  if (policy.poll_interval_seconds() > 0 || policy.quiet_period_ms() > 0 ||
      policy.quiet_period_zero()) {
    return invalid(
        "bundle_url",
        "poll_interval_seconds and the quiet period are for files; a bundle "
        "server is polled every min_poll_delay_ms to max_poll_delay_ms, and "
        "a fetched bundle arrives whole");
  }
  if (policy.bundle_public_key_files().empty()) {
    return invalid("bundle_public_key_files",
                   "required with bundle_url: a bundle fetched over a network "
                   "is accepted only when signed");
  }
  BundlePollerOptions& o = s.bundle_poller;
  o.url = policy.bundle_url();
  if (policy.min_poll_delay_ms() > 0) {
    o.min_delay = absl::Milliseconds(policy.min_poll_delay_ms());
  }
  if (policy.max_poll_delay_ms() > 0) {
    o.max_delay = absl::Milliseconds(policy.max_poll_delay_ms());
  }
  if (policy.max_backoff_ms() > 0) {
    o.max_backoff = absl::Milliseconds(policy.max_backoff_ms());
  }
  if (o.min_delay > o.max_delay) {
    return invalid("min_poll_delay_ms",
                   absl::StrCat(absl::ToInt64Milliseconds(o.min_delay),
                                " is above max_poll_delay_ms (",
                                absl::ToInt64Milliseconds(o.max_delay), ")"));
  }
  if (o.max_backoff < o.max_delay) {
    return invalid("max_backoff_ms",
                   absl::StrCat(absl::ToInt64Milliseconds(o.max_backoff),
                                " is below max_poll_delay_ms (",
                                absl::ToInt64Milliseconds(o.max_delay), ")"));
  }
  if (policy.connect_timeout_ms() > 0) {
    o.connect_timeout = absl::Milliseconds(policy.connect_timeout_ms());
  }
  if (policy.fetch_timeout_ms() > 0) {
    o.timeout = absl::Milliseconds(policy.fetch_timeout_ms());
  }
  if (policy.max_bundle_bytes() > 0) {
    o.max_bundle_bytes = policy.max_bundle_bytes();
  }
  if (policy.max_redirects() > 20) {
    return invalid("max_redirects",
                   absl::StrCat(policy.max_redirects(), " is above 20"));
  }
  o.max_redirects = static_cast<int>(policy.max_redirects());
  if (!policy.bundle_cache_file().empty()) {
    const std::string& name = policy.bundle_cache_file();
    if (name == "." || name == ".." || name.find('/') != std::string::npos) {
      return invalid("bundle_cache_file",
                     absl::StrCat("\"", absl::CEscape(name),
                                  "\" is not a file name (the file is kept "
                                  "in the state directory)"));
    }
    s.bundle_cache_file = name;
  }
  // The URL's own checks (scheme, no credentials) are the poller's, at
  // start; repeated here so that a bad URL is a configuration error.
  if (!absl::StartsWithIgnoreCase(o.url, "http://") &&
      !absl::StartsWithIgnoreCase(o.url, "https://")) {
    return invalid("bundle_url",
                   absl::StrCat("\"", absl::CEscape(o.url),
                                "\": only http:// and https:// URLs"));
  }
  return absl::OkStatus();
}

// token_store.kind and the redis block, into `s`.
absl::Status RedisFromConfig(const v1::ServerConfig& config,
                             const std::string& base_dir, ServerSettings& s) {
  auto invalid = [](absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
  };
  const std::string& kind = config.token_store().kind();
  if (kind.empty() || kind == "memory") {
    s.token_store_kind = TokenStoreKind::kMemory;
    return absl::OkStatus();
  }
  if (kind != "redis") {
    return invalid("token_store.kind",
                   absl::StrCat("\"", absl::CEscape(kind.substr(0, 64)),
                                "\": expected \"memory\" or \"redis\""));
  }
  s.token_store_kind = TokenStoreKind::kRedis;
  if (!config.has_redis() || config.redis().address().empty()) {
    return invalid("redis.address", "required with token_store.kind \"redis\"");
  }
  const v1::RedisConfig& redis = config.redis();
  const std::string& address = redis.address();
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 1 ||
      port > 65535) {
    return invalid("redis.address",
                   absl::StrCat("\"", absl::CEscape(address.substr(0, 128)),
                                "\": expected HOST:PORT with a port in "
                                "[1, 65535]"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  s.redis.host = host;
  s.redis.port = port;
  if (!redis.password_file().empty()) {
    s.redis.password_file = Resolve(base_dir, redis.password_file());
  }
  if (!redis.key_prefix().empty()) s.redis.key_prefix = redis.key_prefix();
  const auto millis = [&](absl::string_view field, uint32_t value, uint32_t min,
                          uint32_t max, absl::Duration& out) -> absl::Status {
    if (value == 0) return absl::OkStatus();
    if (value < min || value > max) {
      return invalid(
          absl::StrCat("redis.", field),
          absl::StrCat(value, " is out of range [", min, ", ", max, "]"));
    }
    out = absl::Milliseconds(value);
    return absl::OkStatus();
  };
  for (absl::Status status :
       {millis("connect_timeout_ms", redis.connect_timeout_ms(), 1, 60000,
               s.redis.connect_timeout),
        millis("command_timeout_ms", redis.command_timeout_ms(), 1, 60000,
               s.redis.command_timeout),
        millis("reconnect_backoff_min_ms", redis.reconnect_backoff_min_ms(), 1,
               60000, s.redis.reconnect_backoff_min),
        millis("reconnect_backoff_max_ms", redis.reconnect_backoff_max_ms(), 1,
               60000, s.redis.reconnect_backoff_max),
        millis("staleness_bound_ms", redis.staleness_bound_ms(), 20, 60000,
               s.redis.staleness_bound)}) {
    if (!status.ok()) return status;
  }
  if (s.redis.reconnect_backoff_max < s.redis.reconnect_backoff_min) {
    return invalid("redis.reconnect_backoff_max_ms",
                   "less than reconnect_backoff_min_ms");
  }
  if (redis.pool_size() > 1024) {
    return invalid(
        "redis.pool_size",
        absl::StrCat(redis.pool_size(), " is out of range [1, 1024]"));
  }
  s.redis.pool_size = static_cast<int>(redis.pool_size());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerSettings> ParseServerConfig(absl::string_view text,
                                                 const std::string& base_dir,
                                                 const Overrides& overrides) {
  v1::ServerConfig config;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    return absl::InvalidArgumentError(errors.Text());
  }
  ServerSettings s;
  auto invalid = [](absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
  };

  // listen
  std::vector<std::string> listen(config.listen().begin(),
                                  config.listen().end());
  if (!overrides.listen.empty()) listen = {overrides.listen};
  if (listen.empty()) return invalid("listen", "at least one address");
  for (const std::string& entry : listen) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(entry);
    if (!address.ok()) return address.status();
    s.listen.push_back(*address);
  }

  // policy
  const v1::PolicySourceConfig& policy = config.policy();
  const int kinds = (policy.files_size() > 0) + !policy.manifest().empty() +
                    !policy.bundle().empty() + !policy.bundle_url().empty();
  if (kinds != 1) {
    return invalid("policy",
                   "exactly one of files, manifest, bundle or bundle_url");
  }
  for (const std::string& path : policy.bundle_public_key_files()) {
    s.policy_public_key_files.push_back(Resolve(base_dir, path));
  }
  if (!s.policy_public_key_files.empty() && policy.bundle().empty() &&
      policy.bundle_url().empty()) {
    return invalid("policy.bundle_public_key_files",
                   "only for a bundle or bundle_url source");
  }
  if (policy.files_size() > 0) {
    std::vector<std::string> paths;
    for (const std::string& path : policy.files()) {
      paths.push_back(Resolve(base_dir, path));
    }
    s.policy_source = PolicySource::Files(std::move(paths));
  } else if (!policy.manifest().empty()) {
    s.policy_source =
        PolicySource::Manifest(Resolve(base_dir, policy.manifest()));
  } else if (!policy.bundle().empty()) {
    s.policy_source = PolicySource::Bundle(Resolve(base_dir, policy.bundle()));
  }
  if (absl::Status remote = ParseBundleServer(policy, s); !remote.ok()) {
    return remote;
  }
  if (policy.poll_interval_seconds() > 0) {
    s.watcher.interval = absl::Seconds(policy.poll_interval_seconds());
  }
  if (policy.quiet_period_zero()) {
    s.watcher.quiet_period = absl::ZeroDuration();
  } else if (policy.quiet_period_ms() > 0) {
    s.watcher.quiet_period = absl::Milliseconds(policy.quiet_period_ms());
  }
  s.watcher.allow_empty = policy.allow_empty();
  if (policy.max_removed_share() < 0 || policy.max_removed_share() > 1) {
    return invalid("policy.max_removed_share", "must be within [0, 1]");
  }
  if (policy.max_removed_share() > 0) {
    s.watcher.max_removed_share = policy.max_removed_share();
  }
  s.bundle_poller.allow_empty = s.watcher.allow_empty;
  s.bundle_poller.max_removed_share = s.watcher.max_removed_share;
  LoadOptions& load = s.watcher.source.load;
  if (policy.max_file_bytes() > 0) {
    load.max_file_bytes = static_cast<size_t>(policy.max_file_bytes());
    load.max_total_bytes = std::max(load.max_total_bytes, load.max_file_bytes);
  }
  if (policy.max_total_bytes() > 0) {
    load.max_total_bytes = static_cast<size_t>(policy.max_total_bytes());
  }

  // stores, users, keys
  if (!config.client_registry().seed_file().empty()) {
    s.registry_seed_file =
        Resolve(base_dir, config.client_registry().seed_file());
  }
  if (config.token_store().save_interval_seconds() > 0) {
    s.save_interval =
        absl::Seconds(config.token_store().save_interval_seconds());
  }
  if (absl::Status redis = RedisFromConfig(config, base_dir, s); !redis.ok()) {
    return redis;
  }
  if (!config.user_directory_file().empty()) {
    s.user_directory_file = Resolve(base_dir, config.user_directory_file());
  }
  if (config.keys().token_key_file().empty()) {
    return invalid("keys.token_key_file", "required");
  }
  if (config.keys().registry_key_file().empty()) {
    return invalid("keys.registry_key_file", "required");
  }
  s.token_key_file = Resolve(base_dir, config.keys().token_key_file());
  s.registry_key_file = Resolve(base_dir, config.keys().registry_key_file());
  s.allow_readable_key_files = config.keys().allow_readable_key_files();
  if (config.tokens().access_token_ttl_seconds() > 0) {
    s.access_token_ttl =
        absl::Seconds(config.tokens().access_token_ttl_seconds());
  }
  if (config.tokens().refresh_token_ttl_seconds() > 0) {
    s.refresh_token_ttl =
        absl::Seconds(config.tokens().refresh_token_ttl_seconds());
  }
  if (config.tokens().oauth_access_token_ttl_seconds() > 0) {
    s.oauth_access_token_ttl =
        absl::Seconds(config.tokens().oauth_access_token_ttl_seconds());
  }
  const auto format = [&](const std::string& field, const std::string& value,
                          auth::TokenFormat& out) -> absl::Status {
    if (value.empty()) return absl::OkStatus();
    if (value == "opaque") {
      out = auth::TokenFormat::kOpaque;
    } else if (value == "jwt") {
      out = auth::TokenFormat::kJwt;
    } else {
      return invalid(field, "expected \"opaque\" or \"jwt\"");
    }
    return absl::OkStatus();
  };
  if (absl::Status f =
          format("tokens.monta_token_format",
                 config.tokens().monta_token_format(), s.monta_token_format);
      !f.ok()) {
    return f;
  }
  if (absl::Status f =
          format("tokens.oauth_token_format",
                 config.tokens().oauth_token_format(), s.oauth_token_format);
      !f.ok()) {
    return f;
  }
  const v1::JwtConfig& jwt = config.tokens().jwt();
  if (!config.keys().jwt_signing_key_file().empty()) {
    s.jwt_signing_key_file =
        Resolve(base_dir, config.keys().jwt_signing_key_file());
  }
  for (const std::string& path : config.keys().jwt_public_key_files()) {
    s.jwt_public_key_files.push_back(Resolve(base_dir, path));
  }
  s.jwt_issuer = jwt.issuer();
  s.jwt_audience = jwt.audience();
  if (jwt.leeway_seconds() > 3600) {
    return invalid("tokens.jwt.leeway_seconds", "at most 3600");
  }
  if (jwt.leeway_zero()) {
    s.jwt_leeway = absl::ZeroDuration();
  } else if (jwt.leeway_seconds() > 0) {
    s.jwt_leeway = absl::Seconds(jwt.leeway_seconds());
  }
  const v1::TokenConfig& tokens = config.tokens();
  if (tokens.refresh_reuse_interval_ms() > 60000) {
    return invalid("tokens.refresh_reuse_interval_ms",
                   absl::StrCat("at most 60000, got ",
                                tokens.refresh_reuse_interval_ms()));
  }
  if (tokens.refresh_reuse_interval_zero()) {
    if (tokens.refresh_reuse_interval_ms() != 0) {
      return invalid("tokens.refresh_reuse_interval_zero",
                     "set with a nonzero refresh_reuse_interval_ms");
    }
    s.refresh_reuse_interval = absl::ZeroDuration();
  } else if (tokens.refresh_reuse_interval_ms() > 0) {
    s.refresh_reuse_interval =
        absl::Milliseconds(tokens.refresh_reuse_interval_ms());
  }
  const bool issues_jwt = s.monta_token_format == auth::TokenFormat::kJwt ||
                          s.oauth_token_format == auth::TokenFormat::kJwt;
  if (issues_jwt || !s.jwt_signing_key_file.empty()) {
    const char* why = issues_jwt ? "required: a dialect issues JWTs (the RFC "
                                   "6749 dialect's default; set "
                                   "tokens.oauth_token_format: \"opaque\" "
                                   "for none)"
                                 : "required with keys.jwt_signing_key_file";
    if (s.jwt_signing_key_file.empty()) {
      return invalid("keys.jwt_signing_key_file", why);
    }
    if (s.jwt_issuer.empty()) return invalid("tokens.jwt.issuer", why);
    if (s.jwt_audience.empty()) return invalid("tokens.jwt.audience", why);
  } else if (!s.jwt_public_key_files.empty()) {
    return invalid("keys.jwt_public_key_files",
                   "needs keys.jwt_signing_key_file");
  }

  // routes
  if (!config.routes().entity_header().empty()) {
    if (!ValidHeaderName(config.routes().entity_header())) {
      return invalid("routes.entity_header", "not a header name");
    }
    s.entity_header = absl::AsciiStrToLower(config.routes().entity_header());
  }
  s.allow_unmatched = config.routes().allow_unmatched();
  for (int i = 0; i < config.routes().routes_size(); ++i) {
    const v1::Route& route = config.routes().routes(i);
    const std::string field = absl::StrCat("routes.routes[", i, "]");
    RouteSettings r;
    r.method = route.method();
    if (r.method.empty()) return invalid(field, "method is required");
    for (char c : r.method) {
      if (!(absl::ascii_isupper(c) || c == '*')) {
        return invalid(field, "method: upper-case letters or \"*\"");
      }
    }
    r.path = route.path();
    std::set<std::string> params;
    absl::Status path_status = CheckTemplate(r.path, &params);
    if (!path_status.ok()) {
      return invalid(absl::StrCat(field, ".path"), path_status.message());
    }
    if (route.object_type().empty() || route.action().empty()) {
      return invalid(field, "object_type and action are required");
    }
    r.object_type = route.object_type();
    r.action = route.action();
    if (!route.entity_path_param().empty()) {
      if (params.count(route.entity_path_param()) == 0) {
        return invalid(
            absl::StrCat(field, ".entity_path_param"),
            absl::StrCat("no {", route.entity_path_param(), "} in the path"));
      }
      if (!route.entity_header().empty()) {
        return invalid(
            field, "entity_path_param and entity_header exclude each other");
      }
      r.entity_path_param = route.entity_path_param();
    }
    if (!route.entity_header().empty() &&
        !ValidHeaderName(route.entity_header())) {
      return invalid(absl::StrCat(field, ".entity_header"),
                     "not a header name");
    }
    r.entity_header = route.entity_header().empty()
                          ? s.entity_header
                          : absl::AsciiStrToLower(route.entity_header());
    s.routes.push_back(std::move(r));
  }

  // limits
  const v1::LimitsConfig& limits = config.limits();
  if (limits.auth_body_bytes() > 0)
    s.limits.auth_body_bytes = limits.auth_body_bytes();
  if (limits.body_bytes() > 0) s.limits.body_bytes = limits.body_bytes();
  if (limits.header_bytes() > 0) s.limits.header_bytes = limits.header_bytes();
  if (limits.max_connections() > 0) {
    s.limits.max_connections = limits.max_connections();
  }
  if (limits.authorization_bytes() > 0) {
    s.limits.authorization_bytes = limits.authorization_bytes();
  }
  if (limits.read_timeout_ms() > 0) {
    s.limits.read_timeout = absl::Milliseconds(limits.read_timeout_ms());
  }
  if (limits.idle_timeout_ms() > 0) {
    s.limits.idle_timeout = absl::Milliseconds(limits.idle_timeout_ms());
  }
  if (limits.write_timeout_ms() > 0) {
    s.limits.write_timeout = absl::Milliseconds(limits.write_timeout_ms());
  }
  if (limits.drain_timeout_ms() > 0) {
    s.limits.drain_timeout = absl::Milliseconds(limits.drain_timeout_ms());
  }

  // state, logging, threads
  s.state_dir =
      !overrides.state_dir.empty()
          ? overrides.state_dir
          : Resolve(base_dir, config.state_dir().empty() ? std::string("state")
                                                         : config.state_dir());
  const std::string level =
      !overrides.log_level.empty() ? overrides.log_level : config.log_level();
  if (!level.empty()) {
    absl::StatusOr<LogLevel> parsed = ParseLogLevel(level);
    if (!parsed.ok()) return parsed.status();
    s.log_level = *parsed;
  }
  s.threads = config.threads();
  if (s.threads == 0) {
    s.threads = std::max(1u, std::thread::hardware_concurrency());
  }
  if (config.reload_failure_grace_seconds() > 0) {
    s.reload_failure_grace =
        absl::Seconds(config.reload_failure_grace_seconds());
  }
  if (absl::Status api = ParseApiSettings(config, base_dir, s.api); !api.ok()) {
    return api;
  }
  absl::StatusOr<ratelimit::RateLimitOptions> rate_limit =
      ratelimit::RateLimitOptionsFromConfig(config.rate_limit());
  if (!rate_limit.ok()) return rate_limit.status();
  s.rate_limit = *rate_limit;
  if (s.rate_limit.mode == ratelimit::RateLimitMode::kRedis &&
      s.token_store_kind != TokenStoreKind::kRedis) {
    // One Redis connection (the redis section) serves the token store and
    // the rate limits; replicas sharing limits share tokens too.
    return invalid("rate_limit.mode",
                   "\"redis\" needs token_store.kind \"redis\" (and the "
                   "redis section)");
  }
  return s;
}

absl::StatusOr<ServerSettings> LoadServerConfig(const std::string& path,
                                                const Overrides& overrides) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<ServerSettings> settings =
      ParseServerConfig(*text, DirName(path), overrides);
  if (!settings.ok()) {
    return absl::Status(settings.status().code(),
                        absl::StrCat(path, ": ", settings.status().message()));
  }
  settings->config_path = path;
  return settings;
}

}  // namespace portcullis::server
