// Every resource limit of CompileOptions, LoadOptions and BundleOptions (the
// CLI's line limit is tested in tests/cli/check_stream_test.cc), at the limit
// (accepted) and one past it (rejected with its exact message). Limits are set
// small here so that each case stays small; the defaults are in the headers
// and docs/reliability.md ("Limits").
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/policy.pb.h"

namespace portcullis {
namespace {

// A valid policy to grow: object type t0 (read), entity e0 of partner p0 with
// default role r0 (t0.read allowed), credential c0 of p0 with scope all:read.
v1::PolicySet Base() {
  v1::PolicySet policy;
  v1::ObjectType* type = policy.mutable_catalog()->add_object_types();
  type->set_name("t0");
  type->add_actions()->set_name("read");
  v1::Entity* entity = policy.add_entities();
  entity->set_id("e0");
  entity->set_partner_id("p0");
  entity->set_default_role_id("r0");
  v1::Role* role = policy.add_roles();
  role->set_id("r0");
  role->set_name("Reader");
  v1::ObjectPermissions* object = role->mutable_permissions()->add_objects();
  object->set_object_type("t0");
  v1::ActionPermission* read = object->add_actions();
  read->set_action_name("read");
  read->set_permission(v1::ALLOWED);
  v1::Credential* credential = policy.add_credentials();
  credential->set_client_id("c0");
  credential->set_partner_id("p0");
  credential->add_scopes("all:read");
  return policy;
}

// Object types t0 .. t<n-1>, each with a read action.
void SetObjectTypes(v1::PolicySet& policy, int n) {
  policy.mutable_catalog()->clear_object_types();
  for (int i = 0; i < n; ++i) {
    v1::ObjectType* type = policy.mutable_catalog()->add_object_types();
    type->set_name(absl::StrCat("t", i));
    type->add_actions()->set_name("read");
  }
}

// Object type t0 with n actions: read (which r0 allows), then a1 .. a<n-1>.
void SetActions(v1::PolicySet& policy, int n) {
  v1::ObjectType* type = policy.mutable_catalog()->mutable_object_types(0);
  type->clear_actions();
  type->add_actions()->set_name("read");
  for (int i = 1; i < n; ++i) {
    type->add_actions()->set_name(absl::StrCat("a", i));
  }
}

// Another object type, "big", with actions a0 .. a<n-1>; nothing refers to it.
void AddBigObjectType(v1::PolicySet& policy, int n) {
  v1::ObjectType* type = policy.mutable_catalog()->add_object_types();
  type->set_name("big");
  for (int i = 0; i < n; ++i) {
    type->add_actions()->set_name(absl::StrCat("a", i));
  }
}

struct CountLimitCase {
  std::string name;
  // Sets the limit under test.
  std::function<void(CompileOptions&)> set_limit;
  // The count allowed by the limit: `grow(policy, n)` makes a policy that
  // is at the limit for n = at_limit and one past it for n = at_limit + 1.
  int at_limit;
  std::function<void(v1::PolicySet&, int)> grow;
  // Compile's whole message one past the limit.
  std::string past_limit_error;

  friend void PrintTo(const CountLimitCase& test, std::ostream* out) {
    *out << test.name;
  }
};

class CountLimitTest : public testing::TestWithParam<CountLimitCase> {};

TEST_P(CountLimitTest, AcceptedAtTheLimitRejectedPastIt) {
  const CountLimitCase& test = GetParam();
  CompileOptions options;
  test.set_limit(options);

  v1::PolicySet at = Base();
  test.grow(at, test.at_limit);
  const auto accepted = Compile(at, options);
  EXPECT_TRUE(accepted.ok()) << accepted.status();

  v1::PolicySet past = Base();
  test.grow(past, test.at_limit + 1);
  const auto rejected = Compile(past, options);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(rejected.status().message()), test.past_limit_error);
  // Validate reports the same problem.
  const ValidationReport report = Validate(past, options);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_EQ(report.errors[0].ToString(), test.past_limit_error);
}

INSTANTIATE_TEST_SUITE_P(
    Limits, CountLimitTest,
    testing::Values(
        CountLimitCase{"max_object_types",
                       [](CompileOptions& o) { o.max_object_types = 3; }, 3,
                       [](v1::PolicySet& p, int n) { SetObjectTypes(p, n); },
                       "catalog.object_types: 4 object types; the limit is 3"},
        CountLimitCase{
            "max_actions_per_object_type",
            [](CompileOptions& o) { o.max_actions_per_object_type = 3; }, 3,
            [](v1::PolicySet& p, int n) { AddBigObjectType(p, n); },
            "catalog.object_types[1].actions: 4 actions; the limit is 3"},
        CountLimitCase{
            "max_actions", [](CompileOptions& o) { o.max_actions = 5; }, 5,
            [](v1::PolicySet& p, int n) {
              SetObjectTypes(p, 2);
              SetActions(p, n - 1);  // and t1.read
            },
            "catalog.object_types: 6 actions in the catalog; the limit is 5"},
        CountLimitCase{"max_roles", [](CompileOptions& o) { o.max_roles = 3; },
                       3,
                       [](v1::PolicySet& p, int n) {
                         for (int i = 1; i < n; ++i) {
                           v1::Role* role = p.add_roles();
                           role->set_id(absl::StrCat("r", i));
                           role->set_name("Nothing");
                         }
                       },
                       "roles: 4 roles; the limit is 3"},
        CountLimitCase{"max_entities",
                       [](CompileOptions& o) { o.max_entities = 3; }, 3,
                       [](v1::PolicySet& p, int n) {
                         for (int i = 1; i < n; ++i) {
                           v1::Entity* entity = p.add_entities();
                           entity->set_id(absl::StrCat("e", i));
                           entity->set_partner_id("p0");
                         }
                       },
                       "entities: 4 entities; the limit is 3"},
        CountLimitCase{"max_credentials",
                       [](CompileOptions& o) { o.max_credentials = 3; }, 3,
                       [](v1::PolicySet& p, int n) {
                         for (int i = 1; i < n; ++i) {
                           v1::Credential* credential = p.add_credentials();
                           credential->set_client_id(absl::StrCat("c", i));
                           credential->set_partner_id("p0");
                           credential->add_scopes("t0:read");
                         }
                       },
                       "credentials: 4 credentials; the limit is 3"},
        CountLimitCase{
            "max_scopes_per_credential",
            [](CompileOptions& o) { o.max_scopes_per_credential = 3; }, 3,
            [](v1::PolicySet& p, int n) {
              SetObjectTypes(p, n);
              v1::Credential* credential = p.mutable_credentials(0);
              credential->clear_scopes();
              for (int i = 0; i < n; ++i) {
                credential->add_scopes(absl::StrCat("t", i, ":read"));
              }
            },
            "credentials[0].scopes: 4 scopes; the limit is 3"},
        // Each role allows another action: every row is distinct, one 4-byte
        // word offset for a catalog of up to 32 actions, naming a distinct
        // 8-byte word. Row 0 and the zero word (two 4-byte entries, read by
        // principals without a usable role) are always there and count: with
        // r0, 2 roles take 8 + 2 * 12 = 32 bytes, 3 roles 44.
        CountLimitCase{
            "max_permission_row_bytes",
            [](CompileOptions& o) { o.max_permission_row_bytes = 36; }, 2,
            [](v1::PolicySet& p, int n) {
              SetActions(p, n);
              for (int i = 1; i < n; ++i) {
                v1::Role* role = p.add_roles();
                role->set_id(absl::StrCat("r", i));
                role->set_name("One action");
                v1::ObjectPermissions* object =
                    role->mutable_permissions()->add_objects();
                object->set_object_type("t0");
                v1::ActionPermission* action = object->add_actions();
                action->set_action_name(absl::StrCat("a", i));
                action->set_permission(v1::ALLOWED);
              }
            },
            "roles: distinct permission rows need more than 36 bytes (the "
            "limit) by roles[2]"},
        // Row 0 (no restriction: everything) is always there; c0's all:read
        // is a second row, each further credential's t<i>:read another.
        CountLimitCase{
            "max_scope_row_bytes",
            [](CompileOptions& o) { o.max_scope_row_bytes = 24; }, 3,
            [](v1::PolicySet& p, int n) {
              SetObjectTypes(p, n);
              for (int i = 1; i + 1 < n; ++i) {
                v1::Credential* credential = p.add_credentials();
                credential->set_client_id(absl::StrCat("c", i));
                credential->set_partner_id("p0");
                credential->add_scopes(absl::StrCat("t", i, ":read"));
              }
            },
            "credentials: distinct scope rows need more than 24 bytes (the "
            "limit) by credentials[2]"},
        // Each restricted credential takes a word per 64 entities of its
        // partner (p0 has one).
        CountLimitCase{
            "max_restriction_bytes",
            [](CompileOptions& o) { o.max_restriction_bytes = 16; }, 2,
            [](v1::PolicySet& p, int n) {
              for (int i = 1; i <= n; ++i) {
                v1::Credential* credential = p.add_credentials();
                credential->set_client_id(absl::StrCat("c", i));
                credential->set_partner_id("p0");
                credential->add_entity_ids("e0");
                credential->add_scopes("t0:read");
              }
            },
            "credentials: entity restrictions need more than 16 bytes (the "
            "limit) by credentials[3]"}),
    [](const testing::TestParamInfo<CountLimitCase>& info) {
      return info.param.name;
    });

// max_name_bytes applies to every name and id the compiler stores.
struct NameCase {
  std::string field;
  // Sets the field (and whatever must match it) to `name`.
  std::function<void(v1::PolicySet&, const std::string&)> set;
  std::string path;

  friend void PrintTo(const NameCase& test, std::ostream* out) {
    *out << test.field;
  }
};

class NameLimitTest : public testing::TestWithParam<NameCase> {};

TEST_P(NameLimitTest, AcceptedAtTheLimitRejectedPastIt) {
  const NameCase& test = GetParam();
  CompileOptions options;
  options.max_name_bytes = 8;

  v1::PolicySet at = Base();
  test.set(at, "nnnnnnnn");
  const auto accepted = Compile(at, options);
  EXPECT_TRUE(accepted.ok()) << accepted.status();

  v1::PolicySet past = Base();
  test.set(past, "nnnnnnnnn");
  const ValidationReport report = Validate(past, options);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.errors[0].ToString(),
            absl::StrCat(test.path,
                         ": \"nnnnnnnnn\" is 9 bytes long; the limit is 8"));
}

INSTANTIATE_TEST_SUITE_P(
    Limits, NameLimitTest,
    testing::Values(
        NameCase{"object_type",
                 [](v1::PolicySet& p, const std::string& name) {
                   p.mutable_catalog()->mutable_object_types(0)->set_name(name);
                   p.mutable_roles(0)
                       ->mutable_permissions()
                       ->mutable_objects(0)
                       ->set_object_type(name);
                 },
                 "catalog.object_types[0].name"},
        NameCase{"action",
                 [](v1::PolicySet& p, const std::string& name) {
                   p.mutable_catalog()
                       ->mutable_object_types(0)
                       ->mutable_actions(0)
                       ->set_name(name);
                   p.mutable_roles(0)
                       ->mutable_permissions()
                       ->mutable_objects(0)
                       ->mutable_actions(0)
                       ->set_action_name(name);
                 },
                 "catalog.object_types[0].actions[0].name"},
        NameCase{"role_id",
                 [](v1::PolicySet& p, const std::string& name) {
                   p.mutable_roles(0)->set_id(name);
                   p.mutable_entities(0)->set_default_role_id(name);
                 },
                 "roles[0].id"},
        NameCase{"role_name",
                 [](v1::PolicySet& p, const std::string& name) {
                   p.mutable_roles(0)->set_name(name);
                 },
                 "roles[0].name"},
        NameCase{"entity_id",
                 [](v1::PolicySet& p, const std::string& name) {
                   p.mutable_entities(0)->set_id(name);
                 },
                 "entities[0].id"},
        NameCase{"partner_id",
                 [](v1::PolicySet& p, const std::string& name) {
                   p.mutable_entities(0)->set_partner_id(name);
                   p.mutable_credentials(0)->set_partner_id(name);
                 },
                 "entities[0].partner_id"},
        NameCase{"client_id",
                 [](v1::PolicySet& p, const std::string& name) {
                   p.mutable_credentials(0)->set_client_id(name);
                 },
                 "credentials[0].client_id"},
        NameCase{"credential_name",
                 [](v1::PolicySet& p, const std::string& name) {
                   p.mutable_credentials(0)->set_name(name);
                 },
                 "credentials[0].name"}),
    [](const testing::TestParamInfo<NameCase>& info) {
      return info.param.field;
    });

// An action's index in its type is 16 bits: no option raises the per-type
// limit past 65,535.
TEST(LimitsTest, ActionsPerObjectTypeCappedAt65535) {
  CompileOptions options;
  options.max_actions_per_object_type = 100000;
  options.max_actions = 100000;
  v1::PolicySet at = Base();
  AddBigObjectType(at, 65535);
  const auto accepted = Compile(at, options);
  EXPECT_TRUE(accepted.ok()) << accepted.status();

  v1::PolicySet past = Base();
  AddBigObjectType(past, 65536);
  const auto rejected = Compile(past, options);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(std::string(rejected.status().message()),
            "catalog.object_types[1].actions: 65536 actions; the limit is "
            "65535");
}

// max_errors counts problems, not policy elements: at the limit every error
// is reported; past it the rest are counted.
TEST(LimitsTest, MaxErrors) {
  CompileOptions options;
  options.max_errors = 2;
  auto with_bad_entities = [](int n) {
    v1::PolicySet policy = Base();
    for (int i = 0; i < n; ++i) {
      v1::Entity* entity = policy.add_entities();
      entity->set_id(absl::StrCat("bad", i));
    }
    return policy;
  };
  const auto at = Compile(with_bad_entities(2), options);
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(std::string(at.status().message()),
            "entities[1].partner_id: must not be empty\n"
            "entities[2].partner_id: must not be empty");
  const auto past = Compile(with_bad_entities(3), options);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(std::string(past.status().message()),
            "entities[1].partner_id: must not be empty\n"
            "entities[2].partner_id: must not be empty\n"
            "(and 1 more errors)");
}

// Files of exactly `sizes` bytes each, holding valid JSON (an empty policy
// padded with spaces).
std::vector<std::string> WriteFiles(const std::string& name,
                                    const std::vector<size_t>& sizes) {
  std::vector<std::string> paths;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const std::string path =
        absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name, i, ".json");
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "{}" << std::string(sizes[i] - 2, ' ');
    paths.push_back(path);
  }
  return paths;
}

TEST(LimitsTest, MaxFileBytes) {
  LoadOptions options;
  options.max_file_bytes = 64;
  const auto at = LoadPolicyFiles(WriteFiles("at", {64}), options);
  EXPECT_TRUE(at.ok()) << at.status();
  const std::vector<std::string> past_files = WriteFiles("past", {65});
  const auto past = LoadPolicyFiles(past_files, options);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(past.status().message()),
            absl::StrCat(past_files[0],
                         ": file is 65 bytes; the limit is 64 "
                         "(LoadOptions::max_file_bytes; `portcullis` commands "
                         "take --max-file-bytes N, `portcullis serve` the "
                         "policy.max_file_bytes field)"));
}

TEST(LimitsTest, MaxTotalBytes) {
  LoadOptions options;
  options.max_total_bytes = 100;
  const auto at =
      LoadPolicyFiles(WriteFiles("total_at", {40, 40, 20}), options);
  EXPECT_TRUE(at.ok()) << at.status();
  const std::vector<std::string> past_files =
      WriteFiles("total_past", {40, 40, 21});
  const auto past = LoadPolicyFiles(past_files, options);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(past.status().message()),
            absl::StrCat(past_files[2],
                         ": policy files total 101 bytes with this one; the "
                         "limit is 100 (LoadOptions::max_total_bytes; "
                         "`portcullis` commands take --max-file-bytes N, which "
                         "raises both limits, `portcullis serve` the "
                         "policy.max_total_bytes field)"));
}

// BundleOptions::max_bundle_bytes bounds the file ReadBundle reads: a bundle
// of exactly that many bytes loads, one a byte larger is refused before it is
// read.
TEST(LimitsTest, MaxBundleBytes) {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(Base());
  ASSERT_TRUE(policy.ok()) << policy.status();
  const std::string path =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/limit.bundle");
  ASSERT_TRUE(WriteBundle(**policy, path).ok());
  const size_t size = std::filesystem::file_size(path);

  BundleOptions at;
  at.max_bundle_bytes = size;
  const auto accepted = ReadBundle(path, at);
  EXPECT_TRUE(accepted.ok()) << accepted.status();

  BundleOptions past;
  past.max_bundle_bytes = size - 1;
  const auto rejected = ReadBundle(path, past);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(rejected.status().message()),
            absl::StrCat(path, ": file is ", size, " bytes; the limit is ",
                         size - 1));
}

TEST(LimitsTest, MaxBundleBytesDefaultsTo4GiB) {
  EXPECT_EQ(BundleOptions().max_bundle_bytes, size_t{4} << 30);
}

}  // namespace
}  // namespace portcullis
