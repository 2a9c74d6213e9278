// A small, real benchmark that proves the benchmark tooling end to end
// (run_all.sh, callgrind.sh, report.py) before the engine's suites exist.
//
// It measures the choice the engine's design rests on: a permission looked up
// by dense id in a flat array versus the same table in a std::map, for 10 to
// 1,000,000 entries, plus the cost and memory of building each. Names follow
// the convention of benchmarks/README.md, `BM_<Family>/<variant>/<size>`:
//
//   BM_Lookup/flat_array/1000   BM_Lookup/std_map/1000      (ratio: ÷
//   flat_array) BM_Lookup/flat_array/1000/real_time/threads:2 (throughput vs
//   threads) BM_Build/flat_array/1000    BM_Build/std_map/1000        (counter
//   bytes_per_entry)

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/fixed_iterations.h"

namespace {

using ::portcullis::internal::FixedIterationsFromEnv;

enum class Layout { kFlatArray, kStdMap };

// Bytes handed out by CountingAllocator; only BM_Build (single-threaded) reads
// it.
std::size_t allocated_bytes = 0;

// std::allocator that adds every allocation to `allocated_bytes`, so the memory
// counters are measured rather than estimated.
template <typename T>
struct CountingAllocator {
  using value_type = T;
  CountingAllocator() = default;
  template <typename U>
  CountingAllocator(const CountingAllocator<U>&) {}  // NOLINT: rebinding.
  T* allocate(std::size_t n) {
    allocated_bytes += n * sizeof(T);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) { std::allocator<T>().deallocate(p, n); }
  template <typename U>
  bool operator==(const CountingAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const CountingAllocator<U>&) const {
    return false;
  }
};

using FlatTable = std::vector<std::uint8_t, CountingAllocator<std::uint8_t>>;
using MapTable =
    std::map<std::uint32_t, std::uint8_t, std::less<std::uint32_t>,
             CountingAllocator<std::pair<const std::uint32_t, std::uint8_t>>>;

// A 2-bit permission for `id`, spread so that neighbouring ids differ.
std::uint8_t PermissionOf(std::uint32_t id) {
  return static_cast<std::uint8_t>((id * 2654435761u) >> 30);
}

// Deterministic pseudo-random numbers (splitmix64), fixed seed: every run and
// every callgrind run probes the same ids.
class SplitMix64 {
 public:
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_ = 42;
};

// The ids 0..size-1 in a shuffled order: the input of a build.
std::vector<std::uint32_t> ShuffledIds(std::uint32_t size) {
  std::vector<std::uint32_t> ids(size);
  for (std::uint32_t id = 0; id < size; ++id) ids[id] = id;
  SplitMix64 random;
  for (std::uint32_t i = size; i > 1; --i) {
    std::swap(ids[i - 1], ids[random.Next() % i]);
  }
  return ids;
}

FlatTable BuildFlat(const std::vector<std::uint32_t>& ids) {
  FlatTable table(ids.size());
  for (std::uint32_t id : ids) table[id] = PermissionOf(id);
  return table;
}

MapTable BuildMap(const std::vector<std::uint32_t>& ids) {
  MapTable table;
  for (std::uint32_t id : ids) table.emplace(id, PermissionOf(id));
  return table;
}

// Both tables for one size and the ids a lookup benchmark probes. Immutable
// once built, so every benchmark thread may read it.
struct Tables {
  static constexpr std::size_t kProbes = 4096;  // a power of two
  FlatTable flat;
  MapTable map;
  std::vector<std::uint32_t> probes;
};

// The tables for `size`, built on first use outside any timed loop. Only the
// most recent size is kept, so a sweep to 1,000,000 entries does not hold every
// size.
std::shared_ptr<const Tables> TablesFor(std::uint32_t size) {
  static std::mutex mutex;
  static std::shared_ptr<const Tables> cached;
  std::lock_guard<std::mutex> lock(mutex);
  if (cached == nullptr || cached->flat.size() != size) {
    cached = nullptr;  // free the previous size before building the next
    auto tables = std::make_shared<Tables>();
    const std::vector<std::uint32_t> ids = ShuffledIds(size);
    tables->flat = BuildFlat(ids);
    tables->map = BuildMap(ids);
    SplitMix64 random;
    tables->probes.resize(Tables::kProbes);
    for (std::uint32_t& probe : tables->probes) {
      probe = static_cast<std::uint32_t>(random.Next() % size);
    }
    cached = std::move(tables);
  }
  return cached;
}

// One permission lookup per iteration, at a pseudo-random id (the same sequence
// of 4096 ids, repeated). Argument: number of entries.
void BM_Lookup(benchmark::State& state, Layout layout) {
  const std::shared_ptr<const Tables> tables =
      TablesFor(static_cast<std::uint32_t>(state.range(0)));
  const std::uint32_t* probes = tables->probes.data();
  std::size_t next = static_cast<std::size_t>(state.thread_index()) * 997;
  switch (layout) {
    case Layout::kFlatArray: {
      const std::uint8_t* flat = tables->flat.data();
      for (auto _ : state) {
        std::uint8_t permission = flat[probes[next++ & (Tables::kProbes - 1)]];
        benchmark::DoNotOptimize(permission);
      }
      break;
    }
    case Layout::kStdMap: {
      const MapTable& map = tables->map;
      for (auto _ : state) {
        std::uint8_t permission =
            map.find(probes[next++ & (Tables::kProbes - 1)])->second;
        benchmark::DoNotOptimize(permission);
      }
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// Builds the whole table from shuffled (id, permission) pairs once per
// iteration. Argument: number of entries. Counter bytes_per_entry: bytes the
// table allocates (counted by its allocator) divided by the number of entries.
void BM_Build(benchmark::State& state, Layout layout) {
  const auto size = static_cast<std::uint32_t>(state.range(0));
  const std::vector<std::uint32_t> ids = ShuffledIds(size);
  allocated_bytes = 0;
  switch (layout) {
    case Layout::kFlatArray: {
      // Measured once outside the timed loop: the loop frees what it builds.
      benchmark::DoNotOptimize(BuildFlat(ids));
      const std::size_t bytes = allocated_bytes;
      for (auto _ : state) {
        FlatTable table = BuildFlat(ids);
        benchmark::DoNotOptimize(table.data());
      }
      state.counters["bytes_per_entry"] = static_cast<double>(bytes) / size;
      break;
    }
    case Layout::kStdMap: {
      benchmark::DoNotOptimize(BuildMap(ids).size());
      const std::size_t bytes = allocated_bytes;
      for (auto _ : state) {
        MapTable table = BuildMap(ids);
        benchmark::DoNotOptimize(table.size());
      }
      state.counters["bytes_per_entry"] = static_cast<double>(bytes) / size;
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

// Sizes 10, 100, ..., 1,000,000: the engine's "10 → 1,000,000 roles" sweep.
void Sizes(benchmark::internal::Benchmark* benchmark) {
  benchmark->RangeMultiplier(10)->Range(10, 1000000);
}

BENCHMARK_CAPTURE(BM_Lookup, flat_array, Layout::kFlatArray)
    ->Apply(Sizes)
    ->Apply(FixedIterationsFromEnv);
BENCHMARK_CAPTURE(BM_Lookup, std_map, Layout::kStdMap)
    ->Apply(Sizes)
    ->Apply(FixedIterationsFromEnv);

// Throughput with 1 and 2 threads reading the same table. UseRealTime(): the
// reported time is wall time over all threads' iterations, so items/s is the
// aggregate throughput.
BENCHMARK_CAPTURE(BM_Lookup, flat_array, Layout::kFlatArray)
    ->Arg(1000)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->Apply(FixedIterationsFromEnv);
BENCHMARK_CAPTURE(BM_Lookup, std_map, Layout::kStdMap)
    ->Arg(1000)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->Apply(FixedIterationsFromEnv);

BENCHMARK_CAPTURE(BM_Build, flat_array, Layout::kFlatArray)
    ->Apply(Sizes)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(FixedIterationsFromEnv);
BENCHMARK_CAPTURE(BM_Build, std_map, Layout::kStdMap)
    ->Apply(Sizes)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(FixedIterationsFromEnv);

}  // namespace
