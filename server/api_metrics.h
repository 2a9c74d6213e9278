// The metrics of the decision API, decision logs, admin listener and user
// directory reloads, and those read from the token service and the policy
// store at each scrape (docs/server.md): registered in the server's Metrics
// registry. Thread-safe.
#ifndef PORTCULLIS_SERVER_API_METRICS_H_
#define PORTCULLIS_SERVER_API_METRICS_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "engine/auth/token_service.h"
#include "engine/live/policy_store.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace portcullis::server {

class ApiMetrics {
 public:
  explicit ApiMetrics(prometheus::Registry& registry);

  // A Bearer token presented to an endpoint that introspects it.
  void Introspected() { introspections_.Increment(); }
  void AdminAuthFailed() { admin_auth_failures_.Increment(); }
  void UserDirectoryReload(bool ok, size_t users);

  // Brings the pulled metrics up to date; called before each scrape.
  // `dropped` and `written`: the decision log's totals (0 without one).
  void Update(const auth::TokenServiceStats& stats,
              const std::optional<PolicyStore::SnapshotInfo>& policy,
              uint64_t log_dropped, uint64_t log_written);

 private:
  prometheus::Family<prometheus::Counter>& auth_failures_;
  prometheus::Counter& introspections_;
  prometheus::Counter& slow_paths_;
  prometheus::Counter& cache_hits_;
  prometheus::Counter& tokens_issued_;
  prometheus::Family<prometheus::Gauge>& policy_info_;
  prometheus::Counter& log_dropped_;
  prometheus::Counter& log_written_;
  prometheus::Counter& admin_auth_failures_;
  prometheus::Family<prometheus::Counter>& user_reloads_;
  prometheus::Gauge& users_;

  std::mutex mu_;  // the totals last exported, for the deltas
  auth::TokenServiceStats last_stats_;
  uint64_t last_dropped_ = 0;
  uint64_t last_written_ = 0;
  uint64_t info_generation_ = 0;
  prometheus::Gauge* info_ = nullptr;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_API_METRICS_H_
