#include "server/ratelimit/gcra_lease.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace portcullis::ratelimit {

GcraParams GcraParamsFor(uint32_t count, uint32_t interval_seconds) {
  // interval_us < 2^32 * 10^6 < 2^52; tolerance < interval_us + count.
  const int64_t interval_us = int64_t{interval_seconds} * 1'000'000;
  GcraParams params;
  params.emission_us = std::max<int64_t>(1, (interval_us + count - 1) / count);
  params.tolerance_us = params.emission_us * count;
  return params;
}

GcraLeaseAnswer GcraLease(std::optional<int64_t>& tat_us, int64_t now_us,
                          const GcraParams& params, int64_t want) {
  const int64_t emission = params.emission_us;
  const int64_t tolerance = params.tolerance_us;
  int64_t tat = tat_us.value_or(now_us);
  bool clamped = false;
  if (tat > now_us + tolerance) {
    tat = now_us + tolerance;
    clamped = true;
  }
  const int64_t base = std::max(tat, now_us);
  const int64_t free = (now_us + tolerance - base) / emission;
  const int64_t granted = std::min(free, want);
  GcraLeaseAnswer answer;
  if (granted < 1) {
    if (clamped) tat_us = tat;
    answer.retry_after_us = base + emission - now_us - tolerance;
    return answer;
  }
  tat_us = base + granted * emission;
  answer.granted = granted;
  answer.remaining = free - granted;
  return answer;
}

// Every number stays an integer below 2^53 (microseconds until about 2255,
// plus a tolerance below 2^52), so Lua's doubles hold them exactly; the only
// inexact operation, division, is corrected (Div). Numbers go to Redis
// through string.format('%.0f'): Redis would print a large one in exponent
// form.
const absl::string_view kGcraLeaseScript = R"lua(
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[4])
end
-- floor(a / b) for integers below 2^53: a double quotient may round up.
local function Div(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function Store(value)
  local at_ms = Div(value, 1000)
  if at_ms * 1000 < value then at_ms = at_ms + 1 end
  redis.call('SET', KEYS[1], string.format('%.0f', value),
             'PXAT', string.format('%.0f', at_ms))
end
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = tonumber(stored)
  if tat == nil then return redis.error_reply('rate limit key is not a TAT') end
end
local clamped = false
if tat > now + tolerance then
  tat = now + tolerance
  clamped = true
end
local base = math.max(tat, now)
local free = Div(now + tolerance - base, emission)
local granted = math.min(free, want)
if granted < 1 then
  if clamped then Store(tat) end
  return {0, 0, base + emission - now - tolerance}
end
Store(base + granted * emission)
return {granted, free - granted, 0}
)lua";

}  // namespace portcullis::ratelimit
