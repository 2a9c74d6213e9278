// Loading JSON policies: the fast reader (simdjson On Demand straight into the
// PolicySet, engine/load/policy_json_reader.h) against the strict reader it
// falls back to (the strict checker, then protobuf's JSON parser), over the
// same documents, 1,000 to 100,000 roles. The goal (issue 18): loading costs
// no more than compiling (BM_Compile/realistic at the same size).
//
//   BM_LoadJson/<fast|strict>/<roles>
// Counters: bytes_per_second (of JSON), MB (the document's size).
//
// Load and compile together, as `portcullis compile` and the watcher do for
// one JSON file: the whole document into a PolicySet then Compile, against
// the two-pass compile that never holds the roles together
// (engine/compile/json_policy_compiler.h), which must cost no more.
//
//   BM_LoadCompileJson/<whole|two_pass>/<roles>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "benchmark/benchmark.h"
#include "benchmarks/fixed_iterations.h"
#include "benchmarks/policy_fixtures.h"
#include "engine/compile/compiler.h"
#include "engine/compile/json_policy_compiler.h"
#include "engine/load/policy_json_reader.h"
#include "engine/load/policy_loader.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/json_util.h"

namespace portcullis::bench {
namespace {

// The synthetic policy of `roles` roles as JSON (snake_case names), with the
// padding that lets the fast reader read it in place, as LoadPolicyFiles does.
const std::string& PolicyJson(int roles) {
  static int cached_roles = -1;
  static std::string* json = new std::string();
  if (cached_roles != roles) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    json->clear();
    json->shrink_to_fit();
    std::string text;
    (void)google::protobuf::util::MessageToJsonString(
        SyntheticPolicy(roles, RowShape::kRealistic), &text, options);
    json->reserve(text.size() + internal::kJsonPadding);
    json->assign(text);
    cached_roles = roles;
  }
  return *json;
}

// The fast reader into a PolicySet on an arena and, when `compile`, Compile.
void LoadWhole(benchmark::State& state, bool compile) {
  const std::string& json = PolicyJson(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    google::protobuf::Arena arena;
    v1::PolicySet* policy =
        google::protobuf::Arena::CreateMessage<v1::PolicySet>(&arena);
    if (!internal::ReadPolicyJson(json, json.capacity(),
                                  kDefaultMaxNestingDepth, *policy)) {
      state.SkipWithError("the fast reader left the document");
      return;
    }
    benchmark::DoNotOptimize(policy->roles_size());
    if (!compile) continue;
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
        Compile(*policy);
    if (!compiled.ok()) {
      state.SkipWithError(std::string(compiled.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(compiled->get());
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(json.size()));
  state.counters["MB"] = static_cast<double>(json.size()) / 1e6;
}

void BM_LoadJsonFast(benchmark::State& state) { LoadWhole(state, false); }

void BM_LoadCompileJsonWhole(benchmark::State& state) {
  LoadWhole(state, true);
}

void BM_LoadJsonStrict(benchmark::State& state) {
  const std::string& json = PolicyJson(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    v1::PolicySet policy;
    const absl::Status status = ParseJsonMessage(json, policy);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(policy.roles_size());
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(json.size()));
  state.counters["MB"] = static_cast<double>(json.size()) / 1e6;
}

void BM_LoadCompileJsonTwoPass(benchmark::State& state) {
  const std::string& json = PolicyJson(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::optional<std::unique_ptr<const CompiledPolicy>> compiled =
        CompileJsonStreamed(json, json.capacity(), LoadOptions(),
                            CompileOptions(), nullptr);
    if (!compiled) {
      state.SkipWithError("the two-pass compile left the document");
      return;
    }
    benchmark::DoNotOptimize(compiled->get());
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(json.size()));
}

// 1,000 and 100,000 roles, in milliseconds.
void Sizes(benchmark::internal::Benchmark* benchmark) {
  benchmark->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_LoadCompileJsonWhole)
    ->Name("BM_LoadCompileJson/whole")
    ->Apply(Sizes)
    ->Apply(portcullis::internal::FixedIterationsFromEnv);
BENCHMARK(BM_LoadCompileJsonTwoPass)
    ->Name("BM_LoadCompileJson/two_pass")
    ->Apply(Sizes)
    ->Apply(portcullis::internal::FixedIterationsFromEnv);
BENCHMARK(BM_LoadJsonFast)
    ->Name("BM_LoadJson/fast")
    ->Apply(Sizes)
    ->Apply(portcullis::internal::FixedIterationsFromEnv);
BENCHMARK(BM_LoadJsonStrict)
    ->Name("BM_LoadJson/strict")
    ->Apply(Sizes)
    ->Apply(portcullis::internal::FixedIterationsFromEnv);

}  // namespace
}  // namespace portcullis::bench
