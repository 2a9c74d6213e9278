// The cost of reading the policy through a PolicyStore: a check through a
// Reader against the same check on the raw snapshot (the budget is 1 ns more),
// with a live principal and a pinned guard; reader throughput while a writer
// swaps policies continuously; and the cost of a publication.
//
//   bazel run --config=bench //benchmarks:policy_store_benchmark
#include <atomic>
#include <memory>
#include <thread>

#include "benchmark/benchmark.h"
#include "benchmarks/thread_counts.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/live/policy_store.h"
#include "engine/load/policy_loader.h"

namespace portcullis {
namespace {

// The Monite example, compiled twice (two snapshots with the same answers),
// published, and a user of it bound once.
struct Fixture {
  Fixture() {
    absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({"examples/monite"});
    if (!loaded.ok()) std::abort();
    a = *Compile(loaded->policy);
    b = *Compile(loaded->policy);
    if (!store.Publish(a).ok()) std::abort();
    principal = *a->BindEntityUser("u-7", "e-acme-gmbh", "", "");
    action = *a->FindAction("payable", "approve");
    entity = *a->FindEntity("e-acme-gmbh");
    view.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
    view.user_id = "u-7";
    view.user_entity_id = "e-acme-gmbh";
    view.object_type = "payable";
    view.action = "approve";
    view.entity_id = "e-acme-gmbh";
  }
  std::shared_ptr<const CompiledPolicy> a;
  std::shared_ptr<const CompiledPolicy> b;
  PolicyStore store;
  Principal principal;
  ActionId action;
  EntityId entity;
  CheckRequestView view;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_StoreCheckRaw(benchmark::State& state) {
  Fixture& f = Shared();
  const CompiledPolicy& policy = *f.a;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Check(policy, f.principal, f.action, f.entity));
  }
}
BENCHMARK(BM_StoreCheckRaw)->Name("BM_StoreCheck/raw");

void BM_StoreCheckStore(benchmark::State& state) {
  Fixture& f = Shared();
  PolicyStore::Reader reader = f.store.NewReader();
  for (auto _ : state) {
    benchmark::DoNotOptimize(reader.Check(f.principal, f.action, f.entity));
  }
}
BENCHMARK(BM_StoreCheckStore)->Name("BM_StoreCheck/store");

void BM_StoreCheckLivePrincipal(benchmark::State& state) {
  Fixture& f = Shared();
  PolicyStore::Reader reader = f.store.NewReader();
  LivePrincipal user = LivePrincipal::EntityUser("u-7", "e-acme-gmbh", "", "");
  for (auto _ : state) {
    benchmark::DoNotOptimize(reader.Check(user, f.action, f.entity));
  }
}
BENCHMARK(BM_StoreCheckLivePrincipal)
    ->Name("BM_StoreCheck/store_live_principal");

void BM_StoreCheckGuard(benchmark::State& state) {
  Fixture& f = Shared();
  PolicyStore::Reader reader = f.store.NewReader();
  for (auto _ : state) {
    PolicyStore::ReadGuard policy = reader.Read();
    benchmark::DoNotOptimize(Check(*policy, f.principal, f.action, f.entity));
  }
}
BENCHMARK(BM_StoreCheckGuard)->Name("BM_StoreCheck/store_guard");

void BM_StoreCheckNamesRaw(benchmark::State& state) {
  Fixture& f = Shared();
  const CompiledPolicy& policy = *f.a;
  for (auto _ : state) benchmark::DoNotOptimize(Check(policy, f.view));
}
BENCHMARK(BM_StoreCheckNamesRaw)->Name("BM_StoreCheck/names_raw");

void BM_StoreCheckNamesStore(benchmark::State& state) {
  Fixture& f = Shared();
  PolicyStore::Reader reader = f.store.NewReader();
  for (auto _ : state) benchmark::DoNotOptimize(reader.Check(f.view));
}
BENCHMARK(BM_StoreCheckNamesStore)->Name("BM_StoreCheck/names_store");

// A writer that republishes continuously while the benchmark's threads read.
// `alternate`: A and B in turn (ids of A go stale half of the time, so the
// readers check by names); otherwise A again and again (every publication is
// a new snapshot the readers must switch to, and A's ids stay valid).
struct Writer {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> swaps{0};
  std::thread thread;
};
Writer* writer = nullptr;

void StartWriter(bool alternate) {
  Fixture& f = Shared();
  writer = new Writer();
  writer->thread = std::thread([&f, alternate] {
    uint64_t n = 0;
    while (!writer->stop.load(std::memory_order_relaxed)) {
      if (!f.store.Publish(alternate && n % 2 == 1 ? f.b : f.a).ok()) {
        std::abort();
      }
      writer->swaps.store(++n, std::memory_order_relaxed);
    }
  });
}

void StopWriter(const benchmark::State&) {
  writer->stop.store(true);
  writer->thread.join();
  delete writer;
  writer = nullptr;
  if (!Shared().store.Publish(Shared().a).ok()) std::abort();
}

void BM_StoreSwapIds(benchmark::State& state) {
  Fixture& f = Shared();
  PolicyStore::Reader reader = f.store.NewReader();
  const uint64_t swaps_before = writer->swaps.load();
  for (auto _ : state) {
    benchmark::DoNotOptimize(reader.Check(f.principal, f.action, f.entity));
  }
  state.counters["swaps_per_s"] = benchmark::Counter(
      static_cast<double>(writer->swaps.load() - swaps_before),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StoreSwapIds)
    ->Name("BM_StoreSwap/ids")
    ->Setup([](const benchmark::State&) { StartWriter(false); })
    ->Teardown(StopWriter)
    ->Apply(portcullis::internal::ScalingThreadCounts)
    ->UseRealTime();

void BM_StoreSwapNames(benchmark::State& state) {
  Fixture& f = Shared();
  PolicyStore::Reader reader = f.store.NewReader();
  const uint64_t swaps_before = writer->swaps.load();
  for (auto _ : state) benchmark::DoNotOptimize(reader.Check(f.view));
  state.counters["swaps_per_s"] = benchmark::Counter(
      static_cast<double>(writer->swaps.load() - swaps_before),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StoreSwapNames)
    ->Name("BM_StoreSwap/names")
    ->Setup([](const benchmark::State&) { StartWriter(true); })
    ->Teardown(StopWriter)
    ->Apply(portcullis::internal::ScalingThreadCounts)
    ->UseRealTime();

// A publication: the digest of the tables, the swap, reclamation.
void BM_StorePublish(benchmark::State& state) {
  Fixture& f = Shared();
  PolicyStore store;
  for (auto _ : state) benchmark::DoNotOptimize(store.Publish(f.a));
}
BENCHMARK(BM_StorePublish)->Name("BM_StorePublish/monite");

}  // namespace
}  // namespace portcullis
