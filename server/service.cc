#include "server/service.h"

#include <sys/stat.h>

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <cmath>
#include <cstring>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/auth/crypto.h"
#include "engine/auth/jwt.h"
#include "engine/auth/token_format.h"
#include "engine/common/json_string.h"
#include "engine/common/status_macros.h"
#include "engine/evaluate/evaluator.h"
#include "server/redis/redis_token_store.h"

namespace portcullis::server {

namespace http = boost::beast::http;

namespace {

absl::string_view View(boost::beast::string_view s) {
  return absl::string_view(s.data(), s.size());
}

std::string JsonString(absl::string_view value) {
  std::string out;
  internal::AppendJsonString(value, out);
  return out;
}

HttpResponse JsonResponse(http::status status, std::string body) {
  HttpResponse response(status, 11);
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

// /auth/* answers are never cached (RFC 6749 §5.1).
HttpResponse AuthResponse(http::status status, std::string body) {
  HttpResponse response = JsonResponse(status, std::move(body));
  response.set(http::field::cache_control, "no-store");
  response.set(http::field::pragma, "no-cache");
  return response;
}

// RFC 6749 §5.2.
HttpResponse OAuthError(http::status status, absl::string_view error,
                        absl::string_view description) {
  std::string body = absl::StrCat("{\"error\":\"", error, "\"");
  if (!description.empty()) {
    absl::StrAppend(&body, ",\"error_description\":", JsonString(description));
  }
  body.push_back('}');
  HttpResponse response = AuthResponse(status, std::move(body));
  if (status == http::status::unauthorized) {
    response.set(http::field::www_authenticate, "Basic realm=\"portcullis\"");
  }
  return response;
}

HttpResponse InvalidClient() {
  return OAuthError(http::status::unauthorized, "invalid_client",
                    "client authentication failed");
}

// Whether `allow` (an Allow header: "GET, HEAD") lists `method`.
bool Allows(absl::string_view allow, absl::string_view method) {
  for (absl::string_view listed : absl::StrSplit(allow, ", ")) {
    if (listed == method) return true;
  }
  return false;
}

HttpResponse MethodNotAllowed(absl::string_view allow) {
  HttpResponse response = JsonResponse(http::status::method_not_allowed,
                                       "{\"error\":\"method_not_allowed\"}");
  response.set(http::field::allow, std::string(allow));
  return response;
}

// The error of a TokenService call at /auth/token or /auth/refresh.
HttpResponse TokenServiceError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnauthenticated:
      return InvalidClient();
    case absl::StatusCode::kInvalidArgument:
      return OAuthError(http::status::bad_request, "invalid_request",
                        status.message());
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
      return OAuthError(http::status::bad_request, "invalid_grant",
                        status.message());
    case absl::StatusCode::kUnavailable:
      return OAuthError(http::status::service_unavailable,
                        "temporarily_unavailable", "no policy loaded yet");
    default:
      return OAuthError(http::status::internal_server_error, "server_error",
                        "");
  }
}

// A header that must appear at most once: its value, empty if absent;
// false if repeated.
bool SingleHeader(const HttpRequest& request, absl::string_view name,
                  absl::string_view* value) {
  const boost::beast::string_view key(name.data(), name.size());
  if (request.count(key) > 1) return false;
  auto it = request.find(key);
  *value = it == request.end() ? absl::string_view() : View(it->value());
  return true;
}

// The endpoint label of a path, for metrics.
std::string EndpointOf(absl::string_view path) {
  if (path == "/auth/token") return "auth_token";
  if (path == "/auth/refresh") return "auth_refresh";
  if (path == "/auth/revoke") return "auth_revoke";
  if (path == "/auth/me") return "auth_me";
  if (path == "/auth/introspect") return "auth_introspect";
  if (path == "/v1/authorize") return "authorize";
  if (path == "/v1/ext_authz" || absl::StartsWith(path, "/v1/ext_authz/")) {
    return "ext_authz";
  }
  if (path == "/healthz") return "healthz";
  if (path == "/readyz") return "readyz";
  if (path == "/metrics") return "metrics";
  if (path == "/v1/check") return "check";
  if (path == "/v1/permissions") return "permissions";
  if (path == "/.well-known/jwks.json") return "jwks";
  return "other";
}

// A header value we put in an answer: ids from the policy, never with a
// control character (a policy id with one is replaced, not passed on).
std::string HeaderSafe(absl::string_view value) {
  std::string out(value);
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- lifecycle

Service::Service(ServerSettings settings, const auth::Clock& clock)
    : settings_(std::move(settings)),
      clock_(clock),
      logger_(settings_.log_level),
      routes_(settings_.routes) {}

absl::StatusOr<std::unique_ptr<Service>> Service::Create(
    ServerSettings settings, const auth::Clock& clock) {
  std::unique_ptr<Service> service(new Service(std::move(settings), clock));
  absl::Status status = service->Init();
  if (!status.ok()) return status;
  return service;
}

absl::Status Service::Init() {
  if (absl::Status s = auth::InitializeCrypto(); !s.ok()) return s;
  absl::StatusOr<auth::SecretKey> token_key =
      ReadKeyFile(settings_.token_key_file, settings_.allow_readable_key_files);
  if (!token_key.ok()) return token_key.status();
  absl::StatusOr<auth::SecretKey> token_key_copy =
      auth::SecretKey::FromBytes(token_key->bytes());
  if (!token_key_copy.ok()) return token_key_copy.status();
  token_key_ = std::make_unique<auth::SecretKey>(std::move(*token_key_copy));
  absl::StatusOr<auth::SecretKey> registry_key = ReadKeyFile(
      settings_.registry_key_file, settings_.allow_readable_key_files);
  if (!registry_key.ok()) return registry_key.status();
  registry_ =
      std::make_unique<auth::ClientRegistry>(std::move(*registry_key), clock_);

  // State directory.
  if (::mkdir(settings_.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat(
        settings_.state_dir, ": cannot create the state directory"));
  }
  clients_path_ = absl::StrCat(settings_.state_dir, "/clients.sealed");
  tokens_path_ = absl::StrCat(settings_.state_dir, "/tokens.sealed");
  struct stat info;
  const bool have_clients = ::stat(clients_path_.c_str(), &info) == 0;
  const std::string registry_source =
      have_clients ? clients_path_ : settings_.registry_seed_file;
  if (!registry_source.empty()) {
    absl::StatusOr<std::string> data = ReadFile(registry_source);
    if (!data.ok()) return data.status();
    if (absl::Status s = registry_->Import(*data); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(registry_source, ": ", s.message()));
    }
    logger_.Info(absl::StrCat("client registry loaded from ", registry_source));
  }
  if (settings_.token_store_kind == TokenStoreKind::kRedis) {
    if (absl::Status s = InitRedis(); !s.ok()) return s;
  } else {
    store_ = std::make_unique<auth::InMemoryTokenStore>();
  }
  if (redis_ == nullptr && ::stat(tokens_path_.c_str(), &info) == 0) {
    absl::StatusOr<std::string> data = ReadFile(tokens_path_);
    if (!data.ok()) return data.status();
    if (absl::Status s = store_->Import(*data, *token_key_); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(tokens_path_, ": ", s.message()));
    }
    logger_.Info(
        absl::StrCat("token store loaded: ", store_->size(), " tokens"));
  }
  if (!settings_.user_directory_file.empty()) {
    user_reloader_ = std::make_unique<UserDirectoryReloader>(
        settings_.user_directory_file, users_, settings_.watcher.interval,
        api_metrics_, logger_);
    if (absl::Status s = user_reloader_->Load(); !s.ok()) return s;
  }

  absl::StatusOr<std::shared_ptr<const auth::JwtSigner>> signer =
      LoadJwtSigner(settings_);
  if (!signer.ok()) return signer.status();
  auth::TokenServiceOptions options;
  options.access_token_ttl = settings_.access_token_ttl;
  options.refresh_reuse_interval = settings_.refresh_reuse_interval;
  options.refresh_token_ttl = settings_.refresh_token_ttl;
  if (*signer != nullptr) {
    options.jwt.signer = *signer;
    options.jwt.issuer = settings_.jwt_issuer;
    options.jwt.audience = settings_.jwt_audience;
    options.jwt.leeway = settings_.jwt_leeway;
    jwks_ = auth::JwksJson((*signer)->PublicKeys());
    logger_.Info(absl::StrCat("JWT access tokens on, signing key id ",
                              (*signer)->active_kid()));
  }
  absl::StatusOr<std::unique_ptr<auth::TokenService>> tokens =
      auth::TokenService::Create(options, std::move(*token_key), *registry_,
                                 *store_, users_, clock_);
  if (!tokens.ok()) return tokens.status();
  tokens_ = std::move(*tokens);
  if (redis_ != nullptr) {
    if (absl::Status s = StartRevocationSubscriber(); !s.ok()) return s;
  }

  if (settings_.rate_limit.mode == ratelimit::RateLimitMode::kRedis) {
    // The token store's connection (ParseServerConfig refuses the mode
    // without token_store.kind "redis").
    if (redis_ == nullptr) {
      return absl::InvalidArgumentError(
          "rate_limit.mode: \"redis\" needs token_store.kind \"redis\" (and "
          "the redis section)");
    }
    absl::StatusOr<std::unique_ptr<ratelimit::DistributedRateLimiter>> limiter =
        ratelimit::DistributedRateLimiter::Create(
            settings_.rate_limit, *redis_, [this](const absl::Status& status) {
              if (status.ok()) {
                logger_.Info("rate limits: Redis answers again");
              } else {
                logger_.Warning(absl::StrCat(
                    "rate limits: Redis cannot be asked (", status.message(),
                    "); rate_limit.on_outage decides until it answers"));
              }
            });
    if (!limiter.ok()) return limiter.status();
    distributed_rate_limiter_ = std::move(*limiter);
    rate_limit_metrics_ =
        std::make_unique<ratelimit::RateLimitMetrics>(metrics_.registry());
    logger_.Info(
        absl::StrCat("rate limits counted in Redis at ", redis_->address()));
  }

  if (settings_.api.decision_log.enabled) {
    const std::string path =
        settings_.api.decision_log.path.empty()
            ? absl::StrCat(settings_.state_dir, "/decisions.log")
            : settings_.api.decision_log.path;
    absl::StatusOr<std::unique_ptr<DecisionLog>> log =
        DecisionLog::Open(settings_.api.decision_log, path);
    if (!log.ok()) return log.status();
    decision_log_ = std::move(*log);
  }

  // Public keys bundles must be signed by (a bundle file or a bundle
  // server).
  std::vector<Ed25519PublicKey> bundle_keys;
  for (const std::string& path : settings_.policy_public_key_files) {
    absl::StatusOr<Ed25519PublicKey> key = auth::LoadPublicKeyFile(path);
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "policy.bundle_public_key_files: ", key.status().message()));
    }
    bundle_keys.push_back(*std::move(key));
  }
  if (!settings_.bundle_poller.url.empty()) {
    return InitBundlePoller(std::move(bundle_keys), have_clients);
  }
  PolicyWatcherOptions watcher_options = settings_.watcher;
  watcher_options.source.bundle.verification_keys = std::move(bundle_keys);
  watcher_options.on_reload = [this](const ReloadEvent& event) {
    OnReload(event);
  };
  absl::StatusOr<std::unique_ptr<PolicyWatcher>> watcher =
      PolicyWatcher::Create(&policy_store_, settings_.policy_source,
                            watcher_options);
  if (!watcher.ok()) return watcher.status();
  watcher_ = std::move(*watcher);
  const PolicyWatcher::PollResult first = watcher_->PollOnce();
  if (first == PolicyWatcher::PollResult::kRejected) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the policy does not load: ", watcher_->last_error().message()));
  }
  if (first == PolicyWatcher::PollResult::kPending) {
    logger_.Warning("the policy source is still changing; not ready yet");
  }
  watcher_->Start();
  return StartBackground(have_clients);
}

absl::Status Service::InitBundlePoller(std::vector<Ed25519PublicKey> keys,
                                       bool have_clients) {
  BundlePollerOptions options = settings_.bundle_poller;
  options.verification_keys = std::move(keys);
  options.cache_path =
      absl::StrCat(settings_.state_dir, "/", settings_.bundle_cache_file);
  options.on_reload = [this](const ReloadEvent& event) { OnReload(event); };
  absl::StatusOr<std::unique_ptr<BundlePoller>> poller =
      BundlePoller::Create(&policy_store_, std::move(options));
  if (!poller.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy.bundle_url: ", poller.status().message()));
  }
  poller_ = *std::move(poller);
  bundle_metrics_ = std::make_unique<BundleMetrics>(metrics_.registry());
  // A bundle server that is down at start is not a configuration error:
  // the server starts, not ready, and keeps polling (the last good bundle
  // on disk, when there is one, has been published already).
  (void)poller_->PollOnce();
  const BundlePoller::Status status = poller_->status();
  if (status.serving_cache) {
    logger_.Warning(absl::StrCat(
        "serving the last good bundle from ", settings_.state_dir, "/",
        settings_.bundle_cache_file,
        " until the bundle server answers: ", status.last_error.message()));
  } else if (!status.published) {
    logger_.Warning(absl::StrCat(
        "no policy yet, not ready until the bundle server gives one: ",
        status.last_error.message()));
  }
  poller_->Start();
  return StartBackground(have_clients);
}

absl::Status Service::StartBackground(bool have_clients) {
  {
    std::lock_guard<std::mutex> lock(save_mu_);
    absl::StatusOr<std::string> exported = registry_->Export();
    if (exported.ok() && have_clients) last_registry_export_ = *exported;
  }
  if (user_reloader_ != nullptr) user_reloader_->Start();
  saver_ = std::thread([this] { SaverLoop(); });
  return absl::OkStatus();
}

void Service::OnReload(const ReloadEvent& event) {
  if (event.policy == nullptr) {
    metrics_.ReloadFailed();
    logger_.Warning(
        absl::StrCat("policy reload rejected, still serving the "
                     "last good policy: ",
                     event.status.message()));
    return;
  }
  absl::Status status = tokens_->SetPolicy(event.policy);
  if (!status.ok()) {
    logger_.Error(
        absl::StrCat("token service refused the policy: ", status.message()));
    return;
  }
  metrics_.PolicyGeneration(event.published.generation);
  logger_.Info(absl::StrCat("policy published: generation ",
                            event.published.generation, ", digest ",
                            event.published.digest.ToHex()));
  // The registry follows the policy (removed clients): save it soon.
  std::lock_guard<std::mutex> lock(saver_mu_);
  saver_wake_requested_ = true;
  saver_wake_.notify_all();
}

void Service::SaverLoop() {
  bool retry_pull = false;
  std::unique_lock<std::mutex> lock(saver_mu_);
  while (!stopping_) {
    // Woken early by OnReload and on_clients, even if they asked while this
    // loop was busy.
    saver_wake_.wait_for(lock,
                         absl::ToChronoNanoseconds(settings_.save_interval),
                         [this] { return stopping_ || saver_wake_requested_; });
    saver_wake_requested_ = false;
    if (stopping_) break;
    lock.unlock();
    if (client_state_ != nullptr &&
        (registry_pull_wanted_.exchange(false) || retry_pull)) {
      absl::StatusOr<bool> pulled = client_state_->Pull();
      retry_pull = !pulled.ok();  // again after save_interval, not at once
      if (!pulled.ok()) {
        logger_.Warning(absl::StrCat("client registry from redis: ",
                                     pulled.status().message()));
      }
    }
    if (tokens_->RemoveExpiredTokens() > 0) tokens_dirty_.store(true);
    absl::Status status = SaveState();
    if (!status.ok()) {
      metrics_.StateSaveFailed();
      logger_.Error(absl::StrCat("saving state: ", status.message()));
    }
    lock.lock();
  }
}

absl::Status Service::SaveState() {
  std::lock_guard<std::mutex> lock(save_mu_);
  absl::StatusOr<std::string> clients = registry_->Export();
  if (!clients.ok()) return clients.status();
  if (*clients != last_registry_export_) {
    if (absl::Status s = WriteFileAtomically(clients_path_, *clients);
        !s.ok()) {
      return s;
    }
    last_registry_export_ = std::move(*clients);
  }
  if (redis_ == nullptr && tokens_dirty_.exchange(false)) {
    absl::StatusOr<std::string> tokens = store_->Export(*token_key_);
    absl::Status s = tokens.ok() ? WriteFileAtomically(tokens_path_, *tokens)
                                 : tokens.status();
    if (!s.ok()) {
      tokens_dirty_.store(true);
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Service::InitRedis() {
  const RedisSettings& r = settings_.redis;
  redis::RedisOptions options;
  options.host = r.host;
  options.port = r.port;
  options.key_prefix = r.key_prefix;
  options.connect_timeout = r.connect_timeout;
  options.command_timeout = r.command_timeout;
  options.pool_size =
      r.pool_size > 0
          ? r.pool_size
          : std::max<int>(8, 2 * static_cast<int>(settings_.threads));
  options.reconnect_backoff_min = r.reconnect_backoff_min;
  options.reconnect_backoff_max = r.reconnect_backoff_max;
  if (!r.password_file.empty()) {
    struct stat info;
    if (::stat(r.password_file.c_str(), &info) != 0) {
      return absl::NotFoundError(absl::StrCat(
          r.password_file, ": cannot read the redis password file"));
    }
    if (!settings_.allow_readable_key_files && (info.st_mode & 077) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat(r.password_file,
                       ": redis password file is readable by group or "
                       "others (chmod 600 it)"));
    }
    absl::StatusOr<std::string> text = ReadFile(r.password_file);
    if (!text.ok()) return text.status();
    options.password = std::string(absl::StripAsciiWhitespace(*text));
    std::fill(text->begin(), text->end(), '\0');
  }
  // Lazy: a replica starts while Redis is down, answers 503 where it needs
  // Redis, and connects when Redis is back.
  absl::StatusOr<std::unique_ptr<redis::RedisClient>> client =
      redis::RedisClient::CreateLazy(options);
  if (!client.ok()) return client.status();
  redis_ = std::move(*client);
  store_ = std::make_unique<redis::RedisTokenStore>(*redis_);
  client_state_ =
      std::make_unique<redis::RedisClientState>(*redis_, *registry_);
  if (absl::Status synced = client_state_->Sync(); !synced.ok()) {
    if (absl::IsInvalidArgument(synced)) return synced;  // another key
    logger_.Warning(absl::StrCat(
        "redis ", redis_->address(),
        ": client registry not synced yet (serving 503 where redis is "
        "needed until it answers): ",
        synced.message()));
  }
  logger_.Info(absl::StrCat("token store: redis at ", redis_->address(),
                            ", staleness bound ",
                            absl::FormatDuration(r.staleness_bound)));
  return absl::OkStatus();
}

absl::Status Service::StartRevocationSubscriber() {
  redis::RevocationCallbacks callbacks;
  callbacks.on_family = [this](uint64_t family_id) {
    tokens_->NoteFamilyRevoked(family_id);
  };
  // Quick: runs on the subscriber's ticker too (revocation_subscriber.h).
  callbacks.on_all = [this] { tokens_->NoteAllRevoked(); };
  // Not on the subscriber's thread: a pull waits while this replica's own
  // admin change holds the state, and revocations must keep being read. The
  // saver thread pulls (Replace bumps the registry's version, so cached
  // tokens are validated again).
  callbacks.on_clients = [this] {
    registry_pull_wanted_.store(true);
    std::lock_guard<std::mutex> lock(saver_mu_);
    saver_wake_requested_ = true;
    saver_wake_.notify_all();
  };
  absl::StatusOr<std::unique_ptr<redis::RevocationSubscriber>> subscriber =
      redis::RevocationSubscriber::Start(
          redis_->options(), redis::RevocationChannel::Name(*redis_),
          settings_.redis.staleness_bound, std::move(callbacks));
  if (!subscriber.ok()) return subscriber.status();
  subscriber_ = std::move(*subscriber);
  return absl::OkStatus();
}

uint64_t Service::RegistryLoads() const {
  return client_state_ != nullptr ? client_state_->loads() : 0;
}

bool Service::RegistryCaughtUp(uint64_t loads_before) {
  if (client_state_ == nullptr) return false;
  absl::StatusOr<bool> pulled = client_state_->Pull();
  return pulled.ok() && client_state_->loads() != loads_before;
}

namespace {
// Whether an attempt of WithRegistryCaughtUp failed to authenticate.
template <typename T>
bool Unauthenticated(const absl::StatusOr<T>& result) {
  return absl::IsUnauthenticated(result.status());
}
bool Unauthenticated(const auth::Authentication& authentication) {
  return !authentication.ok();
}
}  // namespace

template <typename Attempt>
auto Service::WithRegistryCaughtUp(Attempt attempt) {
  const uint64_t registry_loads = RegistryLoads();
  auto result = attempt();
  if (Unauthenticated(result) && RegistryCaughtUp(registry_loads)) {
    result = attempt();
  }
  return result;
}

absl::Status Service::ApplyRegistryChange(
    const std::function<absl::Status()>& change) {
  if (client_state_ != nullptr) {
    PORTCULLIS_RETURN_IF_ERROR(client_state_->Transact(change));
    (void)SaveState();  // the local copy; Redis holds the truth
    return absl::OkStatus();
  }
  PORTCULLIS_RETURN_IF_ERROR(change());
  if (absl::Status saved = SaveState(); !saved.ok()) {
    return absl::DataLossError(saved.message());
  }
  return absl::OkStatus();
}

absl::Status Service::Stop() {
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  subscriber_.reset();
  if (watcher_ != nullptr) watcher_->Stop();
  if (poller_ != nullptr) poller_->Stop();
  if (user_reloader_ != nullptr) user_reloader_->Stop();
  {
    std::lock_guard<std::mutex> lock(saver_mu_);
    stopping_ = true;
    saver_wake_.notify_all();
  }
  if (saver_.joinable()) saver_.join();
  if (registry_ == nullptr || tokens_ == nullptr) return absl::OkStatus();
  absl::Status status = SaveState();
  if (!status.ok()) {
    logger_.Error(absl::StrCat("saving state at shutdown: ", status.message()));
  }
  return status;
}

Service::~Service() { (void)Stop(); }

bool Service::Ready(std::string* why) const {
  if (poller_ != nullptr) {
    // Every replica polls the same bundle server and fails with it: a
    // failing bundle server does not make a replica unready (that would
    // take the whole fleet down); it keeps serving its last good, verified
    // policy, and /readyz and /metrics say since when it fails.
    const BundlePoller::Status status = poller_->status();
    if (!status.published && why != nullptr) {
      *why = absl::StrCat("no policy published yet: ",
                          status.last_error.message());
    }
    return status.published;
  }
  const PolicyWatcher::Status status = watcher_->status();
  if (!status.published) {
    if (why != nullptr) *why = "no policy published yet";
    return false;
  }
  if (status.failing_since != absl::InfiniteFuture() &&
      clock_.Now() - status.failing_since > settings_.reload_failure_grace) {
    if (why != nullptr) {
      *why = absl::StrCat("policy reloads failing since ",
                          absl::FormatTime(status.failing_since));
    }
    return false;
  }
  return true;
}

// ----------------------------------------------------------------- dispatch

size_t Service::BodyLimit(absl::string_view target) const {
  if (target.substr(0, target.find('?')) == "/v1/check") {
    return settings_.api.check_body_bytes;
  }
  return absl::StartsWith(target, "/auth/") ? settings_.limits.auth_body_bytes
                                            : settings_.limits.body_bytes;
}

HttpResponse Service::Handle(const HttpRequest& request) {
  const absl::Time start = absl::Now();
  std::string endpoint = "other";
  HttpResponse response;
  try {
    response = Dispatch(request, endpoint);
  } catch (const std::exception& e) {
    logger_.Error(absl::StrCat("internal error on ", endpoint, ": ", e.what()));
    response = JsonResponse(http::status::internal_server_error,
                            "{\"error\":\"internal_error\"}");
  } catch (...) {
    response = JsonResponse(http::status::internal_server_error,
                            "{\"error\":\"internal_error\"}");
  }
  const unsigned status = response.result_int();
  metrics_.Request(endpoint, status, absl::Now() - start);
  if (logger_.Enabled(LogLevel::kDebug)) {
    // The path only: a query may carry anything.
    absl::string_view target = View(request.target());
    target = target.substr(0, target.find('?'));
    logger_.Debug(absl::StrCat(View(request.method_string()), " ",
                               absl::CEscape(target), " ", status));
  }
  return response;
}

HttpResponse Service::Dispatch(const HttpRequest& request,
                               std::string& endpoint) {
  // Each endpoint (EndpointOf): the methods it answers, as its 405's Allow
  // header lists them ("" for any method), and its handler.
  struct Route {
    absl::string_view endpoint;
    absl::string_view allow;
    HttpResponse (*handle)(Service& service, const HttpRequest& request);
  };
  static constexpr Route kRoutes[] = {
      {"healthz", "GET, HEAD",
       [](Service&, const HttpRequest&) { return Healthz(); }},
      {"readyz", "GET, HEAD",
       [](Service& s, const HttpRequest&) { return s.Readyz(); }},
      {"metrics", "GET",
       [](Service& s, const HttpRequest&) { return s.MetricsPage(); }},
      {"jwks", "GET, HEAD",
       [](Service& s, const HttpRequest&) { return s.Jwks(); }},
      {"auth_token", "POST",
       [](Service& s, const HttpRequest& r) { return s.TokenEndpoint(r); }},
      {"auth_refresh", "POST",
       [](Service& s, const HttpRequest& r) { return s.RefreshEndpoint(r); }},
      {"auth_revoke", "POST",
       [](Service& s, const HttpRequest& r) { return s.RevokeEndpoint(r); }},
      {"auth_me", "GET",
       [](Service& s, const HttpRequest& r) { return s.MeEndpoint(r); }},
      {"auth_introspect", "POST",
       [](Service& s, const HttpRequest& r) {
         return s.IntrospectEndpoint(r);
       }},
      {"authorize", "",
       [](Service& s, const HttpRequest& r) { return s.NginxAuthorize(r); }},
      {"ext_authz", "",
       [](Service& s, const HttpRequest& r) { return s.ExtAuthz(r); }},
      {"check", "POST",
       [](Service& s, const HttpRequest& r) {
         return CheckBatchEndpoint(s.decision_api(), r);
       }},
      {"permissions", "GET",
       [](Service& s, const HttpRequest& r) {
         return PermissionsEndpoint(s.decision_api(), r);
       }},
  };
  absl::string_view target = View(request.target());
  endpoint = EndpointOf(target.substr(0, target.find('?')));
  for (const Route& route : kRoutes) {
    if (endpoint != route.endpoint) continue;
    if (!route.allow.empty() &&
        !Allows(route.allow, View(request.method_string()))) {
      return MethodNotAllowed(route.allow);
    }
    return route.handle(*this, request);
  }
  return JsonResponse(http::status::not_found, "{\"error\":\"not_found\"}");
}

namespace {

// nginx's auth_request reads only the status and header of the answer to its
// subrequest. Its proxy module returns the connection to the `keepalive` pool
// only when the answer has no body to read (Content-Length: 0, 204, 304, or
// a HEAD); with a body, it closes the connection, and every subrequest then
// pays a new TCP connection to the authorizer (measured: 0.18x the plain
// proxy's requests/s, every connection in TIME-WAIT, none kept; docs/server.md
// "Measured"). Everything the answer says is in its status and headers, so
// the answer goes without a body.
HttpResponse WithoutBody(HttpResponse response) {
  response.body().clear();
  response.erase(http::field::content_type);
  return response;
}

}  // namespace

HttpResponse Service::NginxAuthorize(const HttpRequest& request) {
  return WithoutBody(NginxAuthorizeWithBody(request));
}

HttpResponse Service::NginxAuthorizeWithBody(const HttpRequest& request) {
  // nginx auth_request: the original request in two headers.
  absl::string_view original_method, original_uri;
  if (!SingleHeader(request, "x-original-method", &original_method) ||
      !SingleHeader(request, "x-original-uri", &original_uri) ||
      original_method.empty() || original_uri.empty()) {
    metrics_.Decision("bad_request", "missing_original_request");
    HttpResponse response =
        JsonResponse(http::status::bad_request,
                     "{\"error\":\"invalid_request\",\"reason\":"
                     "\"missing_original_request\"}");
    response.set("x-portcullis-reason", "missing_original_request");
    return response;
  }
  return AuthorizeLogged(request, original_method, original_uri);
}

HttpResponse Service::ExtAuthz(const HttpRequest& request) {
  // Envoy ext_authz (HTTP mode, path_prefix /v1/ext_authz): the original
  // method and path are the request's own.
  absl::string_view target = View(request.target());
  absl::string_view original = target.substr(strlen("/v1/ext_authz"));
  std::string rooted;
  if (original.empty() || original[0] != '/') {
    rooted = absl::StrCat("/", original);
    original = rooted;
  }
  return AuthorizeLogged(request, View(request.method_string()), original);
}

HttpResponse Service::Healthz() {
  HttpResponse response(http::status::ok, 11);
  response.set(http::field::content_type, "text/plain");
  response.body() = "ok\n";
  return response;
}

HttpResponse Service::Readyz() {
  std::string why;
  const bool ready = Ready(&why);
  HttpResponse response(
      ready ? http::status::ok : http::status::service_unavailable, 11);
  response.set(http::field::content_type, "text/plain");
  response.body() = ready ? "ready\n" : absl::StrCat("not ready: ", why, "\n");
  if (poller_ != nullptr) absl::StrAppend(&response.body(), BundleReport());
  return response;
}

std::string Service::BundleReport() const {
  const BundlePoller::Status status = poller_->status();
  auto time = [](absl::Time t) {
    return t == absl::InfinitePast() ? std::string("never")
                                     : absl::FormatTime(t);
  };
  std::string report =
      absl::StrCat("bundle server: ", settings_.bundle_poller.url, "\n");
  if (status.published) {
    absl::StrAppend(
        &report, "policy: generation ", status.last_good.generation,
        ", digest ", status.last_good.digest.ToHex(),
        status.serving_cache ? " (the last good bundle on disk)" : "", "\n");
  }
  absl::StrAppend(&report,
                  "etag: ", status.etag.empty() ? "(none)" : status.etag,
                  "\nlast success: ", time(status.last_success), "\n");
  if (status.failing_since != absl::InfiniteFuture()) {
    absl::StrAppend(&report, "failing since ", time(status.failing_since), ": ",
                    status.last_error.message(), "\n");
  }
  if (!status.cache_error.ok()) {
    absl::StrAppend(
        &report, "last good bundle file: ", status.cache_error.message(), "\n");
  }
  return report;
}

HttpResponse Service::MetricsPage() {
  HttpResponse response(http::status::ok, 11);
  response.set(http::field::content_type, "text/plain; version=0.0.4");
  api_metrics_.Update(tokens_->Stats(), policy_store_.info(),
                      decision_log_ != nullptr ? decision_log_->dropped() : 0,
                      decision_log_ != nullptr ? decision_log_->written() : 0);
  if (poller_ != nullptr) bundle_metrics_->Update(poller_->status());
  if (rate_limit_metrics_ != nullptr) {
    rate_limit_metrics_->Update(distributed_rate_limiter_->Stats());
  }
  response.body() = metrics_.Text();
  return response;
}

// ------------------------------------------------------------- /auth/token

namespace {

// The client's id and secret from the body or HTTP Basic (RFC 6749 §2.3.1),
// never both. On failure, the answer to give.
struct ClientCredentials {
  std::string id;
  std::string secret;
  bool present = false;
};

absl::StatusOr<ClientCredentials> ReadClientCredentials(
    const HttpRequest& request, const Params& params, HttpResponse* failure) {
  ClientCredentials credentials;
  absl::string_view authorization;
  if (!SingleHeader(request, "authorization", &authorization)) {
    *failure = OAuthError(http::status::bad_request, "invalid_request",
                          "authorization: more than one header");
    return absl::InvalidArgumentError("");
  }
  std::optional<absl::string_view> body_id = params.Get("client_id");
  std::optional<absl::string_view> body_secret = params.Get("client_secret");
  if (!authorization.empty()) {
    absl::StatusOr<std::optional<BasicCredentials>> basic =
        ParseBasic(authorization);
    if (!basic.ok()) {
      *failure = InvalidClient();
      return absl::InvalidArgumentError("");
    }
    if (basic->has_value()) {
      if (body_secret.has_value() ||
          (body_id.has_value() && *body_id != (*basic)->client_id)) {
        *failure = OAuthError(
            http::status::bad_request, "invalid_request",
            "client credentials in both the body and the Authorization header");
        return absl::InvalidArgumentError("");
      }
      credentials.id = std::move((*basic)->client_id);
      credentials.secret = std::move((*basic)->client_secret);
      credentials.present = true;
      return credentials;
    }
  }
  if (body_id.has_value() || body_secret.has_value()) {
    credentials.id = std::string(body_id.value_or(""));
    credentials.secret = std::string(body_secret.value_or(""));
    credentials.present = true;
  }
  return credentials;
}

absl::StatusOr<Params> ReadParams(const HttpRequest& request,
                                  HttpResponse* failure) {
  absl::string_view content_type;
  if (!SingleHeader(request, "content-type", &content_type)) {
    *failure = OAuthError(http::status::bad_request, "invalid_request",
                          "content-type: more than one header");
    return absl::InvalidArgumentError("");
  }
  absl::StatusOr<Params> params = ParseBody(content_type, request.body());
  if (!params.ok()) {
    *failure = OAuthError(http::status::bad_request, "invalid_request",
                          params.status().message());
  }
  return params;
}

// The body and the client authentication of a client-authenticated
// endpoint (/auth/token, /auth/revoke, /auth/introspect).
struct ClientRequest {
  Params params;
  ClientCredentials client;
};

absl::StatusOr<ClientRequest> ReadClientRequest(const HttpRequest& request,
                                                HttpResponse* failure) {
  absl::StatusOr<Params> params = ReadParams(request, failure);
  if (!params.ok()) return params.status();
  absl::StatusOr<ClientCredentials> client =
      ReadClientCredentials(request, *params, failure);
  if (!client.ok()) return client.status();
  return ClientRequest{*std::move(params), *std::move(client)};
}

std::string TokenJson(const auth::IssuedTokens& tokens, BodyDialect dialect) {
  return dialect == BodyDialect::kCamelJson ? auth::MontaTokenJson(tokens)
                                            : auth::OAuthTokenJson(tokens);
}

}  // namespace

auth::IssueOptions Service::IssueOptionsFor(bool monta_dialect) const {
  auth::IssueOptions options;
  options.format = monta_dialect ? settings_.monta_token_format
                                 : settings_.oauth_token_format;
  options.access_token_ttl = monta_dialect ? settings_.access_token_ttl
                                           : settings_.oauth_access_token_ttl;
  return options;
}

HttpResponse Service::Jwks() const {
  if (jwks_.empty()) {
    return JsonResponse(http::status::not_found, "{\"error\":\"not_found\"}");
  }
  HttpResponse response = JsonResponse(http::status::ok, jwks_);
  // Public keys: cacheable, briefly, so that a rotation's new key (published
  // before it signs) reaches verifiers soon.
  response.set(http::field::cache_control, "public, max-age=300");
  return response;
}

HttpResponse Service::TokenEndpoint(const HttpRequest& request) {
  HttpResponse failure;
  absl::StatusOr<ClientRequest> read = ReadClientRequest(request, &failure);
  if (!read.ok()) return failure;
  const Params* const params = &read->params;
  const ClientCredentials* const client = &read->client;

  std::optional<absl::string_view> grant_type = params->Get("grant_type");
  if (!grant_type.has_value() && params->dialect == BodyDialect::kCamelJson) {
    // Monta's /auth/token has no grant type: client credentials.
    grant_type = "client_credentials";
  }
  if (!grant_type.has_value() || grant_type->empty()) {
    return OAuthError(http::status::bad_request, "invalid_request",
                      "grant_type: missing");
  }
  if (*grant_type != "client_credentials" && *grant_type != "entity_user" &&
      *grant_type != "refresh_token") {
    return OAuthError(http::status::bad_request, "unsupported_grant_type",
                      "expected client_credentials, entity_user or "
                      "refresh_token");
  }
  if (!client->present) return InvalidClient();

  if (*grant_type == "refresh_token") {
    // RFC 6749 §6: the client authenticates, and the refresh token must
    // have been issued to it.
    std::optional<absl::string_view> refresh = params->Get("refresh_token");
    if (!refresh.has_value() || refresh->empty()) {
      return OAuthError(http::status::bad_request, "invalid_request",
                        "refresh_token: missing");
    }
    if (!WithRegistryCaughtUp([&] {
           return registry_->Authenticate(client->id, client->secret);
         }).ok()) {
      return InvalidClient();
    }
    absl::StatusOr<auth::TokenBytes> bytes = auth::ParseToken(*refresh);
    if (!bytes.ok()) {
      return OAuthError(http::status::bad_request, "invalid_grant",
                        "refresh token is invalid, expired or revoked");
    }
    absl::StatusOr<auth::TokenRecord> record =
        store_->Find(auth::KeyedHash(*token_key_, bytes->bytes()));
    if (record.ok() && record->client_id != client->id) {
      return OAuthError(http::status::bad_request, "invalid_grant",
                        "refresh token is invalid, expired or revoked");
    }
    // A refusal (unknown, spent, revoked) changes nothing a second try
    // would not change the same way.
    absl::StatusOr<auth::IssuedTokens> issued = WithRegistryCaughtUp([&] {
      return tokens_->Refresh(
          *refresh,
          IssueOptionsFor(params->dialect == BodyDialect::kCamelJson));
    });
    tokens_dirty_.store(true);  // a reuse revokes a family
    if (!issued.ok()) {
      if (issued.status().code() == absl::StatusCode::kUnauthenticated) {
        return OAuthError(http::status::bad_request, "invalid_grant",
                          "refresh token is invalid, expired or revoked");
      }
      return TokenServiceError(issued.status());
    }
    return AuthResponse(http::status::ok, TokenJson(*issued, params->dialect));
  }

  std::optional<absl::string_view> user = params->Get("entity_user_id");
  if (*grant_type == "entity_user" && (!user.has_value() || user->empty())) {
    return OAuthError(http::status::bad_request, "invalid_request",
                      "entity_user_id: required for grant_type entity_user");
  }
  auth::TokenRequest token_request;
  token_request.grant_type = *grant_type;
  token_request.client_id = client->id;
  token_request.client_secret = client->secret;
  token_request.entity_user_id = user.value_or("");
  absl::StatusOr<auth::IssuedTokens> issued = WithRegistryCaughtUp([&] {
    return tokens_->IssueToken(
        token_request,
        IssueOptionsFor(params->dialect == BodyDialect::kCamelJson));
  });
  if (!issued.ok()) return TokenServiceError(issued.status());
  tokens_dirty_.store(true);
  return AuthResponse(http::status::ok, TokenJson(*issued, params->dialect));
}

HttpResponse Service::RefreshEndpoint(const HttpRequest& request) {
  HttpResponse failure;
  absl::StatusOr<Params> params = ReadParams(request, &failure);
  if (!params.ok()) return failure;
  std::optional<absl::string_view> refresh = params->Get("refresh_token");
  if (!refresh.has_value() || refresh->empty()) {
    return OAuthError(http::status::bad_request, "invalid_request",
                      "refreshToken: missing");
  }
  // Monta's endpoint: Monta's answer, unless the body was RFC-style.
  const bool oauth_dialect = params->dialect == BodyDialect::kSnakeJson ||
                             params->dialect == BodyDialect::kForm;
  // A refusal (unknown, spent, revoked) changes nothing a second try would
  // not change the same way; the token's client may be one registered on
  // another replica a moment ago.
  absl::StatusOr<auth::IssuedTokens> issued = WithRegistryCaughtUp([&] {
    return tokens_->Refresh(*refresh, IssueOptionsFor(!oauth_dialect));
  });
  tokens_dirty_.store(true);
  if (!issued.ok()) {
    if (issued.status().code() == absl::StatusCode::kUnauthenticated) {
      return OAuthError(http::status::bad_request, "invalid_grant",
                        "refresh token is invalid, expired or revoked");
    }
    return TokenServiceError(issued.status());
  }
  return AuthResponse(http::status::ok, oauth_dialect
                                            ? auth::OAuthTokenJson(*issued)
                                            : auth::MontaTokenJson(*issued));
}

HttpResponse Service::RevokeEndpoint(const HttpRequest& request) {
  HttpResponse failure;
  absl::StatusOr<ClientRequest> read = ReadClientRequest(request, &failure);
  if (!read.ok()) return failure;
  const Params* const params = &read->params;
  const ClientCredentials* const client = &read->client;
  std::optional<absl::string_view> token = params->Get("token");
  if (!token.has_value() || token->empty()) {
    return OAuthError(http::status::bad_request, "invalid_request",
                      "token: missing");
  }
  if (!client->present) return InvalidClient();
  auth::RevokeRequest revoke{client->id, client->secret, *token};
  absl::StatusOr<auth::RevokeResult> result =
      WithRegistryCaughtUp([&] { return tokens_->Revoke(revoke); });
  auth::RevokeResult answered;
  if (!result.ok()) {
    switch (result.status().code()) {
      case absl::StatusCode::kUnauthenticated:
        return InvalidClient();
      case absl::StatusCode::kInvalidArgument:
        // RFC 7009 §2.2: an invalid token is not an error.
        break;
      case absl::StatusCode::kPermissionDenied:
        return OAuthError(http::status::bad_request, "unauthorized_client",
                          "the token was issued to another client");
      default:
        return TokenServiceError(result.status());
    }
  } else {
    answered = *result;
    tokens_dirty_.store(true);
  }
  if (params->dialect == BodyDialect::kForm) {
    return AuthResponse(http::status::ok, "");
  }
  return AuthResponse(http::status::ok, auth::RevokeJson(answered));
}

namespace {

HttpResponse BearerError(http::status status, bool missing) {
  HttpResponse response =
      JsonResponse(status, missing ? "{\"error\":\"unauthorized\"}"
                                   : "{\"error\":\"invalid_token\"}");
  response.set(http::field::cache_control, "no-store");
  // RFC 6750 §3.1: no error code when the request had no token at all.
  response.set(http::field::www_authenticate,
               missing
                   ? "Bearer realm=\"portcullis\""
                   : "Bearer realm=\"portcullis\", error=\"invalid_token\"");
  return response;
}

}  // namespace

HttpResponse Service::MeEndpoint(const HttpRequest& request) {
  absl::string_view authorization;
  if (!SingleHeader(request, "authorization", &authorization)) {
    return BearerError(http::status::unauthorized, false);
  }
  if (authorization.empty())
    return BearerError(http::status::unauthorized, true);
  if (authorization.size() > settings_.limits.authorization_bytes) {
    return BearerError(http::status::unauthorized, false);
  }
  auto grant = tokens_->IntrospectHeader(authorization);
  if (!grant.ok()) {
    if (grant.status().code() == absl::StatusCode::kUnavailable) {
      return JsonResponse(http::status::service_unavailable,
                          "{\"error\":\"no_policy\"}");
    }
    return BearerError(http::status::unauthorized, false);
  }
  absl::StatusOr<auth::ApplicationInfo> info = tokens_->Me(**grant);
  if (!info.ok()) return BearerError(http::status::unauthorized, false);
  HttpResponse response =
      JsonResponse(http::status::ok, auth::ApplicationInfoJson(*info));
  response.set(http::field::cache_control, "no-store");
  return response;
}

HttpResponse Service::IntrospectEndpoint(const HttpRequest& request) {
  HttpResponse failure;
  absl::StatusOr<ClientRequest> read = ReadClientRequest(request, &failure);
  if (!read.ok()) return failure;
  const Params* const params = &read->params;
  const ClientCredentials* const client = &read->client;
  std::optional<absl::string_view> token = params->Get("token");
  if (!token.has_value() || token->empty()) {
    return OAuthError(http::status::bad_request, "invalid_request",
                      "token: missing");
  }
  if (!client->present ||
      !registry_->Authenticate(client->id, client->secret).ok()) {
    return InvalidClient();
  }
  const std::string inactive = "{\"active\":false}";
  if (token->size() > settings_.limits.authorization_bytes) {
    return AuthResponse(http::status::ok, inactive);
  }
  auto grant = tokens_->Introspect(*token);
  // A client introspects its own tokens only; anything else is inactive.
  if (!grant.ok() || (*grant)->client_id() != client->id) {
    return AuthResponse(http::status::ok, inactive);
  }
  absl::StatusOr<auth::ApplicationInfo> info = tokens_->Me(**grant);
  std::string body = absl::StrCat(
      "{\"active\":true,\"client_id\":", JsonString((*grant)->client_id()),
      ",\"token_type\":\"Bearer\",\"exp\":",
      absl::ToUnixSeconds((*grant)->expires_at()),
      ",\"iat\":", absl::ToUnixSeconds((*grant)->issued_at()), ",\"sub\":",
      JsonString((*grant)->user_id().empty() ? (*grant)->client_id()
                                             : (*grant)->user_id()));
  if (info.ok()) {
    absl::StrAppend(
        &body, ",\"scope\":", JsonString(absl::StrJoin(info->scopes, " ")));
  }
  if (!(*grant)->entity_id().empty()) {
    absl::StrAppend(&body,
                    ",\"entity_id\":", JsonString((*grant)->entity_id()));
  }
  body.push_back('}');
  return AuthResponse(http::status::ok, std::move(body));
}

// --------------------------------------------------- proxy authorization

DecisionApi Service::decision_api() {
  return DecisionApi{*tokens_,
                     policy_store_,
                     clock_,
                     api_metrics_,
                     decision_log_.get(),
                     settings_,
                     distributed_rate_limiter_.get()};
}

HttpResponse Service::AuthorizeLogged(const HttpRequest& request,
                                      absl::string_view method,
                                      absl::string_view path) {
  AuthorizeTrace trace;
  HttpResponse response = Authorize(request, method, path, &trace);
  if (trace.introspected) api_metrics_.Introspected();
  LogAuthorizeDecision(decision_api(), request, method, path, trace, response);
  return response;
}

HttpResponse Service::Authorize(const HttpRequest& request,
                                absl::string_view method,
                                absl::string_view path, AuthorizeTrace* trace) {
  auto deny = [this](http::status status, absl::string_view verdict,
                     absl::string_view reason) {
    metrics_.Decision(verdict, reason);
    HttpResponse response =
        JsonResponse(status, absl::StrCat("{\"decision\":\"", verdict,
                                          "\",\"reason\":\"", reason, "\"}"));
    response.set("x-portcullis-decision", std::string(verdict));
    response.set("x-portcullis-reason", std::string(reason));
    return response;
  };
  absl::string_view authorization;
  if (!SingleHeader(request, "authorization", &authorization)) {
    metrics_.Decision("unauthenticated", "invalid_token");
    return BearerError(http::status::unauthorized, false);
  }
  if (authorization.empty()) {
    metrics_.Decision("unauthenticated", "missing_token");
    return BearerError(http::status::unauthorized, true);
  }
  if (authorization.size() > settings_.limits.authorization_bytes) {
    metrics_.Decision("unauthenticated", "invalid_token");
    return BearerError(http::status::unauthorized, false);
  }
  const absl::Time now = clock_.Now();
  trace->introspected = true;
  // Lent: the request is answered on this thread before its next
  // introspection, and no reference count is written per request.
  auto grant = tokens_->IntrospectHeaderLent(authorization, now);
  if (!grant.ok()) {
    if (grant.status().code() == absl::StatusCode::kUnavailable) {
      return deny(http::status::service_unavailable, "unavailable",
                  "no_policy");
    }
    metrics_.Decision("unauthenticated", "invalid_token");
    return BearerError(http::status::unauthorized, false);
  }
  const auth::AccessGrant& g = **grant;
  trace->grant = *grant;
  const auth::RateDecision rate = ratelimit::CheckClientRateLimit(
      *tokens_, distributed_rate_limiter_.get(), g, now);
  if (!rate.allowed) {
    metrics_.RateLimited();
    HttpResponse response =
        deny(http::status::too_many_requests, "rate_limited", "rate_limit");
    const double seconds = absl::ToDoubleSeconds(rate.retry_after);
    const int64_t retry =
        std::isfinite(seconds)
            ? std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds)))
            : 3600;
    response.set(http::field::retry_after, absl::StrCat(retry));
    return response;
  }
  std::optional<RouteMatch> match = routes_.Match(method, path);
  if (!match.has_value()) {
    if (!settings_.allow_unmatched) {
      return deny(http::status::forbidden, "not_allowed", "unknown_route");
    }
    metrics_.Decision("allowed", "unmatched_route_allowed");
    HttpResponse response = JsonResponse(
        http::status::ok,
        "{\"decision\":\"allowed\",\"reason\":\"unmatched_route_allowed\"}");
    response.set("x-portcullis-decision", "allowed");
    response.set("x-portcullis-reason", "unmatched_route_allowed");
    return response;
  }
  trace->object_type = match->route->object_type;
  trace->action = match->route->action;
  absl::string_view entity;
  if (!match->route->entity_path_param.empty()) {
    entity = match->Param(match->route->entity_path_param);
  } else if (!SingleHeader(request, match->route->entity_header, &entity)) {
    return deny(http::status::bad_request, "bad_request",
                "duplicate_entity_header");
  }
  if (entity.empty()) {
    return deny(http::status::bad_request, "bad_request", "missing_entity");
  }
  trace->entity = std::string(entity);
  const CompiledPolicy& policy = g.policy();
  if (!policy.FindEntity(entity).has_value()) {
    return deny(http::status::bad_request, "bad_request", "unknown_entity");
  }
  RequestNames names;
  names.object_type = match->route->object_type;
  names.action = match->route->action;
  names.entity_id = entity;
  const Decision decision = Check(policy, g.principal(), names);
  const absl::string_view reason = ReasonName(decision.reason);
  if (decision.verdict == Verdict::kNotAllowed ||
      (decision.verdict == Verdict::kAllowedForOwn && g.user_id().empty())) {
    return deny(http::status::forbidden, "not_allowed", reason);
  }
  const absl::string_view verdict = VerdictName(decision.verdict);
  metrics_.Decision(verdict, reason);
  HttpResponse response = JsonResponse(
      http::status::ok, absl::StrCat("{\"decision\":\"", verdict,
                                     "\",\"reason\":\"", reason, "\"}"));
  response.set(
      "x-portcullis-principal",
      HeaderSafe(g.user_id().empty() ? absl::StrCat("client:", g.client_id())
                                     : absl::StrCat("user:", g.user_id())));
  response.set("x-portcullis-decision", std::string(verdict));
  response.set("x-portcullis-reason", std::string(reason));
  if (decision.verdict == Verdict::kAllowedForOwn) {
    response.set("x-portcullis-owner", HeaderSafe(g.user_id()));
  }
  return response;
}

// ------------------------------------------------------------------ Server

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    ServerSettings settings, const auth::Clock& clock) {
  auto server = std::unique_ptr<Server>(new Server());
  const std::vector<ListenAddress> listen = settings.listen;
  const LimitSettings limits = settings.limits;
  const size_t threads = settings.threads;
  const AdminSettings admin = settings.api.admin;
  const bool allow_readable = settings.allow_readable_key_files;
  absl::StatusOr<std::unique_ptr<Service>> service =
      Service::Create(std::move(settings), clock);
  if (!service.ok()) return service.status();
  server->service_ = std::move(*service);
  server->http_ = std::make_unique<HttpServer>(
      *server->service_, server->service_->metrics(), limits, threads);
  if (absl::Status s = server->http_->Listen(listen); !s.ok()) return s;
  server->http_->Start();
  if (absl::Status s = server->StartAdmin(admin, allow_readable, limits);
      !s.ok()) {
    return s;
  }
  for (const auto& endpoint : server->http_->endpoints()) {
    std::ostringstream address;
    address << endpoint;
    server->service_->logger().Info(
        absl::StrCat("listening on ", address.str()));
  }
  return server;
}

absl::Status Server::StartAdmin(const AdminSettings& admin, bool allow_readable,
                                const LimitSettings& limits) {
  if (!admin.enabled) return absl::OkStatus();
  Service& service = *service_;
  absl::StatusOr<std::unique_ptr<AdminHandler>> handler = AdminHandler::Create(
      admin.token_file, allow_readable, service.registry(),
      [&service](const std::function<absl::Status()>& change) {
        return service.ApplyRegistryChange(change);
      },
      service.metrics(), service.api_metrics(), service.logger());
  if (!handler.ok()) return handler.status();
  admin_ = std::move(*handler);
  admin_http_ =
      std::make_unique<HttpServer>(*admin_, service.metrics(), limits, 1);
  if (absl::Status s =
          admin_http_->Listen({ListenAddress{admin.host, admin.port}});
      !s.ok()) {
    return s;
  }
  admin_http_->Start();
  std::ostringstream address;
  address << admin_http_->endpoints()[0];
  service.logger().Info(absl::StrCat("admin listener on ", address.str()));
  return absl::OkStatus();
}

absl::Status Server::Shutdown() {
  if (shut_down_) return absl::OkStatus();
  shut_down_ = true;
  if (admin_http_ != nullptr) admin_http_->Shutdown();
  if (http_ != nullptr) http_->Shutdown();
  return service_ != nullptr ? service_->Stop() : absl::OkStatus();
}

Server::~Server() { (void)Shutdown(); }

}  // namespace portcullis::server
