// Lets benchmarks/callgrind.sh run any benchmark for an exact number of
// iterations.
//
// Google Benchmark 1.7.1 chooses iteration counts from timings (it has no
// --benchmark_min_iters), which makes instruction counts under valgrind depend
// on how fast the machine happened to be. Every benchmark registration in this
// directory ends with `->Apply(portcullis::internal::FixedIterationsFromEnv)`:
// when PORTCULLIS_BENCHMARK_ITERATIONS holds a positive integer, the benchmark
// runs exactly that many iterations per thread (its name gains
// `/iterations:N`); otherwise it is left alone. callgrind.sh runs one benchmark
// at two such counts and divides the difference in instructions by the
// difference in iterations, so program start-up and the benchmark's own setup
// cancel out.
#ifndef PORTCULLIS_BENCHMARKS_FIXED_ITERATIONS_H_
#define PORTCULLIS_BENCHMARKS_FIXED_ITERATIONS_H_

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "benchmark/benchmark.h"

namespace portcullis {
namespace internal {

inline constexpr char kBenchmarkIterationsEnv[] =
    "PORTCULLIS_BENCHMARK_ITERATIONS";

// For Benchmark::Apply(). Reads the environment at registration (static
// initialization); exits with status 2 on a value that is not a positive
// integer.
inline void FixedIterationsFromEnv(benchmark::internal::Benchmark* benchmark) {
  const char* value = std::getenv(kBenchmarkIterationsEnv);
  if (value == nullptr || *value == '\0') return;
  char* end = nullptr;
  errno = 0;
  const long long iterations = std::strtoll(value, &end, 10);
  if (errno != 0 || *end != '\0' || iterations <= 0) {
    std::fprintf(stderr, "%s=\"%s\" is not a positive integer\n",
                 kBenchmarkIterationsEnv, value);
    std::exit(2);
  }
  benchmark->Iterations(static_cast<benchmark::IterationCount>(iterations));
}

}  // namespace internal
}  // namespace portcullis

#endif  // PORTCULLIS_BENCHMARKS_FIXED_ITERATIONS_H_
