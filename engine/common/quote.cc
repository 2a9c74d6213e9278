#include "engine/common/quote.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace portcullis::internal {

std::string Quote(absl::string_view value) {
  return absl::StrCat("\"", absl::CHexEscape(value), "\"");
}

std::string QuoteShortened(absl::string_view value, size_t max_bytes) {
  if (value.size() <= max_bytes) return Quote(value);
  return absl::StrCat("\"", absl::CHexEscape(value.substr(0, max_bytes)),
                      "...\" (", value.size(), " bytes)");
}

}  // namespace portcullis::internal
