// Writes examples/server's demo client registry: registers every client of
// the Monta example policy under the demo registry key, writes the sealed
// export (demo-clients.sealed, the config's client_registry.seed_file) and
// prints each client's secret once, for the README's table. DEMO ONLY.
//
//   bazel run //examples/server:make_demo_registry --
//       "$PWD/examples/monta" "$PWD/examples/server"
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/clock.h"
#include "engine/live/policy_watcher.h"
#include "server/config.h"

int main(int argc, char** argv) {
  using namespace portcullis;
  if (argc != 3) {
    std::cerr << "usage: make_demo_registry POLICY_DIR OUT_DIR\n";
    return 2;
  }
  const std::string out = argv[2];
  auto policy = LoadPolicySource(PolicySource::Files({argv[1]}));
  if (!policy.ok()) {
    std::cerr << policy.status() << "\n";
    return 1;
  }
  auto key = server::ReadKeyFile(absl::StrCat(out, "/demo-registry.key"),
                                 /*allow_readable=*/true);
  if (!key.ok()) {
    std::cerr << key.status() << "\n";
    return 1;
  }
  auth::ClientRegistry registry(std::move(*key), auth::SystemClock::Instance());
  registry.OnPolicy(**policy);
  std::cout << "| client_id | secret |\n| --- | --- |\n";
  for (const auth::ClientInfo& client : registry.List()) {
    auto secret = registry.RegisterClient(client.client_id, "");
    if (!secret.ok()) {
      std::cerr << secret.status() << "\n";
      return 1;
    }
    std::cout << "| `" << client.client_id << "` | `" << *secret << "` |\n";
  }
  auto exported = registry.Export();
  if (!exported.ok()) {
    std::cerr << exported.status() << "\n";
    return 1;
  }
  auto status = server::WriteFileAtomically(
      absl::StrCat(out, "/demo-clients.sealed"), *exported);
  if (!status.ok()) {
    std::cerr << status << "\n";
    return 1;
  }
  return 0;
}
