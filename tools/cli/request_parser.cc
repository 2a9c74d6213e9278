#include "tools/cli/request_parser.h"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "engine/load/policy_loader.h"

namespace portcullis::cli {
namespace {

using PrincipalKind = CheckRequestView::PrincipalKind;

// A cursor over one line for the strict path. Every method returns false as
// soon as the input leaves the accepted subset; callers give up on the line,
// and never try another reading from where the cursor was left (it may have
// moved past part of what failed).
class StrictReader {
 public:
  explicit StrictReader(absl::string_view line)
      : begin_(line.data()), p_(line.data()), end_(line.data() + line.size()) {}

  // The general way past JSON whitespace, after the callers' looks for no
  // space or one ' ': a byte above ' ' is never whitespace, which one compare
  // settles before the four.
  void SkipSpace() {
    while (p_ < end_ && static_cast<uint8_t>(*p_) <= ' ' &&
           (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) {
      ++p_;
    }
  }

  // `c`, after any space. No space and one ' ' are looked for first, without
  // the loop: JSON writers put one space or none between tokens.
  bool Consume(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    if (end_ - p_ >= 2 && p_[0] == ' ' && p_[1] == c) {
      p_ += 2;
      return true;
    }
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  bool AtEnd() {
    SkipSpace();
    return p_ == end_;
  }

  // The byte at the cursor (0 at the end of the line), not consumed.
  char Peek() const { return p_ == end_ ? '\0' : *p_; }

  // The byte after any space (0 at the end of the line), not consumed.
  char PeekAfterSpace() {
    SkipSpace();
    return p_ == end_ ? '\0' : *p_;
  }

  // Whether the key that starts at the cursor (its opening quote read) is
  // `name`: the name's bytes, then its closing quote. A key is compared as
  // words against the constant, never scanned as a string first; a key that
  // is no name the caller expects refuses the line whatever its bytes, so
  // nothing else about it needs checking. Steps past the closing quote.
  template <size_t N>
  bool Key(const char (&name)[N]) {
    constexpr size_t kSize = N - 1;  // the name's bytes, without the quote
    if (static_cast<size_t>(end_ - p_) < kSize + 1) return false;
    if (!SameBytes<kSize>(p_, name) || p_[kSize] != '"') return false;
    p_ += kSize + 1;
    return true;
  }

  // Key(name) and the `:` after it. The name and `":` are compared as words
  // first (at most three compares), before Key() and Consume()'s general way.
  template <size_t N>
  bool KeyThenColon(const char (&name)[N]) {
    constexpr size_t kSize = N - 1;
    if (static_cast<size_t>(end_ - p_) >= kSize + 2 &&
        SameBytes<kSize>(p_, name) &&
        Load<uint16_t>(p_ + kSize) == Load<uint16_t>("\":")) {
      p_ += kSize + 2;
      return true;
    }
    return Key(name) && Consume(':');
  }

  // A member whose value is a string, its key's opening quote read: the key
  // `name` (as in Key()), `:` and the string, into `out`. The usual spacing,
  // the name then `": "`, is compared as words first (at most three
  // compares), before the general way.
  template <size_t N>
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool StringMember(const char (&name)[N],
                                                 absl::string_view& out) {
    constexpr size_t kSize = N - 1;
    if (static_cast<size_t>(end_ - p_) >= kSize + 4 &&
        SameBytes<kSize>(p_, name) &&
        Load<uint32_t>(p_ + kSize) == Load<uint32_t>("\": \"")) {
      p_ += kSize + 4;
    } else if (!Key(name) || !Consume(':') || !Consume('"')) {
      return false;
    }
    return StringAfterQuote(out);
  }

  // The rest of a string whose opening quote was read: printable ASCII
  // without escapes, viewed in place. Anything else needs unescaping or UTF-8
  // validation: protobuf's job. Sixteen bytes are looked at per step (SSE2,
  // every x86-64): the last step of a line looks at its last sixteen bytes,
  // some of them already read, so that only a line shorter than sixteen bytes
  // is read one byte at a time. Either way the string ends at its first `"`
  // and is refused at a byte outside 0x20-0x7E or a backslash before it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool StringAfterQuote(absl::string_view& out) {
    const char* const start = p_;
#if defined(__SSE2__)
    if (end_ - begin_ >= 16) {
      while (true) {
        const char* block = p_;
        unsigned before_cursor = 0;  // bytes of the block already read
        if (end_ - p_ < 16) {
          if (p_ == end_) return false;
          before_cursor = static_cast<unsigned>(16 - (end_ - p_));
          block = end_ - 16;
        }
        const unsigned stops = StopsInBlock(block) >> before_cursor;
        if (stops != 0) {
          p_ += __builtin_ctz(stops);
          if (*p_ != '"') return false;
          out = absl::string_view(start, static_cast<size_t>(p_ - start));
          ++p_;
          return true;
        }
        p_ += 16 - before_cursor;
      }
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

  // An object; `member()` reads each member, from the byte after its key's
  // opening quote through its value (see Key()).
  template <typename MemberFn>
  bool Object(MemberFn&& member) {
    if (!Consume('{')) return false;
    // The first key's quote, most often right after the brace.
    if (p_ < end_ && *p_ == '"') {
      ++p_;
    } else if (PeekAfterSpace() == '}') {
      ++p_;
      return true;
    } else if (!Consume('"')) {
      return false;
    }
    while (true) {
      if (!member()) return false;
      // After a member: `, "` as most lines have it, in two compares;
      // otherwise `,` or `}` after any space, and the next key's quote.
      if (end_ - p_ >= 3 && SameBytes<3>(p_, ", \"")) {
        p_ += 3;
        continue;
      }
      if (p_ < end_ && *p_ == '}') {
        ++p_;
        return true;
      }
      SkipSpace();
      if (p_ == end_) return false;
      const char next = *p_++;
      if (next == '}') return true;
      if (next != ',' || !Consume('"')) return false;
    }
  }

 private:
  template <typename Word>
  static Word Load(const char* p) {
    Word word;
    std::memcpy(&word, p, sizeof(word));
    return word;
  }

  // Whether the N bytes at `p` are those of `name`, without a call to memcmp:
  // two words that may overlap, both within the N bytes; `name` is a
  // constant, so its words are too.
  template <size_t N>
  static bool SameBytes(const char* p, const char* name) {
    static_assert(N >= 1 && N <= 16, "no key of the request is longer");
    if constexpr (N >= 8) {
      return Load<uint64_t>(p) == Load<uint64_t>(name) &&
             Load<uint64_t>(p + N - 8) == Load<uint64_t>(name + N - 8);
    } else if constexpr (N >= 4) {
      return Load<uint32_t>(p) == Load<uint32_t>(name) &&
             Load<uint32_t>(p + N - 4) == Load<uint32_t>(name + N - 4);
    } else if constexpr (N >= 2) {
      return Load<uint16_t>(p) == Load<uint16_t>(name) &&
             Load<uint16_t>(p + N - 2) == Load<uint16_t>(name + N - 2);
    } else {
      return *p == *name;
    }
  }

#if defined(__SSE2__)
  // The sixteen bytes at `at`: bit i is set where byte i ends a string or is
  // refused in one (a `"`, a backslash, or outside 0x20-0x7E).
  static unsigned StopsInBlock(const char* at) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    // Adding 1 maps 0x20-0x7E, and only those, to 0x21-0x7F, the signed
    // bytes above 0x20: 0x7F becomes 0x80 (negative), 0xFF becomes 0, and
    // 0x80-0xFE stay negative. One compare then finds the rest.
    const __m128i outside = _mm_cmplt_epi8(
        _mm_add_epi8(bytes, _mm_set1_epi8(1)), _mm_set1_epi8(0x21));
    const __m128i stops = _mm_or_si128(
        outside, _mm_or_si128(_mm_cmpeq_epi8(bytes, _mm_set1_epi8('"')),
                              _mm_cmpeq_epi8(bytes, _mm_set1_epi8('\\'))));
    return static_cast<unsigned>(_mm_movemask_epi8(stops));
  }
#endif

  const char* const begin_;
  const char* p_;
  const char* const end_;
};

// Reads a string member, its key `name`, into `out` unless it was already
// read: a repeated key is left to protobuf, whose rules for it are its own.
template <size_t N>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool StringOnce(StrictReader& reader,
                                                    const char (&name)[N],
                                                    uint32_t bit,
                                                    uint32_t& seen,
                                                    absl::string_view& out) {
  if ((seen & bit) != 0) return false;
  seen |= bit;
  return reader.StringMember(name, out);
}

// Members are told apart by their key's first byte, then the one name that
// could be is compared whole (StrictReader::Key).
bool ReadPrincipal(StrictReader& reader, CheckRequestView& view) {
  bool has_kind = false;  // a oneof: a second member is protobuf's to reject
  return reader.Object([&]() {
    if (has_kind) return false;
    has_kind = true;
    uint32_t seen = 0;
    switch (reader.Peek()) {
      case 'p':
        if (!reader.KeyThenColon("partner")) return false;
        view.principal_kind = PrincipalKind::kPartner;
        return reader.Object([&]() {
          return StringOnce(reader, "client_id", 1, seen, view.client_id);
        });
      case 'e':
        if (!reader.KeyThenColon("entity_user")) return false;
        view.principal_kind = PrincipalKind::kEntityUser;
        return reader.Object([&]() {
          switch (reader.Peek()) {
            case 'u':
              return StringOnce(reader, "user_id", 1, seen, view.user_id);
            case 'e':
              return StringOnce(reader, "entity_id", 2, seen,
                                view.user_entity_id);
            case 'r':
              return StringOnce(reader, "role_id", 4, seen, view.role_id);
            case 'c':
              return StringOnce(reader, "client_id", 8, seen, view.client_id);
            default:
              return false;
          }
        });
      default:
        return false;
    }
  });
}

bool ReadResource(StrictReader& reader, CheckRequestView& view) {
  view.has_resource = true;
  uint32_t seen = 0;
  return reader.Object([&]() {
    switch (reader.Peek()) {
      case 'e':
        return StringOnce(reader, "entity_id", 1, seen,
                          view.resource_entity_id);
      case 'c':
        return StringOnce(reader, "created_by", 2, seen,
                          view.resource_created_by);
      default:
        return false;
    }
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

namespace {

// ParseRequestFast into `request`, which must be default-constructed: Parse()
// reads straight into the StatusOr it returns, with no copy of the line's
// views. `request` is partly filled when this returns false.
bool ReadRequestFast(absl::string_view line, RequestLine& request) {
  StrictReader reader(line);
  CheckRequestView& view = request.view;
  uint32_t seen = 0;
  const bool ok = reader.Object([&]() {
    switch (reader.Peek()) {
      case 'i':
        return StringOnce(reader, "id", 1, seen, request.id);
      case 'o':
        return StringOnce(reader, "object_type", 2, seen, view.object_type);
      case 'a':
        return StringOnce(reader, "action", 4, seen, view.action);
      case 'e':
        return StringOnce(reader, "entity_id", 8, seen, view.entity_id);
      case 'p':
        if (!reader.KeyThenColon("principal") || (seen & 16) != 0) {
          return false;
        }
        seen |= 16;
        return ReadPrincipal(reader, view);
      case 'r':
        if (!reader.KeyThenColon("resource") || (seen & 32) != 0) {
          return false;
        }
        seen |= 32;
        return ReadResource(reader, view);
      default:
        return false;
    }
  });
  return ok && reader.AtEnd();
}

}  // namespace

std::optional<RequestLine> ParseRequestFast(absl::string_view line) {
  RequestLine request;
  if (!ReadRequestFast(line, request)) return std::nullopt;
  return request;
}

absl::StatusOr<RequestLine> RequestParser::Parse(absl::string_view line) {
  // One object returned on every path, so that it is built in place.
  absl::StatusOr<RequestLine> request(absl::in_place);
  if (ReadRequestFast(line, *request)) return request;
  message_.Clear();
  const absl::Status status = ParseJsonMessage(line, message_);
  if (!status.ok()) {
    request = absl::InvalidArgumentError(FirstLine(status.message()));
  } else {
    *request = RequestLine{message_.id(), ViewOf(message_)};
  }
  return request;
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
