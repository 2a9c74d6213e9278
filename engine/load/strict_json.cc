#include "engine/load/strict_json.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/common/json_string.h"

namespace portcullis::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// An iterative walk over a whole document, run before protobuf's parser sees
// it: the nesting lives in `stack_`, never on the call stack, and stops at
// `max_depth` levels, so no input can exhaust either. What protobuf tolerates
// beyond RFC 8259 is an error here.
class StrictChecker {
 public:
  StrictChecker(absl::string_view json, int max_depth)
      : json_(json), max_depth_(max_depth) {}

  absl::Status Document(const Descriptor& type) {
    SkipSpace();
    // The message type of the next value (null: no message, or unknown).
    const Descriptor* type_of_value = &type;
    for (;;) {
      bool opened = false;
      absl::Status status = Value(type_of_value, opened);
      if (!status.ok()) return status;
      if (opened) continue;  // its first value next
      // After a value: close the containers it ends, then find the next one.
      for (;;) {
        SkipSpace();
        if (stack_.empty()) {
          if (pos_ < json_.size()) {
            return Error(pos_, "more after the end of the document");
          }
          return absl::OkStatus();
        }
        Container& open = stack_.back();
        path_.resize(open.path_length);
        const char close = open.object ? '}' : ']';
        if (Peek(close)) {
          stack_.pop_back();
          continue;
        }
        const size_t comma = pos_;
        if (!Peek(',')) {
          return Error(
              pos_, absl::StrCat(
                        pos_ >= json_.size() ? "the document ends early: " : "",
                        "expected , or ", std::string(1, close)));
        }
        SkipSpace();
        if (Peek(close, /*consume=*/false)) {
          return Error(comma,
                       absl::StrCat("a comma before ", std::string(1, close),
                                    " (RFC 8259 has none)"));
        }
        if (open.object) {
          status = Member(open, type_of_value);
          if (!status.ok()) return status;
        } else {
          absl::StrAppend(&path_, "[", ++open.index, "]");
          type_of_value = open.type;
        }
        break;
      }
    }
  }

 private:
  // An object or array being read.
  struct Container {
    bool object = false;
    // The message type of the object, or of the array's elements.
    const Descriptor* type = nullptr;
    size_t path_length = 0;  // path_ up to this container
    int index = 0;           // the array's element being read
    // Field numbers (or, outside any message, keys) seen in the object.
    std::vector<int> seen_fields;
    std::vector<std::string> seen_keys;
  };

  // A value of a field of message type `type`, or of no message (null). The
  // caller has skipped the space before it. A non-empty object or array is
  // read up to its first value, which the caller reads next (`opened`, with
  // `type` set to that value's); an empty one is left for the caller to close.
  absl::Status Value(const Descriptor*& type, bool& opened) {
    if (pos_ >= json_.size()) return Error(pos_, "a value is missing");
    const char c = json_[pos_];
    if (c == '"') return String(nullptr);
    if (c != '{' && c != '[') return Scalar();
    if (stack_.size() >= static_cast<size_t>(std::max(max_depth_, 0))) {
      return Error(pos_, absl::StrCat("nested deeper than ", max_depth_,
                                      " levels of objects and arrays (the "
                                      "limit)"));
    }
    if (c == '[' && !stack_.empty() && !stack_.back().object) {
      // Protobuf reads [[a, b], [c]] as [a, b, c]; no field of the policy or
      // request schema is a list of lists, so every other reader disagrees.
      return PathError(pos_,
                       "a list inside a list; protobuf would flatten it into "
                       "one list (no field is a list of lists)");
    }
    ++pos_;
    SkipSpace();
    Container& open = stack_.emplace_back();
    open.object = c == '{';
    open.type = type;
    open.path_length = path_.size();
    if (Peek(c == '{' ? '}' : ']', /*consume=*/false)) {
      return absl::OkStatus();
    }
    opened = true;
    if (open.object) return Member(open, type);
    absl::StrAppend(&path_, "[0]");
    return absl::OkStatus();
  }

  // A key and its colon, in the object `object`; sets `type` to the message
  // type of its value and the path to the member.
  absl::Status Member(Container& object, const Descriptor*& type) {
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
    const FieldDescriptor* field = FindField(object.type, key);
    if (field != nullptr) {
      if (std::find(object.seen_fields.begin(), object.seen_fields.end(),
                    field->number()) != object.seen_fields.end()) {
        return Error(
            key_at,
            absl::StrCat("field ", field->name(), " is given twice",
                         raw_key == field->name()
                             ? ""
                             : absl::StrCat(" (here as \"", raw_key, "\")"),
                         "; protobuf would keep the last value"));
      }
      object.seen_fields.push_back(field->number());
    } else {
      if (std::find(object.seen_keys.begin(), object.seen_keys.end(), key) !=
          object.seen_keys.end()) {
        return Error(key_at,
                     absl::StrCat("key \"", raw_key, "\" is given twice"));
      }
      object.seen_keys.push_back(key);
    }
    if (!path_.empty()) path_.push_back('.');
    path_.append(field != nullptr ? field->name() : key);
    SkipSpace();
    if (!Peek(':')) return Error(pos_, "expected : after the key");
    SkipSpace();
    type = field != nullptr &&
                   field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE
               ? field->message_type()
               : nullptr;
    return absl::OkStatus();
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
    if (token.empty()) return Error(start, "a value is missing");
    const unsigned char first = static_cast<unsigned char>(token[0]);
    if (first == '\'' || absl::ascii_isalpha(first)) {
      return Error(start, "a string that is not in double quotes (RFC 8259)");
    }
    return Error(
        start,
        absl::StrCat(
            "not a JSON value: it starts with ",
            absl::ascii_isgraph(first)
                ? absl::StrCat("'", std::string(1, first), "'")
                : absl::StrCat("byte \\x", absl::Hex(first, absl::kZeroPad2))));
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
    const size_t open = pos_;
    for (++pos_; pos_ < json_.size() && json_[pos_] != '"'; ++pos_) {
      const unsigned char c = static_cast<unsigned char>(json_[pos_]);
      if (c < 0x20) {
        return Error(pos_,
                     absl::StrCat("a control character (\\x",
                                  absl::Hex(c, absl::kZeroPad2),
                                  ") in a string; RFC 8259 wants it escaped"));
      }
      if (c >= 0x80) {
        const size_t length = Utf8SequenceLength(json_.substr(pos_));
        if (length == 0) {
          return PathError(
              pos_, absl::StrCat("invalid UTF-8 in a ",
                                 decoded != nullptr ? "key" : "string",
                                 " (byte \\x", absl::Hex(c, absl::kZeroPad2),
                                 "); JSON text is UTF-8 (RFC 8259)"));
        }
        if (decoded != nullptr) decoded->append(json_.data() + pos_, length);
        pos_ += length - 1;
        continue;
      }
      if (c != '\\') {
        if (decoded != nullptr) decoded->push_back(static_cast<char>(c));
        continue;
      }
      if (++pos_ >= json_.size()) break;
      const char escaped = json_[pos_];
      if (!IsEscape(json_.substr(pos_))) {
        // Protobuf reads "\8" as "8"; RFC 8259 readers refuse it.
        size_t end = pos_ + 1;  // with \u, its hex digits
        while (escaped == 'u' && end < json_.size() && end < pos_ + 5 &&
               absl::ascii_isxdigit(static_cast<unsigned char>(json_[end]))) {
          ++end;
        }
        return PathError(
            pos_ - 1,
            absl::StrCat("an escape \"\\",
                         absl::CHexEscape(json_.substr(pos_, end - pos_)),
                         "\" that JSON does not define (RFC 8259 has \\\" "
                         "\\\\ \\/ \\b \\f \\n \\r \\t and \\u with four hex "
                         "digits)"));
      }
      if (decoded == nullptr) continue;
      if (escaped == 'u') {
        uint32_t code = 0;
        for (size_t i = 1; i <= 4; ++i) {
          const unsigned char digit =
              static_cast<unsigned char>(json_[pos_ + i]);
          code = code * 16 + (absl::ascii_isdigit(digit)
                                  ? digit - '0'
                                  : absl::ascii_tolower(digit) - 'a' + 10);
        }
        if (code > 0 && code < 0x80) {
          decoded->push_back(static_cast<char>(code));
          pos_ += 4;
          continue;
        }
        decoded->append("\\u");
        continue;
      }
      switch (escaped) {
        case 'b':
          decoded->push_back('\b');
          break;
        case 'f':
          decoded->push_back('\f');
          break;
        case 'n':
          decoded->push_back('\n');
          break;
        case 'r':
          decoded->push_back('\r');
          break;
        case 't':
          decoded->push_back('\t');
          break;
        default:
          decoded->push_back(escaped);  // \" \\ \/
      }
    }
    if (pos_ >= json_.size()) {
      return Error(open, "a string without its closing quote");
    }
    ++pos_;  // the closing quote
    return absl::OkStatus();
  }

  // Whether `rest`, what follows a backslash, starts with an escape RFC 8259
  // defines.
  static bool IsEscape(absl::string_view rest) {
    if (absl::string_view("\"\\/bfnrt").find(rest[0]) !=
        absl::string_view::npos) {
      return true;
    }
    if (rest[0] != 'u' || rest.size() < 5) return false;
    for (size_t i = 1; i <= 4; ++i) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(rest[i]))) {
        return false;
      }
    }
    return true;
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
           c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '{' ||
           c == '[';
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

  // Error() naming the field path of the value being read, if any.
  absl::Status PathError(size_t at, absl::string_view what) const {
    return Error(at, path_.empty() ? std::string(what)
                                   : absl::StrCat(path_, ": ", what));
  }

  const absl::string_view json_;
  const int max_depth_;
  size_t pos_ = 0;
  std::vector<Container> stack_;
  // The field path of the value being read: `roles[2].permissions`.
  std::string path_;
};

}  // namespace

absl::Status CheckStrictJson(absl::string_view json, const Descriptor& type,
                             int max_depth) {
  return StrictChecker(json, max_depth).Document(type);
}

}  // namespace portcullis::internal
