// The admin listener's handler (docs/server.md, "Admin listener"): client
// management without a restart, for `portcullis clients`. Served on its own
// loopback-only listener, every request authenticated by the admin token
// (`Authorization: Bearer <token>`, compared in constant time as keyed
// digests). Routes:
//   GET    /admin/clients               list (no secrets)
//   POST   /admin/clients/{id}          register: the secret, once
//   POST   /admin/clients/{id}/rotate   a new secret, once
//   POST   /admin/clients/{id}/suspend
//   POST   /admin/clients/{id}/resume
//   DELETE /admin/clients/{id}          remove for good
// `{id}` is percent-decoded. Every change is saved (the registry's sealed
// export) before it is answered; a failed save is a 500 without the secret.
#ifndef PORTCULLIS_SERVER_ADMIN_H_
#define PORTCULLIS_SERVER_ADMIN_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/crypto.h"
#include "server/api_metrics.h"
#include "server/http_server.h"
#include "server/log.h"
#include "server/metrics.h"

namespace portcullis::server {

class AdminHandler final : public HttpHandler {
 public:
  // Runs one registry change and makes it last: returns the change's own
  // error as it is; Unavailable or Aborted when the change could not be
  // made or shared with the other replicas (Redis, docs/replicas.md);
  // DataLoss when it is in effect but could not be saved.
  using Apply =
      std::function<absl::Status(const std::function<absl::Status()>&)>;

  // Reads the admin token from `token_file`: at least 32 characters once
  // surrounding whitespace is removed; refused if the file is readable by
  // group or others unless `allow_readable`. Errors never quote the file.
  // Everything passed must outlive the handler.
  static absl::StatusOr<std::unique_ptr<AdminHandler>> Create(
      const std::string& token_file, bool allow_readable,
      auth::ClientRegistry& registry, Apply apply, Metrics& metrics,
      ApiMetrics& api_metrics, Logger& logger);

  size_t BodyLimit(absl::string_view) const override { return 1024; }
  HttpResponse Handle(const HttpRequest& request) override;

 private:
  AdminHandler(auth::SecretKey key, auth::Digest expected,
               auth::ClientRegistry& registry, Apply apply, Metrics& metrics,
               ApiMetrics& api_metrics, Logger& logger);
  bool Authorized(const HttpRequest& request) const;
  HttpResponse Route(const HttpRequest& request);
  // The answer to a change that `apply_` returned `status` for.
  HttpResponse Changed(absl::string_view client_id, absl::string_view what,
                       const absl::Status& status, const std::string* secret);

  const auth::SecretKey key_;    // random, per process
  const auth::Digest expected_;  // KeyedHash(key_, admin token)
  auth::ClientRegistry& registry_;
  const Apply apply_;
  Metrics& metrics_;
  ApiMetrics& api_metrics_;
  Logger& logger_;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_ADMIN_H_
