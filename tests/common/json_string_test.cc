// JSON string literals: exact bytes for every escaping class, and valid JSON
// (valid UTF-8) whatever bytes go in.
#include "engine/common/json_string.h"

#include <string>

#include "gtest/gtest.h"

namespace portcullis::internal {
namespace {

TEST(JsonStringTest, EscapesStrings) {
  const struct {
    const char* name;
    std::string value;
    std::string want;
  } cases[] = {
      {"plain", "e-acme-gmbh", R"("e-acme-gmbh")"},
      {"empty", "", R"("")"},
      {"quote_and_backslash", R"(a"b\c)", R"("a\"b\\c")"},
      {"named_controls", "a\nb\rc\td", R"("a\nb\rc\td")"},
      {"other_controls", std::string("\x00\x01\x1f", 3),
       R"("\u0000\u0001\u001f")"},
      {"del_is_printable", "\x7f", "\"\x7f\""},
      {"utf8_copied", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92",
       "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92\""},
      {"lone_continuation", "a\x80z", R"("a\ufffdz")"},
      {"truncated_sequence", "\xe2\x82", R"("\ufffd\ufffd")"},
      {"overlong_form", "\xc0\xaf", R"("\ufffd\ufffd")"},
      {"surrogate", "\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},
      {"above_max", "\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},
      {"invalid_byte", "\xff", R"("\ufffd")"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string out;
    AppendJsonString(c.value, out);
    EXPECT_EQ(out, c.want);
  }
}

}  // namespace
}  // namespace portcullis::internal
