#include "engine/snapshot/huge_pages.h"

#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace portcullis::internal {

void* AllocateTable(size_t bytes) {
  if (bytes < kHugePageBytes) return ::operator new(bytes);
  void* p = ::operator new (bytes, std::align_val_t{kHugePageBytes});
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Only whole huge pages of this block: the rest of the last one may be
  // another allocation's. A refusal leaves 4 KB pages, which work the same.
  (void)madvise(p, bytes & ~(kHugePageBytes - 1), MADV_HUGEPAGE);
#endif
  return p;
}

void FreeTable(void* p, size_t bytes) noexcept {
  if (bytes < kHugePageBytes) {
    ::operator delete(p);
  } else {
    ::operator delete (p, std::align_val_t{kHugePageBytes});
  }
}

}  // namespace portcullis::internal
