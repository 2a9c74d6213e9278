// The character set of catalog names, shared by the compiler and the scope
// parser (a scope is `<object-type>:<level>`, so names cannot hold ':' or
// whitespace). Not part of the public API.
#ifndef PORTCULLIS_ENGINE_COMMON_NAMES_H_
#define PORTCULLIS_ENGINE_COMMON_NAMES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace portcullis::internal {

// Letters, digits, and `_ - . /`.
inline bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == '/';
}

// The position of the first character that is not a name character, or npos.
inline size_t FindInvalidNameChar(absl::string_view name) {
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i])) return i;
  }
  return absl::string_view::npos;
}

// How a character is shown in an error message: 'x', or \xNN when unprintable.
std::string DescribeChar(char c);

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_COMMON_NAMES_H_
