// A downstream program: loads a policy, starts a token service, issues a
// token for a client, introspects it and checks requests with the grant;
// creates a bundle poller (libcurl) that must refuse a file:// URL.
// Prints each decision; exits non-zero on any unexpected result.
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/auth/auth.h"
#include "engine/live/bundle_poller.h"
#include "engine/portcullis.h"

namespace {

using ::portcullis::CompiledPolicy;
using ::portcullis::auth::ClientRegistry;
using ::portcullis::auth::InMemoryTokenStore;
using ::portcullis::auth::InMemoryUserDirectory;
using ::portcullis::auth::SecretKey;
using ::portcullis::auth::SystemClock;
using ::portcullis::auth::TokenService;

int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << "consumer: " << what << ": " << status << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer POLICY_FILE\n";
    return 2;
  }
  absl::StatusOr<portcullis::LoadedPolicy> loaded =
      portcullis::LoadPolicyFiles({argv[1]});
  if (!loaded.ok()) return Fail("load", loaded.status());
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      portcullis::Compile(loaded->policy);
  if (!compiled.ok()) return Fail("compile", compiled.status());
  std::shared_ptr<const CompiledPolicy> policy = *std::move(compiled);

  ClientRegistry clients(SecretKey::Generate(), SystemClock::Instance());
  InMemoryTokenStore store;
  InMemoryUserDirectory users;
  absl::StatusOr<std::unique_ptr<TokenService>> service = TokenService::Create(
      portcullis::auth::TokenServiceOptions(), SecretKey::Generate(), clients,
      store, users, SystemClock::Instance());
  if (!service.ok()) return Fail("token service", service.status());
  if (absl::Status s = (*service)->SetPolicy(policy); !s.ok()) {
    return Fail("set policy", s);
  }

  absl::StatusOr<std::string> secret =
      clients.RegisterClient("c-shop-backend", "Shop backend");
  if (!secret.ok()) return Fail("register client", secret.status());
  absl::StatusOr<portcullis::auth::IssuedTokens> tokens =
      (*service)->IssueToken(
          {"client_credentials", "c-shop-backend", *secret, ""});
  if (!tokens.ok()) return Fail("issue token", tokens.status());
  absl::StatusOr<std::shared_ptr<const portcullis::auth::AccessGrant>> grant =
      (*service)->IntrospectHeader(
          absl::StrCat("Bearer ", tokens->access_token));
  if (!grant.ok()) return Fail("introspect", grant.status());

  struct Case {
    const char* action;
    const char* entity;
    const char* expected;  // verdict/reason
  };
  const Case cases[] = {
      {"read", "e-shop", "allowed/granted"},
      {"delete", "e-shop", "not_allowed/scope"},
      {"read", "e-other", "not_allowed/tenant"},
  };
  int unexpected = 0;
  for (const Case& c : cases) {
    portcullis::RequestNames request;
    request.object_type = "invoice";
    request.action = c.action;
    request.entity_id = c.entity;
    const portcullis::Decision d =
        portcullis::Check((*grant)->policy(), (*grant)->principal(), request);
    const std::string got = absl::StrCat(portcullis::VerdictName(d.verdict),
                                         "/", portcullis::ReasonName(d.reason));
    const bool ok = got == c.expected;
    std::cout << "invoice." << c.action << " in " << c.entity << ": " << got
              << (ok ? "" : absl::StrCat(" (expected ", c.expected, ")"))
              << "\n";
    if (!ok) ++unexpected;
  }
  if (unexpected != 0) {
    std::cerr << "consumer: " << unexpected << " unexpected decision(s)\n";
    return 1;
  }
  // The bundle poller links (libcurl, through @curl) and refuses a URL it
  // must not fetch.
  absl::StatusOr<portcullis::Ed25519KeyPair> key =
      portcullis::Ed25519KeyPair::Generate("k-ci");
  if (!key.ok()) return Fail("bundle key", key.status());
  portcullis::PolicyStore live;
  portcullis::BundlePollerOptions options;
  options.url = "file:///etc/passwd";
  options.verification_keys = {key->public_key()};
  absl::StatusOr<std::unique_ptr<portcullis::BundlePoller>> poller =
      portcullis::BundlePoller::Create(&live, options);
  if (poller.ok() || !absl::IsInvalidArgument(poller.status())) {
    std::cerr << "consumer: the bundle poller accepted a file:// URL\n";
    return 1;
  }
  std::cout << "bundle poller: " << poller.status().message() << "\n";
  std::cout << "consumer: every decision as expected\n";
  return 0;
}
