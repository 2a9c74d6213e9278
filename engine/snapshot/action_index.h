// The (object type, action) -> slot index behind the name-based checks. Not
// part of the public API.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/snapshot/name_table.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis::internal {

// One hash of an (object type, action) pair: both names are mixed into one
// state, eight bytes at a time, with a multiply and a shift per word and no
// separate finalizer. The lengths seed it, so "ab"+"c" and "a"+"bc" differ.
// Not a keyed hash: the index only ever answers lookups (an adversary cannot
// insert), so a probe is never longer than the longest run of occupied
// entries, fixed when the index is built.
inline uint64_t HashActionKey(absl::string_view object_type,
                              absl::string_view action) {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  uint64_t h = (uint64_t{object_type.size()} << 32 ^ action.size()) * kMul;
  auto mix = [&h](absl::string_view name) {
    const char* p = name.data();
    const size_t n = name.size();
    for (size_t i = 0; i + 8 < n; i += 8) {
      h = (h ^ LoadWord64(p + i)) * kMul;
      h ^= h >> 32;
    }
    uint64_t tail = 0;
    if (n >= 8) {
      tail = LoadWord64(p + n - 8);
    } else if (n >= 4) {
      tail = uint64_t{LoadWord32(p)} << 32 | LoadWord32(p + n - 4);
    } else if (n > 0) {
      tail = uint64_t{static_cast<unsigned char>(p[0])} << 16 |
             uint64_t{static_cast<unsigned char>(p[n / 2])} << 8 |
             static_cast<unsigned char>(p[n - 1]);
    }
    h = (h ^ tail) * kMul;
    h ^= h >> 32;
  };
  mix(object_type);
  mix(action);
  return h;
}

// Finds an action's slot from its object type's name and its own: one hash of
// both names (HashActionKey), then a linear probe of an open-addressing table
// whose 32-byte entries hold the names themselves when they fit in 16 bytes
// together (catalog names are short), so a hit reads one entry and compares
// it in place: no pointer chasing into the name tables. At most half full, so
// probes are short; about 64 bytes per slot (a catalog of 220 slots is 16 KB,
// which stays in L1 under a steady stream of checks).
//
// Immutable after construction and thread-safe. Holds its own copy of every
// name: it does not refer to the tables it was built from.
class ActionIndex {
 public:
  static constexpr uint32_t kNotFound = ~uint32_t{0};

  // Precondition (the compiler and the bundle loader check it): every
  // (object type, action) pair of `tables` is distinct.
  explicit ActionIndex(const PolicyTables& tables);
  ActionIndex(const ActionIndex&) = delete;
  ActionIndex& operator=(const ActionIndex&) = delete;

  // The slot of `action` of `object_type`, or kNotFound. No allocation.
  uint32_t Find(absl::string_view object_type, absl::string_view action) const {
    const uint64_t h = HashActionKey(object_type, action);
    const uint32_t tag = static_cast<uint32_t>(h);
    for (uint64_t i = h >> shift_;; i = (i + 1) & mask_) {
      const Entry& e = entries_[i];
      if (e.slot == kNotFound) return kNotFound;
      if (e.tag == tag && e.type_size == object_type.size() &&
          e.action_size == action.size()) {
        const char* key = e.key();
        if (NamesEqual(absl::string_view(key, e.type_size), object_type) &&
            NamesEqual(absl::string_view(key + e.type_size, e.action_size),
                       action)) {
          return e.slot;
        }
      }
    }
  }

  // The most entries a lookup reads (a hit's or a miss's): the longest run
  // of occupied entries plus the empty one that ends it. For `portcullis
  // stats` and the tests that check probes stay short.
  uint32_t LongestProbe() const { return longest_probe_; }

  size_t MemoryBytes() const;

 private:
  static constexpr size_t kInlineKeyBytes = 16;
  struct Entry {
    uint32_t tag = 0;  // the hash's low 32 bits
    uint32_t slot = kNotFound;  // kNotFound: empty
    uint32_t type_size = 0;
    uint32_t action_size = 0;
    // The object type's name then the action's, inline when they fit;
    // otherwise `spilled` points into `long_keys_`.
    union {
      char inline_key[kInlineKeyBytes] = {};
      const char* spilled;
    };
    const char* key() const {
      return type_size + action_size <= kInlineKeyBytes ? inline_key : spilled;
    }
  };
  static_assert(sizeof(Entry) == 32, "two entries per cache line");

  std::vector<Entry> entries_;  // a power of two, at least twice the slots
  uint64_t mask_ = 0;
  uint32_t shift_ = 64;
  uint32_t longest_probe_ = 0;
  std::string long_keys_;  // keys longer than kInlineKeyBytes, back to back
};

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_
