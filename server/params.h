// Request parameters of the /auth/* endpoints:
// application/x-www-form-urlencoded and JSON bodies (Monite's snake_case,
// Monta's camelCase), and HTTP Basic client authentication (RFC 6749 §2.3.1).
// Every parameter appears at most once (RFC 6749 §3.2): a repeated one, or one
// given under both of its spellings (`client_id` and `clientId`), is an error.
#ifndef PORTCULLIS_SERVER_PARAMS_H_
#define PORTCULLIS_SERVER_PARAMS_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace portcullis::server {

enum class BodyDialect : uint8_t {
  kForm,       // application/x-www-form-urlencoded
  kSnakeJson,  // JSON without a camelCase key (Monite, RFC 6749 names)
  kCamelJson,  // JSON with a camelCase key (Monta)
};

// A body's parameters under their snake_case names.
struct Params {
  BodyDialect dialect = BodyDialect::kForm;
  std::map<std::string, std::string, std::less<>> values;

  // The value, or nullopt when absent.
  std::optional<absl::string_view> Get(absl::string_view name) const;
};

// Decodes one application/x-www-form-urlencoded component: '+' is a space,
// %XX a byte. InvalidArgument for a bad escape. The result may hold any
// byte; callers check what they accept.
absl::StatusOr<std::string> FormDecode(absl::string_view text);

// Parses a form body. InvalidArgument (never quoting values) for a bad
// escape, an empty name or a repeated name.
absl::StatusOr<Params> ParseForm(absl::string_view body);

// Parses a JSON body: one object whose values are strings (null: absent).
// Keys are mapped to snake_case (clientId -> client_id, clientSecret,
// grantType, refreshToken, entityUserId, tokenTypeHint); any camelCase key
// makes the dialect kCamelJson. InvalidArgument for malformed JSON, another
// top-level type, a non-string value, a duplicate key (either spelling) or
// an unknown key.
absl::StatusOr<Params> ParseJson(absl::string_view body);

// Parses a body by its Content-Type (media type matched case-insensitively,
// parameters such as charset=utf-8 allowed): InvalidArgument for another
// content type, or what the parsers above say. An empty body with no
// content type is an empty form.
absl::StatusOr<Params> ParseBody(absl::string_view content_type,
                                 absl::string_view body);

// HTTP Basic credentials (RFC 7617), each of id and secret form-decoded
// (RFC 6749 §2.3.1).
struct BasicCredentials {
  std::string client_id;
  std::string client_secret;
};

// nullopt when `authorization` does not use the Basic scheme;
// InvalidArgument when it does but cannot be decoded (bad base64, no ':',
// bad escape, control characters). Never quotes the header.
absl::StatusOr<std::optional<BasicCredentials>> ParseBasic(
    absl::string_view authorization);

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_PARAMS_H_
