#include "server/decision_api.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/common/json_string.h"
#include "engine/evaluate/evaluator.h"
#include "server/check_request.h"
#include "server/params.h"

namespace portcullis::server {

namespace http = boost::beast::http;

namespace {

absl::string_view HeaderValue(const HttpRequest& request,
                              absl::string_view name) {
  auto it = request.find(boost::beast::string_view(name.data(), name.size()));
  if (it == request.end()) return absl::string_view();
  return absl::string_view(it->value().data(), it->value().size());
}

HttpResponse ApiJson(http::status status, std::string body) {
  return NoStoreJson(status, std::move(body));
}

HttpResponse BadRequest(absl::string_view message) {
  return NoStoreJsonError(http::status::bad_request, "invalid_request",
                          message);
}

std::string PrincipalOf(const auth::AccessGrant& grant) {
  return grant.user_id().empty() ? absl::StrCat("client:", grant.client_id())
                                 : absl::StrCat("user:", grant.user_id());
}

// The caller's grant, or null and the answer to give: 401 (RFC 6750), 429,
// 503. The grant is lent (TokenService::IntrospectHeaderLent): valid until
// this thread's next introspection, so for this request only.
const auth::AccessGrant* Authenticate(const DecisionApi& api,
                                      const HttpRequest& request,
                                      HttpResponse* failure) {
  const size_t count = request.count(http::field::authorization);
  const absl::string_view authorization = HeaderValue(request, "authorization");
  auto unauthorized = [&](bool missing) {
    *failure = ApiJson(http::status::unauthorized,
                       missing ? "{\"error\":\"unauthorized\"}"
                               : "{\"error\":\"invalid_token\"}");
    failure->set(http::field::www_authenticate,
                 missing ? "Bearer realm=\"portcullis\""
                         : "Bearer realm=\"portcullis\", "
                           "error=\"invalid_token\"");
    return nullptr;
  };
  if (count == 0 || (count == 1 && authorization.empty())) {
    return unauthorized(true);
  }
  if (count > 1 ||
      authorization.size() > api.settings.limits.authorization_bytes) {
    return unauthorized(false);
  }
  api.metrics.Introspected();
  const absl::Time now = api.clock.Now();
  auto grant = api.tokens.IntrospectHeaderLent(authorization, now);
  if (!grant.ok()) {
    if (grant.status().code() == absl::StatusCode::kUnavailable) {
      *failure = ApiJson(http::status::service_unavailable,
                         "{\"error\":\"no_policy\"}");
      return nullptr;
    }
    return unauthorized(false);
  }
  const auth::RateDecision rate = ratelimit::CheckClientRateLimit(
      api.tokens, api.distributed_rate_limiter, **grant, now);
  if (!rate.allowed) {
    *failure = ApiJson(http::status::too_many_requests,
                       "{\"error\":\"rate_limited\"}");
    const double seconds = absl::ToDoubleSeconds(rate.retry_after);
    const int64_t retry =
        std::isfinite(seconds)
            ? std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds)))
            : 3600;
    failure->set(http::field::retry_after, absl::StrCat(retry));
    return nullptr;
  }
  return *grant;
}

// A decision as answered: allowed_for_own needs a user to restrict to
// (fail closed, as proxy authorization does).
Decision Answered(Decision decision, const auth::AccessGrant& grant) {
  if (decision.verdict == Verdict::kAllowedForOwn && grant.user_id().empty()) {
    decision.verdict = Verdict::kNotAllowed;
  }
  return decision;
}

void AppendDecision(const Decision& decision, std::string& out) {
  absl::StrAppend(&out, "\"decision\":\"", VerdictName(decision.verdict),
                  "\",\"reason\":\"", ReasonName(decision.reason), "\"");
}

// The policy's generation and digest, if `policy` is the one published.
void PolicyFields(const DecisionApi& api, const CompiledPolicy& policy,
                  DecisionRecord& record) {
  std::optional<PolicyStore::SnapshotInfo> info = api.store.info();
  if (info.has_value() && info->snapshot == policy.snapshot()) {
    record.policy_generation = info->generation;
    record.policy_digest = info->digest.ToHex();
  }
}

}  // namespace

HttpResponse NoStoreJson(http::status status, std::string body) {
  HttpResponse response(status, 11);
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  response.body() = std::move(body);
  return response;
}

HttpResponse NoStoreJsonError(http::status status, absl::string_view error,
                              absl::string_view description) {
  std::string body = absl::StrCat("{\"error\":\"", error, "\"");
  if (!description.empty()) {
    body.append(",\"error_description\":");
    internal::AppendJsonString(description, body);
  }
  body.push_back('}');
  return NoStoreJson(status, std::move(body));
}

HttpResponse CheckBatchEndpoint(const DecisionApi& api,
                                const HttpRequest& request) {
  const absl::string_view content_type = HeaderValue(request, "content-type");
  const absl::string_view media = absl::StripAsciiWhitespace(
      content_type.substr(0, content_type.find(';')));
  if (request.count(http::field::content_type) != 1 ||
      !absl::EqualsIgnoreCase(media, "application/json")) {
    return BadRequest("content-type: expected application/json");
  }
  HttpResponse failure;
  const auth::AccessGrant* grant = Authenticate(api, request, &failure);
  if (grant == nullptr) return failure;
  absl::StatusOr<std::vector<CheckItem>> items =
      ParseCheckBatch(request.body(), api.settings.api.max_batch_size);
  if (!items.ok()) return BadRequest(items.status().message());

  const CompiledPolicy& policy = grant->policy();
  std::string body = "{\"decisions\":[";
  DecisionRecord base;
  const bool logging = api.log != nullptr;
  if (logging) {
    base.request_id = RequestIdOf(HeaderValue(request, "x-request-id"));
    base.principal = PrincipalOf(*grant);
    base.route = "POST /v1/check";
    PolicyFields(api, policy, base);
  }
  for (size_t i = 0; i < items->size(); ++i) {
    const CheckItem& item = (*items)[i];
    RequestNames names;
    names.object_type = item.object_type;
    names.action = item.action;
    names.entity_id = item.entity_id;
    names.has_resource = item.has_resource;
    names.resource_entity_id = item.resource_entity_id;
    names.resource_created_by = item.resource_created_by;
    const Decision decision =
        Answered(Check(policy, grant->principal(), names), *grant);
    if (i > 0) body.push_back(',');
    body.push_back('{');
    AppendDecision(decision, body);
    body.push_back('}');
    const bool denied = decision.verdict == Verdict::kNotAllowed;
    if (logging && api.log->Sampled(denied)) {
      DecisionRecord record = base;
      record.time = absl::Now();
      record.object_type = item.object_type;
      record.action = item.action;
      record.entity = item.entity_id;
      record.decision = std::string(VerdictName(decision.verdict));
      record.reason = std::string(ReasonName(decision.reason));
      api.log->Submit(std::move(record));
    }
  }
  body.append("]}");
  HttpResponse response = ApiJson(http::status::ok, std::move(body));
  if (logging) response.set("x-request-id", base.request_id);
  return response;
}

HttpResponse PermissionsEndpoint(const DecisionApi& api,
                                 const HttpRequest& request) {
  const absl::string_view target(request.target().data(),
                                 request.target().size());
  const size_t question = target.find('?');
  std::optional<std::string> entity;
  if (question != absl::string_view::npos) {
    for (absl::string_view pair :
         absl::StrSplit(target.substr(question + 1), '&')) {
      const size_t equals = pair.find('=');
      absl::StatusOr<std::string> name = FormDecode(pair.substr(0, equals));
      if (!name.ok()) return BadRequest("query: bad escape");
      if (*name != "entity_id") {
        return BadRequest("query: unknown parameter (expected entity_id)");
      }
      if (entity.has_value()) return BadRequest("entity_id: repeated");
      absl::StatusOr<std::string> value = FormDecode(
          equals == absl::string_view::npos ? absl::string_view()
                                            : pair.substr(equals + 1));
      if (!value.ok()) return BadRequest("entity_id: bad escape");
      entity = std::move(*value);
    }
  }
  if (!entity.has_value() || entity->empty()) {
    return BadRequest("entity_id: missing");
  }
  HttpResponse failure;
  const auth::AccessGrant* grant = Authenticate(api, request, &failure);
  if (grant == nullptr) return failure;
  const CompiledPolicy& policy = grant->policy();
  std::optional<EntityId> entity_id = policy.FindEntity(*entity);
  if (!entity_id.has_value()) return BadRequest("entity_id: unknown entity");

  std::string body = "{\"entity_id\":";
  internal::AppendJsonString(*entity, body);
  body.append(",\"principal\":");
  internal::AppendJsonString(PrincipalOf(*grant), body);
  DecisionRecord info;
  PolicyFields(api, policy, info);
  absl::StrAppend(&body, ",\"policy_generation\":", info.policy_generation,
                  ",\"permissions\":[");
  // Every (object type, action) slot of the catalog, checked by ids against
  // the principal's compiled row: a few words read per action.
  const size_t slots = policy.tables().slots.size();
  for (size_t slot = 0; slot < slots; ++slot) {
    const ActionId action = internal::IdAccess::Make<ActionId>(
        policy.snapshot(), static_cast<uint32_t>(slot));
    const Decision decision =
        Answered(Check(policy, grant->principal(), action, *entity_id), *grant);
    if (slot > 0) body.push_back(',');
    body.append("{\"object_type\":");
    internal::AppendJsonString(
        policy.ObjectTypeName(policy.ObjectTypeOf(action)), body);
    body.append(",\"action\":");
    internal::AppendJsonString(policy.ActionName(action), body);
    body.push_back(',');
    AppendDecision(decision, body);
    body.push_back('}');
  }
  body.append("]}");
  return ApiJson(http::status::ok, std::move(body));
}

void LogAuthorizeDecision(const DecisionApi& api, const HttpRequest& request,
                          absl::string_view method, absl::string_view path,
                          const AuthorizeTrace& trace,
                          const HttpResponse& response) {
  if (api.log == nullptr) return;
  DecisionRecord record;
  auto header = [&response](absl::string_view name) {
    auto it =
        response.find(boost::beast::string_view(name.data(), name.size()));
    return it == response.end()
               ? std::string()
               : std::string(it->value().data(), it->value().size());
  };
  record.decision = header("x-portcullis-decision");
  record.reason = header("x-portcullis-reason");
  if (record.decision.empty()) {
    if (response.result() == http::status::unauthorized) {
      record.decision = "unauthenticated";
      record.reason = trace.introspected ? "invalid_token" : "missing_token";
    } else {
      record.decision = "error";
      record.reason = absl::StrCat("status_", response.result_int());
    }
  }
  if (!api.log->Sampled(record.decision != "allowed" &&
                        record.decision != "allowed_for_own")) {
    return;
  }
  record.time = absl::Now();
  record.request_id = RequestIdOf(HeaderValue(request, "x-request-id"));
  record.route = absl::StrCat(method, " ", path.substr(0, path.find('?')));
  record.object_type = trace.object_type;
  record.action = trace.action;
  record.entity = trace.entity;
  if (trace.grant != nullptr) {
    record.principal = PrincipalOf(*trace.grant);
    PolicyFields(api, trace.grant->policy(), record);
  }
  api.log->Submit(std::move(record));
}

}  // namespace portcullis::server
