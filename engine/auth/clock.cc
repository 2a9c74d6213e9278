#include "engine/auth/clock.h"

#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace portcullis::auth {

const SystemClock& SystemClock::Instance() {
  // Leaked on purpose: never destroyed, so it stays usable while other static
  // objects are being destroyed.
  static const SystemClock* const instance = new SystemClock();
  return *instance;
}

absl::Time SystemClock::Now() const { return absl::Now(); }

ManualClock::ManualClock(absl::Time start) : now_(start) {}

absl::Time ManualClock::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

void ManualClock::Advance(absl::Duration delta) {
  std::lock_guard<std::mutex> lock(mu_);
  now_ += delta;
}

void ManualClock::Set(absl::Time time) {
  std::lock_guard<std::mutex> lock(mu_);
  now_ = time;
}

}  // namespace portcullis::auth
