// The JSON presentation of the token endpoints' answers (token_service.h):
// the bodies Monta's and Monite's APIs document. token_service.h re-exports
// it.
#ifndef PORTCULLIS_ENGINE_AUTH_TOKEN_JSON_H_
#define PORTCULLIS_ENGINE_AUTH_TOKEN_JSON_H_

#include <string>

#include "engine/auth/token_messages.h"

namespace portcullis::auth {

// The documented JSON bodies, compact, UTF-8, times in RFC 3339 UTC with as
// many fractional digits as needed ("2023-02-16T07:53:02.059724728Z").
//
// Monta's Partner API /auth/token and /auth/refresh, exactly the fields and
// order its documentation shows (no applicationId or userId: the Partner API
// documents none):
//   {"accessToken":"…","refreshToken":"…",
//    "accessTokenExpirationDate":"…","refreshTokenExpirationDate":"…"}
std::string MontaTokenJson(const IssuedTokens& tokens);
// Monta's Public API /auth/token and /auth/refresh, whose documented answer
// adds the application and its user, in its order:
//   {"applicationId":"<client id>","userId":null or "<user id>",
//    "accessToken":"…","accessTokenExpirationDate":"…",
//    "refreshToken":"…","refreshTokenExpirationDate":"…"}
// Ids are strings (Monta's are numbers), as in ApplicationInfoJson; userId
// is the entity user of an entity_user grant, null for a partner token.
std::string MontaPublicTokenJson(const IssuedTokens& tokens);
// Monite's /auth/token (OAuth 2.0, RFC 6749 §5.1), with the refresh token
// RFC 6749 allows: {"access_token":"…","token_type":"Bearer",
// "expires_in":3600,"refresh_token":"…"}; expires_in in whole seconds.
std::string OAuthTokenJson(const IssuedTokens& tokens);
// Monta's /auth/me: {"id":"<client id>","userId":null or "<user id>",
// "name":"…","operatorId":"<partner>","teamIds":[…],"clientId":"…",
// "clientSecret":null,"rateLimit":1000 or null,
// "rateLimitIntervalInSeconds":600 or null,"scopes":[…],"createdAt":"…",
// "updatedAt":"…"}. Ids are strings here (Monta's are numbers); the secret
// is always null, as in Monta's sample.
std::string ApplicationInfoJson(const ApplicationInfo& info);
// Monite's /auth/revoke answer: {"message":"ok"}.
std::string RevokeJson(const RevokeResult& result);

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_TOKEN_JSON_H_
