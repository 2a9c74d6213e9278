// The two-pass JSON compile (engine/compile/json_policy_compiler.h) against
// today's path (ParsePolicyJson or LoadPolicyFiles, then Compile),
// differentially: whatever the two-pass compile takes, today's path compiles
// to byte-identical bundles with the same warnings; what it leaves (nullopt)
// is every policy with an error and every document the split or the fast
// reader does not take whole, which today's path then reads, compiles or
// explains as before. Valid policies in the common spelling must take the
// two-pass path (else it is correct but no lighter).
#include "engine/compile/json_policy_compiler.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_json_reader.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/random_policy.h"

namespace portcullis {
namespace {

std::string Warnings(const std::vector<PolicyError>& warnings) {
  std::string out;
  for (const PolicyError& warning : warnings) {
    absl::StrAppend(&out, warning.ToString(), "\n");
  }
  return out;
}

std::string BundleOf(const CompiledPolicy& policy) {
  absl::StatusOr<std::string> bundle = SerializeBundle(policy);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  return bundle.ok() ? *bundle : "";
}

// Compiles `json` both ways and checks that they agree; returns whether the
// two-pass compile took it.
bool CompilesTheSame(const std::string& json,
                     int max_depth = kDefaultMaxNestingDepth,
                     const CompileOptions& compile = CompileOptions()) {
  SCOPED_TRACE(absl::StrCat("input: ", json.substr(0, 300),
                            json.size() > 300 ? "..." : "", "; max_depth ",
                            max_depth));
  // Padded as the loader and the watcher read files.
  std::string padded = json;
  padded.reserve(json.size() + internal::kJsonPadding);
  LoadOptions load;
  load.max_depth = max_depth;
  std::vector<PolicyError> streamed_warnings;
  std::optional<std::unique_ptr<const CompiledPolicy>> streamed =
      CompileJsonStreamed(padded, padded.capacity(), load, compile,
                          &streamed_warnings);

  std::vector<PolicyError> warnings;
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      absl::UnknownError("not parsed");
  const absl::StatusOr<v1::PolicySet> parsed = ParsePolicyJson(json, max_depth);
  if (parsed.ok()) compiled = Compile(*parsed, compile, &warnings);
  if (streamed) {
    EXPECT_TRUE(parsed.ok()) << "taken by the two-pass compile, refused by "
                                "the loader: "
                             << parsed.status();
    EXPECT_TRUE(compiled.ok())
        << "compiled in two passes, refused by Compile: " << compiled.status();
    if (compiled.ok()) {
      EXPECT_EQ(BundleOf(**streamed), BundleOf(**compiled));
      EXPECT_EQ(Warnings(streamed_warnings), Warnings(warnings));
    }
  }
  return streamed.has_value();
}

std::string ToJson(const v1::PolicySet& policy, bool proto_names,
                   bool whitespace) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = proto_names;
  options.add_whitespace = whitespace;
  std::string json;
  EXPECT_TRUE(
      google::protobuf::util::MessageToJsonString(policy, &json, options).ok());
  return json;
}

constexpr absl::string_view kCatalog =
    R"("catalog": {"object_types": [{"name": "payable", "actions": [
      {"name": "read"}, {"name": "approve", "level": "write"}]}]})";
constexpr absl::string_view kEntities =
    R"("entities": [{"id": "e-1", "partner_id": "p-1", "default_role_id": "r-1"}])";
constexpr absl::string_view kCredentials =
    R"("credentials": [{"client_id": "c-1", "partner_id": "p-1",
      "scopes": ["payable:write", "payable:read"]}])";
constexpr absl::string_view kRole1 =
    R"({"id": "r-1", "name": "One", "permissions": {"objects": [
      {"object_type": "payable", "actions": [
        {"action_name": "read", "permission": "allowed"},
        {"action_name": "approve", "permission": "allowed_for_own"}]}]}})";
constexpr absl::string_view kRole2 =
    R"({"id": "r-2", "name": "Two", "entity_id": "e-1"})";

// A document of the members given, in order, with `roles` as the value of
// "roles".
std::string Document(absl::string_view roles) {
  return absl::StrCat("{", kCatalog, ",\n\"roles\": ", roles, ",\n", kEntities,
                      ",\n", kCredentials, "}");
}

TEST(JsonPolicyCompilerTest, EdgeCases) {
  const std::string roles = absl::StrCat("[", kRole1, ", ", kRole2, "]");
  struct Case {
    std::string name;
    std::string json;
    bool streamed;  // whether the two-pass compile must take it
  };
  const std::vector<Case> cases = {
      {"roles in the middle", Document(roles), true},
      {"roles first",
       absl::StrCat("{\"roles\": ", roles, ", ", kCatalog, ", ", kEntities,
                    ", ", kCredentials, "}"),
       true},
      {"roles last",
       absl::StrCat("{", kCatalog, ", ", kEntities, ", ", kCredentials,
                    ", \"roles\": ", roles, "}"),
       true},
      {"no space at all",
       absl::StrCat("{", kCatalog, ",\"roles\":[", kRole1, ",", kRole2, "],",
                    kEntities, ",", kCredentials, "}"),
       true},
      {"every kind of space",
       absl::StrCat(" \t\r\n{", kCatalog, " ,\r\n\t\"roles\" \t: \n[\r\n\t",
                    kRole1, " \n,\t\r", kRole2, "\n\t ]\r\n,", kEntities, ",",
                    kCredentials, "\n}\n \t"),
       true},
      {"brackets, quotes and backslashes in role strings",
       Document(absl::StrCat(
           "[", kRole1, R"(, {"id": "r-2", "name": "T]w}o\"{[\\", )",
           R"("entity_id": "e-1", "status": "a\"],{\\\\"}])")),
       true},
      {"an escaped unicode character in a role",
       Document(
           absl::StrCat("[", kRole1, R"(, {"id": "r-\u0032", "name": "x"}])")),
       true},
      {"brackets and quotes in strings before the roles",
       absl::StrCat(R"({"credentials": [{"client_id": "c-1]}\"[{",
                    "partner_id": "p-1", "scopes": ["payable:read"]}], )",
                    kCatalog, ", \"roles\": ", roles, ", ", kEntities, "}"),
       true},
      // A policy with an error of any kind: today's path reports it.
      {"no roles but the default role is missing", Document("[]"), false},
      {"unknown action",
       Document(R"([{"id": "r-1", "name": "One", "permissions": {"objects": [
           {"object_type": "payable", "actions": [
           {"action_name": "pay", "permission": "allowed"}]}]}}])"),
       false},
      {"duplicate role id",
       Document(absl::StrCat("[", kRole1, ", ", kRole1, "]")), false},
      {"unknown owner",
       Document(absl::StrCat(
           "[", kRole1,
           R"(, {"id": "r-2", "name": "x", "entity_id": "e-9"}])")),
       false},
      {"a credential error after the roles",
       absl::StrReplaceAll(Document(roles), {{"payable:write", "nope:write"}}),
       false},
      // Documents the split or the readers do not take whole.
      {"roles twice",
       absl::StrCat("{", kCatalog, ", \"roles\": ", roles, ", \"roles\": [], ",
                    kEntities, ", ", kCredentials, "}"),
       false},
      {"roles not an array", Document(kRole1), false},
      {"roles null", Document("null"), false},
      {"a role that is not an object",
       Document(absl::StrCat("[", kRole1, ", 7]")), false},
      {"a trailing comma", Document(absl::StrCat("[", kRole1, ", ]")), false},
      {"a missing comma", Document(absl::StrCat("[", kRole1, " ", kRole2, "]")),
       false},
      {"a leading comma", Document(absl::StrCat("[, ", kRole1, "]")), false},
      {"an array in the array", Document(absl::StrCat("[[", kRole1, "]]")),
       false},
      {"an escaped roles key",
       absl::StrReplaceAll(Document(roles), {{"\"roles\"", "\"rol\\u0065s\""}}),
       false},
      {"a duplicate key in a role",
       Document(R"([{"id": "r-1", "id": "r-2", "name": "x"}])"), false},
      {"an unknown key in a role",
       Document(R"([{"id": "r-1", "name": "x", "colour": "red"}])"), false},
      {"an enum by number in a role",
       Document(R"([{"id": "r-1", "name": "x", "permissions": {"objects": [
           {"object_type": "payable", "actions": [
           {"action_name": "read", "permission": 1}]}]}}])"),
       false},
      {"an unclosed string in a role",
       Document(R"([{"id": "r-1, "name": "x"}])"), false},
      {"unbalanced brackets in a role",
       Document(R"([{"id": "r-1", "name": "x"]}])"), false},
      {"a raw control character in a role",
       Document("[{\"id\": \"r-1\", \"name\": \"x\x01\"}]"), false},
      {"invalid UTF-8 in a role",
       Document("[{\"id\": \"r-1\", \"name\": \"x\xff\"}]"), false},
      {"text after the document", Document(roles) + " {}", false},
      {"a truncated document", Document(roles).substr(0, 200), false},
      {"a top-level array", absl::StrCat("[", Document(roles), "]"), false},
      {"an empty document", "", false},
      {"an empty object", "{}", false},
      {"no roles member", absl::StrCat("{", kCatalog, ", ", kEntities, "}"),
       false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(CompilesTheSame(c.json), c.streamed);
  }
}

// The split reads 64 bytes at a time, and a block with a backslash byte by
// byte: brackets in strings, with and without escapes, at every offset of a
// block, an escape as a block's last byte included.
TEST(JsonPolicyCompilerTest, StringsAtEveryOffset) {
  for (const absl::string_view text : {R"(\"]}\\[{\"x)", R"(]}x[{)"}) {
    for (int pad = 0; pad < 140; ++pad) {
      SCOPED_TRACE(absl::StrCat(text, " after ", pad));
      const std::string name = absl::StrCat(std::string(pad, 'a'), text);
      EXPECT_TRUE(CompilesTheSame(Document(absl::StrCat(
          "[", kRole1, R"(, {"id": "r-2", "name": ")", name, R"(", )",
          R"("status": ")", name, R"("}, {"name": ")", name, R"("}])"))));
    }
  }
}

TEST(JsonPolicyCompilerTest, NestingLimit) {
  // The deepest member is a role's permission (level 7): roles array 2,
  // role 3, permissions 4, objects 5, object 6, actions 7 (array), action 8.
  const std::string json =
      Document(absl::StrCat("[", kRole1, ", ", kRole2, "]"));
  for (int depth = 0; depth <= 10; ++depth) {
    SCOPED_TRACE(depth);
    EXPECT_EQ(CompilesTheSame(json, depth), depth >= 8);
  }
  // Roles without permissions nest to level 3 only; the catalog to 6
  // (catalog 2, object_types 3, object type 4, actions 5, action 6).
  const std::string shallow = absl::StrCat(
      "{", kCatalog, R"(, "roles": [{"id": "r-1", "name": "x"}]})");
  for (int depth = 0; depth <= 7; ++depth) {
    SCOPED_TRACE(depth);
    EXPECT_EQ(CompilesTheSame(shallow, depth), depth >= 6);
  }
}

TEST(JsonPolicyCompilerTest, RoleLimit) {
  const std::string json =
      Document(absl::StrCat("[", kRole1, ", ", kRole2, "]"));
  CompileOptions options;
  options.max_roles = 2;
  EXPECT_TRUE(CompilesTheSame(json, kDefaultMaxNestingDepth, options));
  options.max_roles = 1;
  EXPECT_FALSE(CompilesTheSame(json, kDefaultMaxNestingDepth, options));
}

TEST(JsonPolicyCompilerTest, RandomAndMutatedPolicies) {
  std::mt19937_64 random(1818);
  testing::RandomPolicyOptions options;
  options.max_roles = 30;
  int streamed = 0, compiled = 0;
  for (int round = 0; round < 200; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    v1::PolicySet policy = testing::RandomPolicy(random, options);
    if (round % 5 == 4) {  // an error in a role
      v1::Role& role = *policy.add_roles();
      role.set_name("bad");
      role.mutable_permissions()->add_objects()->set_object_type("no-such");
    }
    const std::string json = ToJson(policy, round % 2 == 0, round % 3 == 0);
    const bool valid = Compile(policy).ok();
    compiled += valid;
    const bool taken = CompilesTheSame(json);
    EXPECT_EQ(taken, valid) << "a valid policy left the two-pass compile";
    streamed += taken;
    for (int m = 0; m < 30; ++m) {
      const std::string mutated = testing::MutatedJson(json, random);
      CompilesTheSame(mutated);
    }
  }
  // Both kinds were seen.
  EXPECT_GT(streamed, 20);
  EXPECT_LT(compiled, 200);
}

TEST(JsonPolicyCompilerTest, LargeDeduplicatedPolicy) {
  for (int patterns : {0, 40}) {
    SCOPED_TRACE(patterns);
    testing::SizedPolicyOptions options;
    options.seed = 7 + patterns;
    options.object_types = 30;
    options.entities = 300;
    options.roles = 5000;
    options.role_patterns = patterns;
    const v1::PolicySet policy = testing::SizedRandomPolicy(options);
    ASSERT_TRUE(Compile(policy).ok());
    EXPECT_TRUE(CompilesTheSame(ToJson(policy, true, false)));
  }
}

// The files a command line names, as the CLI and the watcher read them.
TEST(JsonPolicyCompilerTest, Files) {
  const std::string directory =
      absl::StrCat(::testing::TempDir(), "/json_policy_compiler_test");
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory + "/one");
  const std::string file = directory + "/one/policy.json";
  std::ofstream(file) << Document(absl::StrCat("[", kRole1, ", ", kRole2, "]"));
  std::ofstream(directory + "/other.json") << "{}";

  const absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({file});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<PolicyError> warnings;
  const absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      Compile(loaded->policy, CompileOptions(), &warnings);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  ASSERT_EQ(warnings.size(), 1u);  // payable named in two scopes

  for (const std::string& path : {file, directory + "/one"}) {
    SCOPED_TRACE(path);
    std::vector<PolicyError> streamed_warnings;
    std::string streamed_file;
    const std::optional<std::unique_ptr<const CompiledPolicy>> streamed =
        CompileJsonFileStreamed({path}, LoadOptions(), CompileOptions(),
                                &streamed_warnings, &streamed_file);
    ASSERT_TRUE(streamed.has_value());
    EXPECT_EQ(BundleOf(**streamed), BundleOf(**compiled));
    EXPECT_EQ(Warnings(streamed_warnings), Warnings(warnings));
    EXPECT_EQ(streamed_file, file);
  }
  // Anything but one JSON file within the limits is left to LoadPolicyFiles.
  LoadOptions small;
  small.max_file_bytes = 100;
  const std::vector<std::vector<std::string>> left = {
      {file, directory + "/other.json"},
      {directory},
      {directory + "/missing.json"},
      {directory + "/one/policy.txtpb"},
  };
  for (const std::vector<std::string>& paths : left) {
    SCOPED_TRACE(paths.front());
    EXPECT_FALSE(
        CompileJsonFileStreamed(paths, LoadOptions(), CompileOptions(), nullptr)
            .has_value());
  }
  EXPECT_FALSE(CompileJsonFileStreamed({file}, small, CompileOptions(), nullptr)
                   .has_value());
}

}  // namespace
}  // namespace portcullis
