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

  // Pairs with a long name keep both names here, sized first so that the
  // buffer never moves.
  auto is_long = [](absl::string_view type, absl::string_view action) {
    return type.size() > kWholeInEnds || action.size() > kWholeInEnds;
  };
  size_t long_bytes = 0;
  for (uint32_t slot = 0; slot < slots; ++slot) {
    const absl::string_view type =
        tables.object_types.name(tables.slots[slot].object_type);
    const absl::string_view action = tables.actions.name(slot);
    if (is_long(type, action)) long_bytes += type.size() + action.size();
  }
  long_keys_.reserve(long_bytes);

  for (uint32_t slot = 0; slot < slots; ++slot) {
    const absl::string_view type =
        tables.object_types.name(tables.slots[slot].object_type);
    const absl::string_view action = tables.actions.name(slot);
    const ActionKey key = KeyOf(type, action);
    uint64_t i = HashActionKey(key) >> shift_;
    while (entries_[i].slot != kNotFound) i = (i + 1) & mask_;
    Entry& e = entries_[i];
    e.key = key;
    e.slot = slot;
    if (is_long(type, action)) {
      e.long_key = static_cast<uint32_t>(long_keys_.size());
      long_keys_.append(type.data(), type.size());
      long_keys_.append(action.data(), action.size());
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

bool ActionIndex::LongKeyEquals(const Entry& e, absl::string_view object_type,
                                absl::string_view action) const {
  // The sizes already matched (they are part of the key).
  const char* names = long_keys_.data() + e.long_key;
  return NamesEqual(absl::string_view(names, object_type.size()),
                    object_type) &&
         NamesEqual(
             absl::string_view(names + object_type.size(), action.size()),
             action);
}

size_t ActionIndex::MemoryBytes() const {
  return sizeof(*this) + entries_.capacity() * sizeof(Entry) +
         long_keys_.capacity();
}

}  // namespace portcullis::internal
