#include "engine/snapshot/action_index.h"

namespace portcullis::internal {

ActionIndex::ActionIndex(const PolicyTables& tables)
    : index_(tables.slots.size(), Hash{&tables}, Eq{&tables}) {
  // The compiler and the bundle loader have checked that every (object type,
  // action) pair is distinct.
  for (uint32_t slot = 0; slot < tables.slots.size(); ++slot) {
    index_.insert(slot);
  }
}

size_t ActionIndex::MemoryBytes() const {
  // A flat_hash_set slot is the element plus one control byte.
  return sizeof(*this) + index_.capacity() * (sizeof(uint32_t) + 1);
}

}  // namespace portcullis::internal
