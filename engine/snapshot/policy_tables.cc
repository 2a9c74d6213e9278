#include "engine/snapshot/policy_tables.h"

namespace portcullis::internal {
namespace {

template <typename T, typename Allocator>
void ShrinkTable(std::vector<T, Allocator>& v) {
  v.shrink_to_fit();
}
template <typename Table>
void ShrinkTable(Table& table) {
  table.ShrinkToFit();
}

}  // namespace

size_t PolicyTables::MemoryBytes() const {
  size_t bytes = sizeof(*this);
  ForEachTable(*this, [&](absl::string_view, const auto& table) {
    bytes += TableBytes(table);
  });
  return bytes;
}

void PolicyTables::ShrinkToFit() {
  ForEachTable(*this,
               [](absl::string_view, auto& table) { ShrinkTable(table); });
}

}  // namespace portcullis::internal
