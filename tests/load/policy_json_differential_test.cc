// The fast JSON reader (engine/load/policy_json_reader.h) against the strict
// reader it stands in for (ParseJsonMessage: the strict checker, then
// protobuf's JSON parser), differentially: over the examples, the JSON policy
// fuzzer's seeds and regressions, hand-written edge cases, random policies in
// every spelling the strict reader takes, and mutations of them. For every
// input: whatever the fast reader accepts, the strict reader accepts and reads
// to the same PolicySet; and ParsePolicyJson (the loader: fast, else strict)
// answers exactly what the strict reader answers, message included. Valid
// policies in the common spelling must take the fast path (else the loader is
// correct but slow).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/load/policy_json_reader.h"
#include "engine/load/policy_loader.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/random_policy.h"

namespace portcullis {
namespace {

struct Outcome {
  bool fast_accepted = false;
};

// Runs both readers on `json` and checks that they agree; returns whether
// the fast reader took it.
bool Agree(const std::string& json, int max_depth = kDefaultMaxNestingDepth) {
  SCOPED_TRACE(absl::StrCat("input: ", json.substr(0, 300),
                            json.size() > 300 ? "..." : "", "; max_depth ",
                            max_depth));
  v1::PolicySet strict;
  const absl::Status strict_status = ParseJsonMessage(json, strict, max_depth);
  v1::PolicySet fast;
  const bool fast_accepted =
      internal::ReadPolicyJson(json, json.size(), max_depth, fast);
  if (fast_accepted) {
    EXPECT_TRUE(strict_status.ok())
        << "the fast reader accepted what the strict reader refuses: "
        << strict_status;
    EXPECT_EQ(fast.SerializeAsString(), strict.SerializeAsString())
        << "fast: " << fast.ShortDebugString()
        << "\nstrict: " << strict.ShortDebugString();
  }
  const absl::StatusOr<v1::PolicySet> loaded = ParsePolicyJson(json, max_depth);
  EXPECT_EQ(loaded.status(), strict_status);
  if (loaded.ok() && strict_status.ok()) {
    EXPECT_EQ(loaded->SerializeAsString(), strict.SerializeAsString());
  }
  return fast_accepted;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<std::string> FilesUnder(const std::string& directory) {
  std::vector<std::string> files;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(directory)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  return files;
}

TEST(PolicyJsonDifferentialTest, Examples) {
  int files = 0;
  for (const std::string& file : FilesUnder("examples/monite")) {
    if (file.size() < 5 || file.substr(file.size() - 5) != ".json") continue;
    SCOPED_TRACE(file);
    EXPECT_TRUE(Agree(ReadFile(file))) << "a valid example left the fast path";
    ++files;
  }
  EXPECT_GT(files, 0);
}

TEST(PolicyJsonDifferentialTest, FuzzSeedsAndRegressions) {
  int inputs = 0;
  for (const char* directory : {"tests/fuzz/corpus/policy_json",
                                "tests/fuzz/regressions/policy_json"}) {
    for (const std::string& file : FilesUnder(directory)) {
      SCOPED_TRACE(file);
      Agree(ReadFile(file));
      ++inputs;
    }
  }
  EXPECT_GT(inputs, 100);
}

// Every field of every message, in both names: a field added to
// proto/policy.proto but not to the fast reader fails here.
TEST(PolicyJsonDifferentialTest, EveryFieldTakesTheFastPath) {
  const std::string snake = R"json({
    "catalog": {"object_types": [{"name": "payable", "actions": [
      {"name": "approve", "level": "write", "partner_only": true}]}]},
    "roles": [{"id": "r-1", "name": "Approver", "entity_id": "e-1",
      "status": "active", "created_at": "2024-01-01", "updated_at": "2024-01-02",
      "permissions": {"objects": [{"object_type": "payable", "actions": [
        {"action_name": "approve", "permission": "allowed_for_own"}]}]}}],
    "entities": [{"id": "e-1", "partner_id": "p-1", "default_role_id": "r-1"}],
    "credentials": [{"client_id": "c-1", "partner_id": "p-1",
      "entity_ids": ["e-1"], "scopes": ["payable:write"], "name": "Finance",
      "rate_limit": {"count": 1000, "interval_seconds": 600}}]})json";
  EXPECT_TRUE(Agree(snake));
  std::string camel = snake;
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{
           {"object_types", "objectTypes"},
           {"partner_only", "partnerOnly"},
           {"entity_id\"", "entityId\""},
           {"created_at", "createdAt"},
           {"updated_at", "updatedAt"},
           {"object_type\"", "objectType\""},
           {"action_name", "actionName"},
           {"partner_id", "partnerId"},
           {"default_role_id", "defaultRoleId"},
           {"client_id", "clientId"},
           {"entity_ids", "entityIds"},
           {"rate_limit", "rateLimit"},
           {"interval_seconds", "intervalSeconds"}}) {
    camel = absl::StrReplaceAll(camel, {{from, to}});
  }
  EXPECT_TRUE(Agree(camel));
  // Every field of the descriptor is in the document.
  v1::PolicySet set;
  ASSERT_TRUE(internal::ReadPolicyJson(snake, snake.size(),
                                       kDefaultMaxNestingDepth, set));
  std::string all_fields;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(set, &all_fields, options)
          .ok());
  EXPECT_EQ(all_fields.find("\"rate_limit\":{\"count\":1000"),
            all_fields.find("\"rate_limit\""));
}

// Spellings and mistakes at the edges of the two readers: each agrees, and
// the ones marked fast take the fast path.
TEST(PolicyJsonDifferentialTest, EdgeCases) {
  struct Case {
    std::string json;
    bool fast;  // the fast reader takes it
  };
  const std::string role_with =
      R"({"roles": [{"id": "r", "permissions": {"objects": [{"object_type": "t", "actions": [{"action_name": "a", "permission": PERMISSION}]}]}}]})";
  auto permission = [&](const std::string& value) {
    return absl::StrReplaceAll(role_with, {{"PERMISSION", value}});
  };
  const std::vector<Case> cases = {
      {"{}", true},
      {" \t\r\n{ }\n", true},
      {"", false},
      {"[]", false},
      {"null", false},
      {"{} {}", false},
      {"{}x", false},
      {"{},", false},
      {"\xEF\xBB\xBF{}", false},  // a byte-order mark
      {R"({"roles": []})", true},
      {R"({"roles": null})", false},
      {R"({"roles": [null]})", false},
      {R"({"roles": [[]]})", false},
      {R"({"roles": [{}],})", false},
      {R"({"roles": [{},]})", false},
      {R"({"roles": {}})", false},
      {R"({"catalog": {}})", true},
      {R"({"catalog": null})", false},
      {R"({"catalog": []})", false},
      {R"({"roles": [{"id": "a", "id": "b"}]})", false},
      {R"({"roles": [{"entity_id": "a", "entityId": "b"}]})", false},
      {R"({"roles": [{"": "a"}]})", false},
      {R"({"roles": [{"ID": "a"}]})", false},
      {R"({"roles": [{"i\u0064": "a"}]})", false},
      {R"({"roles": [{"id": "\u00e9\n\"\\\/\b\f\r\t"}]})", true},
      {R"({"roles": [{"id": "\u0000"}]})", true},
      {R"({"roles": [{"id": "\ud83d\ude00"}]})", true},
      {R"({"roles": [{"id": "\ud800"}]})", false},
      {R"({"roles": [{"id": "\udc00x"}]})", false},
      {R"({"roles": [{"id": "\8"}]})", false},
      {R"({"roles": [{"id": "\u12"}]})", false},
      {"{\"roles\": [{\"id\": \"a\x01\"}]}", false},
      {"{\"roles\": [{\"id\": \"a\x7f\"}]}", true},
      {"{\"roles\": [{\"id\": \"\xc3\xa9\"}]}", true},
      {"{\"roles\": [{\"id\": \"\xc3\"}]}", false},
      {"{\"roles\": [{\"id\": \"\xed\xa0\x80\"}]}", false},
      {"{\"roles\": [{\"id\": \"\xc0\xaf\"}]}", false},
      {"{\"roles\": [{\"id\": \"\xf4\x90\x80\x80\"}]}", false},
      {R"({"roles": [{"id": 'a'}]})", false},
      {R"({"roles": [{id: "a"}]})", false},
      {R"({"roles": [{"id": 1}]})", false},
      {R"({"roles": [{"id": true}]})", false},
      {R"({"roles": [{"id": null}]})", false},
      {R"({"roles": [{"id": ["a"]}]})", false},
      {"{\"roles\": [{\"id\":\f\"a\"}]}", false},
      {permission(R"("allowed")"), true},
      {permission(R"("ALLOWED")"), true},
      {permission(R"("Allowed_For_Own")"), true},
      {permission(R"("allowed-for-own")"), true},
      {permission(R"("not_allowed")"), true},
      {permission(R"("permission_unspecified")"), true},
      {permission(R"("allowed for own")"), false},
      {permission(R"("allowedForOwn")"), false},
      {permission(R"("")"), false},
      {permission(R"("allowed\u005ffor_own")"), true},
      {permission("2"), false},
      {permission(R"("2")"), false},
      {permission("7"), false},
      {permission("null"), false},
      {permission("true"), false},
      {R"({"catalog": {"object_types": [{"name": "t", "actions": [{"name": "a", "level": "delete", "partner_only": false}]}]}})",
       true},
      {R"({"catalog": {"object_types": [{"name": "t", "actions": [{"name": "a", "partner_only": "true"}]}]}})",
       false},
      {R"({"catalog": {"object_types": [{"name": "t", "actions": [{"name": "a", "partner_only": 1}]}]}})",
       false},
      {R"({"catalog": {"object_types": [{"name": "t", "actions": [{"name": "a", "partner_only": tru}]}]}})",
       false},
      {R"({"catalog": {"object_types": [{"name": "t", "actions": [{"name": "a", "partner_only": truex}]}]}})",
       false},
      {R"({"credentials": [{"rate_limit": {"count": 0, "interval_seconds": 4294967295}}]})",
       true},
      {R"({"credentials": [{"rate_limit": {"count": 4294967296}}]})", false},
      {R"({"credentials": [{"rate_limit": {"count": -1}}]})", false},
      {R"({"credentials": [{"rate_limit": {"count": -0}}]})", false},
      {R"({"credentials": [{"rate_limit": {"count": 1.0}}]})", false},
      {R"({"credentials": [{"rate_limit": {"count": 1e2}}]})", false},
      {R"({"credentials": [{"rate_limit": {"count": 01}}]})", false},
      {R"({"credentials": [{"rate_limit": {"count": "5"}}]})", false},
      {R"({"credentials": [{"rate_limit": {"count": 5x}}]})", false},
      {R"({"credentials": [{"rate_limit": {}}]})", true},
      {R"({"credentials": [{"scopes": []}]})", true},
      {R"({"credentials": [{"scopes": ["", "a:read"]}]})", true},
      {R"({"credentials": [{"scopes": [["a:read"]]}]})", false},
      {R"({"credentials": [{"scopes": "a:read"}]})", false},
      {R"({"credentials": [{"scopes": ["a:read",]}]})", false},
      {R"({"credentials": [{"scopes": [1]}]})", false},
      {R"({"credentials": [{"entity_ids": ["e"], "entityIds": ["f"]}]})",
       false},
      {R"({"roles": [{"id": "r"}]})", true},
      {R"({"roles": [{"id": "r"})", false},
      {R"({"roles": [{"id": "r}]})", false},
      {R"({"roles": [{"id" "r"}]})", false},
      {R"({"roles": [{"id": "r" "name": "n"}]})", false},
      {R"({"roles": [{"id": "r",, "name": "n"}]})", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_EQ(Agree(c.json), c.fast);
  }
}

// The nesting limit: the fast reader leaves a document past it to the strict
// reader, which gives the error at its line and column; at the limit both
// read it.
TEST(PolicyJsonDifferentialTest, NestingLimit) {
  const std::string deepest =
      R"({"roles": [{"permissions": {"objects": [{"actions": [{"action_name": "a"}]}]}}]})";
  for (int max_depth = -1; max_depth <= 10; ++max_depth) {
    EXPECT_EQ(Agree(deepest, max_depth), max_depth >= 8);
    EXPECT_EQ(Agree(R"({"credentials": [{"rate_limit": {}}]})", max_depth),
              max_depth >= 4);
  }
}

// Random policies in the spellings protobuf prints and the strict reader
// takes (snake_case or lowerCamelCase, enums in any case, spaced or not), then
// mutated a byte or a token at a time.
TEST(PolicyJsonDifferentialTest, RandomAndMutatedPolicies) {
  std::mt19937_64 random(18);
  int mutations = 0;
  for (int round = 0; round < 120; ++round) {
    const v1::PolicySet policy = testing::RandomPolicy(random);
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = round % 2 == 0;
    options.add_whitespace = round % 3 == 0;
    std::string json;
    ASSERT_TRUE(
        google::protobuf::util::MessageToJsonString(policy, &json, options)
            .ok());
    if (round % 4 == 1) json = absl::AsciiStrToLower(json);  // enums too
    SCOPED_TRACE(absl::StrCat("round ", round));
    if (round % 4 != 1) {
      EXPECT_TRUE(Agree(json)) << "a valid policy left the fast path";
    } else {
      Agree(json);  // lower-cased ids are fine; lower-cased keys are not
    }
    for (int m = 0; m < 40; ++m, ++mutations) {
      const std::string mutated = testing::MutatedJson(json, random);
      Agree(mutated);
    }
  }
  EXPECT_EQ(mutations, 120 * 40);
}

}  // namespace
}  // namespace portcullis
