// The name tables behind every lookup by name: each name is found in its own
// name space and nowhere else, through the index's growth and through
// bundles' two-step loading, which reports the first repeated name; names of
// every length, the empty one included, and prefixes of one another.
#include "engine/snapshot/name_table.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace portcullis::internal {
namespace {

constexpr uint32_t kNotFound = NameTable::kNotFound;

// Names of 0 to 40 bytes that are prefixes of one another, then numbered ones.
std::vector<std::string> Names(int count) {
  std::vector<std::string> names;
  std::string prefix;
  for (int length = 0; length <= 40 && static_cast<int>(names.size()) < count;
       ++length) {
    names.push_back(prefix);
    prefix += static_cast<char>('a' + length % 26);
  }
  for (int i = 0; static_cast<int>(names.size()) < count; ++i) {
    names.push_back(absl::StrCat("role-", i));
  }
  return names;
}

TEST(NameTableTest, FindsEveryNameAddedThroughGrowth) {
  const std::vector<std::string> names = Names(100000);
  NameTable table;
  for (uint32_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(table.Find(0, names[i]), kNotFound) << names[i];
    ASSERT_EQ(table.Add(0, names[i]), i);
    ASSERT_EQ(table.Find(0, names[i]), i) << "just added " << names[i];
  }
  EXPECT_EQ(table.size(), names.size());
  for (uint32_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(table.Find(0, names[i]), i) << names[i];
    EXPECT_EQ(table.name(i), names[i]);
  }
  for (const char* absent :
       {"role-100000", "role-", "ROLE-1", "role-1 ", "x"}) {
    EXPECT_EQ(table.Find(0, absent), kNotFound) << absent;
  }
  EXPECT_EQ(table.Find(1, names[5]), kNotFound) << "another name space";
}

TEST(NameTableTest, NameSpacesAreSeparate) {
  struct Case {
    uint32_t space;
    const char* name;
  };
  const std::vector<Case> cases = {
      {0, "approve"}, {1, "approve"}, {7, "approve"}, {1, "read"},
      {0, ""},        {1, ""},        {65535, "x"},
  };
  NameTable table;
  for (uint32_t i = 0; i < cases.size(); ++i) {
    ASSERT_EQ(table.Add(cases[i].space, cases[i].name), i);
  }
  for (uint32_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(table.Find(cases[i].space, cases[i].name), i)
        << cases[i].space << "/" << cases[i].name;
    EXPECT_EQ(table.space(i), cases[i].space);
  }
  EXPECT_EQ(table.Find(2, "approve"), kNotFound);
  EXPECT_EQ(table.Find(0, "read"), kNotFound);
  EXPECT_EQ(table.Find(65534, "x"), kNotFound);
}

TEST(NameTableTest, EmptyTableFindsNothing) {
  NameTable table;
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.Find(0, ""), kNotFound);
  EXPECT_EQ(table.Find(0, "anything"), kNotFound);
}

PackedStrings Pack(const std::vector<std::string>& names) {
  PackedStrings packed;
  for (const std::string& name : names) packed.Add(name);
  return packed;
}

TEST(NameTableTest, TwoStepLoadIndexesOrReportsTheFirstRepeat) {
  struct Case {
    std::vector<std::string> names;
    std::vector<uint32_t> spaces;
    uint32_t first_repeat;
  };
  const std::vector<Case> cases = {
      {{}, {}, kNotFound},
      {{"a", "b", "c"}, {0, 0, 0}, kNotFound},
      {{"a", "b", "a"}, {0, 0, 0}, 2},
      {{"a", "b", "a", "b"}, {0, 0, 0, 0}, 2},
      {{"a", "a"}, {0, 1}, kNotFound},
      {{"a", "a", "b", "a"}, {0, 1, 1, 1}, 3},
      {{"", ""}, {0, 0}, 1},
  };
  for (const Case& c : cases) {
    NameTable table;
    table.SetNames(Pack(c.names));
    EXPECT_EQ(table.size(), c.names.size());
    EXPECT_EQ(table.Index(c.spaces), c.first_repeat)
        << ::testing::PrintToString(c.names);
    if (c.first_repeat != kNotFound) continue;
    for (uint32_t i = 0; i < c.names.size(); ++i) {
      EXPECT_EQ(table.Find(c.spaces[i], c.names[i]), i) << c.names[i];
    }
  }
}

TEST(NameTableTest, LoadedTableGrowsLikeABuiltOne) {
  const std::vector<std::string> names = Names(5000);
  NameTable table;
  table.SetNames(Pack({names.begin(), names.begin() + 1000}));
  ASSERT_EQ(table.Index(std::vector<uint32_t>(1000, 0)), kNotFound);
  for (uint32_t i = 1000; i < names.size(); ++i) {
    ASSERT_EQ(table.Add(0, names[i]), i);
  }
  for (uint32_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(table.Find(0, names[i]), i) << names[i];
  }
}

// The hash spreads the ids policies use: numbered ones of every length and
// prefix, which differ in a byte or two. At most half full, a good hash reads
// about 1.5 slots a lookup; a plain sum of the multiplied end words, then an
// xor-shift and a multiply by 0xff51afd7ed558ccd, read 2.9 on "role-0" to
// "role-999".
TEST(NameTableTest, NumberedIdsProbeAboutOneAndAHalfSlots) {
  struct Case {
    const char* prefix;
    int count;
  };
  const std::vector<Case> cases = {
      {"role-", 1000},
      {"role-", 100000},
      {"entity-", 1000},
      {"entity-", 10000},
      {"client-", 1000},
      {"user-", 1000},
      {"", 1000},
      {"r", 100000},
      {"tenant_0000000", 1000},
      {"a-much-longer-role-name-", 10000},
  };
  for (const Case& c : cases) {
    NameTable table;
    for (int i = 0; i < c.count; ++i) table.Add(0, absl::StrCat(c.prefix, i));
    EXPECT_LE(table.MeanProbe(), 1.75) << c.prefix << " x " << c.count;
    EXPECT_GE(table.MeanProbe(), 1.0) << c.prefix << " x " << c.count;
  }
}

TEST(NameTableTest, IndexCostsAtMostSixteenBytesPerNameBeyondTheNames) {
  const std::vector<std::string> names = Names(1 << 16);
  NameTable table;
  size_t name_bytes = 0;
  for (const std::string& name : names) {
    table.Add(0, name);
    name_bytes += name.size() + sizeof(uint32_t);
  }
  table.ShrinkToFit();
  EXPECT_LE(table.MemoryBytes(), name_bytes + 16 * names.size() + 256);
}

// NamesEqual reads words, not bytes: every length from 0 to 40 (each of its
// branches: 1-3, 4-7, 8-16, longer), equal, and differing in exactly one
// byte at every position, so that no byte goes unread; and every length
// against every other.
TEST(NamesEqualTest, ComparesEveryByteOfEveryLength) {
  for (size_t n = 0; n <= 40; ++n) {
    SCOPED_TRACE(absl::StrCat("length ", n));
    std::string a;
    for (size_t i = 0; i < n; ++i) {
      a.push_back(static_cast<char>('a' + i % 26));
    }
    // Copies in buffers of their own, so equal names never share bytes.
    const std::string b = std::string(a.data(), a.size());
    EXPECT_TRUE(NamesEqual(a, b));
    for (size_t i = 0; i < n; ++i) {
      std::string c = a;
      c[i] = static_cast<char>(c[i] ^ 0x20);
      EXPECT_FALSE(NamesEqual(a, c)) << "differing at byte " << i;
      EXPECT_FALSE(NamesEqual(c, a)) << "differing at byte " << i;
    }
    for (size_t m = 0; m <= 40; ++m) {
      if (m != n) {
        EXPECT_FALSE(NamesEqual(a, std::string(m, 'a')));
      }
    }
  }
}

}  // namespace
}  // namespace portcullis::internal
