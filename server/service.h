// The server's application: the policy watcher, client registry, token
// store, user directory and token service, the endpoints over them, and the
// persistence of the registry and store (docs/server.md). Server ties it to
// an HttpServer.
#ifndef PORTCULLIS_SERVER_SERVICE_H_
#define PORTCULLIS_SERVER_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/clock.h"
#include "engine/auth/token_service.h"
#include "engine/auth/token_store.h"
#include "engine/auth/user_directory.h"
#include "engine/live/bundle_poller.h"
#include "engine/live/policy_store.h"
#include "engine/live/policy_watcher.h"
#include "server/admin.h"
#include "server/api_metrics.h"
#include "server/bundle_metrics.h"
#include "server/config.h"
#include "server/decision_api.h"
#include "server/decision_log.h"
#include "server/http_server.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/params.h"
#include "server/ratelimit/distributed_rate_limiter.h"
#include "server/ratelimit/rate_limit_metrics.h"
#include "server/redis/redis_client.h"
#include "server/redis/redis_client_state.h"
#include "server/redis/revocation_subscriber.h"
#include "server/routes.h"
#include "server/user_reloader.h"

namespace portcullis::server {

class Service final : public HttpHandler {
 public:
  // Loads the keys, the persisted state (or the registry's seed), the user
  // directory, and the policy once (a rejected first load is an error; a
  // source not yet quiet is loaded later, and /readyz says so). Starts the
  // watcher and the saver thread. `clock` must outlive the service.
  static absl::StatusOr<std::unique_ptr<Service>> Create(
      ServerSettings settings,
      const auth::Clock& clock = auth::SystemClock::Instance());
  ~Service() override;  // Stop()

  // Stops the watcher and the saver, then saves the state. Idempotent.
  absl::Status Stop();

  size_t BodyLimit(absl::string_view target) const override;
  HttpResponse Handle(const HttpRequest& request) override;

  // Ready: a policy is published and reloads have not been failing for
  // longer than the grace period.
  bool Ready(std::string* why = nullptr) const;
  // Saves the registry and the token store if they changed (the token store
  // only when it is in memory).
  absl::Status SaveState();

  // Runs one change of the client registry (the admin listener's) and makes
  // it last: with Redis, under the shared lock on the latest shared state,
  // then published to every replica (Unavailable or Aborted if it could not
  // be); in memory, then saved (DataLoss if saving failed). The change's
  // own error is returned as it is.
  absl::Status ApplyRegistryChange(const std::function<absl::Status()>& change);

  // With token_store.kind "redis": whether the revocation channel is
  // subscribed (docs/replicas.md); false otherwise.
  bool RevocationsSubscribed() const {
    return subscriber_ != nullptr && subscriber_->subscribed();
  }

  Metrics& metrics() { return metrics_; }
  ApiMetrics& api_metrics() { return api_metrics_; }
  const ServerSettings& settings() const { return settings_; }
  Logger& logger() { return logger_; }
  // For tests and the admin tooling to come: the registry.
  auth::ClientRegistry& registry() { return *registry_; }
  // The decision log, if on (tests).
  DecisionLog* decision_log() { return decision_log_.get(); }
  // The user directory's reloader, if a file is configured (tests).
  UserDirectoryReloader* user_reloader() { return user_reloader_.get(); }
  // The distributed rate limiter in mode "redis", else null (tests).
  ratelimit::DistributedRateLimiter* distributed_rate_limiter() {
    return distributed_rate_limiter_.get();
  }

 private:
  Service(ServerSettings settings, const auth::Clock& clock);
  absl::Status Init();
  // The policy from a bundle server (settings_.bundle_poller.url).
  absl::Status InitBundlePoller(std::vector<Ed25519PublicKey> keys,
                                bool have_clients);
  // The user directory's reloader and the saver thread.
  absl::Status StartBackground(bool have_clients);
  // /readyz's lines on the bundle server: URL, policy, ETag, last success,
  // failure.
  std::string BundleReport() const;
  void OnReload(const ReloadEvent& event);
  void SaverLoop();

  HttpResponse Dispatch(const HttpRequest& request, std::string& endpoint);
  HttpResponse TokenEndpoint(const HttpRequest& request);
  HttpResponse RefreshEndpoint(const HttpRequest& request);
  HttpResponse RevokeEndpoint(const HttpRequest& request);
  HttpResponse MeEndpoint(const HttpRequest& request);
  HttpResponse IntrospectEndpoint(const HttpRequest& request);
  // /v1/authorize (nginx auth_request) and /v1/ext_authz (Envoy). The
  // /v1/authorize answers carry no body, so that nginx keeps its connection
  // to the authorizer alive (WithoutBody in service.cc says why);
  // NginxAuthorizeWithBody is the answer before its body is dropped.
  HttpResponse NginxAuthorize(const HttpRequest& request);
  HttpResponse NginxAuthorizeWithBody(const HttpRequest& request);
  HttpResponse ExtAuthz(const HttpRequest& request);
  HttpResponse Authorize(const HttpRequest& request, absl::string_view method,
                         absl::string_view path, AuthorizeTrace* trace);
  // Authorize, then its decision-log line (decision_api.h).
  HttpResponse AuthorizeLogged(const HttpRequest& request,
                               absl::string_view method,
                               absl::string_view path);
  DecisionApi decision_api();
  HttpResponse MetricsPage();
  HttpResponse Jwks() const;
  // The token format and lifetime of an answer in Monta's dialect
  // (camelCase JSON) or RFC 6749's (Monite's).
  auth::IssueOptions IssueOptionsFor(bool monta_dialect) const;
  HttpResponse Readyz();
  static HttpResponse Healthz();

  ServerSettings settings_;
  const auth::Clock& clock_;
  Logger logger_;
  server::Metrics metrics_;
  ApiMetrics api_metrics_{metrics_.registry()};
  std::unique_ptr<DecisionLog> decision_log_;  // null: off
  RouteTable routes_;

  // With Redis: loads the shared client registry if another replica changed
  // it since; whether the local registry was replaced since `loads_before`
  // (RegistryLoads() taken before the failed authentication) by this call
  // or another thread's, in which case the authentication is worth trying
  // again.
  uint64_t RegistryLoads() const;
  bool RegistryCaughtUp(uint64_t loads_before);
  // `attempt()` (a StatusOr, or a client authentication), made once more
  // when it failed to authenticate and the shared registry was replaced
  // meanwhile: a client registered, rotated or resumed on another replica a
  // moment ago, which this replica had not heard of yet. Only for attempts
  // whose failure changes nothing a second try would not change the same way.
  template <typename Attempt>
  auto WithRegistryCaughtUp(Attempt attempt);
  // Opens Redis and its store, for token_store.kind "redis".
  absl::Status InitRedis();
  // Starts hearing revocations from other replicas (after tokens_ exists).
  absl::Status StartRevocationSubscriber();

  std::unique_ptr<auth::SecretKey> token_key_;  // seals the store's export
  std::unique_ptr<auth::ClientRegistry> registry_;
  // token_store.kind "redis": the client, the registry's shared state.
  std::unique_ptr<redis::RedisClient> redis_;
  std::unique_ptr<redis::RedisClientState> client_state_;
  // An InMemoryTokenStore or a RedisTokenStore.
  std::unique_ptr<auth::TokenStore> store_;
  auth::InMemoryUserDirectory users_;
  std::unique_ptr<UserDirectoryReloader> user_reloader_;  // null: no file
  std::unique_ptr<auth::TokenService> tokens_;
  // After tokens_, which its callbacks use: destroyed first. Null in memory.
  std::unique_ptr<redis::RevocationSubscriber> subscriber_;
  // Rate-limit mode "redis" (docs/replicas.md): the limiter, over redis_,
  // and its metrics; null in mode "local". After tokens_ and redis_.
  std::unique_ptr<ratelimit::DistributedRateLimiter> distributed_rate_limiter_;
  std::unique_ptr<ratelimit::RateLimitMetrics> rate_limit_metrics_;
  // JWKS document (RFC 7517) of the JWT keys; empty when JWTs are off.
  std::string jwks_;
  PolicyStore policy_store_;
  // Exactly one of the two: the policy from files, or from a bundle server.
  std::unique_ptr<PolicyWatcher> watcher_;
  std::unique_ptr<BundlePoller> poller_;
  std::unique_ptr<BundleMetrics> bundle_metrics_;  // with poller_

  std::string clients_path_;
  std::string tokens_path_;
  std::atomic<bool> tokens_dirty_{false};
  // Another replica changed the shared client registry (Redis): the saver
  // thread pulls it.
  std::atomic<bool> registry_pull_wanted_{false};
  std::mutex save_mu_;                // serializes saves
  std::string last_registry_export_;  // guarded by save_mu_

  std::mutex saver_mu_;
  std::condition_variable saver_wake_;
  bool stopping_ = false;              // guarded by saver_mu_
  bool saver_wake_requested_ = false;  // guarded by saver_mu_
  bool stopped_ = false;
  std::thread saver_;
};

// A running server: a Service behind an HttpServer.
class Server {
 public:
  // Creates the service, binds the listen addresses and starts the workers.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      ServerSettings settings,
      const auth::Clock& clock = auth::SystemClock::Instance());
  ~Server();  // Shutdown()

  // The bound endpoints, in the configuration's order.
  std::vector<boost::asio::ip::tcp::endpoint> endpoints() const {
    return http_->endpoints();
  }
  Service& service() { return *service_; }
  // The admin listener's endpoint (admin.h); a default one when it is off.
  boost::asio::ip::tcp::endpoint admin_endpoint() const {
    return admin_http_ != nullptr ? admin_http_->endpoints()[0]
                                  : boost::asio::ip::tcp::endpoint();
  }

  // Stops accepting, drains, stops the service and saves its state.
  absl::Status Shutdown();

 private:
  absl::Status StartAdmin(const AdminSettings& admin, bool allow_readable,
                          const LimitSettings& limits);
  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<AdminHandler> admin_;
  std::unique_ptr<HttpServer> admin_http_;  // loopback only; null: off
  bool shut_down_ = false;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_SERVICE_H_
