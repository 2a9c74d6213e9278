#include "engine/auth/token_json.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/common/json_string.h"

namespace portcullis::auth {
namespace {

std::string JsonTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

// Builds one compact JSON object, fields in call order.
class JsonObject {
 public:
  JsonObject& String(absl::string_view name, absl::string_view value) {
    Name(name);
    internal::AppendJsonString(value, out_);
    return *this;
  }
  JsonObject& Number(absl::string_view name, int64_t value) {
    Name(name);
    absl::StrAppend(&out_, value);
    return *this;
  }
  // The user of an entity_user grant; null for a partner token.
  JsonObject& UserId(GrantKind grant, absl::string_view user_id) {
    return grant == GrantKind::kEntityUser ? String("userId", user_id)
                                           : Null("userId");
  }
  JsonObject& Null(absl::string_view name) {
    Name(name);
    out_.append("null");
    return *this;
  }
  JsonObject& Strings(absl::string_view name,
                      const std::vector<std::string>& values) {
    Name(name);
    out_.push_back('[');
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out_.push_back(',');
      internal::AppendJsonString(values[i], out_);
    }
    out_.push_back(']');
    return *this;
  }
  // The object's text; the builder is spent.
  std::string Close() {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void Name(absl::string_view name) {
    if (out_.size() > 1) out_.push_back(',');
    internal::AppendJsonString(name, out_);
    out_.push_back(':');
  }

  std::string out_ = "{";
};

}  // namespace

std::string MontaTokenJson(const IssuedTokens& tokens) {
  return JsonObject()
      .String("accessToken", tokens.access_token)
      .String("refreshToken", tokens.refresh_token)
      .String("accessTokenExpirationDate",
              JsonTime(tokens.access_token_expires_at))
      .String("refreshTokenExpirationDate",
              JsonTime(tokens.refresh_token_expires_at))
      .Close();
}

std::string MontaPublicTokenJson(const IssuedTokens& tokens) {
  return JsonObject()
      .String("applicationId", tokens.client_id)
      .UserId(tokens.grant, tokens.user_id)
      .String("accessToken", tokens.access_token)
      .String("accessTokenExpirationDate",
              JsonTime(tokens.access_token_expires_at))
      .String("refreshToken", tokens.refresh_token)
      .String("refreshTokenExpirationDate",
              JsonTime(tokens.refresh_token_expires_at))
      .Close();
}

std::string OAuthTokenJson(const IssuedTokens& tokens) {
  return JsonObject()
      .String("access_token", tokens.access_token)
      .String("token_type", "Bearer")
      .Number("expires_in",
              absl::ToInt64Seconds(tokens.access_token_expires_at -
                                   tokens.issued_at))
      .String("refresh_token", tokens.refresh_token)
      .Close();
}

std::string ApplicationInfoJson(const ApplicationInfo& info) {
  JsonObject json;
  json.String("id", info.client_id)
      .UserId(info.grant, info.user_id)
      .String("name", info.name)
      .String("operatorId", info.partner_id)
      .Strings("teamIds", info.entity_ids)
      .String("clientId", info.client_id)
      .Null("clientSecret");
  if (info.rate_limit > 0) {
    json.Number("rateLimit", info.rate_limit)
        .Number("rateLimitIntervalInSeconds", info.rate_limit_interval_seconds);
  } else {
    json.Null("rateLimit").Null("rateLimitIntervalInSeconds");
  }
  json.Strings("scopes", info.scopes)
      .String("createdAt", JsonTime(info.created_at))
      .String("updatedAt", JsonTime(info.updated_at));
  return json.Close();
}

std::string RevokeJson(const RevokeResult& /*result*/) {
  return JsonObject().String("message", "ok").Close();
}

}  // namespace portcullis::auth
