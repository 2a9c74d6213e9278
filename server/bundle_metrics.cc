#include "server/bundle_metrics.h"

#include <cstdint>

#include "absl/time/time.h"

namespace portcullis::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

prometheus::Counter& Counter(prometheus::Registry& registry, const char* name,
                             const char* help) {
  return BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Gauge& Gauge(prometheus::Registry& registry, const char* name,
                         const char* help) {
  return BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

// Seconds since the epoch; 0 for "never" (InfinitePast) and "not failing"
// (InfiniteFuture), as Prometheus timestamps conventionally say.
double Timestamp(absl::Time time) {
  if (time == absl::InfinitePast() || time == absl::InfiniteFuture()) return 0;
  return absl::ToDoubleSeconds(time - absl::UnixEpoch());
}

}  // namespace

BundleMetrics::BundleMetrics(prometheus::Registry& registry)
    : polls_(Counter(registry, "portcullis_policy_bundle_polls_total",
                     "Polls of the bundle server")),
      downloads_(Counter(registry, "portcullis_policy_bundle_downloads_total",
                         "Bundles downloaded whole (200 answers)")),
      not_modified_(Counter(registry,
                            "portcullis_policy_bundle_not_modified_total",
                            "304 Not Modified answers (the bundle is the one "
                            "received last)")),
      download_bytes_(Counter(registry,
                              "portcullis_policy_bundle_download_bytes_total",
                              "Bytes of bundles downloaded")),
      fetch_failures_(Counter(
          registry, "portcullis_policy_bundle_fetch_failures_total",
          "Polls that got no bundle: unreachable, HTTP error, timeout, cut "
          "short, too large")),
      rejected_(Counter(registry, "portcullis_policy_bundle_rejected_total",
                        "Bundles refused: signature, format, empty policy, "
                        "mass removal")),
      cache_write_failures_(Counter(
          registry, "portcullis_policy_bundle_cache_write_failures_total",
          "Publications whose last good bundle could not be written to the "
          "state directory")),
      last_success_(Gauge(
          registry, "portcullis_policy_bundle_last_success_timestamp_seconds",
          "When the bundle server last gave a usable answer (0: never)")),
      failing_since_(Gauge(
          registry, "portcullis_policy_bundle_failing_since_timestamp_seconds",
          "Since when polls have failed without a success (0: healthy)")),
      serving_cache_(Gauge(registry, "portcullis_policy_bundle_serving_cache",
                           "1 while the policy served is the last good bundle "
                           "from disk, not yet confirmed by the server")) {}

void BundleMetrics::Update(const BundlePoller::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  const BundlePoller::Stats& now = status.stats;
  auto add = [](prometheus::Counter& counter, uint64_t total, uint64_t& last) {
    if (total > last) counter.Increment(static_cast<double>(total - last));
    last = total;
  };
  add(polls_, now.polls, last_.polls);
  add(downloads_, now.downloads, last_.downloads);
  add(not_modified_, now.not_modified, last_.not_modified);
  add(download_bytes_, now.download_bytes, last_.download_bytes);
  add(fetch_failures_, now.fetch_failures, last_.fetch_failures);
  add(rejected_, now.rejected, last_.rejected);
  add(cache_write_failures_, now.cache_write_failures,
      last_.cache_write_failures);
  last_success_.Set(Timestamp(status.last_success));
  failing_since_.Set(Timestamp(status.failing_since));
  serving_cache_.Set(status.serving_cache ? 1 : 0);
}

}  // namespace portcullis::server
