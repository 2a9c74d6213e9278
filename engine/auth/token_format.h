// The text form of tokens and client secrets: 128 bits from the CSPRNG written
// in UUID shape, 8-4-4-4-12 hex digits ("4596d494-5f6c-4f87-aed5-db68240a58dd",
// as Monta issues them), and the `Authorization: Bearer <token>` header that
// carries one.
//
// All 128 bits are random: unlike an RFC 9562 version-4 UUID, no bits are
// spent on version or variant markers, so a token is UUID-shaped but is not
// guaranteed to be a valid UUID (and need not be: nothing parses it as one).
//
// The parsers accept any byte string without crashing and report precise
// errors, but never quote the input: a malformed token may still be a real
// secret (say, truncated by a proxy). Errors name positions and lengths, and
// quote only a character that cannot belong to any token.

#ifndef PORTCULLIS_ENGINE_AUTH_TOKEN_FORMAT_H_
#define PORTCULLIS_ENGINE_AUTH_TOKEN_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace portcullis::auth {

// The length of a token's text form: 32 hex digits and 4 dashes.
inline constexpr size_t kTokenTextLength = 36;

// The 128 secret bits of a token or client secret. A copyable value type;
// every copy wipes its bytes (sodium_memzero) when destroyed. Store a token
// only as KeyedHash(key, token.bytes()), never as these bytes or its text.
class TokenBytes {
 public:
  static constexpr size_t kSize = 16;

  explicit TokenBytes(const std::array<uint8_t, kSize>& bytes);
  TokenBytes(const TokenBytes& other) = default;
  TokenBytes& operator=(const TokenBytes& other) = default;
  ~TokenBytes();

  absl::Span<const uint8_t> bytes() const { return bytes_; }

  // Constant-time (ConstantTimeEquals).
  friend bool operator==(const TokenBytes& a, const TokenBytes& b);
  friend bool operator!=(const TokenBytes& a, const TokenBytes& b) {
    return !(a == b);
  }

 private:
  std::array<uint8_t, kSize> bytes_;
};

// A fresh token (or client secret): 128 bits from the CSPRNG. Thread-safe.
TokenBytes GenerateToken();

// The canonical text form: 36 characters, lowercase hex, dashes after the
// 8th, 12th, 16th and 20th digit. ParseToken(FormatToken(t)) == t.
std::string FormatToken(const TokenBytes& token);

// Parses a token's text form, exactly 36 characters with dashes at positions
// 8, 13, 18 and 23 (0-based) and hex digits everywhere else.
//
// Hex digits are accepted in either case: RFC 9562 has UUID text compared
// case-insensitively, and a client or proxy that upper-cases a header must not
// turn a valid token into an invalid one. Both spellings decode to the same
// bytes, hence the same digest. Accepting both also keeps errors free of
// secrets: every character an error quotes is one no token contains.
//
// Nothing around the token is accepted: no "Bearer " prefix (see
// ParseBearerHeader), no whitespace, no braces. Errors are InvalidArgument,
// reporting the first problem from the left:
//   "token: expected 36 characters, got 12"
//   "token: expected '-' at position 8"
//   "token: invalid character 'g' at position 3"   (C-escaped: '\x00', '\'')
absl::StatusOr<TokenBytes> ParseToken(absl::string_view text);

// ParseToken's fast path, for code that runs on every request: decodes a
// well-formed token text into `bytes` and returns true, or returns false
// exactly where ParseToken fails (ParseToken then says why). No Status, no
// allocation, and no branch on the text's contents. `bytes` then holds the
// token (or, on false, parts of it): wipe it (sodium_memzero) after use.
bool DecodeToken(absl::string_view text,
                 std::array<uint8_t, TokenBytes::kSize>& bytes);

// Extracts the token from an HTTP Authorization header value, `Bearer <token>`
// (RFC 6750 §2.1). The scheme is matched case-insensitively (RFC 9110 §11.1).
// The result is a view into `authorization_header`, which must outlive it;
// its format is not checked here (ParseToken does that).
//
// Stricter than RFC 6750, which allows several spaces after the scheme: the
// value must be exactly scheme, one space, token. Every client sends that,
// and stray whitespace (a trailing newline from a token read out of a file, a
// tab) is a bug better reported than guessed around. Errors are
// InvalidArgument, and never quote the header:
//   "authorization: missing scheme"          (empty, or a single word that
//                                              is not "Bearer")
//   "authorization: wrong scheme, expected 'Bearer'"
//   "authorization: empty token"             ("Bearer" or "Bearer ")
//   "authorization: unexpected whitespace at position 7"
absl::StatusOr<absl::string_view> ParseBearerHeader(
    absl::string_view authorization_header);

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_TOKEN_FORMAT_H_
