// Bundles at 10,000 to 1,000,000 roles: saving (in memory, and to disk with
// fsync), loading (in memory, and from disk), against compiling the same
// policy from its proto; the digest every publication computes; and diffing
// two such policies.
//
//   bazel run --config=bench //benchmarks:bundle_benchmark
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "engine/compile/compiler.h"
#include "engine/live/policy_diff.h"
#include "engine/snapshot/bundle.h"
#include "tests/random_policy.h"

namespace portcullis {
namespace {

// A policy shaped like a large deployment: Monite-sized catalog (31 object
// types, up to 8 actions each), 1,000 permission patterns shared by the roles,
// a quarter of the roles owned by one of `roles / 10` entities, 1,000
// credentials over 100 partners.
testing::SizedPolicyOptions OptionsFor(int roles) {
  testing::SizedPolicyOptions options;
  options.seed = 1;
  options.object_types = 31;
  options.max_actions_per_type = 8;
  options.partners = 100;
  options.entities = std::max(100, roles / 10);
  options.roles = roles;
  options.role_patterns = 1000;
  options.max_types_per_role = 3;
  options.credentials = 1000;
  return options;
}

struct Sized {
  v1::PolicySet set;
  std::shared_ptr<const CompiledPolicy> policy;
  std::string bundle;
};

const Sized& PolicyOf(int roles) {
  static auto* cache = new std::map<int, std::unique_ptr<Sized>>();
  std::unique_ptr<Sized>& sized = (*cache)[roles];
  if (sized == nullptr) {
    sized = std::make_unique<Sized>();
    sized->set = testing::SizedRandomPolicy(OptionsFor(roles));
    sized->policy = *Compile(sized->set);
    sized->bundle = *SerializeBundle(*sized->policy);
  }
  return *sized;
}

void Describe(benchmark::State& state, const Sized& sized) {
  const PolicyStats stats = sized.policy->Stats();
  state.counters["bundle_MB"] = static_cast<double>(sized.bundle.size()) / 1e6;
  state.counters["memory_MB"] = static_cast<double>(stats.memory_bytes) / 1e6;
  state.counters["rows"] = static_cast<double>(stats.distinct_permission_rows);
  state.counters["entities"] = static_cast<double>(stats.entities);
}

std::string TemporaryPath() {
  return absl::StrCat(std::filesystem::temp_directory_path().string(),
                      "/portcullis_bundle_benchmark_", getpid(), ".bundle");
}

void BM_BundleSaveMemory(benchmark::State& state) {
  const Sized& sized = PolicyOf(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(SerializeBundle(*sized.policy));
  }
  Describe(state, sized);
}

void BM_BundleSaveFile(benchmark::State& state) {
  const Sized& sized = PolicyOf(static_cast<int>(state.range(0)));
  const std::string path = TemporaryPath();
  for (auto _ : state) {
    if (!WriteBundle(*sized.policy, path).ok()) state.SkipWithError("write");
  }
  std::remove(path.c_str());
  Describe(state, sized);
}

void BM_BundleLoadMemory(benchmark::State& state) {
  const Sized& sized = PolicyOf(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> loaded =
        ParseBundle(sized.bundle);
    if (!loaded.ok()) state.SkipWithError("parse");
    benchmark::DoNotOptimize(loaded);
  }
  Describe(state, sized);
}

void BM_BundleLoadFile(benchmark::State& state) {
  const Sized& sized = PolicyOf(static_cast<int>(state.range(0)));
  const std::string path = TemporaryPath();
  if (!WriteBundle(*sized.policy, path).ok()) state.SkipWithError("write");
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> loaded =
        ReadBundle(path);
    if (!loaded.ok()) state.SkipWithError("read");
    benchmark::DoNotOptimize(loaded);
  }
  std::remove(path.c_str());
  Describe(state, sized);
}

// The baseline a bundle saves: compiling the parsed proto.
void BM_BundleLoadCompileBaseline(benchmark::State& state) {
  const Sized& sized = PolicyOf(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(Compile(sized.set));
  Describe(state, sized);
}

void BM_BundleDigest(benchmark::State& state) {
  const Sized& sized = PolicyOf(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(DigestOf(*sized.policy));
  Describe(state, sized);
}

void BM_PolicyDiffIdentical(benchmark::State& state) {
  const Sized& sized = PolicyOf(static_cast<int>(state.range(0)));
  const std::unique_ptr<const CompiledPolicy> copy = *ParseBundle(sized.bundle);
  for (auto _ : state) {
    benchmark::DoNotOptimize(DiffPolicies(*sized.policy, *copy));
  }
}

// Another seed for the role patterns: almost every role changes.
void BM_PolicyDiffRewritten(benchmark::State& state) {
  const int roles = static_cast<int>(state.range(0));
  const Sized& sized = PolicyOf(roles);
  testing::SizedPolicyOptions options = OptionsFor(roles);
  options.seed = 2;
  const std::unique_ptr<const CompiledPolicy> other =
      *Compile(testing::SizedRandomPolicy(options));
  size_t changes = 0;
  for (auto _ : state) {
    const PolicyDiff diff = DiffPolicies(*sized.policy, *other);
    changes = diff.changes.size();
    benchmark::DoNotOptimize(diff);
  }
  state.counters["changes"] = static_cast<double>(changes);
}

#define PORTCULLIS_SIZES \
  Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)

BENCHMARK(BM_BundleSaveMemory)->Name("BM_BundleSave/memory")->PORTCULLIS_SIZES;
BENCHMARK(BM_BundleSaveFile)
    ->Name("BM_BundleSave/file")
    ->UseRealTime()
    ->PORTCULLIS_SIZES;
BENCHMARK(BM_BundleLoadMemory)->Name("BM_BundleLoad/memory")->PORTCULLIS_SIZES;
BENCHMARK(BM_BundleLoadFile)
    ->Name("BM_BundleLoad/file")
    ->UseRealTime()
    ->PORTCULLIS_SIZES;
BENCHMARK(BM_BundleLoadCompileBaseline)
    ->Name("BM_BundleLoad/compile_baseline")
    ->PORTCULLIS_SIZES;
BENCHMARK(BM_BundleDigest)->Name("BM_BundleDigest/unkeyed")->PORTCULLIS_SIZES;
BENCHMARK(BM_PolicyDiffIdentical)
    ->Name("BM_PolicyDiff/identical")
    ->PORTCULLIS_SIZES;
BENCHMARK(BM_PolicyDiffRewritten)
    ->Name("BM_PolicyDiff/rewritten")
    ->PORTCULLIS_SIZES;

}  // namespace
}  // namespace portcullis
