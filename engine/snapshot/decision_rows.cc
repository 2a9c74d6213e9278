#include "engine/snapshot/decision_rows.h"

#include <algorithm>

namespace portcullis::internal {
namespace {

// The largest chunk, in decisions: 32 KB, dozens of rows of a typical catalog
// (a few hundred slots) per allocation.
constexpr size_t kChunkDecisions = 16 * 1024;

}  // namespace

const Decision* DecisionRowCache::RowFor(const HotTables& h, bool partner,
                                         uint32_t scope_row,
                                         uint32_t role_row) {
  if (partner) role_row = 0;  // partners skip rbac: one row per scope row
  const Key key{partner, scope_row, role_row};
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = rows_.find(key); it != rows_.end()) return it->second;
  // At least one decision, so that a row is never null.
  const size_t width = std::max<size_t>(h.slot_count, 1);
  if (chunk_capacity_ - chunk_used_ < width) {
    // Chunks double from four rows up to kChunkDecisions, so that a snapshot
    // with few combinations bound (a reload's first binds) stays small.
    chunk_capacity_ = std::max(
        width,
        std::min(kChunkDecisions, std::max(4 * width, 2 * chunk_capacity_)));
    chunks_.push_back(std::make_unique<Decision[]>(chunk_capacity_));
    chunk_bytes_ += chunk_capacity_ * sizeof(Decision);
    chunk_used_ = 0;
  }
  Decision* row = chunks_.back().get() + chunk_used_;
  chunk_used_ += width;
  for (uint32_t slot = 0; slot < h.slot_count; ++slot) {
    const SlotRules rules =
        EvaluateSlotRules(h, scope_row, role_row, partner, slot, h.slots[slot]);
    row[slot] = kDecisionTable.decisions[rules.Key()];
  }
  rows_.emplace(key, row);
  return row;
}

size_t DecisionRowCache::RowCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rows_.size();
}

size_t DecisionRowCache::MemoryBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return chunk_bytes_ +
         chunks_.capacity() * sizeof(std::unique_ptr<Decision[]>) +
         rows_.capacity() * (sizeof(Key) + sizeof(const Decision*) + 1);
}

}  // namespace portcullis::internal
