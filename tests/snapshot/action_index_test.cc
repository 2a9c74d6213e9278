// The (object type, action) index behind the checks by names: every pair of a
// catalog is found, whatever the length of its names (inline or spilled
// keys), through collisions; anything else, including a pair split
// differently, a pair of two other types' names, a prefix or an empty name,
// is not.
#include "engine/snapshot/action_index.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/compile/compiler.h"
#include "gtest/gtest.h"
#include "proto/policy.pb.h"

namespace portcullis {
namespace {

// A name of exactly `length` bytes, distinct per `seed`.
std::string NameOfLength(const std::string& seed, size_t length) {
  std::string name = seed;
  while (name.size() < length)
    name += static_cast<char>('a' + name.size() % 26);
  return name.substr(0, std::max(length, seed.size()));
}

struct Catalog {
  std::vector<std::string> types;
  std::vector<std::vector<std::string>> actions;  // per type
};

// `types` object types of `actions_per_type` actions each, with names from 1
// to 40 bytes, so that keys are both inline (≤ 16 bytes together) and
// spilled.
Catalog MakeCatalog(int types, int actions_per_type) {
  Catalog catalog;
  for (int t = 0; t < types; ++t) {
    catalog.types.push_back(NameOfLength(absl::StrCat("t", t), 1 + t % 24));
    catalog.actions.emplace_back();
    for (int a = 0; a < actions_per_type; ++a) {
      catalog.actions.back().push_back(
          NameOfLength(absl::StrCat("a", a), 1 + (a * 7 + t) % 40));
    }
  }
  return catalog;
}

std::unique_ptr<const CompiledPolicy> CompileCatalog(const Catalog& catalog) {
  v1::PolicySet policy;
  for (size_t t = 0; t < catalog.types.size(); ++t) {
    v1::ObjectType* type = policy.mutable_catalog()->add_object_types();
    type->set_name(catalog.types[t]);
    for (const std::string& action : catalog.actions[t]) {
      type->add_actions()->set_name(action);
    }
  }
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      Compile(policy);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? *std::move(compiled) : nullptr;
}

TEST(ActionIndexTest, FindsEveryPairThroughCollisions) {
  // 200 types x 25 actions: 5,000 slots, so runs of neighbouring entries
  // (and so probes past a colliding entry) are certain.
  const Catalog catalog = MakeCatalog(200, 25);
  const std::unique_ptr<const CompiledPolicy> policy = CompileCatalog(catalog);
  ASSERT_NE(policy, nullptr);
  const internal::ActionIndex index(policy->tables());
  EXPECT_GE(index.LongestProbe(), 3u);
  // Half full at most, so runs stay short.
  EXPECT_LE(index.LongestProbe(), 64u);
  int found = 0;
  for (size_t t = 0; t < catalog.types.size(); ++t) {
    for (const std::string& action : catalog.actions[t]) {
      SCOPED_TRACE(absl::StrCat(catalog.types[t], ".", action));
      const uint32_t slot = index.Find(catalog.types[t], action);
      ASSERT_NE(slot, internal::ActionIndex::kNotFound);
      const std::optional<ActionId> id =
          policy->FindAction(catalog.types[t], action);
      ASSERT_TRUE(id.has_value());
      EXPECT_EQ(id->index(), slot);
      EXPECT_EQ(policy->ActionName(*id), action);
      EXPECT_EQ(policy->ObjectTypeName(policy->ObjectTypeOf(*id)),
                catalog.types[t]);
      ++found;
    }
  }
  EXPECT_EQ(found, 5000);
}

TEST(ActionIndexTest, FindsNothingElse) {
  const Catalog catalog = MakeCatalog(40, 6);
  const std::unique_ptr<const CompiledPolicy> policy = CompileCatalog(catalog);
  ASSERT_NE(policy, nullptr);
  const internal::ActionIndex index(policy->tables());
  auto listed = [&](const std::string& type, const std::string& action) {
    for (size_t t = 0; t < catalog.types.size(); ++t) {
      if (catalog.types[t] != type) continue;
      for (const std::string& a : catalog.actions[t]) {
        if (a == action) return true;
      }
    }
    return false;
  };
  int misses = 0;
  for (size_t t = 0; t < catalog.types.size(); ++t) {
    const std::string& type = catalog.types[t];
    for (size_t u = 0; u < catalog.types.size(); ++u) {
      for (const std::string& action : catalog.actions[u]) {
        std::vector<std::pair<std::string, std::string>> probes = {
            // Another type's action.
            {type, action},
            // The same bytes split at another place.
            {type + action.substr(0, 1), action.substr(1)},
            {type.substr(0, type.size() - 1), type.back() + action},
            // A prefix, an extension, a changed last byte.
            {type, action.substr(0, action.size() - 1)},
            {type, action + "x"},
            {type, action.substr(0, action.size() - 1) +
                       static_cast<char>(action.back() ^ 1)},
            // Empty names.
            {"", action},
            {type, ""},
        };
        for (const auto& [t_name, a_name] : probes) {
          if (listed(t_name, a_name)) continue;
          SCOPED_TRACE(absl::StrCat("\"", t_name, "\".\"", a_name, "\""));
          EXPECT_EQ(index.Find(t_name, a_name),
                    internal::ActionIndex::kNotFound);
          EXPECT_FALSE(policy->FindAction(t_name, a_name).has_value());
          ++misses;
        }
      }
    }
  }
  EXPECT_GT(misses, 10000);
  EXPECT_EQ(index.Find("", ""), internal::ActionIndex::kNotFound);
}

TEST(ActionIndexTest, EmptyCatalogFindsNothing) {
  const std::unique_ptr<const CompiledPolicy> policy =
      CompileCatalog(Catalog{});
  ASSERT_NE(policy, nullptr);
  const internal::ActionIndex index(policy->tables());
  EXPECT_EQ(index.Find("payable", "read"), internal::ActionIndex::kNotFound);
  EXPECT_EQ(index.Find("", ""), internal::ActionIndex::kNotFound);
  EXPECT_EQ(index.LongestProbe(), 1u);
}

}  // namespace
}  // namespace portcullis
