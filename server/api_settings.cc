#include "server/api_settings.h"

#include <boost/asio/ip/address.hpp>

#include "absl/strings/str_cat.h"
#include "server/config.h"

namespace portcullis::server {

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const boost::asio::ip::address address =
      boost::asio::ip::make_address(std::string(host), ec);
  return !ec && address.is_loopback();
}

absl::Status ParseApiSettings(const v1::ServerConfig& config,
                              const std::string& base_dir, ApiSettings& api) {
  auto invalid = [](absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
  };
  auto resolve = [&base_dir](const std::string& path) {
    if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
    return absl::StrCat(base_dir, "/", path);
  };

  const v1::DecisionLogConfig& log = config.decision_log();
  api.decision_log.enabled = log.enabled();
  api.decision_log.path = resolve(log.path());
  if (log.has_sample_rate()) {
    // NaN fails both comparisons.
    if (!(log.sample_rate() >= 0 && log.sample_rate() <= 1)) {
      return invalid("decision_log.sample_rate", "must be within [0, 1]");
    }
    api.decision_log.sample_rate = log.sample_rate();
  }
  api.decision_log.sample_denials = log.sample_denials();
  if (log.queue_size() > 0) api.decision_log.queue_size = log.queue_size();

  const v1::AdminConfig& admin = config.admin();
  if (!admin.listen().empty()) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(admin.listen());
    if (!address.ok()) {
      return invalid("admin.listen", address.status().message());
    }
    if (!IsLoopbackHost(address->host)) {
      return invalid("admin.listen",
                     "must be a loopback address (127.0.0.1, [::1])");
    }
    if (admin.token_file().empty()) {
      return invalid("admin.token_file", "required with admin.listen");
    }
    api.admin.enabled = true;
    api.admin.host = address->host;
    api.admin.port = address->port;
    api.admin.token_file = resolve(admin.token_file());
  } else if (!admin.token_file().empty()) {
    return invalid("admin.token_file", "given without admin.listen");
  }

  const v1::DecisionApiConfig& decision_api = config.decision_api();
  if (decision_api.max_batch_size() > 0) {
    api.max_batch_size = decision_api.max_batch_size();
  }
  if (decision_api.check_body_bytes() > 0) {
    api.check_body_bytes = decision_api.check_body_bytes();
  }
  return absl::OkStatus();
}

}  // namespace portcullis::server
