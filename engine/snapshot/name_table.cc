#include "engine/snapshot/name_table.h"

#include <algorithm>
#include <utility>

namespace portcullis::internal {
namespace {

// The index's size for `count` names: a power of two at least twice as large
// (linear probing stays short at half full), and at most 2^32, which still
// leaves an empty slot since there are fewer than 2^32 - 1 names.
uint64_t SlotsFor(uint64_t count) {
  uint64_t slots = 2;
  while (slots < 2 * count && slots < (uint64_t{1} << 32)) slots *= 2;
  return slots;
}

}  // namespace

NameTable::NameTable() : storage_(std::make_unique<Storage>()) { Rebuild(0); }

bool NameTable::Insert(uint32_t index) {
  const uint32_t space = storage_->SpaceOf(index);
  const absl::string_view name = storage_->names[index];
  const uint64_t hash = HashKey(space, name);
  const uint32_t position = Probe(space, name, hash);
  if (slots_[position] != 0) return false;
  slots_[position] = TagOf(hash) | (index + 1);
  return true;
}

uint32_t NameTable::Rebuild(uint32_t count) {
  const uint64_t slots = SlotsFor(count);
  slots_.assign(slots, 0);
  slots_.shrink_to_fit();
  mask_ = static_cast<uint32_t>(slots - 1);
  for (uint32_t index = 0; index < count; ++index) {
    if (!Insert(index)) return index;
  }
  return kNotFound;
}

uint32_t NameTable::Add(uint32_t space, absl::string_view name) {
  Storage& s = *storage_;
  const uint32_t index = s.names.Add(name);
  // Spaces are stored from the first name outside space 0 on.
  if (space != 0 && s.spaces.empty()) s.spaces.assign(index, 0);
  if (!s.spaces.empty()) s.spaces.push_back(space);
  if (2 * uint64_t{index + 1} > slots_.size()) {
    Rebuild(index + 1);  // the names are distinct: Add's precondition
  } else {
    Insert(index);
  }
  return index;
}

void NameTable::SetNames(PackedStrings names) {
  storage_->names = std::move(names);
  storage_->spaces.clear();
  Rebuild(0);
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
  return Rebuild(count);
}

double NameTable::MeanProbe() const {
  if (size() == 0) return 0;
  uint64_t probes = 0;
  for (uint32_t position = 0; position <= mask_; ++position) {
    const uint32_t slot = slots_[position];
    if (slot == 0) continue;
    const uint32_t index = (slot & mask_) - 1;
    const uint32_t home =
        PositionOf(HashKey(storage_->SpaceOf(index), storage_->names[index]));
    probes += ((position - home) & mask_) + 1;
  }
  return static_cast<double>(probes) / size();
}

size_t NameTable::MemoryBytes() const {
  return sizeof(*this) + sizeof(Storage) + storage_->names.MemoryBytes() +
         storage_->spaces.capacity() * sizeof(uint32_t) +
         slots_.capacity() * sizeof(uint32_t);
}

void NameTable::ShrinkToFit() {
  storage_->names.ShrinkToFit();
  storage_->spaces.shrink_to_fit();
}

}  // namespace portcullis::internal
