// JSON string literals for the JSON Portcullis writes itself (CLI answers,
// token responses). Not part of the public API.
#ifndef PORTCULLIS_ENGINE_COMMON_JSON_STRING_H_
#define PORTCULLIS_ENGINE_COMMON_JSON_STRING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace portcullis::internal {

// Appends `value` as a JSON string literal (RFC 8259), quotes included. `"`,
// `\` and control characters are escaped; valid UTF-8 is copied; every byte
// that is not part of valid UTF-8 becomes \ufffd, so the output is valid JSON
// whatever the input (names in a policy are bytes, not necessarily UTF-8).
void AppendJsonString(absl::string_view value, std::string& out);

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_COMMON_JSON_STRING_H_
