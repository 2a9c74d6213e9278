// Compile time and memory at 10 to 1,000,000 roles (the budget: 1,000,000
// roles in <= 2 s and <= 64 bytes per role before dedup), realistic and
// adversarial, and on the real Google Cloud and AWS role tables.
//
//   BM_Compile/<realistic|distinct|gcp|aws>/<roles>
// Counters: bytes_per_role (everything the snapshot holds / roles),
// row_bytes_per_role (the distinct permission rows and their words / roles),
// distinct_rows.
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "benchmarks/fixed_iterations.h"
#include "benchmarks/policy_fixtures.h"
#include "engine/compile/compiler.h"

namespace portcullis::bench {
namespace {

void BM_Compile(benchmark::State& state, const v1::PolicySet* policy) {
  std::unique_ptr<const CompiledPolicy> compiled;
  for (auto _ : state) {
    compiled.reset();  // free the previous snapshot outside the next Compile
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> result =
        Compile(*policy);
    if (!result.ok()) {
      state.SkipWithError(std::string(result.status().message()).c_str());
      return;
    }
    compiled = *std::move(result);
  }
  const PolicyStats stats = compiled->Stats();
  const double roles = static_cast<double>(std::max<size_t>(stats.roles, 1));
  const internal::PolicyTables& t = compiled->tables();
  state.counters["bytes_per_role"] =
      static_cast<double>(stats.memory_bytes) / roles;
  state.counters["row_bytes_per_role"] =
      static_cast<double>(t.permissions.size() * sizeof(uint32_t)) / roles;
  state.counters["distinct_rows"] =
      static_cast<double>(stats.distinct_permission_rows);
  state.SetItemsProcessed(state.iterations() *
                          static_cast<int64_t>(stats.roles));
}

// Policies stay alive for the run: registration happens before main.
const v1::PolicySet* Keep(v1::PolicySet policy) {
  return new v1::PolicySet(std::move(policy));
}

int RegisterAll() {
  for (int roles : {10, 1000, 100000, 1000000}) {
    for (auto [name, shape] :
         {std::pair{"BM_Compile/realistic", RowShape::kRealistic},
          std::pair{"BM_Compile/distinct", RowShape::kDistinct}}) {
      // Built lazily: a benchmark filtered out costs nothing.
      benchmark::RegisterBenchmark(
          name,
          [shape = shape](benchmark::State& state) {
            static std::pair<int64_t, RowShape> key{-1, RowShape::kRealistic};
            static const v1::PolicySet* policy = nullptr;
            if (key != std::make_pair(state.range(0), shape)) {
              delete policy;
              policy = Keep(
                  SyntheticPolicy(static_cast<int>(state.range(0)), shape));
              key = {state.range(0), shape};
            }
            BM_Compile(state, policy);
          })
          ->Arg(roles)
          ->Unit(benchmark::kMillisecond)
          ->Apply(portcullis::internal::FixedIterationsFromEnv);
    }
  }
  for (auto [name, roles, load] :
       {std::tuple{"BM_Compile/gcp", 2461, &GcpPolicy},
        std::tuple{"BM_Compile/aws", 1641, &AwsPolicy}}) {
    benchmark::RegisterBenchmark(
        name,
        [load = load](benchmark::State& state) {
          absl::StatusOr<v1::PolicySet> policy = load(DataDir());
          if (!policy.ok()) {
            state.SkipWithError(std::string(policy.status().message()).c_str());
            return;
          }
          BM_Compile(state, &*policy);
        })
        ->Arg(roles)
        ->Unit(benchmark::kMillisecond)
        ->Apply(portcullis::internal::FixedIterationsFromEnv);
  }
  return 0;
}
const int registered = RegisterAll();

}  // namespace
}  // namespace portcullis::bench
