// The requests and answers of the token endpoints (token_service.h), as plain
// structs, shared by the service and their JSON presentation (token_json.h).
// token_service.h re-exports them.
#ifndef PORTCULLIS_ENGINE_AUTH_TOKEN_MESSAGES_H_
#define PORTCULLIS_ENGINE_AUTH_TOKEN_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/token_store.h"

namespace portcullis::auth {

// The form of an access token. Refresh tokens are always opaque.
//   kOpaque  128 random bits in UUID text form (token_format.h), as Monta
//            issues them.
//   kJwt     a signed JWT (jwt.h, RFC 9068) whose `jti` is such a token text,
//            as Monite's guide shows them (`eyJ...`).
// Both are stored the same way (the keyed digest of the 128 bits), so
// revocation, families and refresh treat them alike.
enum class TokenFormat { kOpaque, kJwt };

// "opaque" or "jwt".
inline absl::string_view TokenFormatName(TokenFormat format) {
  return format == TokenFormat::kJwt ? "jwt" : "opaque";
}

// A /auth/token request. Views must outlive the call.
struct TokenRequest {
  absl::string_view grant_type;
  absl::string_view client_id;
  absl::string_view client_secret;
  // entity_user grants only: the user the token is for.
  absl::string_view entity_user_id;
};

// The answer of /auth/token and /auth/refresh: a new access and refresh token
// and when they expire. The token texts are secrets: hand them to the client
// and drop them.
struct IssuedTokens {
  std::string access_token;
  std::string refresh_token;
  // The access token's form; refresh tokens are always opaque.
  TokenFormat format = TokenFormat::kOpaque;
  absl::Time issued_at;
  // The tokens are valid while now < expiry.
  absl::Time access_token_expires_at;
  absl::Time refresh_token_expires_at;
  std::string client_id;
  GrantKind grant = GrantKind::kPartner;
  // entity_user grants: the user, their entity and role (empty: the entity's
  // default role) as the directory gave them.
  std::string user_id;
  std::string entity_id;
  std::string role_id;
};

// A /auth/revoke request: the client authenticates and names one of its
// tokens. Views must outlive the call.
struct RevokeRequest {
  absl::string_view client_id;
  absl::string_view client_secret;
  absl::string_view token;
};

// What /auth/revoke did.
struct RevokeResult {
  // False when the token is unknown (never issued, or expired and swept):
  // per RFC 7009 that is a success, since the token is unusable either way.
  bool found = false;
  TokenKind kind = TokenKind::kAccess;
  // Tokens this call revoked: 1 for an access token (0 if it already was);
  // for a refresh token, its whole family, the access tokens issued with it
  // included (RFC 7009 §2.1: revoking a refresh token should revoke the
  // access tokens of the same grant).
  size_t tokens_revoked = 0;
};

// The application behind a token, as /auth/me reports it. Never the secret.
struct ApplicationInfo {
  std::string client_id;
  // The registry's display name, or the policy credential's name.
  std::string name;
  // The partner (Monta: operatorId).
  std::string partner_id;
  // The entity (team) restriction; empty: every entity of the partner.
  std::vector<std::string> entity_ids;
  // As written in the policy.
  std::vector<std::string> scopes;
  // Requests per interval; 0 means no limit.
  uint32_t rate_limit = 0;
  uint32_t rate_limit_interval_seconds = 0;
  // The token's grant; entity_user grants name the user, entity and role.
  GrantKind grant = GrantKind::kPartner;
  std::string user_id;
  std::string entity_id;
  std::string role_id;
  absl::Time created_at;
  absl::Time updated_at;
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_TOKEN_MESSAGES_H_
