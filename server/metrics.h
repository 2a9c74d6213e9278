// The server's Prometheus metrics (prometheus-cpp's types and text
// serializer; the /metrics endpoint is served by the server itself).
#ifndef PORTCULLIS_SERVER_METRICS_H_
#define PORTCULLIS_SERVER_METRICS_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/common/decision.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace portcullis::server {

// Thread-safe.
class Metrics {
 public:
  Metrics();

  // One answered request: its endpoint ("auth_token", "authorize", ...,
  // "other"), status code and duration.
  void Request(absl::string_view endpoint, unsigned status,
               absl::Duration duration);
  // One proxy-authorization decision: verdict ("allowed",
  // "allowed_for_own", "not_allowed", "unauthenticated", "bad_request",
  // "rate_limited") and reason.
  void Decision(absl::string_view verdict, absl::string_view reason);
  void RateLimited();
  void ReloadFailed();
  void PolicyGeneration(uint64_t generation);
  void ConnectionOpened();
  void ConnectionClosed();
  void ConnectionRejected();
  void StateSaveFailed();

  // Every metric in Prometheus' text exposition format (version 0.0.4).
  std::string Text() const;

  // The registry, for metrics defined elsewhere (api_metrics.h).
  prometheus::Registry& registry() { return *registry_; }

 private:
  const uint64_t id_;  // for the per-thread memory of labeled children
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Counter>& decisions_;
  prometheus::Counter& rate_limited_;
  prometheus::Counter& reload_failures_;
  prometheus::Gauge& generation_;
  prometheus::Gauge& connections_;
  prometheus::Counter& connections_rejected_;
  prometheus::Counter& state_save_failures_;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_METRICS_H_
