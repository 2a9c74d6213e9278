#include "engine/auth/token_format.h"

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/base/attributes.h"
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

namespace {

// The first problem of a token text that DecodeToken refused, from the left.
absl::Status TokenTextError(absl::string_view text) {
  if (text.size() != kTokenTextLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("token: expected ", kTokenTextLength, " characters, got ",
                     text.size()));
  }
  for (size_t position = 0; position < text.size(); ++position) {
    const char c = text[position];
    if (IsDashPosition(position)) {
      // The character found is not quoted: it may be a hex digit of a real
      // token whose dashes were stripped or shifted.
      if (c != '-') {
        return absl::InvalidArgumentError(
            absl::StrCat("token: expected '-' at position ", position));
      }
    } else if (kHexValue[static_cast<unsigned char>(c)] == kNotHex) {
      return InvalidCharacter(c, position);
    }
  }
  // Unreachable for text DecodeToken refused.
  return absl::InternalError("token: refused without a reason");
}

#if defined(__SSE2__)

// Sixteen characters from `text + offset`, unaligned.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline __m128i Load16(const char* text,
                                                   size_t offset) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + offset));
}

// 0xff in the lanes [begin, end) of a 16-byte vector, 0 elsewhere.
constexpr std::array<uint8_t, 16> LaneMask(size_t begin, size_t end) {
  std::array<uint8_t, 16> mask{};
  for (size_t lane = begin; lane < end; ++lane) mask[lane] = 0xff;
  return mask;
}
alignas(16) constexpr std::array<uint8_t, 16> kLanes0To8 = LaneMask(0, 8);
alignas(16) constexpr std::array<uint8_t, 16> kLanes8To12 = LaneMask(8, 12);
alignas(16) constexpr std::array<uint8_t, 16> kLanes12To16 = LaneMask(12, 16);
alignas(16) constexpr std::array<uint8_t, 16> kLanes0To4 = LaneMask(0, 4);

ABSL_ATTRIBUTE_ALWAYS_INLINE inline __m128i Mask(
    const std::array<uint8_t, 16>& lanes) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(lanes.data()));
}

// 0xff in each lane of `chars` that holds a hex digit of either case. Bytes
// from 0x80 are negative to the signed compares, so never digits.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline __m128i HexLanes(__m128i chars) {
  const __m128i digit =
      _mm_and_si128(_mm_cmpgt_epi8(chars, _mm_set1_epi8('0' - 1)),
                    _mm_cmplt_epi8(chars, _mm_set1_epi8('9' + 1)));
  // x | 0x20 lands in 'a'..'f' for exactly 'a'..'f' and 'A'..'F'.
  const __m128i lowered = _mm_or_si128(chars, _mm_set1_epi8(0x20));
  const __m128i letter =
      _mm_and_si128(_mm_cmpgt_epi8(lowered, _mm_set1_epi8('a' - 1)),
                    _mm_cmplt_epi8(lowered, _mm_set1_epi8('f' + 1)));
  return _mm_or_si128(digit, letter);
}

// Sixteen hex digits (checked by HexLanes) to the eight bytes they spell, in
// the low 16-bit halves of eight lanes: a digit's value is its low nibble,
// plus 9 for a letter (above '9'); then each pair of digits, the first the
// high nibble, is one byte.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline __m128i HexPairs(__m128i chars) {
  const __m128i nibbles =
      _mm_add_epi8(_mm_and_si128(chars, _mm_set1_epi8(0x0f)),
                   _mm_and_si128(_mm_cmpgt_epi8(chars, _mm_set1_epi8('9')),
                                 _mm_set1_epi8(9)));
  return _mm_and_si128(
      _mm_or_si128(_mm_slli_epi16(nibbles, 4), _mm_srli_epi16(nibbles, 8)),
      _mm_set1_epi16(0x00ff));
}

}  // namespace

bool DecodeToken(absl::string_view text,
                 std::array<uint8_t, TokenBytes::kSize>& bytes) {
  if (text.size() != kTokenTextLength) return false;
  const char* p = text.data();
  // The 32 digits, 8-4-4-4-12 at text positions 0, 9, 14, 19 and 24, as two
  // vectors of 16, each put together from overlapping loads (every load
  // lies within the 36 characters): digits 0-15 are text 0-7, 9-12 and
  // 14-17, the loads at 0, 1 and 2 each giving its lanes; digits 16-31 are
  // text 19-22 and 24-35, the loads at 19 and 20. No branch on the contents:
  // this runs on every request.
  const __m128i first =
      _mm_or_si128(_mm_or_si128(_mm_and_si128(Load16(p, 0), Mask(kLanes0To8)),
                                _mm_and_si128(Load16(p, 1), Mask(kLanes8To12))),
                   _mm_and_si128(Load16(p, 2), Mask(kLanes12To16)));
  const __m128i second =
      _mm_or_si128(_mm_and_si128(Load16(p, 19), Mask(kLanes0To4)),
                   _mm_andnot_si128(Mask(kLanes0To4), Load16(p, 20)));
  // The dashes at 8, 13, 18 and 23 are lanes 0, 5, 10 and 15 of the load at
  // 8.
  const int dashes =
      _mm_movemask_epi8(_mm_cmpeq_epi8(Load16(p, 8), _mm_set1_epi8('-')));
  const int hex =
      _mm_movemask_epi8(_mm_and_si128(HexLanes(first), HexLanes(second)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(bytes.data()),
                   _mm_packus_epi16(HexPairs(first), HexPairs(second)));
  constexpr int kDashLanes = 1 << 0 | 1 << 5 | 1 << 10 | 1 << 15;
  return (hex == 0xffff) & ((dashes & kDashLanes) == kDashLanes);
}

#else  // !defined(__SSE2__): eight digits at a time in a 64-bit register.

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// Unaligned little-endian loads and stores: one move each on a
// little-endian machine.
uint64_t Load64Le(const unsigned char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  if constexpr (!kLittleEndian) word = __builtin_bswap64(word);
  return word;
}
uint32_t Load32Le(const unsigned char* p) {
  uint32_t word;
  std::memcpy(&word, p, sizeof(word));
  if constexpr (!kLittleEndian) word = __builtin_bswap32(word);
  return word;
}
void Store64Le(uint8_t* p, uint64_t word) {
  if constexpr (!kLittleEndian) word = __builtin_bswap64(word);
  std::memcpy(p, &word, sizeof(word));
}

constexpr uint64_t kOnes = 0x0101010101010101;
constexpr uint64_t kHighBits = kOnes * 0x80;

// The high bit of each byte of `chars` whose value is at least `bound`, for
// bytes below 0x80 (the sum cannot carry into the next byte).
constexpr uint64_t AtLeast(uint64_t chars, uint8_t bound) {
  return (chars + kOnes * (0x80 - bound)) & kHighBits;
}

// Eight hex digits, the first in the low byte of `chars`, to four bytes, the
// first pair in the low byte: all eight at once in a 64-bit register (SWAR).
// Ors into `invalid` a nonzero value if any character is not a hex digit.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint32_t DecodeHex8(uint64_t chars,
                                                        uint64_t& invalid) {
  // '0'..'9', or 'a'..'f' once 'A'..'F' are lowered (x | 0x20 lands in
  // 'a'..'f' for exactly those two ranges).
  const uint64_t lowered = chars | kOnes * 0x20;
  const uint64_t digit = AtLeast(chars, '0') & ~AtLeast(chars, '9' + 1);
  const uint64_t letter = AtLeast(lowered, 'a') & ~AtLeast(lowered, 'f' + 1);
  invalid |= (chars & kHighBits) | ((digit | letter) ^ kHighBits);
  // A digit's value is its low nibble; a letter's, its low nibble + 9 (bit
  // 6 marks letters).
  const uint64_t nibbles = (chars & kOnes * 0x0f) + ((chars >> 6) & kOnes) * 9;
  // Pairs of nibbles to bytes, one per 16-bit lane, then the lanes packed.
  uint64_t pairs = (nibbles & 0x000f000f000f000f) << 4 |
                   ((nibbles >> 8) & 0x000f000f000f000f);
  pairs = (pairs | pairs >> 8) & 0x0000ffff0000ffff;
  return static_cast<uint32_t>(pairs | pairs >> 16);
}

}  // namespace

bool DecodeToken(absl::string_view text,
                 std::array<uint8_t, TokenBytes::kSize>& bytes) {
  if (text.size() != kTokenTextLength) return false;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(text.data());
  // 8-4-4-4-12 digits: 8 at 0, 4 at 9 and 4 at 14, 4 at 19 and 4 at 24, 8
  // at 28. No branch on the contents: this runs on every request.
  uint64_t invalid =
      (p[8] ^ '-') | (p[13] ^ '-') | (p[18] ^ '-') | (p[23] ^ '-');
  const uint64_t first =
      DecodeHex8(Load64Le(p), invalid) |
      uint64_t{DecodeHex8(Load32Le(p + 9) | uint64_t{Load32Le(p + 14)} << 32,
                          invalid)}
          << 32;
  const uint64_t second =
      DecodeHex8(Load32Le(p + 19) | uint64_t{Load32Le(p + 24)} << 32, invalid) |
      uint64_t{DecodeHex8(Load64Le(p + 28), invalid)} << 32;
  // Stored as two words: 16 one-byte stores read back as words (by SipHash,
  // BLAKE2b or a copy) would stall on store-to-load forwarding.
  Store64Le(bytes.data(), first);
  Store64Le(bytes.data() + 8, second);
  return invalid == 0;
}

#endif  // defined(__SSE2__)

absl::StatusOr<TokenBytes> ParseToken(absl::string_view text) {
  std::array<uint8_t, TokenBytes::kSize> bytes;
  const bool decoded = DecodeToken(text, bytes);
  if (!decoded) {
    // A malformed token may still hold most of a real one.
    sodium_memzero(bytes.data(), bytes.size());
    return TokenTextError(text);
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
