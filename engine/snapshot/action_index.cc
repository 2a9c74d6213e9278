#include "engine/snapshot/action_index.h"

#include <algorithm>
#include <cstring>

namespace portcullis::internal {

ActionIndex::ActionIndex(const PolicyTables& tables) {
  const size_t slots = tables.slots.size();
  // At most half full; at least two entries, so that a lookup always meets
  // an empty one and the shift below stays under 64.
  size_t capacity = 2;
  uint32_t bits = 1;
  while (capacity < 2 * slots) {
    capacity *= 2;
    ++bits;
  }
  entries_.resize(capacity);
  mask_ = capacity - 1;
  shift_ = 64 - bits;

  // Keys that do not fit inline, sized first: entries point into the buffer.
  size_t long_bytes = 0;
  for (uint32_t slot = 0; slot < slots; ++slot) {
    const size_t size =
        tables.object_types.name(tables.slots[slot].object_type).size() +
        tables.actions.name(slot).size();
    if (size > kInlineKeyBytes) long_bytes += size;
  }
  long_keys_.reserve(long_bytes);

  for (uint32_t slot = 0; slot < slots; ++slot) {
    const absl::string_view type =
        tables.object_types.name(tables.slots[slot].object_type);
    const absl::string_view action = tables.actions.name(slot);
    const uint64_t h = HashActionKey(type, action);
    uint64_t i = h >> shift_;
    while (entries_[i].slot != kNotFound) i = (i + 1) & mask_;
    Entry& e = entries_[i];
    e.tag = static_cast<uint32_t>(h);
    e.slot = slot;
    if (type.size() + action.size() <= kInlineKeyBytes) {
      e.type_size = static_cast<uint8_t>(type.size());
      e.action_size = static_cast<uint8_t>(action.size());
      std::memcpy(e.key, type.data(), type.size());
      std::memcpy(e.key + type.size(), action.data(), action.size());
    } else {
      const Spilled spilled{static_cast<uint32_t>(type.size()),
                            static_cast<uint32_t>(action.size()),
                            long_keys_.data() + long_keys_.size()};
      long_keys_.append(type.data(), type.size());
      long_keys_.append(action.data(), action.size());
      e.type_size = kSpilled;
      std::memcpy(e.key, &spilled, sizeof(spilled));
    }
  }

  // The longest probe: the longest run of occupied entries (wrapping around
  // the end) plus the empty entry that stops it.
  size_t start = 0;
  while (entries_[start].slot != kNotFound) ++start;  // one is empty
  uint32_t run = 0;
  for (size_t k = 1; k <= capacity; ++k) {
    if (entries_[(start + k) & mask_].slot != kNotFound) {
      ++run;
    } else {
      longest_probe_ = std::max(longest_probe_, run + 1);
      run = 0;
    }
  }
}

size_t ActionIndex::MemoryBytes() const {
  return sizeof(*this) + entries_.capacity() * sizeof(Entry) +
         long_keys_.capacity();
}

}  // namespace portcullis::internal
