// The (object type, action) -> slot index behind the name-based checks. Not
// part of the public API.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "engine/snapshot/name_table.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis::internal {

// Finds an action's slot from its object type's name and its own in one hash
// lookup, copying neither name: the hash chains the two names, and the set
// holds only slots, whose names it reads from the tables. Costs about 5 bytes
// per slot.
//
// Immutable after construction and thread-safe. Refers to `tables`, which
// must outlive it at the same address (CompiledPolicy owns both).
class ActionIndex {
 public:
  static constexpr uint32_t kNotFound = ~uint32_t{0};

  explicit ActionIndex(const PolicyTables& tables);
  ActionIndex(const ActionIndex&) = delete;
  ActionIndex& operator=(const ActionIndex&) = delete;

  // The slot of `action` of `object_type`, or kNotFound. No allocation.
  uint32_t Find(absl::string_view object_type, absl::string_view action) const {
    const auto it = index_.find(Key{object_type, action});
    return it == index_.end() ? kNotFound : *it;
  }

  size_t MemoryBytes() const;

 private:
  struct Key {
    absl::string_view object_type;
    absl::string_view action;
  };
  static size_t HashKey(const Key& key) {
    return static_cast<size_t>(
        HashName(HashName(0, key.object_type), key.action));
  }
  // Defined here so that lookups inline them.
  struct Hash {
    using is_transparent = void;
    const PolicyTables* tables;
    size_t operator()(uint32_t slot) const {
      return HashKey(KeyOf(*tables, slot));
    }
    size_t operator()(const Key& key) const { return HashKey(key); }
  };
  struct Eq {
    using is_transparent = void;
    const PolicyTables* tables;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t slot, const Key& key) const {
      return NamesEqual(tables->actions.name(slot), key.action) &&
             NamesEqual(
                 tables->object_types.name(tables->slots[slot].object_type),
                 key.object_type);
    }
    bool operator()(const Key& key, uint32_t slot) const {
      return (*this)(slot, key);
    }
  };
  static Key KeyOf(const PolicyTables& tables, uint32_t slot) {
    return {tables.object_types.name(tables.slots[slot].object_type),
            tables.actions.name(slot)};
  }

  absl::flat_hash_set<uint32_t, Hash, Eq> index_;
};

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_ACTION_INDEX_H_
