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
                    !policy.bundle().empty();
  if (kinds != 1) {
    return invalid("policy", "exactly one of files, manifest or bundle");
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
  } else {
    s.policy_source = PolicySource::Bundle(Resolve(base_dir, policy.bundle()));
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
