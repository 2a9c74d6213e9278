#include "engine/auth/token_format.h"

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/auth/crypto.h"

namespace portcullis::auth {
namespace {

constexpr char kLowerHexDigits[] = "0123456789abcdef";
constexpr uint8_t kNotHex = 0xff;

// Dashes sit after the 8th, 12th, 16th and 20th hex digit.
constexpr bool IsDashPosition(size_t position) {
  return position == 8 || position == 13 || position == 18 || position == 23;
}

// The value of a hex digit of either case, or kNotHex. A table indexed by the
// unsigned byte is defined for every input, which keeps the parser safe for
// arbitrary bytes.
constexpr std::array<uint8_t, 256> MakeHexTable() {
  std::array<uint8_t, 256> table{};
  for (auto& value : table) value = kNotHex;
  for (uint8_t i = 0; i < 10; ++i) table['0' + i] = i;
  for (uint8_t i = 0; i < 6; ++i) {
    table['a' + i] = static_cast<uint8_t>(10 + i);
    table['A' + i] = static_cast<uint8_t>(10 + i);
  }
  return table;
}
constexpr std::array<uint8_t, 256> kHexValue = MakeHexTable();

absl::Status InvalidCharacter(char c, size_t position) {
  return absl::InvalidArgumentError(absl::StrCat(
      "token: invalid character '", absl::CHexEscape(absl::string_view(&c, 1)),
      "' at position ", position));
}

constexpr absl::string_view kBearerScheme = "Bearer";

bool IsHttpWhitespace(char c) {
  return absl::ascii_isspace(static_cast<unsigned char>(c));
}

absl::Status UnexpectedWhitespace(size_t position) {
  return absl::InvalidArgumentError(absl::StrCat(
      "authorization: unexpected whitespace at position ", position));
}

}  // namespace

TokenBytes::TokenBytes(const std::array<uint8_t, kSize>& bytes)
    : bytes_(bytes) {}

TokenBytes::~TokenBytes() { sodium_memzero(bytes_.data(), bytes_.size()); }

bool operator==(const TokenBytes& a, const TokenBytes& b) {
  return ConstantTimeEquals(a.bytes_, b.bytes_);
}

TokenBytes GenerateToken() {
  std::array<uint8_t, TokenBytes::kSize> bytes;
  RandomBytes(absl::MakeSpan(bytes));
  TokenBytes token(bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return token;
}

std::string FormatToken(const TokenBytes& token) {
  std::string text(kTokenTextLength, '-');
  size_t position = 0;
  for (uint8_t byte : token.bytes()) {
    if (IsDashPosition(position)) ++position;
    text[position++] = kLowerHexDigits[byte >> 4];
    text[position++] = kLowerHexDigits[byte & 0x0f];
  }
  return text;
}

absl::StatusOr<TokenBytes> ParseToken(absl::string_view text) {
  if (text.size() != kTokenTextLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("token: expected ", kTokenTextLength, " characters, got ",
                     text.size()));
  }
  std::array<uint8_t, TokenBytes::kSize> bytes{};
  size_t digits = 0;
  for (size_t position = 0; position < text.size(); ++position) {
    const char c = text[position];
    if (IsDashPosition(position)) {
      // The character found is not quoted: it may be a hex digit of a real
      // token whose dashes were stripped or shifted.
      if (c != '-') {
        sodium_memzero(bytes.data(), bytes.size());
        return absl::InvalidArgumentError(
            absl::StrCat("token: expected '-' at position ", position));
      }
      continue;
    }
    const uint8_t value = kHexValue[static_cast<unsigned char>(c)];
    if (value == kNotHex) {
      sodium_memzero(bytes.data(), bytes.size());
      return InvalidCharacter(c, position);
    }
    bytes[digits / 2] = static_cast<uint8_t>(bytes[digits / 2] << 4 | value);
    ++digits;
  }
  TokenBytes token(bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return token;
}

absl::StatusOr<absl::string_view> ParseBearerHeader(
    absl::string_view authorization_header) {
  if (authorization_header.empty()) {
    return absl::InvalidArgumentError("authorization: missing scheme");
  }
  if (IsHttpWhitespace(authorization_header.front())) {
    return UnexpectedWhitespace(0);
  }
  size_t separator = 0;
  while (separator < authorization_header.size() &&
         !IsHttpWhitespace(authorization_header[separator])) {
    ++separator;
  }
  const absl::string_view scheme = authorization_header.substr(0, separator);
  const bool is_bearer = absl::EqualsIgnoreCase(scheme, kBearerScheme);
  if (separator == authorization_header.size()) {
    // A single word: a bare token someone forgot to prefix, or "Bearer" with
    // the token missing.
    return absl::InvalidArgumentError(is_bearer
                                          ? "authorization: empty token"
                                          : "authorization: missing scheme");
  }
  if (!is_bearer) {
    return absl::InvalidArgumentError(
        "authorization: wrong scheme, expected 'Bearer'");
  }
  if (authorization_header[separator] != ' ') {
    return UnexpectedWhitespace(separator);
  }
  const size_t token_start = separator + 1;
  if (token_start == authorization_header.size()) {
    return absl::InvalidArgumentError("authorization: empty token");
  }
  for (size_t position = token_start; position < authorization_header.size();
       ++position) {
    if (IsHttpWhitespace(authorization_header[position])) {
      return UnexpectedWhitespace(position);
    }
  }
  return authorization_header.substr(token_start);
}

}  // namespace portcullis::auth
