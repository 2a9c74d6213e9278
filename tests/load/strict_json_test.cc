// CheckStrictJson on the messages of policy.proto and check.proto: empty
// keys, fields given twice (whatever the nesting or the spelling of the key)
// and what is not RFC 8259 JSON are rejected at their line and column;
// everything else passes.
#include "engine/load/strict_json.h"

#include <string>

#include "gtest/gtest.h"
#include "proto/check.pb.h"
#include "proto/policy.pb.h"

namespace portcullis::internal {
namespace {

constexpr int kDepth = 100;  // the loader's default (kDefaultMaxNestingDepth)

// `levels` levels of objects and arrays, alternating: {"a": [{"a": [...]}]},
// closed or not.
std::string Alternating(int levels, bool closed) {
  std::string open;
  std::string close;
  for (int i = 0; i < levels; ++i) {
    open += i % 2 == 0 ? "{\"a\":" : "[";
    close.insert(0, i % 2 == 0 ? "}" : "]");
  }
  if (levels % 2 == 1) open += "1";
  return closed ? open + close : open;
}

// A PolicySet document the checker refuses, and its message.
struct RejectedCase {
  const char* name;
  std::string json;
  std::string error;
};

template <size_t n>
void ExpectRejected(const RejectedCase (&cases)[n]) {
  for (const RejectedCase& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Status status =
        CheckStrictJson(c.json, *v1::PolicySet::descriptor(), kDepth);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(status.message()), c.error);
  }
}

TEST(StrictJsonTest, RejectsWhatDoesNotSayOneThing) {
  const RejectedCase cases[] = {
      {"empty_key_object", R"({"roles": [{"id": "r", "": {"id": "s"}}]})",
       "line 1, column 24: an empty key \"\" (every key names a field)"},
      {"empty_key_list_nested",
       R"({"catalog": {"object_types": [{"name": "a", "actions": [{"": []}]}]}})",
       "line 1, column 58: an empty key \"\" (every key names a field)"},
      {"same_key_twice",
       R"({"roles": [{"permissions": {"objects": [{"object_type": "payable",
  "actions": [{"action_name": "approve", "permission": "not_allowed",
               "permission": "allowed"}]}]}}]})",
       "line 3, column 16: field permission is given twice; protobuf would "
       "keep the last value"},
      {"both_names_of_a_field",
       R"({"entities": [{"id": "e", "default_role_id": "r-admin",
  "defaultRoleId": "r-clerk"}]})",
       "line 2, column 3: field default_role_id is given twice (here as "
       "\"defaultRoleId\"); protobuf would keep the last value"},
      {"escaped_spelling", R"({"roles": [{"id": "r", "\u0069d": "s"}]})",
       "line 1, column 24: field id is given twice (here as \"\\u0069d\"); "
       "protobuf would keep the last value"},
      {"repeated_field_twice", R"({"roles": [], "roles": [{"id": "r"}]})",
       "line 1, column 15: field roles is given twice; protobuf would keep "
       "the last value"},
      {"null_then_value", R"({"catalog": null, "catalog": {}})",
       "line 1, column 19: field catalog is given twice; protobuf would keep "
       "the last value"},
      // What protobuf's parser takes beyond RFC 8259.
      {"bare_key", R"({catalog: {}})",
       "line 1, column 2: a key that is not in double quotes (JSON keys are "
       "strings, RFC 8259)"},
      {"single_quoted_key", R"({'catalog': {}})",
       "line 1, column 2: a key that is not in double quotes (JSON keys are "
       "strings, RFC 8259)"},
      {"single_quoted_value", R"({"roles": [{"id": 'a, b'}]})",
       "line 1, column 19: a string that is not in double quotes (RFC 8259)"},
      {"trailing_comma_object", R"({"roles": [{"id": "r",}]})",
       "line 1, column 22: a comma before } (RFC 8259 has none)"},
      {"trailing_comma_array", "{\"roles\": [{\"id\": \"r\"},\n]}",
       "line 1, column 23: a comma before ] (RFC 8259 has none)"},
      {"raw_control_character", "{\"roles\": [{\"status\": \"a\tb\"}]}",
       "line 1, column 25: a control character (\\x09) in a string; RFC 8259 "
       "wants it escaped"},
      // Protobuf flattens a list of lists into the repeated field.
      {"list_of_lists", R"({"roles": [[{"id": "r-x", "name": "X"}]]})",
       "line 1, column 12: roles[0]: a list inside a list; protobuf would "
       "flatten it into one list (no field is a list of lists)"},
      {"list_in_a_later_element",
       R"({"roles": [{"id": "r"}, {"permissions": {"objects": [{},
  [{"object_type": "payable"}]]}}]})",
       "line 2, column 3: roles[1].permissions.objects[1]: a list inside a "
       "list; protobuf would flatten it into one list (no field is a list of "
       "lists)"},
      {"empty_list_in_a_list", R"({"roles": [[]]})",
       "line 1, column 12: roles[0]: a list inside a list; protobuf would "
       "flatten it into one list (no field is a list of lists)"},
      {"list_of_lists_of_scalars",
       R"({"roles": [{"id": "r", "unknown": [1, [2]]}]})",
       "line 1, column 39: roles[0].unknown[1]: a list inside a list; "
       "protobuf would flatten it into one list (no field is a list of "
       "lists)"},
      // Escapes RFC 8259 does not define: protobuf reads "\8" as "8".
      {"undefined_escape", R"({"roles": [{"id": "r", "name": "\8"}]})",
       "line 1, column 33: roles[0].name: an escape \"\\8\" that JSON does "
       "not define (RFC 8259 has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u "
       "with four hex digits)"},
      {"hex_escape", R"({"roles": [{"id": "\x41"}]})",
       "line 1, column 20: roles[0].id: an escape \"\\x\" that JSON does not "
       "define (RFC 8259 has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u with "
       "four hex digits)"},
      {"short_unicode_escape", R"({"roles": [{"id": "\u12"}]})",
       "line 1, column 20: roles[0].id: an escape \"\\u12\" that JSON does "
       "not define (RFC 8259 has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u "
       "with four hex digits)"},
      {"escape_in_a_key", R"({"roles": [{"i\d": "r"}]})",
       "line 1, column 15: roles[0]: an escape \"\\d\" that JSON does not "
       "define (RFC 8259 has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u with "
       "four hex digits)"},
      {"escape_at_the_end", "{\"id\": \"\\",
       "line 1, column 8: a string without its closing quote"},
      // Invalid UTF-8: where, and in which field.
      {"invalid_utf8", "{\"roles\": [{\"id\": \"r\",\n  \"name\": \"a\xff\"}]}",
       "line 2, column 13: roles[0].name: invalid UTF-8 in a string (byte "
       "\\xff); JSON text is UTF-8 (RFC 8259)"},
      {"truncated_utf8", "{\"roles\": [{\"id\": \"\xc3\"}]}",
       "line 1, column 20: roles[0].id: invalid UTF-8 in a string (byte "
       "\\xc3); JSON text is UTF-8 (RFC 8259)"},
      {"overlong_utf8", "{\"roles\": [{\"id\": \"\xc0\xaf\"}]}",
       "line 1, column 20: roles[0].id: invalid UTF-8 in a string (byte "
       "\\xc0); JSON text is UTF-8 (RFC 8259)"},
      {"surrogate_utf8", "{\"roles\": [{\"id\": \"\xed\xa0\x80\"}]}",
       "line 1, column 20: roles[0].id: invalid UTF-8 in a string (byte "
       "\\xed); JSON text is UTF-8 (RFC 8259)"},
      {"invalid_utf8_key", "{\"catalog\": {\"\xfe\": 1}}",
       "line 1, column 15: catalog: invalid UTF-8 in a key (byte \\xfe); "
       "JSON text is UTF-8 (RFC 8259)"},
      {"form_feed", "{\"roles\":\f[]}",
       "line 1, column 10: a form feed or vertical tab, which is not JSON "
       "whitespace"},
  };
  ExpectRejected(cases);
}

TEST(StrictJsonTest, AcceptsWhatSaysOneThing) {
  const char* const documents[] = {
      "{}",
      R"({"roles": [{"id": "r", "name": ""}, {"id": "s", "name": ""}]})",
      // The same key in sibling objects, and inside string values.
      R"({"entities": [{"id": "e-1"}, {"id": "e-2", "partner_id": "\"id\": \"x\""}]})",
      // Quotes and backslashes inside strings do not end them; escaped
      // controls are fine.
      R"({"roles": [{"id": "a\\", "name": "b\"c", "status": "\\\"\t\u0001"}]})",
      // UTF-8 of 2, 3 and 4 bytes.
      "{\"roles\": [{\"id\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}]}",
      // Every RFC 8259 space.
      "{\r\n\t \"roles\" :\n[ ] }",
      // Nested objects and lists, nulls, numbers, booleans.
      R"({"catalog": {"object_types": [{"name": "t", "actions": [{"name": "a",
          "partner_only": true, "level": 2}, null]}]},
          "credentials": [{"client_id": "c", "rate_limit": {"count": 1e3,
          "interval_seconds": 60}}]})",
  };
  for (const char* json : documents) {
    SCOPED_TRACE(json);
    EXPECT_TRUE(
        CheckStrictJson(json, *v1::PolicySet::descriptor(), kDepth).ok());
  }
}

TEST(StrictJsonTest, RequestsToo) {
  const absl::Status status =
      CheckStrictJson(R"({"id": "1", "entity_id": "e-1", "entityId": "e-2"})",
                      *v1::CheckRequest::descriptor(), kDepth);
  EXPECT_EQ(std::string(status.message()),
            "line 1, column 33: field entity_id is given twice (here as "
            "\"entityId\"); protobuf would keep the last value");
  EXPECT_TRUE(CheckStrictJson(R"({"id": "1", "principal": {"partner": )"
                              R"({"client_id": "c"}}, "entity_id": "e"})",
                              *v1::CheckRequest::descriptor(), kDepth)
                  .ok());
}

// 100,000 brackets: a 16 KB file (with whitespace) that once overflowed a
// 1 MiB stack. The walk keeps no frame per level, and stops at the limit.
TEST(StrictJsonTest, DeepNestingStopsAtTheLimit) {
  const RejectedCase cases[] = {
      // No field is a list of lists: the second bracket is the error.
      {"arrays", std::string(100000, '['),
       "line 1, column 2: [0]: a list inside a list; protobuf would flatten "
       "it into one list (no field is a list of lists)"},
      {"objects_and_arrays", Alternating(100000, /*closed=*/false),
       "line 1, column 301: nested deeper than 100 levels of objects and "
       "arrays (the limit)"},
      {"in_a_field", "{\"roles\":\n" + Alternating(100000, false),
       "line 2, column 300: nested deeper than 100 levels of objects and "
       "arrays (the limit)"},
      {"objects",
       [] {
         std::string json;
         for (int i = 0; i < 100000; ++i) json += "{\"a\":";
         return json;
       }(),
       "line 1, column 501: nested deeper than 100 levels of objects and "
       "arrays (the limit)"},
  };
  ExpectRejected(cases);
  // Exactly at the limit is fine (protobuf then says what it makes of it).
  const std::string at_limit = Alternating(100, /*closed=*/true);
  EXPECT_TRUE(
      CheckStrictJson(at_limit, *v1::PolicySet::descriptor(), kDepth).ok());
  EXPECT_FALSE(
      CheckStrictJson(at_limit, *v1::PolicySet::descriptor(), 99).ok());
}

TEST(StrictJsonTest, RejectsWhatIsNotJson) {
  const RejectedCase cases[] = {
      {"empty", "", "line 1, column 1: a value is missing"},
      {"truncated", "{\"roles\": [", "line 1, column 12: a value is missing"},
      {"unclosed", "{\"roles\": []",
       "line 1, column 13: the document ends early: expected , or }"},
      {"unclosed_string", "{\"id\": \"abc",
       "line 1, column 8: a string without its closing quote"},
      {"no_colon", "{\"roles\" []}",
       "line 1, column 10: expected : after the key"},
      {"trailing", "{} {}",
       "line 1, column 4: more after the end of the document"},
  };
  ExpectRejected(cases);
}

}  // namespace
}  // namespace portcullis::internal
