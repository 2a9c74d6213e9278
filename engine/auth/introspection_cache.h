// The introspection cache of the token service (token_service.h, "Fast
// introspection"): per thread, for each of the services it used most
// recently, a 4-way set-associative table of validated tokens keyed by a
// 128-bit keyed one-way function of the token (BlockPrf of an opaque
// token's bytes, else SipHash-128), each entry holding the bound AccessGrant,
// its
// expiry and the generations it was validated at. Thread-hostile by design:
// only its thread touches a table (its hit count excepted: HitCounters reads
// it). Not part of the public API.
#ifndef PORTCULLIS_ENGINE_AUTH_INTROSPECTION_CACHE_H_
#define PORTCULLIS_ENGINE_AUTH_INTROSPECTION_CACHE_H_

#include <sodium.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/types/span.h"

namespace portcullis::auth {

class AccessGrant;

namespace introspection {

static_assert(crypto_shorthash_siphashx24_BYTES == 16 &&
                  crypto_shorthash_siphashx24_KEYBYTES == 16,
              "the cache key is one SipHash-128 under a 128-bit key");

// Largest cache: 2^24 entries (1 GiB per thread) is far past any use.
constexpr size_t kMaxCacheEntries = size_t{1} << 24;
constexpr size_t kWays = 4;
// CacheEntry::valid_seconds of an entry valid from any time before expiry.
constexpr uint32_t kAlwaysValid = 0xffffffffu;

// A token's cache key: BlockPrf of an opaque token's 16 bytes, or
// SipHash-128 (CacheKeyOf) of a JWT's signature segment or, without AES
// instructions, of an opaque token's bytes.
struct CacheKey {
  uint64_t lo = 0;
  uint64_t hi = 0;
};

inline CacheKey CacheKeyOf(const std::array<uint8_t, 16>& key,
                           absl::Span<const uint8_t> token) {
  std::array<uint8_t, 16> out;
  crypto_shorthash_siphashx24(out.data(), token.data(), token.size(),
                              key.data());
  CacheKey cache_key;
  std::memcpy(&cache_key.lo, out.data(), sizeof(cache_key.lo));
  std::memcpy(&cache_key.hi, out.data() + 8, sizeof(cache_key.hi));
  return cache_key;
}

// One validated token, in one cache line. Empty while `grant` is null.
struct alignas(64) CacheEntry {
  uint64_t key_lo = 0;
  uint64_t key_hi = 0;
  // The generations the token was validated at (TokenService::CacheStamp).
  uint64_t generation = 0;
  uint64_t family_generation = 0;
  // The expiry in Unix nanoseconds (token times are whole nanoseconds).
  int64_t expires_at_nanos = 0;
  uint32_t family_bucket = 0;
  // The entry answers hits for now in [expiry - valid_seconds s, expiry):
  // earlier, the slow path would refuse the token (a JWT before its iat or
  // nbf less the leeway, after the clock stepped back), so a hit must not
  // accept it. kAlwaysValid (about 136 years) for opaque tokens, and for
  // them only: a JWT's window is clamped below it (see jwt()).
  uint32_t valid_seconds = 0;
  std::shared_ptr<const AccessGrant> grant;

  // Whether the entry is a JWT's, whose grant holds the signed part a hit
  // must compare; read from this line, so that an opaque token's hit does
  // not load the grant's own line for it (one cache miss fewer per hit when
  // a thread's live tokens do not fit in the CPU caches).
  bool jwt() const { return valid_seconds != kAlwaysValid; }
};
static_assert(sizeof(CacheEntry) == 64, "one entry per cache line");

// The exact count of one service's cache hits over all threads. Each
// thread's table counts its own hits (CacheTable::CountHit: a plain add to a
// word only that thread writes, on the line of the table it reads anyway, so
// a hit writes no shared cache line); a table registers its counter here
// when made and hands its count over when freed. Thread-safe; Total() takes
// a mutex and reads every live table's counter, O(threads): for scrapes, not
// for request paths. Shared (shared_ptr) by the service and its tables, as a
// table may outlive its service in a thread's cache.
class HitCounters {
 public:
  // Hits of every table ever registered, live or freed.
  uint64_t Total() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t total = retired_;
    for (const std::atomic<uint64_t>* live : live_) {
      total += live->load(std::memory_order_relaxed);
    }
    return total;
  }

  void Register(const std::atomic<uint64_t>* counter) {
    std::lock_guard<std::mutex> lock(mu_);
    live_.push_back(counter);
  }

  // `counter` stops being read; its count is kept.
  void Retire(const std::atomic<uint64_t>* counter) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < live_.size(); ++i) {
      if (live_[i] != counter) continue;
      retired_ += counter->load(std::memory_order_relaxed);
      live_[i] = live_.back();
      live_.pop_back();
      return;
    }
  }

 private:
  mutable std::mutex mu_;
  std::vector<const std::atomic<uint64_t>*> live_;  // Guarded by mu_.
  uint64_t retired_ = 0;                            // Guarded by mu_.
};

// A thread's cache for one service: `sets` sets of kWays entries, a set
// chosen by the low bits of the key (uniform: a PRF value). Thread-hostile:
// only its thread touches it, except `hits_`, which `counters` reads.
class CacheTable {
 public:
  CacheTable(size_t sets, std::shared_ptr<HitCounters> counters)
      : set_mask_(sets - 1),
        entries_(sets * kWays),
        counters_(std::move(counters)) {
    counters_->Register(&hits_);
  }
  ~CacheTable() { counters_->Retire(&hits_); }
  CacheTable(const CacheTable&) = delete;
  CacheTable& operator=(const CacheTable&) = delete;

  // The service epoch (a count of SetPolicy calls) the table last saw.
  uint64_t epoch() const { return epoch_; }

  // One more hit. Only this table's thread writes `hits_`, so a relaxed
  // load and store (no locked instruction) count exactly.
  void CountHit() {
    hits_.store(hits_.load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
  }

  // Drops every entry, and with them the grants, policy snapshots and rate
  // limiters they hold, and records `epoch`. Called when the table sees a
  // new epoch: every grant it holds is then bound to an older snapshot and
  // would be validated again anyway, so keeping it would only keep that
  // snapshot alive. O(entries) when any is filled, once per swap per
  // thread; the tokens pay a BLAKE2b on their next use here (their digest
  // went with the grant).
  void DropAll(uint64_t epoch) {
    epoch_ = epoch;
    if (filled_ == 0) return;
    for (CacheEntry& entry : entries_) entry = CacheEntry();
    filled_ = 0;
  }

  // The entry of `key`, or null.
  CacheEntry* Find(const CacheKey& key) {
    CacheEntry* set = &entries_[(key.lo & set_mask_) * kWays];
    for (size_t way = 0; way < kWays; ++way) {
      // Branch-free over the 128 bits: two XORs and an OR on registers, no
      // loop a compiler could cut short; inline rather than
      // crypto_verify_16, a call per way on the hot path. Which of the 4
      // ways matched is all a timing could tell.
      const uint64_t difference =
          (set[way].key_lo ^ key.lo) | (set[way].key_hi ^ key.hi);
      if (difference == 0 && set[way].grant != nullptr) return &set[way];
    }
    return nullptr;
  }

  // Where to store `key`: an empty way of its set, else one chosen by the
  // key's high bits (a random victim: as good as LRU for random tokens, and
  // needs no bookkeeping on hits).
  CacheEntry& Slot(const CacheKey& key) {
    CacheEntry* set = &entries_[(key.lo & set_mask_) * kWays];
    for (size_t way = 0; way < kWays; ++way) {
      if (set[way].grant == nullptr) return set[way];
    }
    return set[key.hi % kWays];
  }

  // Fills `entry` (from Find or Slot) with `grant`.
  void Fill(CacheEntry& entry, CacheEntry filled) {
    if (entry.grant == nullptr) ++filled_;
    entry = std::move(filled);
  }

  // Empties `entry` (from Find).
  void Clear(CacheEntry& entry) {
    if (entry.grant != nullptr) --filled_;
    entry = CacheEntry();
  }

 private:
  const size_t set_mask_;
  std::vector<CacheEntry> entries_;
  // Entries holding a grant; lets DropAll skip an empty table.
  size_t filled_ = 0;
  uint64_t epoch_ = 0;
  // Hits answered by this table; beside epoch_, which every lookup reads.
  std::atomic<uint64_t> hits_{0};
  const std::shared_ptr<HitCounters> counters_;
};

// The caches of the services this thread used most recently, most recent
// first; id 0 is a free slot. Service ids are never reused, so a destroyed
// service's cache is never found again; it is freed when evicted or when
// the thread exits.
struct ThreadCaches {
  static constexpr size_t kServices = 4;
  std::array<uint64_t, kServices> ids{};
  std::array<std::unique_ptr<CacheTable>, kServices> tables;
};

inline ThreadCaches& ThisThreadCaches() {
  thread_local ThreadCaches caches;
  return caches;
}

// This thread's cache of `service_id` (of `sets` sets, counting its hits in
// `counters`), made most recent; created, evicting the least recently used,
// when the thread has none.
CacheTable& ThreadCacheMiss(uint64_t service_id, size_t sets,
                            const std::shared_ptr<HitCounters>& counters);
inline CacheTable& ThreadCache(uint64_t service_id, size_t sets,
                               const std::shared_ptr<HitCounters>& counters) {
  ThreadCaches& caches = ThisThreadCaches();
  if (caches.ids[0] == service_id) return *caches.tables[0];
  return ThreadCacheMiss(service_id, sets, counters);
}

// Frees this thread's cache of `service_id`, if it has one.
void ReleaseCache(uint64_t service_id);

// The number of sets for at least `entries` entries: a power of two.
size_t CacheSets(size_t entries);

}  // namespace introspection
}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_INTROSPECTION_CACHE_H_
