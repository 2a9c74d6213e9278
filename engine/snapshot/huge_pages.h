// Backing a snapshot's large tables with transparent huge pages. Not part of
// the public API.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_HUGE_PAGES_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_HUGE_PAGES_H_

#include <cstddef>
#include <new>
#include <vector>

namespace portcullis::internal {

// The huge page size this targets (x86-64's and arm64's PMD size).
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// Storage for a table of `bytes` bytes. From `kHugePageBytes` on, aligned to
// a huge page, its whole huge pages advised as such (madvise MADV_HUGEPAGE,
// before anything is written, so that the first touch faults in huge pages;
// the partial last one stays in 4 KB pages, so no memory is added); smaller
// ones come from operator new as usual. Free with FreeTable(p, bytes).
//
// Why: at a million roles a check entirely by names reads the role's slot,
// name, owner and row from tables of 4 to 11 MB each, and each read missed
// the TLB too. The advice is a hint: where THP is disabled (or not Linux),
// the pages stay 4 KB and nothing else changes.
void* AllocateTable(size_t bytes);
void FreeTable(void* p, size_t bytes) noexcept;

// std::allocator, but through AllocateTable: for the tables a check reads at
// random by role (HugePageVector). Stateless; every instance is equal.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding
  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T))
      throw std::bad_array_new_length();
    return static_cast<T*>(AllocateTable(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { FreeTable(p, n * sizeof(T)); }
  friend bool operator==(HugePageAllocator, HugePageAllocator) { return true; }
  friend bool operator!=(HugePageAllocator, HugePageAllocator) { return false; }
};

template <typename T>
using HugePageVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_HUGE_PAGES_H_
