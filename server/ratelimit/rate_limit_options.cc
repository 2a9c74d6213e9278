#include "server/ratelimit/rate_limit_options.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "proto/server.pb.h"

namespace portcullis::ratelimit {

constexpr uint32_t kMaxLease = 65536;

absl::Status ValidateRateLimitOptions(const RateLimitOptions& options) {
  std::vector<std::string> errors;
  // NaN fails both comparisons.
  if (!(options.lease_share >= 0 && options.lease_share <= 1)) {
    errors.push_back(absl::StrCat(
        "rate_limit.lease_share: ", options.lease_share, " is outside [0, 1]"));
  }
  if (options.max_lease < 1 || options.max_lease > kMaxLease) {
    errors.push_back(absl::StrCat("rate_limit.max_lease: ", options.max_lease,
                                  " is outside [1, ", kMaxLease, "]"));
  }
  if (options.outage_retry < absl::Milliseconds(1) ||
      options.outage_retry > absl::Seconds(60)) {
    errors.push_back(absl::StrCat("rate_limit.outage_retry_ms: ",
                                  absl::FormatDuration(options.outage_retry),
                                  " is outside [1ms, 60s]"));
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

absl::StatusOr<RateLimitOptions> RateLimitOptionsFromConfig(
    const server::v1::RateLimitConfig& config) {
  RateLimitOptions options;
  std::vector<std::string> errors;
  if (config.mode().empty() || config.mode() == "local") {
    options.mode = RateLimitMode::kLocal;
  } else if (config.mode() == "redis") {
    options.mode = RateLimitMode::kRedis;
  } else {
    errors.push_back(absl::StrCat("rate_limit.mode: unknown \"",
                                  absl::CHexEscape(config.mode()),
                                  "\" (expected \"local\" or \"redis\")"));
  }
  if (config.on_outage().empty() || config.on_outage() == "local") {
    options.on_outage = OutagePolicy::kLocal;
  } else if (config.on_outage() == "deny") {
    options.on_outage = OutagePolicy::kDeny;
  } else {
    errors.push_back(absl::StrCat("rate_limit.on_outage: unknown \"",
                                  absl::CHexEscape(config.on_outage()),
                                  "\" (expected \"local\" or \"deny\")"));
  }
  if (config.has_lease_share()) options.lease_share = config.lease_share();
  if (config.max_lease() != 0) options.max_lease = config.max_lease();
  if (config.outage_retry_ms() != 0) {
    if (config.outage_retry_ms() > 60000) {
      errors.push_back(
          absl::StrCat("rate_limit.outage_retry_ms: ", config.outage_retry_ms(),
                       " is outside [1, 60000]"));
    } else {
      options.outage_retry = absl::Milliseconds(config.outage_retry_ms());
    }
  }
  if (absl::Status status = ValidateRateLimitOptions(options); !status.ok()) {
    errors.push_back(std::string(status.message()));
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  }
  return options;
}

uint32_t LeaseSize(const RateLimitOptions& options, uint32_t count) {
  const double share =
      std::floor(static_cast<double>(count) * options.lease_share);
  if (!(share >= 1)) return 1;
  return static_cast<uint32_t>(
      std::min(share, static_cast<double>(options.max_lease)));
}

}  // namespace portcullis::ratelimit
