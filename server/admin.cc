#include "server/admin.h"

#include <sys/stat.h>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/common/json_string.h"
#include "server/config.h"
#include "server/decision_api.h"

namespace portcullis::server {

namespace http = boost::beast::http;

namespace {

absl::Span<const uint8_t> Bytes(absl::string_view text) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()),
                             text.size());
}

HttpResponse AdminJson(http::status status, std::string body) {
  return NoStoreJson(status, std::move(body));
}

HttpResponse AdminError(http::status status, absl::string_view error,
                        absl::string_view description) {
  return NoStoreJsonError(status, error, description);
}

HttpResponse RegistryError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return AdminError(http::status::not_found, "not_found", status.message());
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
      return AdminError(http::status::conflict, "conflict", status.message());
    case absl::StatusCode::kInvalidArgument:
      return AdminError(http::status::bad_request, "invalid_request",
                        status.message());
    default:
      return AdminError(http::status::internal_server_error, "internal_error",
                        "");
  }
}

// %XX decoding of a path segment ('+' is a plus). nullopt for a bad escape.
std::optional<std::string> PercentDecode(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size() || !absl::ascii_isxdigit(text[i + 1]) ||
        !absl::ascii_isxdigit(text[i + 2])) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(
        std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

std::string TimeJson(absl::Time time) {
  if (time == absl::InfinitePast() || time == absl::InfiniteFuture()) {
    return "null";
  }
  return absl::StrCat(
      "\"", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone()),
      "\"");
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminHandler>> AdminHandler::Create(
    const std::string& token_file, bool allow_readable,
    auth::ClientRegistry& registry, Apply apply, Metrics& metrics,
    ApiMetrics& api_metrics, Logger& logger) {
  struct stat info;
  if (::stat(token_file.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat(
        token_file,
        ": cannot read the admin token file: ", std::strerror(errno)));
  }
  if (!allow_readable && (info.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        token_file,
        ": admin token file is readable by group or others (chmod 600 it)"));
  }
  absl::StatusOr<std::string> text = ReadFile(token_file);
  if (!text.ok()) return text.status();
  const absl::string_view token = absl::StripAsciiWhitespace(*text);
  if (token.size() < 32) {
    std::fill(text->begin(), text->end(), '\0');
    return absl::InvalidArgumentError(absl::StrCat(
        token_file, ": the admin token must have at least 32 characters"));
  }
  auth::SecretKey key = auth::SecretKey::Generate();
  const auth::Digest expected = auth::KeyedHash(key, Bytes(token));
  std::fill(text->begin(), text->end(), '\0');
  return std::unique_ptr<AdminHandler>(
      new AdminHandler(std::move(key), expected, registry, std::move(apply),
                       metrics, api_metrics, logger));
}

AdminHandler::AdminHandler(auth::SecretKey key, auth::Digest expected,
                           auth::ClientRegistry& registry, Apply apply,
                           Metrics& metrics, ApiMetrics& api_metrics,
                           Logger& logger)
    : key_(std::move(key)),
      expected_(expected),
      registry_(registry),
      apply_(std::move(apply)),
      metrics_(metrics),
      api_metrics_(api_metrics),
      logger_(logger) {}

bool AdminHandler::Authorized(const HttpRequest& request) const {
  if (request.count(http::field::authorization) != 1) return false;
  const auto value = request[http::field::authorization];
  const absl::string_view header(value.data(), value.size());
  constexpr absl::string_view kScheme = "Bearer ";
  if (header.size() > 1024 || !absl::StartsWithIgnoreCase(header, kScheme)) {
    return false;
  }
  // Digests of equal length, compared in constant time (Digest's ==).
  return auth::KeyedHash(key_, Bytes(header.substr(kScheme.size()))) ==
         expected_;
}

HttpResponse AdminHandler::Handle(const HttpRequest& request) {
  const absl::Time start = absl::Now();
  HttpResponse response;
  try {
    if (!Authorized(request)) {
      api_metrics_.AdminAuthFailed();
      logger_.Warning("admin: request refused: bad or missing admin token");
      response = AdminError(http::status::unauthorized, "unauthorized", "");
      response.set(http::field::www_authenticate,
                   "Bearer realm=\"portcullis-admin\"");
    } else {
      response = Route(request);
    }
  } catch (...) {
    response =
        AdminError(http::status::internal_server_error, "internal_error", "");
  }
  metrics_.Request("admin", response.result_int(), absl::Now() - start);
  return response;
}

HttpResponse AdminHandler::Changed(absl::string_view client_id,
                                   absl::string_view what,
                                   const absl::Status& status,
                                   const std::string* secret) {
  if (absl::IsDataLoss(status)) {
    metrics_.StateSaveFailed();
    logger_.Error(
        absl::StrCat("admin: client \"", absl::CEscape(client_id), "\" ", what,
                     ", but saving the state failed: ", status.message()));
    return AdminError(http::status::internal_server_error, "state_not_saved",
                      "the change is in effect but was not saved");
  }
  if (absl::IsUnavailable(status) || absl::IsAborted(status)) {
    logger_.Error(absl::StrCat("admin: client \"", absl::CEscape(client_id),
                               "\": not ", what, ": ", status.message()));
    return AdminError(http::status::service_unavailable, "state_unavailable",
                      "the shared client state is unreachable: try again");
  }
  if (!status.ok()) return RegistryError(status);
  logger_.Info(
      absl::StrCat("admin: client \"", absl::CEscape(client_id), "\" ", what));
  std::string body = "{\"client_id\":";
  internal::AppendJsonString(client_id, body);
  if (secret != nullptr) {
    body.append(",\"client_secret\":");
    internal::AppendJsonString(*secret, body);
  }
  absl::StatusOr<auth::ClientInfo> info = registry_.Find(client_id);
  if (info.ok()) {
    absl::StrAppend(&body, ",\"state\":\"", auth::ClientStateName(info->state),
                    "\"");
  }
  body.push_back('}');
  return AdminJson(http::status::ok, std::move(body));
}

HttpResponse AdminHandler::Route(const HttpRequest& request) {
  const absl::string_view target(request.target().data(),
                                 request.target().size());
  const absl::string_view path = target.substr(0, target.find('?'));
  const http::verb method = request.method();
  auto not_allowed = [](absl::string_view allow) {
    HttpResponse response =
        AdminError(http::status::method_not_allowed, "method_not_allowed", "");
    response.set(http::field::allow, std::string(allow));
    return response;
  };
  if (path == "/admin/clients") {
    if (method != http::verb::get) return not_allowed("GET");
    std::string body = "{\"clients\":[";
    bool first = true;
    for (const auth::ClientInfo& info : registry_.List()) {
      if (!first) body.push_back(',');
      first = false;
      body.append("{\"client_id\":");
      internal::AppendJsonString(info.client_id, body);
      absl::StrAppend(&body, ",\"state\":\"", auth::ClientStateName(info.state),
                      "\"");
      body.append(",\"display_name\":");
      internal::AppendJsonString(info.display_name, body);
      absl::StrAppend(&body, ",\"operator_suspended\":",
                      info.operator_suspended ? "true" : "false",
                      ",\"absent\":", info.absent ? "true" : "false",
                      ",\"created_at\":", TimeJson(info.created_at),
                      ",\"updated_at\":", TimeJson(info.updated_at), "}");
    }
    body.append("]}");
    return AdminJson(http::status::ok, std::move(body));
  }
  constexpr absl::string_view kPrefix = "/admin/clients/";
  if (!absl::StartsWith(path, kPrefix)) {
    return AdminError(http::status::not_found, "not_found", "");
  }
  std::vector<absl::string_view> parts =
      absl::StrSplit(path.substr(kPrefix.size()), '/');
  if (parts.size() > 2 || parts[0].empty()) {
    return AdminError(http::status::not_found, "not_found", "");
  }
  std::optional<std::string> id = PercentDecode(parts[0]);
  if (!id.has_value() || id->empty()) {
    return AdminError(http::status::bad_request, "invalid_request",
                      "client id: bad percent-encoding");
  }
  if (parts.size() == 1) {
    if (method == http::verb::post) {
      std::string secret;
      const absl::Status status = apply_([&]() -> absl::Status {
        absl::StatusOr<std::string> made = registry_.RegisterClient(*id, "");
        if (!made.ok()) return made.status();
        secret = *std::move(made);
        return absl::OkStatus();
      });
      return Changed(*id, "registered", status, &secret);
    }
    if (method == http::verb::delete_) {
      const absl::Status status =
          apply_([&] { return registry_.RemoveClient(*id); });
      return Changed(*id, "removed", status, nullptr);
    }
    return not_allowed("POST, DELETE");
  }
  const absl::string_view operation = parts[1];
  if (operation != "rotate" && operation != "suspend" &&
      operation != "resume") {
    return AdminError(http::status::not_found, "not_found", "");
  }
  if (method != http::verb::post) return not_allowed("POST");
  if (operation == "rotate") {
    std::string secret;
    const absl::Status status = apply_([&]() -> absl::Status {
      absl::StatusOr<std::string> made = registry_.RotateSecret(*id);
      if (!made.ok()) return made.status();
      secret = *std::move(made);
      return absl::OkStatus();
    });
    return Changed(*id, "secret rotated", status, &secret);
  }
  const bool suspend = operation == "suspend";
  const absl::Status status = apply_([&] {
    return suspend ? registry_.SuspendClient(*id) : registry_.ResumeClient(*id);
  });
  return Changed(*id, suspend ? "suspended" : "resumed", status, nullptr);
}

}  // namespace portcullis::server
