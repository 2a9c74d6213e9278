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

TEST(StrictJsonTest, RejectsWhatDoesNotSayOneThing) {
  const struct {
    const char* name;
    std::string json;
    std::string error;
  } cases[] = {
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
      {"form_feed", "{\"roles\":\f[]}",
       "line 1, column 10: a form feed or vertical tab, which is not JSON "
       "whitespace"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Status status =
        CheckStrictJson(c.json, *v1::PolicySet::descriptor());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(status.message()), c.error);
  }
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
      // Every RFC 8259 space.
      "{\r\n\t \"roles\" :\n[ ] }",
      // Nested lists, nulls, numbers, booleans.
      R"({"catalog": {"object_types": [[{"name": "t", "actions": [{"name": "a",
          "partner_only": true, "level": 2}, null]}]]},
          "credentials": [{"client_id": "c", "rate_limit": {"count": 1e3,
          "interval_seconds": 60}}]})",
  };
  for (const char* json : documents) {
    SCOPED_TRACE(json);
    EXPECT_TRUE(CheckStrictJson(json, *v1::PolicySet::descriptor()).ok());
  }
}

TEST(StrictJsonTest, RequestsToo) {
  const absl::Status status =
      CheckStrictJson(R"({"id": "1", "entity_id": "e-1", "entityId": "e-2"})",
                      *v1::CheckRequest::descriptor());
  EXPECT_EQ(std::string(status.message()),
            "line 1, column 33: field entity_id is given twice (here as "
            "\"entityId\"); protobuf would keep the last value");
  EXPECT_TRUE(CheckStrictJson(R"({"id": "1", "principal": {"partner": )"
                              R"({"client_id": "c"}}, "entity_id": "e"})",
                              *v1::CheckRequest::descriptor())
                  .ok());
}

}  // namespace
}  // namespace portcullis::internal
