// Where a compiled snapshot's bytes go: bytes per role of every table
// (internal::ForEachTable), for the synthetic benchmark policies or for policy
// files. Issue 18's memory budget (docs/benchmarks.md) quotes its output.
//
//   table_bytes realistic|distinct ROLES
//   table_bytes FILE...
//
// A name table's line is its whole cost; its characters, offsets and hash
// index follow on lines of their own.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "benchmarks/policy_fixtures.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/compiled_policy.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis::bench {
namespace {

void Print(const CompiledPolicy& policy) {
  const PolicyStats stats = policy.Stats();
  const double roles = static_cast<double>(stats.roles == 0 ? 1 : stats.roles);
  const auto line = [&](const char* name, size_t bytes) {
    std::printf("%-28s %14zu %8.2f\n", name, bytes,
                static_cast<double>(bytes) / roles);
  };
  std::printf("%-28s %14s %8s\n", "table", "bytes", "per role");
  size_t sum = sizeof(internal::PolicyTables);
  internal::ForEachTable(policy.tables(), [&](absl::string_view name,
                                              const auto& table) {
    const std::string label(name);
    const size_t bytes = internal::TableBytes(table);
    sum += bytes;
    line(label.c_str(), bytes);
    using Table = std::decay_t<decltype(table)>;
    if constexpr (std::is_same_v<Table, internal::NameTable>) {
      const size_t chars = table.names().chars().size();
      const size_t offsets = table.names().offsets().size() * sizeof(uint32_t);
      line(("  " + label + ".chars").c_str(), chars);
      line(("  " + label + ".offsets").c_str(), offsets);
      line(("  " + label + ".index etc.").c_str(), bytes - chars - offsets);
    }
  });
  line("tables (sum)", sum);
  line("snapshot (Stats)", stats.memory_bytes);
  std::printf("roles %zu, distinct permission rows %zu, slots %zu\n",
              stats.roles, stats.distinct_permission_rows, stats.actions);
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: table_bytes realistic|distinct ROLES | FILE...\n");
    return 2;
  }
  const std::string first = argv[1];
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled;
  if ((first == "realistic" || first == "distinct") && argc == 3) {
    compiled = Compile(SyntheticPolicy(
        std::atoi(argv[2]),
        first == "realistic" ? RowShape::kRealistic : RowShape::kDistinct));
  } else {
    std::vector<std::string> paths(argv + 1, argv + argc);
    LoadOptions options;
    options.max_file_bytes = options.max_total_bytes = size_t{4} << 30;
    absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles(paths, options);
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
      return 1;
    }
    compiled = Compile(loaded->policy);
  }
  if (!compiled.ok()) {
    std::fprintf(stderr, "%s\n", compiled.status().ToString().c_str());
    return 1;
  }
  Print(**compiled);
  return 0;
}

}  // namespace
}  // namespace portcullis::bench

int main(int argc, char** argv) { return portcullis::bench::Main(argc, argv); }
