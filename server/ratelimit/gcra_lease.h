// The GCRA lease: the generic cell rate algorithm of rate_limiter.h, counted
// in Redis for every replica at once, handing out several admissions per
// round trip (docs/replicas.md, "Rate limits across replicas").
//
// One Redis key per client holds its theoretical arrival time (TAT) in
// microseconds since the Unix epoch, and expires (PXAT) at that TAT: a key
// past its TAT says nothing an absent one does not (a full burst), so idle
// clients cost Redis nothing. A lease asks for `want` admissions at once and
// gets the largest k <= want that k requests made at that instant would get
// from the single-process GCRA, i.e. exactly what k consecutive checks of
// rate_limiter.h would allow, with:
//   * T = interval / count rounded up to a whole microsecond (Redis's Lua
//     numbers are doubles, exact to 2^53; microseconds since 1970 need 51
//     bits), so the long-run rate never exceeds count per interval. A limit
//     of more than 1,000,000 per second is held to one per microsecond.
//   * burst tolerance count * T; refusals consume nothing; a refusal's
//     retry_after is when the next admission becomes available (at most T).
//   * a TAT further ahead than the tolerance (the clock stepped back) is
//     clamped to a fully spent burst, so a step back costs a client at most
//     one interval.
// This header holds the script and the same arithmetic in C++ (GcraLease),
// which is the script's specification: tests run both on the same inputs.
#ifndef PORTCULLIS_SERVER_RATELIMIT_GCRA_LEASE_H_
#define PORTCULLIS_SERVER_RATELIMIT_GCRA_LEASE_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace portcullis::ratelimit {

// A limit in the script's units. A plain value.
struct GcraParams {
  int64_t emission_us = 0;   // T, at least 1
  int64_t tolerance_us = 0;  // count * T
};

// The parameters of `count` per `interval_seconds`; both must be positive
// (a limit of 0 is unlimited and never reaches Redis).
GcraParams GcraParamsFor(uint32_t count, uint32_t interval_seconds);

// The answer to one lease.
struct GcraLeaseAnswer {
  // Admissions granted, 0 to want.
  int64_t granted = 0;
  // Granted >= 1: admissions still free right after this lease. Otherwise 0.
  int64_t remaining = 0;
  // Granted == 0: microseconds until one admission is free (1 to T).
  // Otherwise 0.
  int64_t retry_after_us = 0;
};

// The lease on a TAT in C++: `tat_us` is the key's value (nullopt: no key),
// updated as the script updates the key. `want` >= 1.
GcraLeaseAnswer GcraLease(std::optional<int64_t>& tat_us, int64_t now_us,
                          const GcraParams& params, int64_t want);

// The script. KEYS[1]: the client's TAT key. ARGV: T (us), tolerance (us),
// want, now (us since the epoch; "" for Redis's own clock, TIME). Returns
// {granted, remaining, retry_after_us}, as GcraLeaseAnswer.
extern const absl::string_view kGcraLeaseScript;

}  // namespace portcullis::ratelimit

#endif  // PORTCULLIS_SERVER_RATELIMIT_GCRA_LEASE_H_
