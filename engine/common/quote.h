// How messages quote a value (a name, an id, a line): in double quotes,
// C-escaped (absl::CHexEscape), so that any bytes print as one readable line.
// The one helper every error and explanation uses, so that they all quote
// alike. Not part of the public API.
#ifndef PORTCULLIS_ENGINE_COMMON_QUOTE_H_
#define PORTCULLIS_ENGINE_COMMON_QUOTE_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace portcullis::internal {

// "value", escaped: Quote("a\"b\n") is `"a\"b\n"` (with the backslashes).
std::string Quote(absl::string_view value);

// The same for a value that may be long: at most `max_bytes` of it, and when
// it is cut, `...` inside the quotes and its size after them:
// `"abc..." (1048576 bytes)`.
std::string QuoteShortened(absl::string_view value, size_t max_bytes);

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_COMMON_QUOTE_H_
