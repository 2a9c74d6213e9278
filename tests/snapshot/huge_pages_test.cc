// The allocator behind the tables a check by names reads at random: blocks of
// a huge page or more are aligned to one (so that madvise can back every whole
// huge page of them), smaller ones are ordinary; both hold what is written.
#include "engine/snapshot/huge_pages.h"

#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"

namespace portcullis::internal {
namespace {

TEST(HugePagesTest, LargeBlocksAreAlignedToAHugePage) {
  struct Case {
    size_t bytes;
    bool aligned;  // must start on a huge page
  };
  const std::vector<Case> cases = {
      {1, false},
      {4096, false},
      {kHugePageBytes - 1, false},
      {kHugePageBytes, true},
      {kHugePageBytes + 1, true},
      {2 * kHugePageBytes + 12345, true},
  };
  for (const Case& c : cases) {
    void* p = AllocateTable(c.bytes);
    ASSERT_NE(p, nullptr) << c.bytes;
    if (c.aligned) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePageBytes, 0u) << c.bytes;
    }
    // Every byte is usable: first, last and a pattern over all of them.
    std::memset(p, 0xab, c.bytes);
    const auto* bytes = static_cast<const unsigned char*>(p);
    EXPECT_EQ(bytes[0], 0xab) << c.bytes;
    EXPECT_EQ(bytes[c.bytes - 1], 0xab) << c.bytes;
    FreeTable(p, c.bytes);
  }
}

TEST(HugePagesTest, HugePageVectorHoldsWhatAVectorHolds) {
  for (size_t count : {size_t{0}, size_t{10}, kHugePageBytes / 4 + 3}) {
    std::vector<uint32_t> expected(count);
    std::iota(expected.begin(), expected.end(), 7u);
    HugePageVector<uint32_t> v;
    for (uint32_t x : expected) v.push_back(x);
    v.shrink_to_fit();
    ASSERT_EQ(v.size(), count);
    EXPECT_TRUE(std::equal(v.begin(), v.end(), expected.begin()));
    HugePageVector<uint32_t> copy = v;
    HugePageVector<uint32_t> moved = std::move(v);
    EXPECT_EQ(copy, moved);
    if (count * sizeof(uint32_t) >= kHugePageBytes) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(moved.data()) % kHugePageBytes, 0u);
    }
  }
}

}  // namespace
}  // namespace portcullis::internal
