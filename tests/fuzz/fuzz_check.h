// Assertions for fuzz targets. A broken property must abort the process: that
// is what libFuzzer records as a crash (and saves the input for), and what
// fails the regression test that replays the corpus. GoogleTest's EXPECT_*
// would only print, so fuzz targets use these instead.
#ifndef PORTCULLIS_TESTS_FUZZ_FUZZ_CHECK_H_
#define PORTCULLIS_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

// Aborts with the condition, the place and `message` (anything convertible to
// std::string) when `condition` is false.
#define PORTCULLIS_FUZZ_CHECK(condition, message)                           \
  do {                                                                      \
    if (!(condition)) {                                                     \
      const std::string portcullis_fuzz_message_ = (message);               \
      std::fprintf(stderr, "%s:%d: property violated: %s\n%s\n", __FILE__,  \
                   __LINE__, #condition, portcullis_fuzz_message_.c_str()); \
      std::abort();                                                         \
    }                                                                       \
  } while (false)

#endif  // PORTCULLIS_TESTS_FUZZ_FUZZ_CHECK_H_
