#include "engine/auth/introspection_cache.h"

#include <algorithm>

namespace portcullis::auth::introspection {

CacheTable& ThreadCacheMiss(uint64_t service_id, size_t sets,
                            const std::shared_ptr<HitCounters>& counters) {
  ThreadCaches& caches = ThisThreadCaches();
  size_t i = 1;
  while (i < ThreadCaches::kServices && caches.ids[i] != service_id) ++i;
  if (i == ThreadCaches::kServices) {
    // A free slot, else the least recently used.
    i = 0;
    while (i < ThreadCaches::kServices - 1 && caches.ids[i] != 0) ++i;
    caches.ids[i] = service_id;
    caches.tables[i] = std::make_unique<CacheTable>(sets, counters);
  }
  std::rotate(caches.ids.begin(), caches.ids.begin() + i,
              caches.ids.begin() + i + 1);
  std::rotate(caches.tables.begin(), caches.tables.begin() + i,
              caches.tables.begin() + i + 1);
  return *caches.tables[0];
}

void ReleaseCache(uint64_t service_id) {
  ThreadCaches& caches = ThisThreadCaches();
  for (size_t i = 0; i < ThreadCaches::kServices; ++i) {
    if (caches.ids[i] != service_id) continue;
    caches.ids[i] = 0;
    caches.tables[i].reset();
    // Free slots go last, so that the most recent stay first.
    std::rotate(caches.ids.begin() + i, caches.ids.begin() + i + 1,
                caches.ids.end());
    std::rotate(caches.tables.begin() + i, caches.tables.begin() + i + 1,
                caches.tables.end());
    return;
  }
}

size_t CacheSets(size_t entries) {
  size_t sets = 1;
  while (sets * kWays < entries) sets *= 2;
  return sets;
}

}  // namespace portcullis::auth::introspection
