#include "engine/common/names.h"

#include "absl/strings/str_format.h"

namespace portcullis::internal {

std::string DescribeChar(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7f) return absl::StrFormat("\\x%02x", u);
  return absl::StrFormat("'%c'", c);
}

}  // namespace portcullis::internal
