#include "engine/auth/token_format.h"

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace portcullis::auth {
namespace {

// Monta's documented example token and its bytes.
constexpr absl::string_view kExample = "4596d494-5f6c-4f87-aed5-db68240a58dd";
constexpr std::array<uint8_t, 16> kExampleBytes = {
    0x45, 0x96, 0xd4, 0x94, 0x5f, 0x6c, 0x4f, 0x87,
    0xae, 0xd5, 0xdb, 0x68, 0x24, 0x0a, 0x58, 0xdd};

bool IsDashPosition(size_t position) {
  return position == 8 || position == 13 || position == 18 || position == 23;
}

std::string WithCharAt(absl::string_view text, size_t position, char c) {
  std::string result(text);
  result[position] = c;
  return result;
}

// True if `message` contains any 4-character run of `secret`: an error must
// not leak even a fragment of a token.
bool LeaksFragment(absl::string_view message, absl::string_view secret) {
  for (size_t i = 0; i + 4 <= secret.size(); ++i) {
    if (absl::StrContains(message, secret.substr(i, 4))) return true;
  }
  return false;
}

TEST(FormatTokenTest, MontaExample) {
  EXPECT_EQ(FormatToken(TokenBytes(kExampleBytes)), kExample);
}

TEST(FormatTokenTest, ExtremeBytes) {
  std::array<uint8_t, 16> zeros{};
  std::array<uint8_t, 16> ones;
  ones.fill(0xff);
  EXPECT_EQ(FormatToken(TokenBytes(zeros)),
            "00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(FormatToken(TokenBytes(ones)),
            "ffffffff-ffff-ffff-ffff-ffffffffffff");
}

TEST(ParseTokenTest, AcceptsEitherCase) {
  const std::string upper = absl::AsciiStrToUpper(kExample);
  const std::string mixed = "4596D494-5f6C-4F87-aEd5-Db68240A58dD";
  for (absl::string_view text :
       {kExample, absl::string_view(upper), absl::string_view(mixed)}) {
    SCOPED_TRACE(text);
    absl::StatusOr<TokenBytes> token = ParseToken(text);
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_EQ(*token, TokenBytes(kExampleBytes));
    EXPECT_EQ(FormatToken(*token), kExample) << "formatting is lowercase";
  }
}

TEST(ParseTokenTest, Errors) {
  const std::string example(kExample);
  struct Case {
    const char* name;
    std::string text;
    const char* message;
  };
  const Case cases[] = {
      {"empty", "", "token: expected 36 characters, got 0"},
      {"short", example.substr(0, 12), "token: expected 36 characters, got 12"},
      {"one short", example.substr(1), "token: expected 36 characters, got 35"},
      {"trailing newline", example + "\n",
       "token: expected 36 characters, got 37"},
      {"bearer prefix", "Bearer " + example,
       "token: expected 36 characters, got 43"},
      {"braces", "{" + example + "}", "token: expected 36 characters, got 38"},
      {"no dashes, 32 digits", "4596d4945f6c4f87aed5db68240a58dd",
       "token: expected 36 characters, got 32"},
      {"digit at dash 8", WithCharAt(example, 8, '0'),
       "token: expected '-' at position 8"},
      {"digit at dash 13", WithCharAt(example, 13, 'a'),
       "token: expected '-' at position 13"},
      {"underscore at dash 18", WithCharAt(example, 18, '_'),
       "token: expected '-' at position 18"},
      {"space at dash 23", WithCharAt(example, 23, ' '),
       "token: expected '-' at position 23"},
      {"g", WithCharAt(example, 3, 'g'),
       "token: invalid character 'g' at position 3"},
      {"G", WithCharAt(example, 35, 'G'),
       "token: invalid character 'G' at position 35"},
      {"dash in a digit position", WithCharAt(example, 0, '-'),
       "token: invalid character '-' at position 0"},
      {"space", WithCharAt(example, 10, ' '),
       "token: invalid character ' ' at position 10"},
      {"NUL", WithCharAt(example, 35, '\0'),
       "token: invalid character '\\x00' at position 35"},
      {"high byte", WithCharAt(example, 9, '\xff'),
       "token: invalid character '\\xff' at position 9"},
      {"quote", WithCharAt(example, 1, '\''),
       "token: invalid character '\\'' at position 1"},
      {"backslash", WithCharAt(example, 2, '\\'),
       "token: invalid character '\\\\' at position 2"},
      {"first error from the left wins",
       WithCharAt(WithCharAt(example, 8, 'x'), 20, 'z'),
       "token: expected '-' at position 8"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<TokenBytes> token = ParseToken(c.text);
    EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(token.status().message(), c.message);
    EXPECT_FALSE(LeaksFragment(token.status().message(), example));
  }
}

TEST(ParseTokenTest, RandomRoundTrips) {
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const TokenBytes token = GenerateToken();
    const std::string text = FormatToken(token);
    ASSERT_EQ(text.size(), kTokenTextLength);
    for (size_t position = 0; position < text.size(); ++position) {
      if (IsDashPosition(position)) {
        ASSERT_EQ(text[position], '-') << text;
      } else {
        ASSERT_TRUE(absl::ascii_isxdigit(text[position]) &&
                    !absl::ascii_isupper(text[position]))
            << text;
      }
    }
    absl::StatusOr<TokenBytes> parsed = ParseToken(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, token);
    EXPECT_TRUE(seen.insert(text).second) << "duplicate token";
  }
}

// All 128 bits are random: the nibbles a version-4 UUID fixes (the version at
// position 14, the variant at position 19) take every value.
TEST(GenerateTokenTest, NoVersionOrVariantBits) {
  absl::flat_hash_set<char> version_nibbles;
  absl::flat_hash_set<char> variant_nibbles;
  for (int i = 0; i < 2000; ++i) {
    const std::string text = FormatToken(GenerateToken());
    version_nibbles.insert(text[14]);
    variant_nibbles.insert(text[19]);
  }
  // Missing one of 16 values in 2000 draws has odds below 2^-180.
  EXPECT_EQ(version_nibbles.size(), 16u);
  EXPECT_EQ(variant_nibbles.size(), 16u);
}

// Every single-character substitution of a valid token: valid exactly when
// the grammar says so, never a crash, never a leak.
TEST(ParseTokenTest, EverySubstitution) {
  const std::string example(kExample);
  for (size_t position = 0; position < example.size(); ++position) {
    for (int byte = 0; byte < 256; ++byte) {
      const char c = static_cast<char>(byte);
      const std::string text = WithCharAt(example, position, c);
      const bool valid =
          IsDashPosition(position)
              ? c == '-'
              : absl::ascii_isxdigit(static_cast<unsigned char>(c));
      absl::StatusOr<TokenBytes> token = ParseToken(text);
      ASSERT_EQ(token.ok(), valid)
          << "position " << position << " byte " << byte;
      if (!valid) {
        ASSERT_TRUE(absl::EndsWith(token.status().message(),
                                   absl::StrCat(" position ", position)))
            << token.status();
        ASSERT_FALSE(LeaksFragment(token.status().message(), example));
      }
    }
  }
}

// Arbitrary bytes of every length up to 80: a Status, never a crash (the
// sanitizer configurations turn any out-of-bounds read into a failure).
TEST(ParseTokenTest, ArbitraryBytes) {
  std::mt19937 random(20240131);
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t length = 0; length <= 80; ++length) {
    for (int trial = 0; trial < 50; ++trial) {
      std::string text(length, '\0');
      for (char& c : text) c = static_cast<char>(byte(random));
      absl::StatusOr<TokenBytes> token = ParseToken(text);
      if (length != kTokenTextLength) {
        ASSERT_EQ(token.status().message(),
                  absl::StrCat("token: expected 36 characters, got ", length));
      }
      (void)ParseBearerHeader(text);
    }
  }
}

// The token text's grammar one character at a time, the obvious way: the
// reference DecodeToken's vector code is checked against (ParseToken
// calls DecodeToken, so it cannot be the reference).
bool ReferenceDecode(absl::string_view text,
                     std::array<uint8_t, TokenBytes::kSize>& bytes) {
  if (text.size() != 36) return false;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<int> digits;
  for (size_t position = 0; position < text.size(); ++position) {
    if (IsDashPosition(position)) {
      if (text[position] != '-') return false;
      continue;
    }
    const int digit = value(text[position]);
    if (digit < 0) return false;
    digits.push_back(digit);
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<uint8_t>(digits[2 * i] << 4 | digits[2 * i + 1]);
  }
  return true;
}

// DecodeToken is ParseToken's fast path: it accepts exactly what the
// grammar accepts (ReferenceDecode), with the same bytes, and so does
// ParseToken. Every single substitution of two tokens, and random texts over
// an alphabet of near misses (the characters next to the hex ranges, dashes,
// bytes with the high bit set), which would expose a carry between the lanes
// of its many-bytes-at-once arithmetic or a lane taken from the wrong load.
TEST(DecodeTokenTest, AgreesWithParseToken) {
  auto expect_agreement = [](const std::string& text) {
    std::array<uint8_t, TokenBytes::kSize> bytes;
    std::array<uint8_t, TokenBytes::kSize> expected;
    const bool decoded = DecodeToken(text, bytes);
    const bool valid = ReferenceDecode(text, expected);
    absl::StatusOr<TokenBytes> parsed = ParseToken(text);
    ASSERT_EQ(decoded, valid) << absl::CHexEscape(text);
    ASSERT_EQ(decoded, parsed.ok()) << absl::CHexEscape(text);
    if (decoded) {
      ASSERT_EQ(bytes, expected) << absl::CHexEscape(text);
      ASSERT_EQ(TokenBytes(bytes), *parsed) << absl::CHexEscape(text);
    }
  };
  for (const std::string& base :
       {std::string(kExample), FormatToken(GenerateToken())}) {
    for (size_t position = 0; position < base.size(); ++position) {
      for (int byte = 0; byte < 256; ++byte) {
        expect_agreement(WithCharAt(base, position, static_cast<char>(byte)));
      }
    }
  }
  constexpr char kCharacters[] =
      "0123456789abcdefABCDEF-/:@G`g\x00\x7f\x80\xb0\xc6\xff";
  const std::string kAlphabet(kCharacters, sizeof(kCharacters) - 1);
  std::mt19937 random(7);
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::uniform_int_distribution<size_t> mutations(1, 3);
  for (int trial = 0; trial < 20000; ++trial) {
    std::string text = FormatToken(GenerateToken());
    if (trial % 2 == 0) {
      for (char& c : text) c = kAlphabet[pick(random)];
    } else {
      for (size_t i = mutations(random); i > 0; --i) {
        text[pick(random) % text.size()] = kAlphabet[pick(random)];
      }
    }
    expect_agreement(text);
  }
  std::array<uint8_t, TokenBytes::kSize> bytes;
  EXPECT_FALSE(DecodeToken("", bytes));
  EXPECT_FALSE(DecodeToken(absl::StrCat(kExample, "0"), bytes));
  ASSERT_TRUE(DecodeToken(kExample, bytes));
  EXPECT_EQ(bytes, kExampleBytes);
}

TEST(ParseBearerHeaderTest, ExtractsTheToken) {
  const std::string example(kExample);
  struct Case {
    const char* name;
    std::string header;
    std::string token;
  };
  const Case cases[] = {
      {"canonical", "Bearer " + example, example},
      {"lowercase scheme", "bearer " + example, example},
      {"uppercase scheme", "BEARER " + example, example},
      {"mixed-case scheme", "bEaReR " + example, example},
      {"format is not checked here", "Bearer abc", "abc"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<absl::string_view> token = ParseBearerHeader(c.header);
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_EQ(*token, c.token);
  }
}

TEST(ParseBearerHeaderTest, Errors) {
  const std::string example(kExample);
  struct Case {
    const char* name;
    std::string header;
    const char* message;
  };
  const Case cases[] = {
      {"empty", "", "authorization: missing scheme"},
      {"bare token", example, "authorization: missing scheme"},
      {"lone other scheme", "Basic", "authorization: missing scheme"},
      {"basic", "Basic dXNlcjpwYXNzd29yZA==",
       "authorization: wrong scheme, expected 'Bearer'"},
      {"scheme prefix", "Bear " + example,
       "authorization: wrong scheme, expected 'Bearer'"},
      {"scheme with suffix", "Bearerx " + example,
       "authorization: wrong scheme, expected 'Bearer'"},
      {"token first", example + " Bearer",
       "authorization: wrong scheme, expected 'Bearer'"},
      {"scheme only", "Bearer", "authorization: empty token"},
      {"scheme and space", "Bearer ", "authorization: empty token"},
      {"leading space", " Bearer " + example,
       "authorization: unexpected whitespace at position 0"},
      {"leading tab", "\tBearer " + example,
       "authorization: unexpected whitespace at position 0"},
      {"two spaces", "Bearer  " + example,
       "authorization: unexpected whitespace at position 7"},
      {"tab separator", "Bearer\t" + example,
       "authorization: unexpected whitespace at position 6"},
      {"scheme and tab", "Bearer\t",
       "authorization: unexpected whitespace at position 6"},
      {"trailing space", "Bearer " + example + " ",
       "authorization: unexpected whitespace at position 43"},
      {"trailing CRLF", "Bearer " + example + "\r\n",
       "authorization: unexpected whitespace at position 43"},
      {"space inside token", "Bearer 4596d494 5f6c",
       "authorization: unexpected whitespace at position 15"},
      {"two tokens", "Bearer " + example + " " + example,
       "authorization: unexpected whitespace at position 43"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<absl::string_view> token = ParseBearerHeader(c.header);
    EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(token.status().message(), c.message);
    EXPECT_FALSE(LeaksFragment(token.status().message(), example));
  }
}

TEST(ParseBearerHeaderTest, ComposesWithParseToken) {
  const TokenBytes token = GenerateToken();
  const std::string header = "Bearer " + FormatToken(token);
  absl::StatusOr<absl::string_view> text = ParseBearerHeader(header);
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<TokenBytes> parsed = ParseToken(*text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, token);
}

TEST(TokenBytesTest, EqualityIsByValue) {
  std::array<uint8_t, 16> other = kExampleBytes;
  other[15] ^= 1;
  EXPECT_EQ(TokenBytes(kExampleBytes), TokenBytes(kExampleBytes));
  EXPECT_NE(TokenBytes(kExampleBytes), TokenBytes(other));
  const TokenBytes copy = TokenBytes(kExampleBytes);
  EXPECT_EQ(std::vector<uint8_t>(copy.bytes().begin(), copy.bytes().end()),
            std::vector<uint8_t>(kExampleBytes.begin(), kExampleBytes.end()));
}

}  // namespace
}  // namespace portcullis::auth
