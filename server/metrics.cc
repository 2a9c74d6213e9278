#include "server/metrics.h"

#include <atomic>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace portcullis::server {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {
uint64_t NextMetricsId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

Metrics::Metrics()
    : id_(NextMetricsId()),
      registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("portcullis_http_requests_total")
                    .Help("HTTP requests answered, by endpoint and status")
                    .Register(*registry_)),
      latency_(BuildHistogram()
                   .Name("portcullis_http_request_duration_seconds")
                   .Help("Time from a whole request to its answer, by endpoint")
                   .Register(*registry_)),
      decisions_(BuildCounter()
                     .Name("portcullis_decisions_total")
                     .Help("Proxy-authorization answers, by verdict and reason")
                     .Register(*registry_)),
      rate_limited_(BuildCounter()
                        .Name("portcullis_rate_limited_total")
                        .Help("Requests refused by a credential's rate limit")
                        .Register(*registry_)
                        .Add({})),
      reload_failures_(BuildCounter()
                           .Name("portcullis_policy_reload_failures_total")
                           .Help("Policy reloads rejected")
                           .Register(*registry_)
                           .Add({})),
      generation_(BuildGauge()
                      .Name("portcullis_policy_generation")
                      .Help("Generation of the published policy (0: none)")
                      .Register(*registry_)
                      .Add({})),
      connections_(BuildGauge()
                       .Name("portcullis_open_connections")
                       .Help("Open HTTP connections")
                       .Register(*registry_)
                       .Add({})),
      connections_rejected_(
          BuildCounter()
              .Name("portcullis_connections_rejected_total")
              .Help("Connections closed at once: over the connection limit")
              .Register(*registry_)
              .Add({})),
      state_save_failures_(BuildCounter()
                               .Name("portcullis_state_save_failures_total")
                               .Help("Failed saves of the registry or store")
                               .Register(*registry_)
                               .Add({})) {}

namespace {

// Family::Add takes the family's lock and builds a label map on every call:
// too slow for every request, and a lock all workers share. Its children
// never move nor die while their family lives, so each thread remembers the
// ones it used, keyed by the owning Metrics (an id, not its address, which a
// later instance may reuse) and the label values.
template <typename Metric, typename Make>
Metric& Remembered(uint64_t owner, std::string key, Make make) {
  thread_local absl::flat_hash_map<std::pair<uint64_t, std::string>, void*>
      children;
  auto [it, inserted] = children.try_emplace({owner, std::move(key)}, nullptr);
  if (inserted) it->second = &make();
  return *static_cast<Metric*>(it->second);
}

}  // namespace

void Metrics::Request(absl::string_view endpoint, unsigned status,
                      absl::Duration duration) {
  Remembered<prometheus::Counter>(
      id_, absl::StrCat(endpoint, "\t", status),
      [&]() -> auto& {
        return requests_.Add({{"endpoint", std::string(endpoint)},
                              {"status", absl::StrCat(status)}});
      })
      .Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
      0.005,   0.01,   0.025,   0.05,   0.1,   0.5};
  Remembered<prometheus::Histogram>(
      id_, absl::StrCat("latency\t", endpoint),
      [&]() -> auto& {
        return latency_.Add({{"endpoint", std::string(endpoint)}}, kBuckets);
      })
      .Observe(absl::ToDoubleSeconds(duration));
}

void Metrics::Decision(absl::string_view verdict, absl::string_view reason) {
  Remembered<prometheus::Counter>(
      id_, absl::StrCat("decision\t", verdict, "\t", reason),
      [&]() -> auto& {
        return decisions_.Add({{"verdict", std::string(verdict)},
                               {"reason", std::string(reason)}});
      })
      .Increment();
}

void Metrics::RateLimited() { rate_limited_.Increment(); }
void Metrics::ReloadFailed() { reload_failures_.Increment(); }
void Metrics::PolicyGeneration(uint64_t generation) {
  generation_.Set(static_cast<double>(generation));
}
void Metrics::ConnectionOpened() { connections_.Increment(); }
void Metrics::ConnectionClosed() { connections_.Decrement(); }
void Metrics::ConnectionRejected() { connections_rejected_.Increment(); }
void Metrics::StateSaveFailed() { state_save_failures_.Increment(); }

std::string Metrics::Text() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace portcullis::server
