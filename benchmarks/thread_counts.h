// The thread counts of the multi-threaded benchmarks: 1, 2, then doubling up
// to the machine's core count (which is included), so that a bigger machine
// shows how far readers scale without editing the suites.
#ifndef PORTCULLIS_BENCHMARKS_THREAD_COUNTS_H_
#define PORTCULLIS_BENCHMARKS_THREAD_COUNTS_H_

#include <algorithm>
#include <thread>

#include "benchmark/benchmark.h"

namespace portcullis {
namespace internal {

// For Benchmark::Apply().
inline void ScalingThreadCounts(benchmark::internal::Benchmark* benchmark) {
  const int cores =
      std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  int threads = 1;
  for (; threads < cores; threads *= 2) benchmark->Threads(threads);
  benchmark->Threads(cores);
}

}  // namespace internal
}  // namespace portcullis

#endif  // PORTCULLIS_BENCHMARKS_THREAD_COUNTS_H_
