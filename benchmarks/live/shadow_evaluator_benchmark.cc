// What shadow evaluation adds to a check through the store, by sampling rate:
// off, every check, one in 16, one in 256. The candidate differs from the
// active policy on the benchmarked check, so every sample is a disagreement
// (the table update included).
//
//   bazel run --config=bench //benchmarks:shadow_evaluator_benchmark
#include <memory>

#include "benchmark/benchmark.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/live/policy_store.h"
#include "engine/live/shadow_evaluator.h"
#include "engine/load/policy_loader.h"

namespace portcullis {
namespace {

// Checks through a store whose shadow samples one check in `sample_one_in`
// (0: no shadow).
void RunShadowCheck(benchmark::State& state, int64_t sample_one_in) {
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({"examples/monite"});
  if (!loaded.ok()) std::abort();
  std::shared_ptr<const CompiledPolicy> active = *Compile(loaded->policy);
  // The candidate denies what the active policy allows: the default role
  // loses payable.approve.
  v1::PolicySet changed = loaded->policy;
  for (v1::Role& role : *changed.mutable_roles()) {
    for (v1::ObjectPermissions& object :
         *role.mutable_permissions()->mutable_objects()) {
      for (v1::ActionPermission& action : *object.mutable_actions()) {
        if (object.object_type() == "payable" &&
            action.action_name() == "approve") {
          action.set_permission(v1::NOT_ALLOWED);
        }
      }
    }
  }
  std::shared_ptr<const CompiledPolicy> candidate = *Compile(changed);

  PolicyStore store;
  if (!store.Publish(active).ok()) std::abort();
  std::shared_ptr<ShadowEvaluator> shadow;
  if (sample_one_in > 0) {
    ShadowOptions options;
    options.sample_one_in = static_cast<uint32_t>(sample_one_in);
    shadow = *store.StartShadow(candidate, options);
  }
  PolicyStore::Reader reader = store.NewReader();
  const Principal user =
      *active->BindEntityUser("u-7", "e-acme-gmbh", "admin", "");
  const ActionId approve = *active->FindAction("payable", "approve");
  const EntityId entity = *active->FindEntity("e-acme-gmbh");
  for (auto _ : state) {
    benchmark::DoNotOptimize(reader.Check(user, approve, entity));
  }
  if (shadow != nullptr) {
    const ShadowReport report = shadow->Report();
    state.counters["sampled"] = static_cast<double>(report.sampled);
    state.counters["disagreed"] = static_cast<double>(report.disagreed);
  }
}
void BM_ShadowCheckOff(benchmark::State& state) { RunShadowCheck(state, 0); }
BENCHMARK(BM_ShadowCheckOff)->Name("BM_ShadowCheck/off");

void BM_ShadowCheckSampled(benchmark::State& state) {
  RunShadowCheck(state, state.range(0));
}
BENCHMARK(BM_ShadowCheckSampled)
    ->Name("BM_ShadowCheck/sample_one_in")
    ->Arg(1)
    ->Arg(16)
    ->Arg(256);

}  // namespace
}  // namespace portcullis
