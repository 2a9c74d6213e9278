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

// The first and the last (up to) eight bytes of `name`, which are all of its
// bytes when it has at most sixteen, as two words.
struct NameEnds {
  uint64_t first = 0;
  uint64_t last = 0;
};
inline NameEnds EndsOf(absl::string_view name) {
  const char* p = name.data();
  const size_t n = name.size();
  if (n >= 8) return {LoadWord64(p), LoadWord64(p + n - 8)};
  if (n >= 4) return {LoadWord32(p), LoadWord32(p + n - 4)};
  if (n == 0) return {};
  return {uint64_t{static_cast<unsigned char>(p[0])} << 16 |
              uint64_t{static_cast<unsigned char>(p[n / 2])} << 8 |
              static_cast<unsigned char>(p[n - 1]),
          0};
}

// One hash of an (object type, action) pair, with no loop: the two names'
// lengths and their first and last eight bytes (all of a name of up to
// sixteen), each word multiplied by its own odd constant, summed, and the sum
// multiplied once more so that every input bit reaches the high bits the
// index takes. Names that differ only in the middle of a long name collide,
// which costs a probe, never a wrong answer: a hit compares the names whole.
// Not a keyed hash: the index only answers lookups (an adversary cannot
// insert), so a probe is never longer than the longest run of occupied
// entries, fixed when the index is built.
inline uint64_t HashActionKey(absl::string_view object_type,
                              absl::string_view action) {
  const NameEnds t = EndsOf(object_type);
  const NameEnds a = EndsOf(action);
  const uint64_t sizes = uint64_t{object_type.size()} << 32 ^ action.size();
  uint64_t h = sizes * 0x9e3779b97f4a7c15ull + t.first * 0xc2b2ae3d27d4eb4full +
               t.last * 0x165667b19e3779f9ull +
               a.first * 0xd6e8feb86659fd93ull + a.last * 0xff51afd7ed558ccdull;
  h ^= h >> 29;
  return h * 0x9e3779b97f4a7c15ull;
}

// Finds an action's slot from its object type's name and its own: one hash of
// both names (HashActionKey), then a linear probe of an open-addressing table
// whose 32-byte entries hold the names themselves when they fit in 22 bytes
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
      if (e.tag != tag) continue;
      absl::string_view type_key;
      absl::string_view action_key;
      if (ABSL_PREDICT_TRUE(e.type_size != kSpilled)) {
        type_key = absl::string_view(e.key, e.type_size);
        action_key = absl::string_view(e.key + e.type_size, e.action_size);
      } else {
        Spilled spilled;
        std::memcpy(&spilled, e.key, sizeof(spilled));
        type_key = absl::string_view(spilled.key, spilled.type_size);
        action_key = absl::string_view(spilled.key + spilled.type_size,
                                       spilled.action_size);
      }
      if (NamesEqual(type_key, object_type) && NamesEqual(action_key, action)) {
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
  // An entry: the object type's name then the action's, inline when they fit
  // in `key` (22 bytes); otherwise `key` holds a Spilled, pointing into
  // `long_keys_`, and `type_size` is kSpilled.
  static constexpr size_t kInlineKeyBytes = 22;
  static constexpr uint8_t kSpilled = 0xff;
  struct Entry {
    uint32_t tag = 0;           // the hash's low 32 bits
    uint32_t slot = kNotFound;  // kNotFound: empty
    uint8_t type_size = 0;
    uint8_t action_size = 0;
    char key[kInlineKeyBytes] = {};
  };
  static_assert(sizeof(Entry) == 32, "two entries per cache line");
  struct Spilled {
    uint32_t type_size;
    uint32_t action_size;
    const char* key;
  };
  static_assert(sizeof(Spilled) <= kInlineKeyBytes, "a Spilled fits in key");

  std::vector<Entry> entries_;  // a power of two, at least twice the slots
  uint64_t mask_ = 0;
  uint32_t shift_ = 64;
  uint32_t longest_probe_ = 0;
  std::string long_keys_;  // keys longer than kInlineKeyBytes, back to back
};

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_
