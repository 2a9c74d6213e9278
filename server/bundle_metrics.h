// The bundle poller's status (engine/live/bundle_poller.h) as Prometheus
// metrics, read at each scrape of /metrics when the policy comes from a
// bundle server (docs/server.md, "Metrics"). Thread-safe.
#ifndef PORTCULLIS_SERVER_BUNDLE_METRICS_H_
#define PORTCULLIS_SERVER_BUNDLE_METRICS_H_

#include <mutex>

#include "engine/live/bundle_poller.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace portcullis::server {

class BundleMetrics {
 public:
  // Registers the metrics in `registry`, which must outlive this.
  explicit BundleMetrics(prometheus::Registry& registry);

  // Brings the metrics up to `status`; called before each scrape.
  void Update(const BundlePoller::Status& status);

 private:
  prometheus::Counter& polls_;
  prometheus::Counter& downloads_;
  prometheus::Counter& not_modified_;
  prometheus::Counter& download_bytes_;
  prometheus::Counter& fetch_failures_;
  prometheus::Counter& rejected_;
  prometheus::Counter& cache_write_failures_;
  prometheus::Gauge& last_success_;
  prometheus::Gauge& failing_since_;
  prometheus::Gauge& serving_cache_;

  std::mutex mu_;  // the totals last exported, for the deltas
  BundlePoller::Stats last_;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_BUNDLE_METRICS_H_
