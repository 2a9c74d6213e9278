// Loading policies: JSON and text format, Monite's lowercase enums, unknown
// fields, merging several files, and tracing errors back to their file.
#include "engine/load/policy_loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace portcullis {
namespace {

// What a file over LoadOptions::max_file_bytes is told, after the sizes.
const std::string kRaiseFileLimit =
    " (LoadOptions::max_file_bytes; `portcullis` commands take "
    "--max-file-bytes N, `portcullis serve` the policy.max_file_bytes field)";

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string WriteTemp(const std::string& name, const std::string& content) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/", name);
  std::ofstream(path) << content;
  return path;
}

TEST(PolicyLoaderTest, JsonAcceptsDesignExampleWithLowercaseEnums) {
  // docs/design.md's "Formats" example, verbatim.
  absl::StatusOr<v1::PolicySet> set = ParsePolicyJson(R"json({
  "catalog": {"object_types": [
    {"name": "payable", "actions": [
      {"name": "read", "level": "read"},
      {"name": "approve", "level": "write"},
      {"name": "delete", "level": "delete"}]},
    {"name": "entity", "actions": [{"name": "update", "level": "write", "partner_only": true}]}]},
  "roles": [
    {"id": "r-approver", "name": "Approver", "entity_id": "e-1",
     "permissions": {"objects": [
       {"object_type": "payable", "actions": [
         {"action_name": "read", "permission": "allowed"},
         {"action_name": "approve", "permission": "allowed_for_own"}]}]}}],
  "entities": [{"id": "e-1", "partner_id": "p-1", "default_role_id": "r-approver"}],
  "credentials": [
    {"client_id": "c-finance", "partner_id": "p-1", "entity_ids": ["e-1"],
     "scopes": ["payable:write", "all:read"], "rate_limit": {"count": 1000, "interval_seconds": 600}}]
})json");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->catalog().object_types(0).actions(1).level(), v1::WRITE);
  EXPECT_TRUE(set->catalog().object_types(1).actions(0).partner_only());
  EXPECT_EQ(set->roles(0).permissions().objects(0).actions(1).permission(),
            v1::ALLOWED_FOR_OWN);
  EXPECT_EQ(set->credentials(0).rate_limit().count(), 1000u);
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(*set);
  ASSERT_TRUE(policy.ok()) << policy.status();

  // The design's request decides as the design shows: {"decision": "allowed",
  // "reason": "ownership"}. The credential's payable:write is what lets
  // approve (a write action) through the scope rule.
  CheckRequestView request;
  request.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
  request.user_id = "u-7";
  request.user_entity_id = "e-1";
  request.role_id = "r-approver";
  request.client_id = "c-finance";
  request.object_type = "payable";
  request.action = "approve";
  request.entity_id = "e-1";
  request.has_resource = true;
  request.resource_entity_id = "e-1";
  request.resource_created_by = "u-7";
  EXPECT_EQ(Check(**policy, request),
            (Decision{Verdict::kAllowed, Reason::kOwnership}));
}

TEST(PolicyLoaderTest, JsonAcceptsMoniteRoleWithServerFields) {
  // A role as Monite's API returns it (the SDK's fixtures), with status and
  // timestamps, and an object with no actions.
  v1::Role role;
  ASSERT_TRUE(ParseJsonMessage(R"json({"id": "full_permission_role_id",
    "name": "Full permission role", "status": "active",
    "created_at": "2022-01-01T00:00:00Z", "updated_at": "2022-01-01T00:00:00Z",
    "permissions": {"objects": [{"object_type": "payable", "actions": []}]}})json",
                               role)
                  .ok());
  EXPECT_EQ(role.status(), "active");
}

TEST(PolicyLoaderTest, RejectsUnknownFieldsAndBadValues) {
  struct Case {
    const char* json;
    const char* error_part;
  };
  const Case cases[] = {
      {R"({"rolez": []})", "rolez"},
      {R"({"roles": [{"id": "r", "permissions": {"objects": [{"object_type": "payable", "actions": [{"action_name": "read", "permission": "maybe"}]}]}}]})",
       "maybe"},
      {R"({"roles": [)", "invalid JSON"},
      {"", "invalid JSON"},
      // Invalid UTF-8 is found where it is, as in text format.
      {"{\"roles\": [{\"id\": \"r\", \"name\": \"\xe2\x82\"}]}",
       "invalid JSON: line 1, column 33: roles[0].name: invalid UTF-8 in a "
       "string (byte \\xe2); JSON text is UTF-8 (RFC 8259)"},
      // Protobuf would read one role; another reader, a list of lists.
      {R"({"roles": [[{"id": "r-x", "name": "X"}]]})",
       "invalid JSON: line 1, column 12: roles[0]: a list inside a list; "
       "protobuf would flatten it into one list (no field is a list of "
       "lists)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    absl::StatusOr<v1::PolicySet> set = ParsePolicyJson(c.json);
    ASSERT_FALSE(set.ok());
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(set.status().message()), HasSubstr(c.error_part));
  }
}

// Protobuf's JSON parser accepts an empty key and stores its value as fields
// the message does not have (found by the policy_json fuzzer), and keeps the
// last of a field given twice: the loader rejects both and names where.
TEST(PolicyLoaderTest, RejectsJsonThatDoesNotSayOneThing) {
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {R"({"catalog": {"object_types": [{"name": "a", "actions": [{"name": "b"},
          {"name": "c", "": [{"name": "d"}]}]}]}})",
       "invalid JSON: line 2, column 25: an empty key \"\" (every key names a "
       "field)"},
      // An object under an empty key would set the role's fields.
      {R"({"roles": [{"id": "r", "": {"id": "s"}}]})",
       "invalid JSON: line 1, column 24: an empty key \"\" (every key names a "
       "field)"},
      // Two permissions for one action: a reviewer may read the first.
      {R"({"roles": [{"id": "r", "permissions": {"objects": [{"object_type": "payable",
          "actions": [{"action_name": "approve", "permission": "not_allowed", "permission": "allowed"}]}]}}]})",
       "invalid JSON: line 2, column 79: field permission is given twice; "
       "protobuf would keep the last value"},
      {"{\n  \"roles\": [{\"id\": \"\", \"name\": \"n\",\n    \"\" : {}}]}",
       "invalid JSON: line 3, column 5: an empty key \"\" (every key names a "
       "field)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    absl::StatusOr<v1::PolicySet> set = ParsePolicyJson(c.json);
    ASSERT_FALSE(set.ok());
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(set.status().message()), c.error);
  }
  // Protobuf's parser takes bare keys, single quotes and trailing commas;
  // other JSON readers do not, so neither does the loader.
  for (const char* json :
       {R"({roles: []})", R"({"roles": [{"id": 'r'}]})", R"({"roles": [],})"}) {
    SCOPED_TRACE(json);
    absl::StatusOr<v1::PolicySet> lax = ParsePolicyJson(json);
    ASSERT_FALSE(lax.ok());
    EXPECT_THAT(std::string(lax.status().message()), HasSubstr("RFC 8259"));
  }
  // Empty strings as values, and keys that hold quotes, are fine.
  absl::StatusOr<v1::PolicySet> set = ParsePolicyJson(
      R"({"roles": [{"id": "r", "name": "", "status": "\"\" : x"}]})");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->roles(0).status(), R"("" : x)");
}

TEST(PolicyLoaderTest, TextFormatErrorsCarryLineAndColumn) {
  absl::StatusOr<v1::PolicySet> set =
      ParsePolicyText("roles { id: \"r\" }\nroles { nmae: \"x\" }\n");
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(set.status().message()),
              StartsWith("invalid text format: line 2, column 13: "));
  EXPECT_THAT(std::string(set.status().message()), HasSubstr("nmae"));
}

// Nesting past the limit is an error at its line and column, never a crash:
// 100,000 brackets in a JSON file, and deep messages in text format.
TEST(PolicyLoaderTest, DeepNestingIsAnErrorAtItsPlace) {
  const std::string arrays =
      WriteTemp("deep.json", "\n  " + std::string(100000, '['));
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({arrays});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loaded.status().message(),
            arrays +
                ": invalid JSON: line 2, column 4: [0]: a list inside a list; "
                "protobuf would flatten it into one list (no field is a list "
                "of lists)");
  // Closed, in a repeated field: protobuf's parser flattens the lists and
  // accepts the file, which the recursive checker then overflowed on.
  const std::string closed =
      WriteTemp("deep_closed.json", "{\"roles\": " + std::string(100000, '[') +
                                        std::string(100000, ']') + "}");
  absl::StatusOr<LoadedPolicy> loaded2 = LoadPolicyFiles({closed});
  ASSERT_FALSE(loaded2.ok());
  EXPECT_EQ(loaded2.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loaded2.status().message(),
            closed +
                ": invalid JSON: line 1, column 12: roles[0]: a list inside a "
                "list; protobuf would flatten it into one list (no field is a "
                "list of lists)");
  std::string alternating = "{\"roles\":\n";
  for (int i = 0; i < 50000; ++i) alternating += "[{\"a\":";
  const std::string objects = WriteTemp("deep_objects.json", alternating);
  absl::StatusOr<LoadedPolicy> loaded3 = LoadPolicyFiles({objects});
  ASSERT_FALSE(loaded3.ok());
  EXPECT_EQ(loaded3.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loaded3.status().message(),
            objects +
                ": invalid JSON: line 2, column 296: nested deeper than 100 "
                "levels of objects and arrays (the limit)");

  // The policy schema has no recursive message: deep text format stops at
  // the first field its message does not have, or at the limit.
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "catalog {\n";
  const std::string messages = WriteTemp("deep.txtpb", text);
  absl::StatusOr<LoadedPolicy> loaded4 = LoadPolicyFiles({messages});
  ASSERT_FALSE(loaded4.ok());
  EXPECT_EQ(loaded4.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(loaded4.status().message()),
      StartsWith(messages + ": invalid text format: line 2, column 9: "));
  EXPECT_THAT(std::string(loaded4.status().message()),
              HasSubstr("has no field named \"catalog\""));
  const std::string lists =
      WriteTemp("lists.txtpb", "roles: " + std::string(100000, '['));
  absl::StatusOr<LoadedPolicy> loaded5 = LoadPolicyFiles({lists});
  ASSERT_FALSE(loaded5.ok());
  EXPECT_THAT(std::string(loaded5.status().message()),
              StartsWith(lists + ": invalid text format: line 1, column 9: "));

  // LoadOptions::max_depth applies to both formats.
  LoadOptions shallow;
  shallow.max_depth = 2;
  const std::string json =
      WriteTemp("three.json", R"({"catalog": {"object_types": [{}]}})");
  absl::StatusOr<LoadedPolicy> loaded6 = LoadPolicyFiles({json}, shallow);
  ASSERT_FALSE(loaded6.ok());
  EXPECT_EQ(loaded6.status().message(),
            json +
                ": invalid JSON: line 1, column 30: nested deeper than 2 "
                "levels of objects and arrays (the limit)");
  const std::string nested = WriteTemp(
      "three.txtpb", "catalog {\n  object_types {\n    name: \"a\"\n  }\n}\n");
  absl::StatusOr<LoadedPolicy> loaded7 = LoadPolicyFiles({nested}, shallow);
  ASSERT_FALSE(loaded7.ok());
  EXPECT_EQ(loaded7.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded7.status().message()),
              StartsWith(nested + ": invalid text format: line 2, column "));
  EXPECT_THAT(std::string(loaded7.status().message()), HasSubstr("too deep"));
  EXPECT_TRUE(LoadPolicyFiles({nested}).ok());
}

TEST(PolicyLoaderTest, MergesFilesAndLocatesErrorsInThem) {
  const std::string catalog = WriteTemp("catalog.json", R"json({"catalog":
    {"object_types": [{"name": "payable", "actions": [{"name": "read"}]}]}})json");
  const std::string roles = WriteTemp("roles.txtpb", R"pb(
    roles { id: "r-1" name: "One" }
    roles {
      id: "r-2"
      name: "Two"
      permissions {
        objects {
          object_type: "payable"
          actions { action_name: "pay" permission: ALLOWED }
        }
      }
    })pb");
  const std::string entities = WriteTemp(
      "entities.json",
      R"json({"entities": [{"id": "e-1", "partner_id": "p-1", "default_role_id": "r-1"}],
              "roles": [{"id": "r-3", "name": "Three", "entity_id": "e-404"}]})json");
  absl::StatusOr<LoadedPolicy> loaded =
      LoadPolicyFiles({catalog, roles, entities});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->policy.roles_size(), 3);
  EXPECT_EQ(loaded->policy.entities_size(), 1);

  const ValidationReport report = Validate(loaded->policy);
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_EQ(loaded->sources.Locate(report.errors[0].path),
            roles + ":roles[1].permissions.objects[0].actions[0].action_name");
  EXPECT_EQ(loaded->sources.Locate(report.errors[1].path),
            entities + ":roles[0].entity_id");
  EXPECT_EQ(loaded->sources.Locate("roles"), "roles");
}

TEST(PolicyLoaderTest, DirectoryStandsForItsPolicyFiles) {
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({"examples/monite"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // The complete Monite catalogue: 31 object types, 130 pairs.
  EXPECT_EQ(loaded->policy.catalog().object_types_size(), 31);
  int pairs = 0;
  for (const auto& type : loaded->policy.catalog().object_types()) {
    pairs += type.actions_size();
  }
  EXPECT_EQ(pairs, 130);
  EXPECT_EQ(loaded->sources.files().size(), 4u);  // not the .jsonl requests
}

// A dangling symbolic link among a directory's policy files is an error
// naming it, whatever its place in the directory: never skipped (that would
// load a policy without the file), never "cannot list directory".
TEST(PolicyLoaderTest, DanglingSymlinkInADirectoryIsAnErrorNamingIt) {
  for (const std::string dangling : {"a.json", "m.json", "z.json"}) {
    SCOPED_TRACE(dangling);
    const std::string directory =
        absl::StrCat(::testing::TempDir(), "/dangling_", dangling.substr(0, 1));
    std::filesystem::remove_all(directory);
    std::filesystem::create_directory(directory);
    std::ofstream(directory + "/b.json") << R"({"roles": [{"id": "r-1"}]})";
    std::ofstream(directory + "/n.txtpb") << R"pb(roles { id: "r-2" })pb";
    std::ofstream(directory + "/y.json") << R"({"roles": [{"id": "r-3"}]})";
    std::filesystem::create_symlink(directory + "/missing.json",
                                    directory + "/" + dangling);
    const std::string link = directory + "/" + dangling;

    absl::StatusOr<std::vector<std::string>> files = ListPolicyFiles(directory);
    ASSERT_TRUE(files.ok()) << files.status();
    EXPECT_EQ(files->size(), 4u);
    EXPECT_NE(std::find(files->begin(), files->end(), link), files->end());

    absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({directory});
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(loaded.status().message(),
              link + ": cannot open: a symbolic link to a missing file");
    // The same when the link is named on its own.
    EXPECT_EQ(LoadPolicyFiles({link}).status().message(),
              loaded.status().message());

    std::filesystem::remove(link);
    absl::StatusOr<LoadedPolicy> loaded8 = LoadPolicyFiles({directory});
    ASSERT_TRUE(loaded8.ok()) << loaded8.status();
    EXPECT_EQ(loaded8->policy.roles_size(), 3);
  }
  // A subdirectory with a policy extension is not skipped either.
  const std::string directory = ::testing::TempDir() + "/with_subdirectory";
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory + "/sub.json");
  std::ofstream(directory + "/a.json") << "{}";
  EXPECT_EQ(LoadPolicyFiles({directory}).status().message(),
            directory + "/sub.json: not a regular file");
}

TEST(PolicyLoaderTest, FileErrorsNameTheFile) {
  const std::string big = WriteTemp("big.json", std::string(100, ' '));
  const std::string odd = WriteTemp("policy.yaml", "roles: []");
  const std::string bad = WriteTemp("bad.json", "{\"roles\": 3}");
  struct Case {
    std::string path;
    LoadOptions options;
    absl::StatusCode code;
    std::string error;
  };
  LoadOptions small;
  small.max_file_bytes = 99;
  const Case cases[] = {
      {"/nonexistent/policy.json",
       {},
       absl::StatusCode::kNotFound,
       "/nonexistent/policy.json: cannot open: No such file or directory"},
      {big, small, absl::StatusCode::kInvalidArgument,
       big + ": file is 100 bytes; the limit is 99" + kRaiseFileLimit},
      {odd,
       {},
       absl::StatusCode::kInvalidArgument,
       odd + ": unknown policy format (expected .json, .txtpb, .textproto or "
             ".pbtxt)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({c.path}, c.options);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), c.code);
    EXPECT_EQ(loaded.status().message(), c.error);
  }
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({bad});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              StartsWith(bad + ": invalid JSON: "));
  EXPECT_EQ(LoadPolicyFiles({}).status().message(), "no policy files given");
}

// The file limit is an option (1 GiB by default, a policy of about 1.6
// million roles in JSON), and a file over it, read or handed over, is told
// how to raise it.
TEST(PolicyLoaderTest, FileLimitSaysHowToRaiseIt) {
  EXPECT_EQ(LoadOptions().max_file_bytes, size_t{1} << 30);
  EXPECT_EQ(LoadOptions().max_total_bytes, size_t{2} << 30);
  LoadOptions small;
  small.max_file_bytes = 9;
  const absl::StatusOr<LoadedPolicy> past =
      LoadPolicyDocuments({{"in/memory.json", "{\"roles\": []}"}}, small);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      past.status().message(),
      "in/memory.json: file is 13 bytes; the limit is 9" + kRaiseFileLimit);
  small.max_file_bytes = 13;
  const absl::StatusOr<LoadedPolicy> at =
      LoadPolicyDocuments({{"in/memory.json", "{\"roles\": []}"}}, small);
  EXPECT_TRUE(at.ok()) << at.status();
}

// Several files, JSON and text format, merge into one policy whether the
// fast reader takes each JSON file or leaves it to the strict one (an enum by
// number), and the result owns its arena: it outlives the loader's buffers.
TEST(PolicyLoaderTest, MergesFastAndStrictDocuments) {
  const std::string fast = WriteTemp(
      "merge_fast.json", R"({"roles": [{"id": "r-1", "name": "one"}]})");
  const std::string strict = WriteTemp(
      "merge_strict.json",
      R"({"roles": [{"id": "r-2", "permissions": {"objects": [{"object_type": "t", "actions": [{"action_name": "a", "permission": 2}]}]}}]})");
  const std::string text =
      WriteTemp("merge_text.txtpb", "roles { id: \"r-3\" }\n");
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({fast, strict, text});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const LoadedPolicy moved = *std::move(loaded);
  ASSERT_EQ(moved.policy.roles_size(), 3);
  EXPECT_EQ(moved.policy.roles(0).name(), "one");
  EXPECT_EQ(
      moved.policy.roles(1).permissions().objects(0).actions(0).permission(),
      v1::ALLOWED);
  EXPECT_EQ(moved.policy.roles(2).id(), "r-3");
  EXPECT_EQ(moved.sources.Locate("roles[2].id"), text + ":roles[0].id");
  EXPECT_NE(moved.policy.GetArena(), nullptr);
}

}  // namespace
}  // namespace portcullis
