// Check latency at 10 to 1,000,000 roles: by interned ids (the hot path), by
// names, and the two baselines — the map-of-maps a hand-written middleware
// uses, and the reference evaluator that walks the proto — in the same run.
//
// Variants: ids (principal, action and entity interned: the hot path), names
// (principal bound per token; object type, action and entity by name, as a
// middleware resolves a route and a header), all_names (the principal too, as
// the CLI does), map_of_maps and reference (the baselines, by names).
//
//   BM_Check/<variant>/<roles>          realistic policies: rows repeat
//   BM_CheckDistinct/<variant>/<roles>  adversarial: every role its own row
//   BM_ScopeCheck/<variant>/<roles>     partner principals: tenant, scope,
//                                       partner_only (the scope rule's cost)
//   BM_FullCheck/<variant>/<roles>      entity users whose check runs all five
//                                       rules through to ownership
//   BM_CheckThreads/ids/<roles>/real_time/threads:<n>
//                                       the same checks from 1 and 2 threads
//   BM_Bind/<variant>/<roles>           binding a token's principal, once per
//                                       token: `cached` (its combination's
//                                       decision row already built), `new_row`
//                                       (building one decision row: the first
//                                       bind of a combination)
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/fixed_iterations.h"
#include "benchmarks/map_of_maps_baseline.h"
#include "benchmarks/policy_fixtures.h"
#include "benchmarks/thread_counts.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/snapshot/decision_rows.h"
#include "tests/reference_evaluator.h"

namespace portcullis::bench {
namespace {

constexpr int kRequests = 1024;  // a power of two: the loop masks the index

enum class Workload { kAll, kPartners, kFiveRules };

struct Fixture {
  v1::PolicySet policy;
  std::unique_ptr<const CompiledPolicy> compiled;
  std::optional<baseline::MapOfMapsPolicy> map_of_maps;
  std::vector<std::unique_ptr<PreparedRequest>> requests[3];  // by Workload
};

// One fixture at a time: a million-role policy (with its proto and
// map-of-maps copies) is large, and benchmarks are registered size by size so
// that each is built once. Threads of one benchmark share it; the mutex makes
// the first of them build it.
Fixture& GetFixture(int roles, RowShape shape) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  static std::unique_ptr<Fixture> fixture;
  static std::pair<int, RowShape> key{-1, RowShape::kRealistic};
  if (fixture == nullptr || key != std::make_pair(roles, shape)) {
    fixture.reset();
    fixture = std::make_unique<Fixture>();
    fixture->policy = SyntheticPolicy(roles, shape);
    fixture->compiled = *Compile(fixture->policy);
    key = {roles, shape};
  }
  return *fixture;
}

const std::vector<std::unique_ptr<PreparedRequest>>& GetRequests(
    Fixture& f, Workload workload) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  auto& requests = f.requests[static_cast<int>(workload)];
  if (!requests.empty()) return requests;
  if (workload == Workload::kFiveRules) {
    // Requests whose explanation reaches the ownership rule.
    uint64_t seed = 1;
    while (static_cast<int>(requests.size()) < kRequests) {
      for (auto& r :
           PrepareRequests(f.policy, *f.compiled, kRequests, seed++)) {
        if (static_cast<int>(requests.size()) < kRequests &&
            Explain(*f.compiled, r->view).steps.size() == 5 &&
            Check(*f.compiled, r->view).reason == Reason::kOwnership) {
          requests.push_back(std::move(r));
        }
      }
    }
  } else {
    requests = PrepareRequests(f.policy, *f.compiled, kRequests, 7,
                               workload == Workload::kPartners);
  }
  return requests;
}

void SetCounters(benchmark::State& state, const Fixture& f) {
  const PolicyStats stats = f.compiled->Stats();
  // Averaged, not summed, over the threads of a multi-threaded run.
  state.counters["bytes_per_role"] =
      benchmark::Counter(static_cast<double>(stats.memory_bytes) /
                             std::max<size_t>(stats.roles, 1),
                         benchmark::Counter::kAvgThreads);
  state.counters["distinct_rows"] =
      benchmark::Counter(static_cast<double>(stats.distinct_permission_rows),
                         benchmark::Counter::kAvgThreads);
  state.SetItemsProcessed(state.iterations());
}

// What a service holds per request once names are resolved: the token's
// principal, the route's action, the header's entity. Contiguous, as a
// request context is; the names behind them stay in the fixture.
struct IdRequest {
  Principal principal;
  ActionId action;
  EntityId entity;
  const ResourceRef* resource;
};

void CheckByIds(benchmark::State& state, RowShape shape, Workload workload) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)), shape);
  const auto& prepared = GetRequests(f, workload);
  std::vector<IdRequest> requests;
  requests.reserve(prepared.size());
  for (const auto& r : prepared) {
    requests.push_back({r->principal, r->action, r->entity,
                        r->has_resource ? &r->resource : nullptr});
  }
  const CompiledPolicy& policy = *f.compiled;
  // Walked with a pointer: indexing 136-byte requests costs four more
  // instructions per iteration, which would be counted as the check's.
  const IdRequest* const first = requests.data();
  const IdRequest* const end = first + requests.size();
  const IdRequest* r = first;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        Check(policy, r->principal, r->action, r->entity, r->resource));
    if (++r == end) r = first;
  }
  SetCounters(state, f);
}

// The principal bound once per token, the request's names resolved per
// request: what a middleware does (docs/design.md's "check by names").
void CheckByNames(benchmark::State& state, RowShape shape, Workload workload) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)), shape);
  const auto& requests = GetRequests(f, workload);
  const CompiledPolicy& policy = *f.compiled;
  size_t i = 0;
  for (auto _ : state) {
    const PreparedRequest& r = *requests[i++ & (kRequests - 1)];
    benchmark::DoNotOptimize(Check(policy, r.principal, r.names));
  }
  SetCounters(state, f);
}

// Everything by names, the principal bound on every call: what the CLI does.
void CheckAllNames(benchmark::State& state, RowShape shape, Workload workload) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)), shape);
  const auto& requests = GetRequests(f, workload);
  const CompiledPolicy& policy = *f.compiled;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        Check(policy, requests[i++ & (kRequests - 1)]->view));
  }
  SetCounters(state, f);
}

void CheckMapOfMaps(benchmark::State& state, RowShape shape,
                    Workload workload) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)), shape);
  const auto& requests = GetRequests(f, workload);
  if (!f.map_of_maps.has_value()) {
    f.map_of_maps = baseline::MapOfMapsPolicy::Build(f.policy);
  }
  const baseline::MapOfMapsPolicy& policy = *f.map_of_maps;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        policy.Check(requests[i++ & (kRequests - 1)]->proto));
  }
  state.SetItemsProcessed(state.iterations());
}

void CheckReference(benchmark::State& state, RowShape shape,
                    Workload workload) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)), shape);
  const auto& requests = GetRequests(f, workload);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ReferenceCheck(f.policy, requests[i++ & (kRequests - 1)]->proto));
  }
  state.SetItemsProcessed(state.iterations());
}

// The principals of the requests bound again by name, as the token service
// does when it introspects a token: their decision rows are built already.
void BindCached(benchmark::State& state, RowShape shape, Workload workload) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)), shape);
  const auto& requests = GetRequests(f, workload);
  const CompiledPolicy& policy = *f.compiled;
  size_t i = 0;
  for (auto _ : state) {
    const CheckRequestView& v = requests[i++ & (kRequests - 1)]->view;
    benchmark::DoNotOptimize(
        v.principal_kind == CheckRequestView::PrincipalKind::kPartner
            ? policy.BindPartner(v.client_id)
            : policy.BindEntityUser(v.user_id, v.user_entity_id, v.role_id,
                                    v.client_id));
  }
  state.SetItemsProcessed(state.iterations());
}

// What the first bind of a combination adds: one decision row built, in a
// cache of its own (constructed and destroyed in the loop too).
void BindNewRow(benchmark::State& state, RowShape shape, Workload workload) {
  Fixture& f = GetFixture(static_cast<int>(state.range(0)), shape);
  const auto& requests = GetRequests(f, workload);
  const CompiledPolicy& policy = *f.compiled;
  size_t i = 0;
  for (auto _ : state) {
    const internal::PrincipalFacts& p =
        requests[i++ & (kRequests - 1)]->principal.facts();
    internal::DecisionRowCache cache;
    benchmark::DoNotOptimize(cache.RowFor(
        policy.hot(), p.kind == internal::PrincipalFacts::Kind::kPartner,
        p.scope_row, p.role_row));
  }
  state.counters["slots"] = policy.hot().slot_count;
  state.SetItemsProcessed(state.iterations());
}

// Readers scale: each thread checks against the one shared snapshot, which
// no check writes to.
void CheckByIdsThreads(benchmark::State& state, RowShape shape,
                       Workload workload) {
  CheckByIds(state, shape, workload);
}

using BenchmarkFn = void (*)(benchmark::State&, RowShape, Workload);

void Register(const std::string& name, BenchmarkFn fn, RowShape shape,
              Workload workload, int roles) {
  benchmark::RegisterBenchmark(name.c_str(), fn, shape, workload)
      ->Arg(roles)
      ->Apply(portcullis::internal::FixedIterationsFromEnv);
}

// Size by size, so that GetFixture builds each policy once.
int RegisterAll() {
  for (int roles : {10, 100, 1000, 10000, 100000, 1000000}) {
    const RowShape realistic = RowShape::kRealistic;
    Register("BM_Check/ids", CheckByIds, realistic, Workload::kAll, roles);
    Register("BM_Check/names", CheckByNames, realistic, Workload::kAll, roles);
    Register("BM_Check/all_names", CheckAllNames, realistic, Workload::kAll,
             roles);
    Register("BM_Check/map_of_maps", CheckMapOfMaps, realistic, Workload::kAll,
             roles);
    Register("BM_Check/reference", CheckReference, realistic, Workload::kAll,
             roles);
    Register("BM_ScopeCheck/ids", CheckByIds, realistic, Workload::kPartners,
             roles);
    Register("BM_ScopeCheck/names", CheckByNames, realistic,
             Workload::kPartners, roles);
    Register("BM_FullCheck/ids", CheckByIds, realistic, Workload::kFiveRules,
             roles);
    Register("BM_FullCheck/names", CheckByNames, realistic,
             Workload::kFiveRules, roles);
    Register("BM_Bind/cached", BindCached, realistic, Workload::kAll, roles);
    Register("BM_Bind/new_row", BindNewRow, realistic, Workload::kAll, roles);
  }
  for (int roles : {1000, 1000000}) {
    benchmark::RegisterBenchmark("BM_CheckThreads/ids", CheckByIdsThreads,
                                 RowShape::kRealistic, Workload::kAll)
        ->Arg(roles)
        ->Apply(portcullis::internal::ScalingThreadCounts)
        ->UseRealTime()
        ->Apply(portcullis::internal::FixedIterationsFromEnv);
  }
  for (int roles : {10, 1000, 100000, 1000000}) {
    const RowShape distinct = RowShape::kDistinct;
    Register("BM_CheckDistinct/ids", CheckByIds, distinct, Workload::kAll,
             roles);
    Register("BM_CheckDistinct/names", CheckByNames, distinct, Workload::kAll,
             roles);
    Register("BM_CheckDistinct/map_of_maps", CheckMapOfMaps, distinct,
             Workload::kAll, roles);
  }
  return 0;
}
const int registered = RegisterAll();

}  // namespace
}  // namespace portcullis::bench
