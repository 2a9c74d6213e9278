#include "engine/load/strict_json.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace portcullis::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// A recursive walk over a document protobuf's parser has read, so brackets
// balance and the nesting is bounded (protobuf stops at 100 levels). What
// protobuf tolerates beyond RFC 8259 is an error here.
class StrictChecker {
 public:
  explicit StrictChecker(absl::string_view json) : json_(json) {}

  absl::Status Document(const Descriptor& type) {
    SkipSpace();
    return Value(&type);
  }

 private:
  // A value of a field of message type `type`, or of no message (null). The
  // caller has skipped the space before it.
  absl::Status Value(const Descriptor* type) {
    if (pos_ >= json_.size()) return Error(pos_, "a value is missing");
    switch (json_[pos_]) {
      case '{':
        return Object(type);
      case '[':
        return Array(type);
      case '"':
        return String(nullptr);
      default:
        return Scalar();
    }
  }

  absl::Status Object(const Descriptor* type) {
    ++pos_;  // '{'
    SkipSpace();
    if (Peek('}')) return absl::OkStatus();
    // Field numbers (or, outside any message, keys) seen in this object.
    std::vector<int> seen_fields;
    std::vector<std::string> seen_keys;
    for (;;) {
      const size_t key_at = pos_;
      if (!Peek('"', /*consume=*/false)) {
        return Error(key_at,
                     "a key that is not in double quotes (JSON keys are "
                     "strings, RFC 8259)");
      }
      std::string key;
      const absl::Status read = String(&key);
      if (!read.ok()) return read;
      // As written: "\u0069d" is "id" to protobuf.
      const absl::string_view raw_key =
          json_.substr(key_at + 1, pos_ - key_at - 2);
      if (key.empty()) {
        return Error(key_at, "an empty key \"\" (every key names a field)");
      }
      const FieldDescriptor* field = FindField(type, key);
      if (field != nullptr) {
        if (std::find(seen_fields.begin(), seen_fields.end(),
                      field->number()) != seen_fields.end()) {
          return Error(
              key_at,
              absl::StrCat("field ", field->name(), " is given twice",
                           raw_key == field->name()
                               ? ""
                               : absl::StrCat(" (here as \"", raw_key, "\")"),
                           "; protobuf would keep the last value"));
        }
        seen_fields.push_back(field->number());
      } else {
        if (std::find(seen_keys.begin(), seen_keys.end(), key) !=
            seen_keys.end()) {
          return Error(key_at,
                       absl::StrCat("key \"", raw_key, "\" is given twice"));
        }
        seen_keys.push_back(key);
      }
      SkipSpace();
      Peek(':');
      SkipSpace();
      const absl::Status value =
          Value(field != nullptr &&
                        field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE
                    ? field->message_type()
                    : nullptr);
      if (!value.ok()) return value;
      SkipSpace();
      if (Peek('}')) return absl::OkStatus();
      const size_t comma = pos_;
      if (!Peek(',')) return Error(pos_, "expected , or }");
      SkipSpace();
      if (Peek('}', /*consume=*/false)) {
        return Error(comma, "a comma before } (RFC 8259 has none)");
      }
    }
  }

  // The elements of a repeated field; protobuf also takes nested lists.
  absl::Status Array(const Descriptor* element_type) {
    ++pos_;  // '['
    SkipSpace();
    if (Peek(']')) return absl::OkStatus();
    for (;;) {
      const absl::Status value = Value(element_type);
      if (!value.ok()) return value;
      SkipSpace();
      if (Peek(']')) return absl::OkStatus();
      const size_t comma = pos_;
      if (!Peek(',')) return Error(pos_, "expected , or ]");
      SkipSpace();
      if (Peek(']', /*consume=*/false)) {
        return Error(comma, "a comma before ] (RFC 8259 has none)");
      }
    }
  }

  // A number, true, false or null; anything else protobuf took (a
  // single-quoted string) is not JSON.
  absl::Status Scalar() {
    const size_t start = pos_;
    while (pos_ < json_.size() && !IsDelimiter(json_[pos_])) ++pos_;
    const absl::string_view token = json_.substr(start, pos_ - start);
    const bool number =
        !token.empty() &&
        (token[0] == '-' ||
         absl::ascii_isdigit(static_cast<unsigned char>(token[0])));
    if (number || token == "true" || token == "false" || token == "null") {
      return absl::OkStatus();
    }
    return Error(start, "a string that is not in double quotes (RFC 8259)");
  }

  static const FieldDescriptor* FindField(const Descriptor* type,
                                          const std::string& key) {
    if (type == nullptr) return nullptr;
    const FieldDescriptor* field = type->FindFieldByName(key);
    for (int i = 0; field == nullptr && i < type->field_count(); ++i) {
      if (type->field(i)->json_name() == key) field = type->field(i);
    }
    return field;
  }

  // Reads a string. With `decoded`, also its text with escapes decoded, as
  // far as comparing a key with field names needs: a \u escape above U+007F
  // stays escaped, since no field name holds such a character.
  absl::Status String(std::string* decoded) {
    for (++pos_; pos_ < json_.size() && json_[pos_] != '"'; ++pos_) {
      const unsigned char c = static_cast<unsigned char>(json_[pos_]);
      if (c < 0x20) {
        return Error(pos_,
                     absl::StrCat("a control character (\\x",
                                  absl::Hex(c, absl::kZeroPad2),
                                  ") in a string; RFC 8259 wants it escaped"));
      }
      if (c != '\\') {
        if (decoded != nullptr) decoded->push_back(static_cast<char>(c));
        continue;
      }
      if (++pos_ >= json_.size()) break;
      const char escaped = json_[pos_];
      if (decoded == nullptr) continue;
      if (escaped == 'u' && pos_ + 4 < json_.size()) {
        uint32_t code = 0;
        bool hex = true;
        for (size_t i = 1; i <= 4; ++i) {
          const unsigned char digit =
              static_cast<unsigned char>(json_[pos_ + i]);
          hex &= absl::ascii_isxdigit(digit) != 0;
          code = code * 16 + (absl::ascii_isdigit(digit)
                                  ? digit - '0'
                                  : absl::ascii_tolower(digit) - 'a' + 10);
        }
        if (hex && code > 0 && code < 0x80) {
          decoded->push_back(static_cast<char>(code));
          pos_ += 4;
          continue;
        }
        decoded->append("\\u");
        continue;
      }
      decoded->push_back(escaped);  // \" \\ \/ and the rest: the character
    }
    ++pos_;  // the closing quote
    return absl::OkStatus();
  }

  void SkipSpace() {
    // RFC 8259's whitespace; protobuf's parser allows no other.
    while (pos_ < json_.size() &&
           (json_[pos_] == ' ' || json_[pos_] == '\t' || json_[pos_] == '\n' ||
            json_[pos_] == '\r')) {
      ++pos_;
    }
  }

  // True, and past it, when the next character is `c`.
  bool Peek(char c, bool consume = true) {
    if (pos_ >= json_.size() || json_[pos_] != c) return false;
    if (consume) ++pos_;
    return true;
  }

  static bool IsDelimiter(char c) {
    return c == ',' || c == '}' || c == ']' || c == ':' || c == ' ' ||
           c == '\t' || c == '\n' || c == '\r';
  }

  absl::Status Error(size_t at, absl::string_view what) const {
    // Protobuf skips every ASCII space; RFC 8259 has four.
    if (at < json_.size() && (json_[at] == '\f' || json_[at] == '\v')) {
      what = "a form feed or vertical tab, which is not JSON whitespace";
    }
    const absl::string_view before = json_.substr(0, at);
    const size_t line_start = before.rfind('\n');
    const size_t column =
        line_start == absl::string_view::npos ? at + 1 : at - line_start;
    return absl::InvalidArgumentError(absl::StrCat(
        "line ", std::count(before.begin(), before.end(), '\n') + 1,
        ", column ", column, ": ", what));
  }

  const absl::string_view json_;
  size_t pos_ = 0;
};

}  // namespace

absl::Status CheckStrictJson(absl::string_view json, const Descriptor& type) {
  return StrictChecker(json).Document(type);
}

}  // namespace portcullis::internal
