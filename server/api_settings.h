// Settings of the decision API, decision logs and the admin listener
// (proto/server.proto's DecisionLogConfig, AdminConfig, DecisionApiConfig),
// read by ParseServerConfig into ServerSettings::api.
#ifndef PORTCULLIS_SERVER_API_SETTINGS_H_
#define PORTCULLIS_SERVER_API_SETTINGS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/server.pb.h"

namespace portcullis::server {

struct DecisionLogSettings {
  bool enabled = false;
  std::string path;  // empty: <state_dir>/decisions.log
  double sample_rate = 1.0;
  bool sample_denials = false;
  size_t queue_size = 8192;
};

struct AdminSettings {
  bool enabled = false;
  std::string host;  // a loopback address
  uint16_t port = 0;
  std::string token_file;
};

struct ApiSettings {
  DecisionLogSettings decision_log;
  AdminSettings admin;
  size_t max_batch_size = 1000;
  size_t check_body_bytes = 1 << 20;
};

// Whether `host` is a loopback address: 127.0.0.0/8, ::1 or "localhost".
bool IsLoopbackHost(absl::string_view host);

// Reads the three messages of `config` into `api`, resolving paths against
// `base_dir`. InvalidArgument naming the field otherwise.
absl::Status ParseApiSettings(const v1::ServerConfig& config,
                              const std::string& base_dir, ApiSettings& api);

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_API_SETTINGS_H_
