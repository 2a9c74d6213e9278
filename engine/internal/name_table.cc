#include "engine/internal/name_table.h"

#include <utility>

namespace portcullis::internal {

NameTable::NameTable()
    : storage_(std::make_unique<Storage>()),
      index_(0, Hash{storage_.get()}, Eq{storage_.get()}) {}

uint32_t NameTable::Add(uint32_t space, absl::string_view name) {
  Storage& s = *storage_;
  const uint32_t index = s.names.Add(name);
  s.spaces.push_back(space);
  index_.insert(index);
  return index;
}

size_t NameTable::MemoryBytes() const {
  // A flat_hash_set slot is the element plus one control byte.
  return sizeof(*this) + sizeof(Storage) + storage_->names.MemoryBytes() +
         storage_->spaces.capacity() * sizeof(uint32_t) +
         index_.capacity() * (sizeof(uint32_t) + 1);
}

void NameTable::ShrinkToFit() {
  storage_->names.ShrinkToFit();
  storage_->spaces.shrink_to_fit();
}

}  // namespace portcullis::internal
