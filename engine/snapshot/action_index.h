// The (object type, action) -> slot index behind the name-based checks. Not
// part of the public API.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/strings/string_view.h"
#include "engine/snapshot/name_table.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis::internal {

// An (object type, action) pair as the index hashes and compares it: both
// names' lengths and their ends (EndsOf), which are every byte of a name of up
// to sixteen: two pairs of such names are equal exactly when their keys are.
struct ActionKey {
  uint64_t sizes = 0;  // the object type's length << 32, the action's
  NameEnds type;
  NameEnds action;
};
inline ActionKey KeyOf(absl::string_view object_type,
                       absl::string_view action) {
  return {uint64_t{object_type.size()} << 32 ^ action.size(),
          EndsOf(object_type), EndsOf(action)};
}

// One hash of an (object type, action) pair, with no loop: the key's words,
// each multiplied by its own odd constant, summed, and the sum multiplied
// once more so that every input bit reaches the high bits the index takes.
// Names that differ only in the middle of a long name collide, which costs a
// probe, never a wrong answer: a hit compares long names whole.
// Not a keyed hash: the index only answers lookups (an adversary cannot
// insert), so a probe is never longer than the longest run of occupied
// entries, fixed when the index is built.
inline uint64_t HashActionKey(const ActionKey& k) {
  uint64_t h = k.sizes * 0x9e3779b97f4a7c15ull +
               k.type.first * 0xc2b2ae3d27d4eb4full +
               k.type.last * 0x165667b19e3779f9ull +
               k.action.first * 0xd6e8feb86659fd93ull +
               k.action.last * 0xff51afd7ed558ccdull;
  h ^= h >> 29;
  return h * 0x9e3779b97f4a7c15ull;
}

// Finds an action's slot from its object type's name and its own: one hash of
// both names (HashActionKey), then a linear probe of an open-addressing table
// whose 48-byte entries hold each pair's key (ActionKey), so a hit reads one
// entry and compares five words in place, with no loop and no pointer chasing
// into the name tables; only a pair with a name longer than sixteen bytes is
// then compared whole, from a buffer of such names. At most half full, so
// probes are short; about 96 bytes per slot (a catalog of 220 slots is 24 KB,
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
    const ActionKey k = KeyOf(object_type, action);
    for (uint64_t i = HashActionKey(k) >> shift_;; i = (i + 1) & mask_) {
      const Entry& e = entries_[i];
      if (e.slot == kNotFound) return kNotFound;
      const uint64_t differ = (e.key.sizes ^ k.sizes) |
                              (e.key.type.first ^ k.type.first) |
                              (e.key.type.last ^ k.type.last) |
                              (e.key.action.first ^ k.action.first) |
                              (e.key.action.last ^ k.action.last);
      if (differ != 0) continue;
      if (ABSL_PREDICT_TRUE(e.long_key == kShortKey) ||
          LongKeyEquals(e, object_type, action)) {
        return e.slot;
      }
    }
  }

  // The most entries a lookup reads (a hit's or a miss's): the longest run
  // of occupied entries plus the empty one that ends it. For `portcullis
  // stats` and the tests that check probes stay short.
  uint32_t LongestProbe() const { return longest_probe_; }

  size_t MemoryBytes() const;

 private:
  // Names of up to this many bytes are whole in their NameEnds.
  static constexpr size_t kWholeInEnds = 16;
  static constexpr uint32_t kShortKey = ~uint32_t{0};
  struct Entry {
    ActionKey key;
    uint32_t slot = kNotFound;  // kNotFound: empty
    // Offset in long_keys_ of the object type's name then the action's, when
    // either is longer than kWholeInEnds; kShortKey otherwise.
    uint32_t long_key = kShortKey;
  };
  static_assert(sizeof(Entry) == 48, "four entries per three cache lines");

  // Out of line: only pairs with a long name get here.
  bool LongKeyEquals(const Entry& e, absl::string_view object_type,
                     absl::string_view action) const;

  std::vector<Entry> entries_;  // a power of two, at least twice the slots
  uint64_t mask_ = 0;
  uint32_t shift_ = 64;
  uint32_t longest_probe_ = 0;
  std::string long_keys_;  // long keys' names, back to back
};

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_
