#include "server/api_metrics.h"

#include "absl/strings/str_cat.h"

namespace portcullis::server {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

ApiMetrics::ApiMetrics(prometheus::Registry& registry)
    : auth_failures_(
          BuildCounter()
              .Name("portcullis_authentication_failures_total")
              .Help("Failed client authentications at the token service, by "
                    "reason")
              .Register(registry)),
      introspections_(BuildCounter()
                          .Name("portcullis_token_introspections_total")
                          .Help("Bearer tokens introspected by the proxy-"
                                "authorization and decision endpoints")
                          .Register(registry)
                          .Add({})),
      slow_paths_(BuildCounter()
                      .Name("portcullis_token_introspection_slow_paths_total")
                      .Help("Introspections that missed the token cache or "
                            "revalidated from the store")
                      .Register(registry)
                      .Add({})),
      cache_hits_(BuildCounter()
                      .Name("portcullis_token_cache_hits_total")
                      .Help("Introspections answered from the token "
                            "service's per-thread cache, counted exactly")
                      .Register(registry)
                      .Add({})),
      tokens_issued_(BuildCounter()
                         .Name("portcullis_tokens_issued_total")
                         .Help("Token pairs issued (token and refresh grants)")
                         .Register(registry)
                         .Add({})),
      policy_info_(BuildGauge()
                       .Name("portcullis_policy_info")
                       .Help("The published policy: 1, labelled with its "
                             "generation and digest")
                       .Register(registry)),
      log_dropped_(BuildCounter()
                       .Name("portcullis_decision_log_dropped_total")
                       .Help("Decision log lines dropped: the writer's queue "
                             "was full")
                       .Register(registry)
                       .Add({})),
      log_written_(BuildCounter()
                       .Name("portcullis_decision_log_written_total")
                       .Help("Decision log lines written")
                       .Register(registry)
                       .Add({})),
      admin_auth_failures_(BuildCounter()
                               .Name("portcullis_admin_auth_failures_total")
                               .Help("Admin requests refused: bad admin token")
                               .Register(registry)
                               .Add({})),
      user_reloads_(BuildCounter()
                        .Name("portcullis_user_directory_reloads_total")
                        .Help("User directory file reloads, by result")
                        .Register(registry)),
      users_(BuildGauge()
                 .Name("portcullis_user_directory_users")
                 .Help("Users in the user directory")
                 .Register(registry)
                 .Add({})) {}

void ApiMetrics::UserDirectoryReload(bool ok, size_t users) {
  user_reloads_.Add({{"result", ok ? "ok" : "failed"}}).Increment();
  if (ok) users_.Set(static_cast<double>(users));
}

void ApiMetrics::Update(const auth::TokenServiceStats& stats,
                        const std::optional<PolicyStore::SnapshotInfo>& policy,
                        uint64_t log_dropped, uint64_t log_written) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 1; i < auth::kAuthFailureKinds; ++i) {
    const uint64_t now = stats.authentications[i];
    if (now > last_stats_.authentications[i]) {
      auth_failures_
          .Add({{"reason", std::string(auth::AuthFailureName(
                               static_cast<auth::AuthFailure>(i)))}})
          .Increment(static_cast<double>(now - last_stats_.authentications[i]));
    }
  }
  if (stats.introspection_slow_paths > last_stats_.introspection_slow_paths) {
    slow_paths_.Increment(static_cast<double>(
        stats.introspection_slow_paths - last_stats_.introspection_slow_paths));
  }
  if (stats.tokens_issued > last_stats_.tokens_issued) {
    tokens_issued_.Increment(
        static_cast<double>(stats.tokens_issued - last_stats_.tokens_issued));
  }
  if (stats.introspection_cache_hits > last_stats_.introspection_cache_hits) {
    cache_hits_.Increment(static_cast<double>(
        stats.introspection_cache_hits - last_stats_.introspection_cache_hits));
  }
  last_stats_ = stats;
  if (log_dropped > last_dropped_) {
    log_dropped_.Increment(static_cast<double>(log_dropped - last_dropped_));
    last_dropped_ = log_dropped;
  }
  if (log_written > last_written_) {
    log_written_.Increment(static_cast<double>(log_written - last_written_));
    last_written_ = log_written;
  }
  if (policy.has_value() && policy->generation != info_generation_) {
    if (info_ != nullptr) policy_info_.Remove(info_);
    info_ = &policy_info_.Add({{"generation", absl::StrCat(policy->generation)},
                               {"digest", policy->digest.ToHex()}});
    info_->Set(1);
    info_generation_ = policy->generation;
  }
}

}  // namespace portcullis::server
