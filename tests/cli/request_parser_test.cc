// The request-line parser: exact answers for chosen lines, and a differential
// check against protobuf's JSON parser over the example requests and many
// mutations of them.
#include "tools/cli/request_parser.h"

#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/load/policy_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/check.pb.h"

namespace portcullis::cli {
namespace {

using PrincipalKind = CheckRequestView::PrincipalKind;

// Every field of a parsed line, as one comparable string.
std::string Describe(absl::string_view id, const CheckRequestView& v) {
  return absl::StrCat("id=", id, " kind=", static_cast<int>(v.principal_kind),
                      " client=", v.client_id, " user=", v.user_id,
                      " user_entity=", v.user_entity_id, " role=", v.role_id,
                      " type=", v.object_type, " action=", v.action,
                      " entity=", v.entity_id, " resource=", v.has_resource,
                      " resource_entity=", v.resource_entity_id,
                      " created_by=", v.resource_created_by);
}

struct ParseCase {
  const char* name;
  std::string line;
  bool fast;  // the strict path accepts it
  // Describe() of the parse, or the error message.
  std::string want;
};

TEST(RequestParserTest, ParsesOrRejectsExactly) {
  const ParseCase cases[] = {
      {"entity_user_with_resource",
       R"({"id": "42", "principal": {"entity_user": {"user_id": "u-7", )"
       R"("entity_id": "e-1", "role_id": "r-approver", "client_id": )"
       R"("c-finance"}}, "object_type": "payable", "action": "approve", )"
       R"("entity_id": "e-1", "resource": {"entity_id": "e-1", )"
       R"("created_by": "u-7"}})",
       true,
       "id=42 kind=2 client=c-finance user=u-7 user_entity=e-1 "
       "role=r-approver type=payable action=approve entity=e-1 resource=1 "
       "resource_entity=e-1 created_by=u-7"},
      {"partner_compact_any_order",
       R"({"entity_id":"e-1","action":"read","object_type":"payable",)"
       R"("principal":{"partner":{"client_id":"c-1"}},"id":"p"})",
       true,
       "id=p kind=1 client=c-1 user= user_entity= role= type=payable "
       "action=read entity=e-1 resource=0 resource_entity= created_by="},
      {"whitespace_everywhere",
       " \t{ \"id\" : \"w\" , \"principal\" : { } } \r", true,
       "id=w kind=0 client= user= user_entity= role= type= action= entity= "
       "resource=0 resource_entity= created_by="},
      {"empty_object", "{}", true,
       "id= kind=0 client= user= user_entity= role= type= action= entity= "
       "resource=0 resource_entity= created_by="},
      {"empty_partner_and_resource",
       R"({"principal": {"partner": {}}, "resource": {}})", true,
       "id= kind=1 client= user= user_entity= role= type= action= entity= "
       "resource=1 resource_entity= created_by="},
      {"escape_goes_to_protobuf", R"({"id": "a\"b\u00e9"})", false,
       "id=a\"b\xc3\xa9 kind=0 client= user= user_entity= role= type= "
       "action= entity= resource=0 resource_entity= created_by="},
      {"camel_case_goes_to_protobuf",
       R"({"objectType": "payable", "principal": {"entityUser": )"
       R"({"userId": "u", "entityId": "e", "roleId": "r", "clientId": "c"}}})",
       false,
       "id= kind=2 client=c user=u user_entity=e role=r type=payable action= "
       "entity= resource=0 resource_entity= created_by="},
      {"repeated_key_rejected", R"({"id": "a", "id": "b"})", false,
       "invalid JSON: line 1, column 13: field id is given twice; protobuf "
       "would keep the last value"},
      {"both_names_rejected", R"({"entity_id": "a", "entityId": "b"})", false,
       "invalid JSON: line 1, column 20: field entity_id is given twice (here "
       "as \"entityId\"); protobuf would keep the last value"},
      {"null_is_default", R"({"id": null, "resource": null})", false,
       "id= kind=0 client= user= user_entity= role= type= action= entity= "
       "resource=0 resource_entity= created_by="},
      {"unknown_field", R"({"id": "a", "bogus": 1})", false,
       "invalid JSON: bogus: Cannot find field."},
      {"unknown_nested_field",
       R"({"principal": {"partner": {"user_id": "u"}}})", false,
       "invalid JSON: (principal.partner) user_id: Cannot find field."},
      {"number_for_string", R"({"id": 7})", false,
       "invalid JSON: (id): invalid value 7 for type TYPE_STRING"},
      {"two_principal_kinds",
       R"({"principal": {"partner": {}, "entity_user": {}}})", false,
       "invalid JSON: (principal): invalid value oneof field 'kind' is "
       "already set. Cannot set 'entity_user' for type oneof"},
      {"truncated", R"({"id": "a")", false,
       "invalid JSON: line 1, column 11: the document ends early: expected , "
       "or }"},
      {"trailing_garbage", R"({"id": "a"} x)", false,
       "invalid JSON: line 1, column 13: more after the end of the document"},
      {"not_an_object", "[1, 2]", false,
       "invalid JSON: : Root element must be a message."},
      {"not_json", "hello", false,
       "invalid JSON: line 1, column 1: a string that is not in double quotes "
       "(RFC 8259)"},
      // Deep nesting stops at the limit, before protobuf's parser sees it.
      {"invalid_utf8", "{\"id\": \"\xff\"}", false,
       "invalid JSON: line 1, column 9: id: invalid UTF-8 in a string (byte "
       "\\xff); JSON text is UTF-8 (RFC 8259)"},
      // Protobuf reads "\8" as "8"; RFC 8259 readers refuse the line.
      {"undefined_escape", R"({"id":"\8"})", false,
       "invalid JSON: line 1, column 8: id: an escape \"\\8\" that JSON does "
       "not define (RFC 8259 has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u "
       "with four hex digits)"},
      {"deep_arrays", std::string(100000, '['), false,
       "invalid JSON: line 1, column 2: [0]: a list inside a list; protobuf "
       "would flatten it into one list (no field is a list of lists)"},
      {"deep_in_a_field",
       "{\"id\": \"a\", \"principal\": " + std::string(100000, '['), false,
       "invalid JSON: line 1, column 27: principal[0]: a list inside a list; "
       "protobuf would flatten it into one list (no field is a list of "
       "lists)"},
      {"deep_objects",
       [] {
         std::string line;
         for (int i = 0; i < 50000; ++i) line += "{\"a\":[";
         return line;
       }(),
       false,
       "invalid JSON: line 1, column 301: nested deeper than 100 levels of "
       "objects and arrays (the limit)"},
  };
  RequestParser parser;
  for (const ParseCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(ParseRequestFast(c.line).has_value(), c.fast);
    const absl::StatusOr<RequestLine> parsed = parser.Parse(c.line);
    if (parsed.ok()) {
      EXPECT_EQ(Describe(parsed->id, parsed->view), c.want);
    } else {
      EXPECT_EQ(std::string(parsed.status().message()), c.want);
    }
  }
}

TEST(RequestParserTest, RecoversTheIdOfABadLineWhenItCan) {
  const struct {
    const char* name;
    std::string line;
    std::optional<std::string> want;
  } cases[] = {
      {"unknown_field", R"({"bogus": [1, {"x": 2}], "id": "a1"})", "a1"},
      {"every_value_kind",
       R"({"a": [true, false, null, -1.5e+3, "s", {}], "b": {"c": [[]]}, )"
       R"("id": "a1", "d": 7})",
       "a1"},
      {"escaped_id", R"({"id": "a\u00e9\n\"\\\/\ud83d\udd12", "bogus": 1})",
       "a\xc3\xa9\n\"\\/\xf0\x9f\x94\x92"},
      {"lone_surrogate", R"({"id": "\ud800x"})", "\xef\xbf\xbdx"},
      {"last_id_wins", R"({"id": "a", "id": "b", "bogus": 1})", "b"},
      {"id_not_a_string", R"({"id": 7, "bogus": 1})", std::nullopt},
      {"no_id", R"({"bogus": 1})", std::nullopt},
      {"truncated_after_id", R"({"id": "a1", "principal": {)", "a1"},
      {"truncated_before_id", R"({"action": "read", "id)", std::nullopt},
      {"syntax_error_before_id", R"({"action": "read" "id": "a1"})",
       std::nullopt},
      {"truncated_in_id", R"({"id": "a1)", std::nullopt},
      {"bad_escape", R"({"id": "a\x"})", std::nullopt},
      {"raw_control_character", "{\"id\": \"a\x01\"}", std::nullopt},
      {"array", R"(["id", "a1"])", std::nullopt},
      {"empty_object", "{}", std::nullopt},
      {"deep_nesting_before_id",
       R"({"a": )" + std::string(100000, '[') + R"(, "id": "a1"})",
       std::nullopt},
      {"nesting_at_the_limit_before_id",
       R"({"a": )" + std::string(64, '[') + std::string(64, ']') +
           R"(, "id": "a1"})",
       "a1"},
      {"deep_objects",
       [] {
         std::string deep;
         for (int i = 0; i < 10000; ++i) deep += "{\"id\": ";
         return deep;
       }(),
       std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(RecoverRequestId(c.line), c.want);
  }
}

// Lines whose variations exercise every branch of the strict path.
std::vector<std::string> SeedLines() {
  std::vector<std::string> seeds = {
      R"({"id": "1", "principal": {"partner": {"client_id": "c"}}, )"
      R"("object_type": "t", "action": "a", "entity_id": "e"})",
      R"({"id": "2", "principal": {"entity_user": {"user_id": "u", )"
      R"("entity_id": "e", "role_id": "r", "client_id": "c"}}, )"
      R"("object_type": "t", "action": "a", "entity_id": "e", )"
      R"("resource": {"entity_id": "e", "created_by": "u"}})",
      R"({"principal": {}, "resource": {}})",
      "{}",
      R"({"id": "a\u00e9\"b\\c\ud83d\udd12\/", "objectType": "t", )"
      R"("resource": null, "x": [1, {"y": "z"}]})",
  };
  std::ifstream in("examples/monite/requests.jsonl");
  for (std::string line; std::getline(in, line);) seeds.push_back(line);
  return seeds;
}

// One random edit of `line`: bytes that matter to JSON are favoured.
std::string Mutate(const std::string& line, std::mt19937& rng) {
  static constexpr char kInteresting[] =
      "{}[]:,\"\\ \t\r\nnul0-1e+.aZ\x7f\x80\xff";
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  std::string out = line;
  const size_t edits = 1 + pick(3);
  for (size_t e = 0; e < edits; ++e) {
    const size_t at = out.empty() ? 0 : pick(out.size());
    const char c = kInteresting[pick(sizeof(kInteresting) - 1)];
    switch (pick(5)) {
      case 0:  // replace a byte
        if (!out.empty()) out[at] = c;
        break;
      case 1:  // insert a byte
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      case 2:  // delete a byte
        if (!out.empty()) out.erase(at, 1);
        break;
      case 3:  // truncate
        out.resize(at);
        break;
      case 4: {  // duplicate a slice elsewhere
        const size_t from = out.empty() ? 0 : pick(out.size());
        const size_t length = std::min<size_t>(out.size() - from, 1 + pick(24));
        out.insert(at, out.substr(from, length));
        break;
      }
    }
  }
  return out;
}

// On every line: the fast path never accepts what protobuf rejects nor reads
// it differently, and an id recovered from a line protobuf accepts is the id
// protobuf reads. Run under ASan, this is also the fuzz test of both readers.
TEST(RequestParserTest, FastPathAndIdRecoveryAgreeWithProtobuf) {
  const std::vector<std::string> seeds = SeedLines();
  ASSERT_GT(seeds.size(), 30u) << "examples/monite/requests.jsonl not found";
  std::mt19937 rng(20240611);
  size_t fast_accepted = 0, fast_rejected = 0, ids_compared = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::string& seed = seeds[static_cast<size_t>(i) % seeds.size()];
    const std::string line =
        i < static_cast<int>(seeds.size()) ? seed : Mutate(seed, rng);
    v1::CheckRequest message;
    const bool protobuf_ok = ParseJsonMessage(line, message).ok();
    const std::optional<std::string> recovered = RecoverRequestId(line);
    if (protobuf_ok && recovered.has_value()) {
      ++ids_compared;
      ASSERT_EQ(*recovered, message.id()) << line;
    }
    const std::optional<RequestLine> fast = ParseRequestFast(line);
    if (!fast.has_value()) {
      ++fast_rejected;
      continue;
    }
    ++fast_accepted;
    ASSERT_TRUE(protobuf_ok)
        << "fast path accepted what protobuf rejects: " << line;
    ASSERT_EQ(Describe(fast->id, fast->view),
              Describe(message.id(), ViewOf(message)))
        << line;
  }
  // Every comparison was exercised.
  EXPECT_GT(fast_accepted, 10000u);
  EXPECT_GT(fast_rejected, 10000u);
  EXPECT_GT(ids_compared, 10000u);
}

}  // namespace
}  // namespace portcullis::cli
