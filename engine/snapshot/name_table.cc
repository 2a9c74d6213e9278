#include "engine/snapshot/name_table.h"

#include <algorithm>
#include <utility>

namespace portcullis::internal {

NameTable::NameTable()
    : storage_(std::make_unique<Storage>()),
      index_(0, Hash{storage_.get()}, Eq{storage_.get()}) {}

uint32_t NameTable::Add(uint32_t space, absl::string_view name) {
  Storage& s = *storage_;
  const uint32_t index = s.names.Add(name);
  // Spaces are stored from the first name outside space 0 on.
  if (space != 0 && s.spaces.empty()) s.spaces.assign(index, 0);
  if (!s.spaces.empty()) s.spaces.push_back(space);
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
  const uint32_t count = static_cast<uint32_t>(spaces.size());
  s.spaces = std::move(spaces);
  if (std::all_of(s.spaces.begin(), s.spaces.end(),
                  [](uint32_t space) { return space == 0; })) {
    s.spaces.clear();
    s.spaces.shrink_to_fit();
  }
  index_.clear();
  index_.reserve(count);
  for (uint32_t index = 0; index < count; ++index) {
    // One hash lookup per name: the set's equality on two indices compares
    // the indices, so a repeated name must be looked up by its key.
    bool added = false;
    index_.lazy_emplace(Key{s.SpaceOf(index), s.names[index]},
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
