#include "tools/cli/request_parser.h"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/status/status.h"
#include "engine/load/policy_loader.h"

namespace portcullis::cli {
namespace {

using PrincipalKind = CheckRequestView::PrincipalKind;

// A cursor over one line for the strict path. Every method returns false as
// soon as the input leaves the accepted subset; callers give up on the line.
class StrictReader {
 public:
  explicit StrictReader(absl::string_view line)
      : p_(line.data()), end_(line.data() + line.size()) {}

  // Most calls find no space or one: a byte above ' ' is never one, which
  // one compare settles before the four.
  void SkipSpace() {
    while (p_ < end_ && static_cast<uint8_t>(*p_) <= ' ' &&
           (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) {
      ++p_;
    }
  }

  bool Consume(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  bool AtEnd() {
    SkipSpace();
    return p_ == end_;
  }

  // A string of printable ASCII without escapes, viewed in place. Anything
  // else needs unescaping or UTF-8 validation: protobuf's job. Sixteen bytes
  // are looked at per step where the line has them (SSE2, every x86-64), the
  // rest one by one; either way the string ends at its first `"` and is
  // refused at a byte outside 0x20-0x7E or a backslash before it.
  bool String(absl::string_view& out) {
    if (!Consume('"')) return false;
    const char* const start = p_;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i del = _mm_set1_epi8(0x7F);
    const __m128i space = _mm_set1_epi8(0x20);
    while (end_ - p_ >= 16) {
      const __m128i bytes =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_));
      // Signed compare: bytes 0x80-0xFF are negative, so below 0x20 too.
      const __m128i refused =
          _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(bytes, space),
                                    _mm_cmpeq_epi8(bytes, del)),
                       _mm_cmpeq_epi8(bytes, backslash));
      const unsigned quotes = static_cast<unsigned>(
          _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, quote)));
      const unsigned stops =
          quotes | static_cast<unsigned>(_mm_movemask_epi8(refused));
      if (stops != 0) {
        const unsigned first = static_cast<unsigned>(__builtin_ctz(stops));
        if ((quotes & (1u << first)) == 0) return false;
        p_ += first;
        out = absl::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      p_ += 16;
    }
#endif
    while (p_ < end_) {
      const uint8_t c = static_cast<uint8_t>(*p_);
      if (c == '"') {
        out = absl::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c < 0x20 || c >= 0x7F || c == '\\') return false;
      ++p_;
    }
    return false;
  }

  // An object; `member(key)` reads the value of each member.
  template <typename MemberFn>
  bool Object(MemberFn&& member) {
    if (!Consume('{')) return false;
    if (Consume('}')) return true;
    while (true) {
      absl::string_view key;
      if (!String(key) || !Consume(':') || !member(key)) return false;
      // After a member: one look past the space for `,` or `}`.
      SkipSpace();
      if (p_ == end_) return false;
      const char next = *p_++;
      if (next == '}') return true;
      if (next != ',') return false;
    }
  }

 private:
  const char* p_;
  const char* end_;
};

template <typename Word>
Word Load(const char* p) {
  Word word;
  std::memcpy(&word, p, sizeof(word));
  return word;
}

// Whether `key` is `name`, without a call to memcmp: a key of 4 to 16 bytes
// is compared as two words that may overlap, both within it (the line may end
// right after a key, so nothing past it is read); `name` is a constant, so its
// words are too.
template <size_t N>
bool Is(absl::string_view key, const char (&name)[N]) {
  constexpr size_t kSize = N - 1;
  if (key.size() != kSize) return false;
  const char* const k = key.data();
  if constexpr (kSize >= 8 && kSize <= 16) {
    return Load<uint64_t>(k) == Load<uint64_t>(name) &&
           Load<uint64_t>(k + kSize - 8) == Load<uint64_t>(name + kSize - 8);
  } else if constexpr (kSize >= 4 && kSize < 8) {
    return Load<uint32_t>(k) == Load<uint32_t>(name) &&
           Load<uint32_t>(k + kSize - 4) == Load<uint32_t>(name + kSize - 4);
  } else {
    for (size_t i = 0; i < kSize; ++i) {
      if (k[i] != name[i]) return false;
    }
    return true;
  }
}

// Reads a string member into `out` unless it was already read: a repeated key
// is left to protobuf, whose rules for it are its own.
bool StringOnce(StrictReader& reader, uint32_t bit, uint32_t& seen,
                absl::string_view& out) {
  if ((seen & bit) != 0) return false;
  seen |= bit;
  return reader.String(out);
}

bool ReadPrincipal(StrictReader& reader, CheckRequestView& view) {
  bool has_kind = false;  // a oneof: a second member is protobuf's to reject
  return reader.Object([&](absl::string_view key) {
    if (has_kind) return false;
    has_kind = true;
    uint32_t seen = 0;
    if (Is(key, "partner")) {
      view.principal_kind = PrincipalKind::kPartner;
      return reader.Object([&](absl::string_view field) {
        return Is(field, "client_id") &&
               StringOnce(reader, 1, seen, view.client_id);
      });
    }
    if (Is(key, "entity_user")) {
      view.principal_kind = PrincipalKind::kEntityUser;
      return reader.Object([&](absl::string_view field) {
        if (Is(field, "user_id")) {
          return StringOnce(reader, 1, seen, view.user_id);
        }
        if (Is(field, "entity_id")) {
          return StringOnce(reader, 2, seen, view.user_entity_id);
        }
        if (Is(field, "role_id")) {
          return StringOnce(reader, 4, seen, view.role_id);
        }
        if (Is(field, "client_id")) {
          return StringOnce(reader, 8, seen, view.client_id);
        }
        return false;
      });
    }
    return false;
  });
}

bool ReadResource(StrictReader& reader, CheckRequestView& view) {
  view.has_resource = true;
  uint32_t seen = 0;
  return reader.Object([&](absl::string_view field) {
    if (Is(field, "entity_id")) {
      return StringOnce(reader, 1, seen, view.resource_entity_id);
    }
    if (Is(field, "created_by")) {
      return StringOnce(reader, 2, seen, view.resource_created_by);
    }
    return false;
  });
}

// A cursor over a line that is not a valid request, for finding its id: it
// reads any JSON, decoding strings, and stops at the first syntax error.
// Recursion is bounded, so no line can exhaust the stack.
class LenientReader {
 public:
  explicit LenientReader(absl::string_view line)
      : p_(line.data()), end_(line.data() + line.size()) {}

  bool Consume(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  bool Peek(char c) {
    SkipSpace();
    return p_ != end_ && *p_ == c;
  }

  // A string, its escapes decoded into `out` (UTF-8; a lone surrogate becomes
  // U+FFFD).
  bool String(std::string* out) {
    if (!Consume('"')) return false;
    while (p_ < end_) {
      const char c = *p_++;
      if (c == '"') return true;
      if (static_cast<uint8_t>(c) < 0x20) return false;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (p_ == end_) return false;
      const char escaped = *p_++;
      switch (escaped) {
        case '"':
        case '\\':
        case '/':
          out->push_back(escaped);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t code;
          if (!Hex4(code)) return false;
          if (code >= 0xD800 && code <= 0xDBFF && end_ - p_ >= 6 &&
              p_[0] == '\\' && p_[1] == 'u') {
            const char* const mark = p_;
            p_ += 2;
            uint32_t low;
            if (Hex4(low) && low >= 0xDC00 && low <= 0xDFFF) {
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            } else {
              p_ = mark;
            }
          }
          if (code >= 0xD800 && code <= 0xDFFF) code = 0xFFFD;
          AppendUtf8(code, *out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  // Skips one value at nesting `depth`.
  bool SkipValue(int depth) {
    if (depth > kMaxDepth) return false;
    SkipSpace();
    if (p_ == end_) return false;
    if (*p_ == '"') {
      std::string ignored;
      return String(&ignored);
    }
    if (Consume('[')) {
      if (Consume(']')) return true;
      do {
        if (!SkipValue(depth + 1)) return false;
      } while (Consume(','));
      return Consume(']');
    }
    if (Consume('{')) {
      if (Consume('}')) return true;
      do {
        std::string ignored;
        if (!String(&ignored) || !Consume(':') || !SkipValue(depth + 1)) {
          return false;
        }
      } while (Consume(','));
      return Consume('}');
    }
    // A number, true, false or null; their exact syntax does not matter here.
    const char* const start = p_;
    while (p_ < end_ && (std::isalnum(static_cast<unsigned char>(*p_)) ||
                         *p_ == '-' || *p_ == '+' || *p_ == '.')) {
      ++p_;
    }
    return p_ != start;
  }

 private:
  static constexpr int kMaxDepth = 64;

  void SkipSpace() {
    while (p_ < end_ &&
           (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) {
      ++p_;
    }
  }

  bool Hex4(uint32_t& code) {
    if (end_ - p_ < 4) return false;
    code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  static void AppendUtf8(uint32_t code, std::string& out) {
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (code >> 6)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (code >> 12)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (code >> 18)));
      out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  const char* p_;
  const char* end_;
};

// Protobuf's messages end with the offending input and a caret on lines of
// their own; an answer carries the first line, which says what is wrong.
std::string FirstLine(absl::string_view message) {
  return std::string(message.substr(0, message.find('\n')));
}

}  // namespace

std::optional<RequestLine> ParseRequestFast(absl::string_view line) {
  StrictReader reader(line);
  RequestLine request;
  CheckRequestView& view = request.view;
  uint32_t seen = 0;
  const bool ok = reader.Object([&](absl::string_view key) {
    if (Is(key, "id")) return StringOnce(reader, 1, seen, request.id);
    if (Is(key, "object_type")) {
      return StringOnce(reader, 2, seen, view.object_type);
    }
    if (Is(key, "action")) return StringOnce(reader, 4, seen, view.action);
    if (Is(key, "entity_id"))
      return StringOnce(reader, 8, seen, view.entity_id);
    if (Is(key, "principal")) {
      if ((seen & 16) != 0) return false;
      seen |= 16;
      return ReadPrincipal(reader, view);
    }
    if (Is(key, "resource")) {
      if ((seen & 32) != 0) return false;
      seen |= 32;
      return ReadResource(reader, view);
    }
    return false;
  });
  if (!ok || !reader.AtEnd()) return std::nullopt;
  return request;
}

absl::StatusOr<RequestLine> RequestParser::Parse(absl::string_view line) {
  if (std::optional<RequestLine> fast = ParseRequestFast(line)) return *fast;
  message_.Clear();
  const absl::Status status = ParseJsonMessage(line, message_);
  if (!status.ok()) {
    return absl::InvalidArgumentError(FirstLine(status.message()));
  }
  return RequestLine{message_.id(), ViewOf(message_)};
}

std::optional<std::string> RecoverRequestId(absl::string_view line) {
  LenientReader reader(line);
  if (!reader.Consume('{') || reader.Consume('}')) return std::nullopt;
  std::optional<std::string> id;
  do {
    std::string key;
    if (!reader.String(&key) || !reader.Consume(':')) break;
    if (key == "id" && reader.Peek('"')) {
      std::string value;
      if (!reader.String(&value)) break;
      id = std::move(value);  // a repeated key: the last wins, as in protobuf
    } else if (!reader.SkipValue(0)) {
      break;
    }
  } while (reader.Consume(','));
  return id;
}

}  // namespace portcullis::cli
