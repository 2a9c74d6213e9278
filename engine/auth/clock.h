// Time sources for the auth module. Everything that depends on the current time
// (token expiry, rate limits, store sweeps) takes a `const Clock&` or an
// `absl::Time now` computed from one, so tests can pin time exactly.

#ifndef PORTCULLIS_ENGINE_AUTH_CLOCK_H_
#define PORTCULLIS_ENGINE_AUTH_CLOCK_H_

#include <mutex>

#include "absl/time/time.h"

namespace portcullis::auth {

// A source of the current time. Every implementation is thread-safe: `Now()`
// may be called concurrently from any number of threads.
class Clock {
 public:
  virtual ~Clock() = default;

  // The current time. Not necessarily monotonic: a wall clock may step back.
  virtual absl::Time Now() const = 0;
};

// The system's wall clock (`absl::Now()`). Stateless and thread-safe; one
// call costs one clock_gettime (a vDSO call, tens of nanoseconds).
class SystemClock final : public Clock {
 public:
  // The process-wide instance. It is never destroyed, so it may be used from
  // static destructors and detached threads.
  static const SystemClock& Instance();

  absl::Time Now() const override;

 private:
  SystemClock() = default;
};

// A clock that moves only when told to, for tests. Thread-safe: `Now`,
// `Advance` and `Set` may race; each call sees a consistent value.
class ManualClock final : public Clock {
 public:
  // Starts at `start` (the Unix epoch by default).
  explicit ManualClock(absl::Time start = absl::UnixEpoch());

  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  absl::Time Now() const override;

  // Moves the clock by `delta`, which may be negative (to test a clock step).
  void Advance(absl::Duration delta);

  // Sets the clock to `time`, in either direction.
  void Set(absl::Time time);

 private:
  // std::mutex rather than absl::Mutex: Debian's prebuilt Abseil is not
  // compiled with ThreadSanitizer, so TSAN cannot see absl::Mutex's
  // synchronization and reports false races; pthread mutexes are intercepted.
  mutable std::mutex mu_;
  absl::Time now_;  // Guarded by mu_.
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_CLOCK_H_
