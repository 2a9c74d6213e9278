// `portcullis serve --config FILE`: the auth endpoints and proxy
// authorization over HTTP (docs/server.md).
#include <pthread.h>
#include <signal.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "server/config.h"
#include "server/service.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"

namespace portcullis::cli {
namespace {

constexpr absl::string_view kHelp =
    R"(Usage: portcullis serve --config FILE [--listen HOST:PORT]
                       [--state-dir DIR] [--log-level LEVEL]

Serves the token endpoints (/auth/token, /auth/refresh, /auth/revoke,
/auth/me, /auth/introspect), proxy authorization (/v1/authorize for nginx
auth_request, /v1/ext_authz/... for Envoy's ext_authz HTTP mode), /healthz,
/readyz and /metrics, as configured by FILE (a portcullis.server.v1.
ServerConfig in text format; see docs/server.md). The policy is reloaded when
its files change. Stops on SIGINT or SIGTERM: stops accepting, lets in-flight
requests finish, then saves the client registry and token store.

Flags (each overrides the configuration):
  --config FILE      the configuration (required); relative paths in it
                     resolve against its directory
  --listen HOST:PORT the one address to listen on
  --state-dir DIR    where the registry and token store are saved
  --log-level LEVEL  error, warning, info or debug

Exit codes:
  0  stopped by a signal, state saved
  1  the server could not start (policy, keys, state, address), or saving
     the state at shutdown failed
  2  usage error, or the configuration cannot be read or is invalid
)";

constexpr FlagSpec kFlags[] = {
    {"config", FlagKind::kValue},
    {"listen", FlagKind::kValue},
    {"state-dir", FlagKind::kValue},
    {"log-level", FlagKind::kValue},
};

int RunServe(const ParsedArgs& args) {
  if (!args.positional().empty()) {
    return UsageError("serve", "takes no positional arguments");
  }
  if (!args.Has("config")) return UsageError("serve", "--config is required");
  server::Overrides overrides;
  overrides.listen = args.Value("listen");
  overrides.state_dir = args.Value("state-dir");
  overrides.log_level = args.Value("log-level");
  absl::StatusOr<server::ServerSettings> settings =
      server::LoadServerConfig(args.Value("config"), overrides);
  if (!settings.ok()) {
    PrintError("serve", settings.status().message());
    return kExitUsage;
  }
  // Block the stop signals in every thread; this one waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<server::Server>> running =
      server::Server::Start(std::move(*settings));
  if (!running.ok()) {
    PrintError("serve", running.status().message());
    return kExitFailed;
  }
  int received = 0;
  sigwait(&signals, &received);
  (*running)->service().logger().Info(
      absl::StrCat("signal ", received, ": shutting down"));
  absl::Status status = (*running)->Shutdown();
  if (!status.ok()) return kExitFailed;
  (*running)->service().logger().Info("stopped; state saved");
  return kExitOk;
}

}  // namespace

const Command kServeCommand = {
    "serve",   "Serve the token endpoints and proxy authorization over HTTP.",
    kHelp,     kFlags,
    &RunServe,
};

}  // namespace portcullis::cli
