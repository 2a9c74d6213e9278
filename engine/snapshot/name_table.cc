#include "engine/snapshot/name_table.h"

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

void NameTable::SetNames(PackedStrings names) {
  storage_->names = std::move(names);
  storage_->spaces.clear();
  index_.clear();
}

uint32_t NameTable::Index(std::vector<uint32_t> spaces) {
  Storage& s = *storage_;
  s.spaces = std::move(spaces);
  index_.clear();
  index_.reserve(s.spaces.size());
  for (uint32_t index = 0; index < s.spaces.size(); ++index) {
    // One hash lookup per name: the set's equality on two indices compares
    // the indices, so a repeated name must be looked up by its key.
    bool added = false;
    index_.lazy_emplace(Key{s.spaces[index], s.names[index]},
                        [&](const auto& construct) {
                          construct(index);
                          added = true;
                        });
    if (!added) return index;
  }
  return kNotFound;
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
