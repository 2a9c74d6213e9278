// JSON string literals for the JSON Portcullis writes itself (CLI answers,
// token responses), and the UTF-8 rule the strict JSON reader checks. Not part
// of the public API.
#ifndef PORTCULLIS_ENGINE_COMMON_JSON_STRING_H_
#define PORTCULLIS_ENGINE_COMMON_JSON_STRING_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace portcullis::internal {

// Appends `value` as a JSON string literal (RFC 8259), quotes included. `"`,
// `\` and control characters are escaped; valid UTF-8 is copied; every byte
// that is not part of valid UTF-8 becomes \ufffd, so the output is valid JSON
// whatever the input (names in a policy are bytes, not necessarily UTF-8).
void AppendJsonString(absl::string_view value, std::string& out);

// The length of the valid UTF-8 sequence starting at `s[0]` (1 to 4), or 0
// when it is not one (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF). `s` is not empty.
size_t Utf8SequenceLength(absl::string_view s);

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_COMMON_JSON_STRING_H_
