// Checks on real role tables: Google Cloud's 2,461 predefined roles over
// 13,790 permissions and AWS's 1,641 managed policies over 19,843 actions
// (benchmarks/data/), by ids, by names and with both baselines.
//
//   BM_Gcp/<ids|names|map_of_maps|reference>/2461
//   BM_Aws/<ids|names|map_of_maps|reference>/1641
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/fixed_iterations.h"
#include "benchmarks/map_of_maps_baseline.h"
#include "benchmarks/policy_fixtures.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "tests/reference_evaluator.h"

namespace portcullis::bench {
namespace {

constexpr int kRequests = 1024;

struct RealData {
  v1::PolicySet policy;
  std::unique_ptr<const CompiledPolicy> compiled;
  std::unique_ptr<baseline::MapOfMapsPolicy> map_of_maps;
  std::vector<std::unique_ptr<PreparedRequest>> requests;
};

// Loaded once per data set, on first use.
const RealData* Load(absl::StatusOr<v1::PolicySet> (*load)(const std::string&),
                     std::string* error) {
  absl::StatusOr<v1::PolicySet> policy = load(DataDir());
  if (!policy.ok()) {
    *error = std::string(policy.status().message());
    return nullptr;
  }
  auto data = new RealData;
  data->policy = *std::move(policy);
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      Compile(data->policy);
  if (!compiled.ok()) {
    *error = std::string(compiled.status().message());
    return nullptr;
  }
  data->compiled = *std::move(compiled);
  data->map_of_maps = std::make_unique<baseline::MapOfMapsPolicy>(
      baseline::MapOfMapsPolicy::Build(data->policy));
  data->requests =
      PrepareRequests(data->policy, *data->compiled, kRequests, 11);
  return data;
}

enum class Variant { kIds, kNames, kMapOfMaps, kReference };

void BM_RealData(benchmark::State& state, const RealData* const* slot,
                 const std::string* error, Variant variant) {
  const RealData* data = *slot;
  if (data == nullptr) {
    state.SkipWithError(error->c_str());
    return;
  }
  const auto& requests = data->requests;
  size_t i = 0;
  for (auto _ : state) {
    const PreparedRequest& r = *requests[i++ & (kRequests - 1)];
    switch (variant) {
      case Variant::kIds:
        benchmark::DoNotOptimize(Check(*data->compiled, r.principal, r.action,
                                       r.entity,
                                       r.has_resource ? &r.resource : nullptr));
        break;
      case Variant::kNames:
        benchmark::DoNotOptimize(Check(*data->compiled, r.principal, r.names));
        break;
      case Variant::kMapOfMaps:
        benchmark::DoNotOptimize(data->map_of_maps->Check(r.proto));
        break;
      case Variant::kReference:
        benchmark::DoNotOptimize(ReferenceCheck(data->policy, r.proto));
        break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  const PolicyStats stats = data->compiled->Stats();
  state.counters["bytes_per_role"] = static_cast<double>(stats.memory_bytes) /
                                     std::max<size_t>(stats.roles, 1);
}

int RegisterAll() {
  struct DataSet {
    const char* family;
    int roles;
    absl::StatusOr<v1::PolicySet> (*load)(const std::string&);
  };
  for (const DataSet& set : {DataSet{"BM_Gcp", 2461, &GcpPolicy},
                             DataSet{"BM_Aws", 1641, &AwsPolicy}}) {
    auto* slot = new const RealData*(nullptr);
    auto* error = new std::string;
    auto* loaded = new bool(false);
    for (auto [variant_name, variant] :
         {std::pair{"ids", Variant::kIds}, std::pair{"names", Variant::kNames},
          std::pair{"map_of_maps", Variant::kMapOfMaps},
          std::pair{"reference", Variant::kReference}}) {
      benchmark::RegisterBenchmark(
          absl::StrCat(set.family, "/", variant_name).c_str(),
          [slot, error, loaded, load = set.load,
           variant = variant](benchmark::State& state) {
            if (!*loaded) {
              *slot = Load(load, error);
              *loaded = true;
            }
            BM_RealData(state, slot, error, variant);
          })
          ->Arg(set.roles)
          ->Apply(portcullis::internal::FixedIterationsFromEnv);
    }
  }
  return 0;
}
const int registered = RegisterAll();

}  // namespace
}  // namespace portcullis::bench
