#include "server/params.h"

#include <simdjson.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace portcullis::server {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// JSON key -> parameter name, and whether it is the camelCase spelling.
struct KeyName {
  absl::string_view json;
  absl::string_view param;
  bool camel;
};

constexpr KeyName kKeys[] = {
    {"grant_type", "grant_type", false},
    {"grantType", "grant_type", true},
    {"client_id", "client_id", false},
    {"clientId", "client_id", true},
    {"client_secret", "client_secret", false},
    {"clientSecret", "client_secret", true},
    {"refresh_token", "refresh_token", false},
    {"refreshToken", "refresh_token", true},
    {"entity_user_id", "entity_user_id", false},
    {"entityUserId", "entity_user_id", true},
    {"token", "token", false},
    {"token_type_hint", "token_type_hint", false},
    {"tokenTypeHint", "token_type_hint", true},
    {"scope", "scope", false},
};

bool HasControl(absl::string_view text) {
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

std::optional<absl::string_view> Params::Get(absl::string_view name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return absl::string_view(it->second);
}

absl::StatusOr<std::string> FormDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return absl::InvalidArgumentError("truncated %-escape");
      }
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) {
        return absl::InvalidArgumentError("bad %-escape");
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<Params> ParseForm(absl::string_view body) {
  Params params;
  params.dialect = BodyDialect::kForm;
  if (body.empty()) return params;
  for (absl::string_view pair : absl::StrSplit(body, absl::ByChar('&'))) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    absl::StatusOr<std::string> name = FormDecode(pair.substr(0, eq));
    if (!name.ok()) return name.status();
    absl::StatusOr<std::string> value =
        FormDecode(eq == absl::string_view::npos ? absl::string_view()
                                                 : pair.substr(eq + 1));
    if (!value.ok()) return value.status();
    if (name->empty()) {
      return absl::InvalidArgumentError("form: empty parameter name");
    }
    if (HasControl(*name)) {
      return absl::InvalidArgumentError("form: control character in a name");
    }
    if (params.values.count(*name) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter \"", absl::CEscape(*name), "\" appears more than once"));
    }
    params.values.emplace(std::move(*name), std::move(*value));
  }
  return params;
}

absl::StatusOr<Params> ParseJson(absl::string_view body) {
  Params params;
  params.dialect = BodyDialect::kSnakeJson;
  // A parser per thread: simdjson's parser reuses its buffers.
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(body.data(), body.size());
  simdjson::dom::element root;
  simdjson::error_code error = parser.parse(padded).get(root);
  if (error) {
    return absl::InvalidArgumentError("malformed JSON");
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    return absl::InvalidArgumentError("JSON body: expected an object");
  }
  std::set<std::string> seen_keys;
  for (simdjson::dom::key_value_pair field : object) {
    const std::string key(field.key.data(), field.key.size());
    const KeyName* known = nullptr;
    for (const KeyName& k : kKeys) {
      if (k.json == key) known = &k;
    }
    if (known == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field \"", absl::CEscape(key), "\""));
    }
    if (!seen_keys.insert(key).second ||
        params.values.count(known->param) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter \"", known->param, "\" appears more than once"));
    }
    if (known->camel) params.dialect = BodyDialect::kCamelJson;
    if (field.value.is_null()) continue;
    std::string_view value;
    if (field.value.get_string().get(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", key, "\": expected a string"));
    }
    params.values.emplace(std::string(known->param),
                          std::string(value.data(), value.size()));
  }
  return params;
}

absl::StatusOr<Params> ParseBody(absl::string_view content_type,
                                 absl::string_view body) {
  absl::string_view media = content_type;
  size_t semicolon = media.find(';');
  if (semicolon != absl::string_view::npos) media = media.substr(0, semicolon);
  media = absl::StripAsciiWhitespace(media);
  if (media.empty() && body.empty()) return ParseForm(body);
  if (absl::EqualsIgnoreCase(media, "application/json")) return ParseJson(body);
  if (absl::EqualsIgnoreCase(media, "application/x-www-form-urlencoded")) {
    return ParseForm(body);
  }
  return absl::InvalidArgumentError(
      "unsupported content type: expected application/json or "
      "application/x-www-form-urlencoded");
}

absl::StatusOr<std::optional<BasicCredentials>> ParseBasic(
    absl::string_view authorization) {
  size_t space = authorization.find(' ');
  absl::string_view scheme = authorization.substr(0, space);
  if (!absl::EqualsIgnoreCase(scheme, "basic")) {
    return std::optional<BasicCredentials>();
  }
  if (space == absl::string_view::npos) {
    return absl::InvalidArgumentError("basic: no credentials");
  }
  absl::string_view encoded = authorization.substr(space + 1);
  for (char c : encoded) {
    if (!(absl::ascii_isalnum(c) || c == '+' || c == '/' || c == '=')) {
      return absl::InvalidArgumentError("basic: not base64");
    }
  }
  std::string decoded;
  if (encoded.empty() || encoded.size() % 4 != 0 ||
      !absl::Base64Unescape(encoded, &decoded)) {
    return absl::InvalidArgumentError("basic: not base64");
  }
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("basic: no ':' between id and secret");
  }
  absl::StatusOr<std::string> id =
      FormDecode(absl::string_view(decoded).substr(0, colon));
  absl::StatusOr<std::string> secret =
      FormDecode(absl::string_view(decoded).substr(colon + 1));
  std::fill(decoded.begin(), decoded.end(), '\0');
  if (!id.ok() || !secret.ok()) {
    return absl::InvalidArgumentError("basic: bad %-escape");
  }
  if (id->empty() || HasControl(*id) || HasControl(*secret)) {
    return absl::InvalidArgumentError("basic: empty id or control character");
  }
  return std::optional<BasicCredentials>(
      BasicCredentials{std::move(*id), std::move(*secret)});
}

}  // namespace portcullis::server
