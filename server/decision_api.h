// POST /v1/check (batch decisions by names) and GET /v1/permissions (the
// caller's permission table in an entity), both for the caller's own Bearer
// principal, and the decision-log records of these endpoints and of proxy
// authorization (docs/server.md).
#ifndef PORTCULLIS_SERVER_DECISION_API_H_
#define PORTCULLIS_SERVER_DECISION_API_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/auth/clock.h"
#include "engine/auth/token_service.h"
#include "engine/live/policy_store.h"
#include "server/api_metrics.h"
#include "server/config.h"
#include "server/decision_log.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/ratelimit/distributed_rate_limiter.h"

namespace portcullis::server {

// A JSON answer with `Cache-Control: no-store` (also the admin listener's).
HttpResponse NoStoreJson(boost::beast::http::status status, std::string body);
// `{"error":…[,"error_description":…]}` as a NoStoreJson answer.
HttpResponse NoStoreJsonError(boost::beast::http::status status,
                              absl::string_view error,
                              absl::string_view description);

// What the endpoints use; all references outlive the calls.
struct DecisionApi {
  auth::TokenService& tokens;
  const PolicyStore& store;
  const auth::Clock& clock;
  ApiMetrics& metrics;
  DecisionLog* log;  // null: no decision log
  const ServerSettings& settings;
  // Rate-limit mode "redis"; null: the token service's per-replica limits.
  ratelimit::DistributedRateLimiter* distributed_rate_limiter = nullptr;
};

// POST /v1/check: 200 {"decisions":[{"decision":…,"reason":…},…]} in the
// order of the requests; 400 naming the field path; 401/429/503 as the
// proxy-authorization endpoints.
HttpResponse CheckBatchEndpoint(const DecisionApi& api,
                                const HttpRequest& request);

// GET /v1/permissions?entity_id=…: 200 {"entity_id":…,"principal":…,
// "policy_generation":…,"permissions":[{"object_type":…,"action":…,
// "decision":…,"reason":…},…]}, every (object type, action) of the catalog.
HttpResponse PermissionsEndpoint(const DecisionApi& api,
                                 const HttpRequest& request);

// What Service::Authorize found out, for its decision-log line.
struct AuthorizeTrace {
  bool introspected = false;  // a Bearer token was looked up
  // Lent (TokenService::IntrospectHeaderLent): valid until this thread's
  // next introspection, so for this request only.
  const auth::AccessGrant* grant = nullptr;
  std::string object_type;
  std::string action;
  std::string entity;
};

// Logs a proxy-authorization answer (sampled): the decision and reason from
// its X-Portcullis-* headers, or `unauthenticated` for a 401.
void LogAuthorizeDecision(const DecisionApi& api, const HttpRequest& request,
                          absl::string_view method, absl::string_view path,
                          const AuthorizeTrace& trace,
                          const HttpResponse& response);

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_DECISION_API_H_
