#include "engine/load/policy_json_reader.h"

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/descriptor.h"

namespace portcullis::internal {
namespace {

namespace od = simdjson::ondemand;
using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING,
              "kJsonPadding must cover simdjson's padding");

// The keys of one message type, as the strict reader takes them: a field's
// name or its JSON name (`object_type`, `objectType`), each naming the
// field's number.
class FieldKeys {
 public:
  explicit FieldKeys(const Descriptor& type) {
    for (int i = 0; i < type.field_count(); ++i) {
      const google::protobuf::FieldDescriptor& field = *type.field(i);
      keys_.push_back({field.name(), field.number()});
      if (field.json_name() != field.name()) {
        keys_.push_back({field.json_name(), field.number()});
      }
    }
  }

  // The field number `key` names; 0 for none. (Keys are a few bytes: a
  // byte loop beats a call to memcmp.)
  int Find(absl::string_view key) const {
    for (const Key& k : keys_) {
      if (k.text.size() != key.size()) continue;
      size_t i = 0;
      while (i < key.size() && k.text[i] == key[i]) ++i;
      if (i == key.size()) return k.number;
    }
    return 0;
  }

 private:
  struct Key {
    std::string text;
    int number;
  };
  std::vector<Key> keys_;
};

template <typename Message>
const FieldKeys& KeysOf() {
  static const FieldKeys* const keys = new FieldKeys(*Message::descriptor());
  return *keys;
}

// An enum's value names, matched as protobuf's JSON parser matches them with
// case_insensitive_enum_parsing (util/internal/datapiece.cc, ToEnum): the
// exact name, or the text upper-cased with '-' read as '_'. Enum names are
// upper case, so one normalized compare covers both. (Protobuf also takes a
// value's number, in quotes or not: that is left to the strict reader.)
class EnumNames {
 public:
  explicit EnumNames(const EnumDescriptor& type) {
    for (int i = 0; i < type.value_count(); ++i) {
      names_.push_back({type.value(i)->name(), type.value(i)->number()});
    }
  }

  // False when `text` names no value.
  bool Find(absl::string_view text, int& number) const {
    for (const Name& name : names_) {
      if (name.text.size() != text.size()) continue;
      size_t i = 0;
      for (; i < text.size(); ++i) {
        char c = text[i];
        if (c == '-') c = '_';
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (c != name.text[i]) break;
      }
      if (i == text.size()) {
        number = name.number;
        return true;
      }
    }
    return false;
  }

 private:
  struct Name {
    std::string text;
    int number;
  };
  std::vector<Name> names_;
};

template <typename Enum>
const EnumNames& NamesOf() {
  static const EnumNames* const names =
      new EnumNames(*google::protobuf::GetEnumDescriptor<Enum>());
  return *names;
}

bool IsJsonSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Reads a document into a PolicySet, one message type per method. Every
// method returns false for what it does not take, and the whole read is then
// abandoned (the strict reader decides). Field numbers are the ones of
// proto/policy.proto; a field added there and not here is an unknown key to
// this reader, which leaves such documents to the strict reader (slower, never
// wrong; policy_json_differential_test's every-field case fails until it is
// added here).
class Reader {
 public:
  Reader(const char* end, int max_depth) : end_(end), max_depth_(max_depth) {}

  bool Document(od::document& document, v1::PolicySet& set) {
    if (max_depth_ < 1) return false;
    od::object object;
    if (document.get_object().get(object)) return false;
    if (!Fields<v1::PolicySet>(object, [&](int number, od::value value) {
          switch (number) {
            case 1:
              return Message(value, 2, *set.mutable_catalog(),
                             &Reader::Catalog);
            case 2:
              return Repeated(value, 2, [&](od::value element) {
                return Message(element, 3, *set.add_roles(), &Reader::Role);
              });
            case 3:
              return Repeated(value, 2, [&](od::value element) {
                return Message(element, 3, *set.add_entities(),
                               &Reader::Entity);
              });
            case 4:
              return Repeated(value, 2, [&](od::value element) {
                return Message(element, 3, *set.add_credentials(),
                               &Reader::Credential);
              });
          }
          return false;
        })) {
      return false;
    }
    return AtEnd(document);
  }

  // One element of the document's "roles" array, the whole of `document`:
  // the array is at level 2, its elements at 3.
  bool RoleDocument(od::document& document, v1::Role& role) {
    if (max_depth_ < 3) return false;
    od::object object;
    if (document.get_object().get(object)) return false;
    return Role(object, 3, role) && AtEnd(document);
  }

 private:
  // The members of a Catalog object at `level`.
  bool Catalog(od::object object, int level, v1::Catalog& catalog) {
    return Fields<v1::Catalog>(object, [&](int number, od::value value) {
      switch (number) {
        case 1:
          return Repeated(value, level + 1, [&](od::value element) {
            return Message(element, level + 2, *catalog.add_object_types(),
                           &Reader::ObjectType);
          });
      }
      return false;
    });
  }

  bool ObjectType(od::object object, int level, v1::ObjectType& type) {
    return Fields<v1::ObjectType>(object, [&](int number, od::value value) {
      switch (number) {
        case 1:
          return String(value, *type.mutable_name());
        case 2:
          return Repeated(value, level + 1, [&](od::value element) {
            return Message(element, level + 2, *type.add_actions(),
                           &Reader::Action);
          });
      }
      return false;
    });
  }

  bool Action(od::object object, int, v1::Action& action) {
    return Fields<v1::Action>(object, [&](int number, od::value value) {
      switch (number) {
        case 1:
          return String(value, *action.mutable_name());
        case 2: {
          int level = 0;
          if (!Enum<v1::ScopeLevel>(value, level)) return false;
          action.set_level(static_cast<v1::ScopeLevel>(level));
          return true;
        }
        case 3: {
          bool partner_only = false;
          if (value.get_bool().get(partner_only)) return false;
          action.set_partner_only(partner_only);
          return true;
        }
      }
      return false;
    });
  }

  bool Role(od::object object, int level, v1::Role& role) {
    return Fields<v1::Role>(object, [&](int number, od::value value) {
      switch (number) {
        case 1:
          return String(value, *role.mutable_id());
        case 2:
          return String(value, *role.mutable_name());
        case 3:
          return String(value, *role.mutable_entity_id());
        case 4:
          return Message(value, level + 1, *role.mutable_permissions(),
                         &Reader::RolePermissions);
        case 5:
          return String(value, *role.mutable_status());
        case 6:
          return String(value, *role.mutable_created_at());
        case 7:
          return String(value, *role.mutable_updated_at());
      }
      return false;
    });
  }

  bool RolePermissions(od::object object, int level,
                       v1::RolePermissions& permissions) {
    return Fields<v1::RolePermissions>(
        object, [&](int number, od::value value) {
          switch (number) {
            case 1:
              return Repeated(value, level + 1, [&](od::value element) {
                return Message(element, level + 2, *permissions.add_objects(),
                               &Reader::ObjectPermissions);
              });
          }
          return false;
        });
  }

  bool ObjectPermissions(od::object object, int level,
                         v1::ObjectPermissions& permissions) {
    return Fields<v1::ObjectPermissions>(
        object, [&](int number, od::value value) {
          switch (number) {
            case 1:
              return String(value, *permissions.mutable_object_type());
            case 2:
              return Repeated(value, level + 1, [&](od::value element) {
                return Message(element, level + 2, *permissions.add_actions(),
                               &Reader::ActionPermission);
              });
          }
          return false;
        });
  }

  bool ActionPermission(od::object object, int,
                        v1::ActionPermission& permission) {
    return Fields<v1::ActionPermission>(
        object, [&](int number, od::value value) {
          switch (number) {
            case 1:
              return String(value, *permission.mutable_action_name());
            case 2: {
              int decision = 0;
              if (!Enum<v1::Permission>(value, decision)) return false;
              permission.set_permission(static_cast<v1::Permission>(decision));
              return true;
            }
          }
          return false;
        });
  }

  bool Entity(od::object object, int, v1::Entity& entity) {
    return Fields<v1::Entity>(object, [&](int number, od::value value) {
      switch (number) {
        case 1:
          return String(value, *entity.mutable_id());
        case 2:
          return String(value, *entity.mutable_partner_id());
        case 3:
          return String(value, *entity.mutable_default_role_id());
      }
      return false;
    });
  }

  bool Credential(od::object object, int level, v1::Credential& credential) {
    return Fields<v1::Credential>(object, [&](int number, od::value value) {
      switch (number) {
        case 1:
          return String(value, *credential.mutable_client_id());
        case 2:
          return String(value, *credential.mutable_partner_id());
        case 3:
          return Repeated(value, level + 1, [&](od::value element) {
            return String(element, *credential.add_entity_ids());
          });
        case 4:
          return Repeated(value, level + 1, [&](od::value element) {
            return String(element, *credential.add_scopes());
          });
        case 5:
          return Message(value, level + 1, *credential.mutable_rate_limit(),
                         &Reader::RateLimit);
        case 6:
          return String(value, *credential.mutable_name());
      }
      return false;
    });
  }

  bool RateLimit(od::object object, int, v1::RateLimit& limit) {
    return Fields<v1::RateLimit>(object, [&](int number, od::value value) {
      uint32_t n = 0;
      switch (number) {
        case 1:
          if (!Uint32(value, n)) return false;
          limit.set_count(n);
          return true;
        case 2:
          if (!Uint32(value, n)) return false;
          limit.set_interval_seconds(n);
          return true;
      }
      return false;
    });
  }

  // Nothing after the document's value: the iterator has reached the end.
  static bool AtEnd(od::document& document) {
    const char* rest = nullptr;
    return document.current_location().get(rest) == simdjson::OUT_OF_BOUNDS;
  }

  // A value that must be an object at nesting `level`, read into `message`
  // by `read`.
  template <typename M>
  bool Message(od::value value, int level, M& message,
               bool (Reader::*read)(od::object, int, M&)) {
    if (level > max_depth_) return false;
    od::object object;
    if (value.get_object().get(object)) return false;
    return (this->*read)(object, level, message);
  }

  // Calls `member(field number, value)` for each member of `object`, a
  // `Message`; false on a key that names no field of it, on one that is
  // escaped (the strict reader compares it decoded), and on a field given
  // twice (by the same or its other name).
  template <typename Message, typename Member>
  bool Fields(od::object object, Member member) {
    uint64_t seen = 0;
    for (auto result : object) {
      od::field field;
      if (std::move(result).get(field)) return false;
      // The key's text as written, up to its closing quote (stage 1 of
      // simdjson has checked that every string is closed).
      const char* key = field.key().raw();
      size_t length = 0;
      while (key + length < end_ && key[length] != '"') {
        if (key[length] == '\\') return false;
        ++length;
      }
      const int number = KeysOf<Message>().Find(absl::string_view(key, length));
      if (number <= 0 || number >= 64) return false;
      if ((seen >> number) & 1) return false;
      seen |= uint64_t{1} << number;
      if (!member(number, field.value())) return false;
    }
    return true;
  }

  // A value that must be an array at nesting `level`; `element(value)` reads
  // each element.
  template <typename Element>
  bool Repeated(od::value value, int level, Element element) {
    if (level > max_depth_) return false;
    od::array array;
    if (value.get_array().get(array)) return false;
    for (auto result : array) {
      od::value item;
      if (std::move(result).get(item)) return false;
      if (!element(item)) return false;
    }
    return true;
  }

  // A string into `out`. Without a backslash its bytes are the text (simdjson
  // has checked the document's UTF-8 and that no string holds a raw control
  // character); with one, simdjson decodes it, refusing escapes RFC 8259 does
  // not define.
  bool String(od::value value, std::string& out) {
    absl::string_view text;
    if (!Text(value, text)) return false;
    out.assign(text.data(), text.size());
    return true;
  }

  bool Text(od::value value, absl::string_view& text) {
    // The token, then the spaces up to the next one.
    const std::string_view token = value.raw_json_token();
    size_t end = token.size();
    while (end > 0 && IsJsonSpace(token[end - 1])) --end;
    if (end < 2 || token[0] != '"' || token[end - 1] != '"') return false;
    const absl::string_view raw(token.data() + 1, end - 2);
    if (std::memchr(raw.data(), '\\', raw.size()) == nullptr) {
      od::raw_json_string consumed;
      if (value.get_raw_json_string().get(consumed)) return false;
      text = raw;
      return true;
    }
    std::string_view decoded;
    if (value.get_string().get(decoded)) return false;
    text = absl::string_view(decoded.data(), decoded.size());
    return true;
  }

  template <typename E>
  bool Enum(od::value value, int& number) {
    absl::string_view text;
    if (!Text(value, text)) return false;
    return NamesOf<E>().Find(text, number);
  }

  // An unsigned integer written as digits: what protobuf also takes as
  // "7", 7.0 or 7e0 is left to the strict reader.
  static bool Uint32(od::value value, uint32_t& out) {
    uint64_t n = 0;
    if (value.get_uint64().get(n) || n > UINT32_MAX) return false;
    out = static_cast<uint32_t>(n);
    return true;
  }

  const char* const end_;  // of the padded buffer
  const int max_depth_;
};

// Where a scan is in JSON's strings and brackets.
struct Brackets {
  enum Outcome { kGo, kClosed, kEscape };

  // One byte. kClosed: `c` closes the first bracket. kEscape: the byte after
  // `c` is escaped (to be skipped). Bytes other than quotes, backslashes and
  // brackets may be skipped.
  Outcome Step(char c) {
    if (in_string) {
      if (c == '"') in_string = false;
      return c == '\\' ? kEscape : kGo;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return kClosed;
    }
    return kGo;
  }

  int64_t depth = 0;
  bool in_string = false;
};

#if defined(__SSE2__)
// Where the quotes, backslashes, opening and closing brackets of 64 bytes
// are: bit i for byte i.
struct BlockMasks {
  explicit BlockMasks(const char* bytes) {
    // c | 0x20 is '{' for '{' and '[' only, '}' for '}' and ']' only.
    const __m128i case_bit = _mm_set1_epi8(0x20);
    for (int k = 0; k < 4; ++k) {
      const __m128i block =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 16 * k));
      const __m128i folded = _mm_or_si128(block, case_bit);
      quote |= Bits(_mm_cmpeq_epi8(block, _mm_set1_epi8('"')), k);
      backslash |= Bits(_mm_cmpeq_epi8(block, _mm_set1_epi8('\\')), k);
      open |= Bits(_mm_cmpeq_epi8(folded, _mm_set1_epi8('{')), k);
      close |= Bits(_mm_cmpeq_epi8(folded, _mm_set1_epi8('}')), k);
    }
  }

  static uint64_t Bits(__m128i equal, int k) {
    return static_cast<uint64_t>(
               static_cast<uint32_t>(_mm_movemask_epi8(equal)))
           << (16 * k);
  }

  uint64_t quote = 0, backslash = 0, open = 0, close = 0;
};

// Bit i set when an odd number of bits at or below i are: with quotes'
// bits, the bytes inside strings (the opening quote included).
inline uint64_t PrefixXor(uint64_t bits) {
  bits ^= bits << 1;
  bits ^= bits << 2;
  bits ^= bits << 4;
  bits ^= bits << 8;
  bits ^= bits << 16;
  bits ^= bits << 32;
  return bits;
}
#endif

// The byte scan that splits a document for PolicyJsonStream. It follows
// JSON's strings (a backslash escapes the next byte) and brackets and nothing
// else: simdjson checks the bytes it delimits.
class Splitter {
 public:
  Splitter(const char* data, size_t size) : data_(data), size_(size) {}

  size_t SkipSpace(size_t at) const {
    while (at < size_ && IsJsonSpace(data_[at])) ++at;
    return at;
  }

  // Just past the string whose opening quote is at `at`; npos if unclosed.
  size_t SkipString(size_t at) const {
    for (++at; at < size_; ++at) {
      const char c = data_[at];
      if (c == '"') return at + 1;
      if (c == '\\') ++at;
    }
    return absl::string_view::npos;
  }

  // Just past the object or array whose bracket is at `at`: its brackets
  // balance (of either kind: simdjson checks which); npos if they do not.
  size_t SkipComposite(size_t at) const {
    Brackets brackets;
#if defined(__SSE2__)
    // 64 bytes at a time, as simdjson's own first stage: the quotes say
    // which bytes are in strings, and only the brackets outside them are
    // visited (a role of 640 bytes has about 30). A block with a backslash,
    // rare in policies, is read byte by byte.
    while (at + 64 <= size_) {
      const BlockMasks masks(data_ + at);
      if (masks.backslash != 0) {
        if (StepBytes(brackets, at, at + 64)) return at;
        continue;
      }
      const uint64_t in_string =
          PrefixXor(masks.quote) ^ (brackets.in_string ? ~uint64_t{0} : 0);
      brackets.in_string = (in_string >> 63) != 0;
      const uint64_t open = masks.open & ~in_string;
      uint64_t both = (masks.open | masks.close) & ~in_string;
      while (both != 0) {
        const int bit = __builtin_ctzll(both);
        both &= both - 1;
        if ((open >> bit) & 1) {
          ++brackets.depth;
        } else if (--brackets.depth == 0) {
          return at + static_cast<size_t>(bit) + 1;
        }
      }
      at += 64;
    }
#endif
    return StepBytes(brackets, at, size_) ? at : absl::string_view::npos;
  }

  // Steps `brackets` over the bytes from `at` to `end` (one past it after an
  // escape). True when a byte closes the first bracket: `at` is then just
  // past it.
  bool StepBytes(Brackets& brackets, size_t& at, size_t end) const {
    while (at < end) {
      switch (brackets.Step(data_[at])) {
        case Brackets::kGo:
          ++at;
          break;
        case Brackets::kClosed:
          ++at;
          return true;
        case Brackets::kEscape:
          at += 2;
          break;
      }
    }
    return false;
  }

  // Just past the value at `at`: a string, an object or array, or a scalar
  // (up to the next delimiter); npos when malformed.
  size_t SkipValue(size_t at) const {
    if (at >= size_) return absl::string_view::npos;
    const char c = data_[at];
    if (c == '"') return SkipString(at);
    if (c == '{' || c == '[') return SkipComposite(at);
    const size_t begin = at;
    while (at < size_ && data_[at] != ',' && data_[at] != '}' &&
           data_[at] != ']' && !IsJsonSpace(data_[at])) {
      ++at;
    }
    return at == begin ? absl::string_view::npos : at;
  }

  char At(size_t at) const { return at < size_ ? data_[at] : '\0'; }

 private:
  const char* const data_;
  const size_t size_;
};

}  // namespace

bool ReadPolicyJson(absl::string_view json, size_t capacity, int max_depth,
                    v1::PolicySet& policy) {
  simdjson::padded_string copy;
  const char* data = json.data();
  if (capacity < json.size() + kJsonPadding) {
    copy = simdjson::padded_string(json.data(), json.size());
    data = copy.data();
    capacity = json.size() + simdjson::SIMDJSON_PADDING;
  }
  od::parser parser;
  od::document document;
  if (parser.iterate(data, json.size(), capacity).get(document)) return false;
  Reader reader(data + capacity, max_depth);
  return reader.Document(document, policy);
}

}  // namespace portcullis::internal

namespace portcullis::internal {

struct PolicyJsonStream::Parser {
  od::parser parser;
};

PolicyJsonStream::PolicyJsonStream(absl::string_view json, size_t capacity,
                                   int max_depth)
    : json_(json),
      capacity_(capacity),
      max_depth_(max_depth),
      parser_(std::make_unique<Parser>()) {}

PolicyJsonStream::~PolicyJsonStream() = default;

std::unique_ptr<PolicyJsonStream> PolicyJsonStream::Open(absl::string_view json,
                                                         size_t capacity,
                                                         int max_depth) {
  constexpr size_t npos = absl::string_view::npos;
  if (capacity < json.size() + kJsonPadding) return nullptr;
  const Splitter split(json.data(), json.size());
  // The top-level object's members, up to "roles".
  size_t at = split.SkipSpace(0);
  if (split.At(at) != '{') return nullptr;
  at = split.SkipSpace(at + 1);
  size_t roles = npos;
  while (roles == npos) {
    if (split.At(at) != '"') return nullptr;
    const size_t key_end = split.SkipString(at);
    if (key_end == npos) return nullptr;
    const absl::string_view key = json.substr(at + 1, key_end - at - 2);
    at = split.SkipSpace(key_end);
    if (split.At(at) != ':') return nullptr;
    at = split.SkipSpace(at + 1);
    if (key == "roles") {
      roles = at;
      break;
    }
    at = split.SkipSpace(split.SkipValue(at));
    if (split.At(at) != ',') return nullptr;
    at = split.SkipSpace(at + 1);
  }
  if (split.At(roles) != '[') return nullptr;
  std::unique_ptr<PolicyJsonStream> stream(
      new PolicyJsonStream(json, capacity, max_depth));
  stream->roles_begin_ = roles;
  // The elements: objects, each followed by a comma or the closing bracket.
  at = split.SkipSpace(roles + 1);
  if (split.At(at) != ']') {
    while (true) {
      if (split.At(at) != '{') return nullptr;
      at = split.SkipComposite(at);
      if (at == npos) return nullptr;
      stream->role_end_.push_back(at);
      at = split.SkipSpace(at);
      if (split.At(at) == ']') break;
      if (split.At(at) != ',') return nullptr;
      at = split.SkipSpace(at + 1);
    }
  }
  stream->roles_end_ = at + 1;
  return stream;
}

bool PolicyJsonStream::ReadRest(v1::PolicySet& rest) {
  // The document with `[]` for the roles: the same members in the same
  // order, so the same checks (duplicate keys, a second "roles" included).
  const absl::string_view before = json_.substr(0, roles_begin_);
  const absl::string_view after = json_.substr(roles_end_);
  std::string text;
  text.reserve(before.size() + 2 + after.size() + kJsonPadding);
  text.append(before.data(), before.size());
  text.append("[]");
  text.append(after.data(), after.size());
  return ReadPolicyJson(text, text.capacity(), max_depth_, rest);
}

PolicyJsonStream::Next PolicyJsonStream::NextRole(v1::Role& role) {
  if (next_ == role_end_.size()) return Next::kEnd;
  const Splitter split(json_.data(), json_.size());
  // Open checked what lies between: whitespace, then '[' or ','.
  size_t begin = next_ == 0 ? roles_begin_ : role_end_[next_ - 1];
  begin = split.SkipSpace(split.SkipSpace(begin) + 1);
  const size_t end = role_end_[next_++];
  od::document document;
  if (parser_->parser
          .iterate(json_.data() + begin, end - begin, capacity_ - begin)
          .get(document)) {
    return Next::kRefused;
  }
  Reader reader(json_.data() + capacity_, max_depth_);
  return reader.RoleDocument(document, role) ? Next::kRole : Next::kRefused;
}

}  // namespace portcullis::internal
