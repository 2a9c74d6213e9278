#include "engine/internal/json_keys.h"

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

// A recursive walk over a well-formed document. The nesting is bounded by
// protobuf's parser (100 levels), which has already read it.
class KeyChecker {
 public:
  explicit KeyChecker(absl::string_view json) : json_(json) {}

  // A value of a field of message type `type`, or of no message (null).
  absl::Status Value(const Descriptor* type) {
    SkipSpace();
    if (pos_ >= json_.size()) return absl::OkStatus();
    switch (json_[pos_]) {
      case '{':
        return Object(type);
      case '[':
        return Array(type);
      case '"':
        SkipString();
        return absl::OkStatus();
      default:  // a number, true, false or null
        while (pos_ < json_.size() && !IsDelimiter(json_[pos_])) ++pos_;
        return absl::OkStatus();
    }
  }

 private:
  absl::Status Object(const Descriptor* type) {
    ++pos_;  // '{'
    // Field numbers (or, outside any message, keys) seen in this object.
    std::vector<int> seen_fields;
    std::vector<std::string> seen_keys;
    for (;;) {
      SkipSpace();
      if (pos_ >= json_.size()) return absl::OkStatus();
      if (json_[pos_] == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      if (json_[pos_] == ',') {
        ++pos_;
        continue;
      }
      const size_t key_at = pos_;
      const std::string key = KeyText();
      // As written, for messages: "\u0069d" is "id" to protobuf.
      const absl::string_view raw_key =
          json_.substr(key_at + 1, pos_ - key_at - 2);
      if (key.empty()) {
        return Error(key_at, "an empty key \"\" (every key names a field)");
      }
      const FieldDescriptor* field = nullptr;
      if (type != nullptr) {
        field = type->FindFieldByName(key);
        for (int i = 0; field == nullptr && i < type->field_count(); ++i) {
          if (type->field(i)->json_name() == key) field = type->field(i);
        }
      }
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
                       absl::StrCat("key \"", key, "\" is given twice"));
        }
        seen_keys.push_back(key);
      }
      SkipSpace();
      if (pos_ < json_.size() && json_[pos_] == ':') ++pos_;
      const Descriptor* value_type =
          field != nullptr &&
                  field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE
              ? field->message_type()
              : nullptr;
      const absl::Status value = Value(value_type);
      if (!value.ok()) return value;
    }
  }

  // Elements of a repeated field; protobuf also takes nested lists.
  absl::Status Array(const Descriptor* element_type) {
    ++pos_;  // '['
    for (;;) {
      SkipSpace();
      if (pos_ >= json_.size()) return absl::OkStatus();
      if (json_[pos_] == ']') {
        ++pos_;
        return absl::OkStatus();
      }
      if (json_[pos_] == ',') {
        ++pos_;
        continue;
      }
      const absl::Status value = Value(element_type);
      if (!value.ok()) return value;
    }
  }

  // Reads a key (a string) and returns its text with escapes decoded, enough
  // to compare it with field names: a \u escape above U+007F stays escaped,
  // since no field name holds such a character.
  std::string KeyText() {
    std::string text;
    if (pos_ >= json_.size() || json_[pos_] != '"') return text;
    for (++pos_; pos_ < json_.size() && json_[pos_] != '"'; ++pos_) {
      if (json_[pos_] != '\\' || pos_ + 1 >= json_.size()) {
        text.push_back(json_[pos_]);
        continue;
      }
      const char escaped = json_[++pos_];
      if (escaped == 'u' && pos_ + 4 < json_.size()) {
        uint32_t code = 0;
        bool hex = true;
        for (size_t i = 1; i <= 4; ++i) {
          const char c = json_[pos_ + i];
          hex &= absl::ascii_isxdigit(static_cast<unsigned char>(c));
          code = code * 16 + (absl::ascii_isdigit(static_cast<unsigned char>(c))
                                  ? c - '0'
                                  : (absl::ascii_tolower(c) - 'a' + 10));
        }
        if (hex && code > 0 && code < 0x80) {
          text.push_back(static_cast<char>(code));
          pos_ += 4;
          continue;
        }
        text.push_back('\\');
        text.push_back('u');
        continue;
      }
      text.push_back(escaped);  // \" \\ \/ and the rest: the character
    }
    ++pos_;  // the closing quote
    return text;
  }

  void SkipString() {
    for (++pos_; pos_ < json_.size() && json_[pos_] != '"'; ++pos_) {
      if (json_[pos_] == '\\') ++pos_;
    }
    ++pos_;
  }

  void SkipSpace() {
    while (pos_ < json_.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(json_[pos_]))) {
      ++pos_;
    }
  }

  static bool IsDelimiter(char c) {
    return c == ',' || c == '}' || c == ']' ||
           absl::ascii_isspace(static_cast<unsigned char>(c));
  }

  absl::Status Error(size_t at, absl::string_view what) const {
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

absl::Status CheckJsonKeys(absl::string_view json, const Descriptor& type) {
  return KeyChecker(json).Value(&type);
}

}  // namespace portcullis::internal
