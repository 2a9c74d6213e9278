// How a service embeds Portcullis: a policy watcher feeding a policy store,
// a token service following it, and one function from a request's headers to
// an HTTP status. main() runs a scripted sequence of requests over the Monite
// example (examples/monite) and prints each status.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/auth/auth.h"
#include "engine/live/policy_store.h"
#include "engine/live/policy_watcher.h"
#include "engine/portcullis.h"

namespace example {

using namespace portcullis;        // NOLINT: an example, kept short
using namespace portcullis::auth;  // NOLINT

struct Request {
  std::string object_type, action;             // from the route
  std::map<std::string, std::string> headers;  // names in lower case
};

struct HttpStatus {
  int code = 403;
  std::string message;
  int64_t retry_after_seconds = 0;  // 429: the Retry-After header
  std::string owner;  // allowed_for_own: restrict to objects this user created
};

HttpStatus Reply(int code, std::string message, int64_t retry_after = 0,
                 std::string owner = "") {
  return {code, std::move(message), retry_after, std::move(owner)};
}

class Middleware {
 public:
  // Loads the policy in `policy_dir` and serves it; a service calls this once
  // at startup and refuses to start on an error.
  static absl::StatusOr<std::unique_ptr<Middleware>> Start(
      const std::string& policy_dir, const Clock& clock) {
    std::unique_ptr<Middleware> m(new Middleware(clock));
    // A real service persists the token key (and exports the token store)
    // to keep tokens valid across restarts: token_service.h.
    absl::StatusOr<std::unique_ptr<TokenService>> service =
        TokenService::Create(TokenServiceOptions(), SecretKey::Generate(),
                             m->clients_, m->tokens_, m->users_, clock);
    if (!service.ok()) return service.status();
    m->service_ = *std::move(service);
    PolicyWatcherOptions options;
    options.on_reload = [service = m->service_.get()](const ReloadEvent& e) {
      if (e.policy != nullptr) (void)service->SetPolicy(e.policy);
      if (!e.status.ok()) {  // the last good policy keeps serving
        std::fprintf(stderr, "policy rejected: %s\n",
                     e.status.ToString().c_str());
      }
    };
    absl::StatusOr<std::unique_ptr<PolicyWatcher>> watcher =
        PolicyWatcher::Create(&m->store_, PolicySource::Files({policy_dir}),
                              options);
    if (!watcher.ok()) return watcher.status();
    m->watcher_ = *std::move(watcher);
    if (m->watcher_->PollOnce() != PolicyWatcher::PollResult::kPublished) {
      const absl::Status error = m->watcher_->last_error();  // do not serve
      return error.ok() ? absl::FailedPreconditionError("no policy") : error;
    }
    m->watcher_->Start();  // later edits are published as they happen
    return m;
  }

  // Every API request: headers in, HTTP status out. Fails closed.
  HttpStatus Authorize(const Request& request) const {
    auto header = [&](const char* name) -> std::string {
      auto it = request.headers.find(name);
      return it == request.headers.end() ? "" : it->second;
    };
    const std::string entity = header("x-monite-entity-id");
    if (entity.empty()) return Reply(400, "missing x-monite-entity-id header");
    if (header("authorization").empty()) {
      return Reply(401, "missing Authorization header");
    }
    const absl::Time now = clock_.Now();
    // Lent by this thread's cache until its next introspection: no
    // reference count written per request.
    absl::StatusOr<const AccessGrant*> grant =
        service_->IntrospectHeaderLent(header("authorization"), now);
    if (!grant.ok()) return Reply(401, std::string(grant.status().message()));
    const RateDecision rate = service_->CheckRateLimit(**grant, now);
    if (!rate.allowed) {
      const absl::Duration wait =
          absl::Ceil(rate.retry_after, absl::Seconds(1));
      return Reply(429, "rate limited", absl::ToInt64Seconds(wait));
    }
    // The grant's own snapshot: the one its principal is bound to.
    const CompiledPolicy& policy = (*grant)->policy();
    if (!policy.FindEntity(entity).has_value()) {
      return Reply(400, absl::StrCat("unknown entity \"", entity, "\""));
    }
    RequestNames names;
    names.object_type = request.object_type;
    names.action = request.action;
    names.entity_id = entity;
    const Decision d = Check(policy, (*grant)->principal(), names);
    if (d.verdict == Verdict::kAllowed) return Reply(200, "allowed");
    if (d.verdict == Verdict::kAllowedForOwn && !(*grant)->user_id().empty()) {
      return Reply(200, "restrict to the user's own objects", 0,
                   (*grant)->user_id());
    }
    return Reply(403, absl::StrCat("denied: ", ReasonName(d.reason)));
  }

  ClientRegistry& clients() { return clients_; }
  InMemoryUserDirectory& users() { return users_; }
  TokenService& service() { return *service_; }

 private:
  explicit Middleware(const Clock& clock)
      : clock_(clock), clients_(SecretKey::Generate(), clock) {}

  const Clock& clock_;
  PolicyStore store_;
  ClientRegistry clients_;
  InMemoryTokenStore tokens_;
  InMemoryUserDirectory users_;
  std::unique_ptr<TokenService> service_;
  std::unique_ptr<PolicyWatcher> watcher_;  // last: stopped first
};

}  // namespace example

namespace {

using example::Request;

int failures = 0;

// Runs one request and prints its status; counts a status other than
// `expected` as a failure.
void Step(const example::Middleware& m, const char* what, int expected,
          const std::string& token, const std::string& entity,
          const char* object_type, const char* action) {
  Request r{object_type, action, {}};
  if (!token.empty()) r.headers["authorization"] = token;
  if (!entity.empty()) r.headers["x-monite-entity-id"] = entity;
  const example::HttpStatus s = m.Authorize(r);
  std::printf("%d %s.%s: %s", s.code, object_type, action, s.message.c_str());
  if (s.code == 429) {
    std::printf(" (retry-after %s)",
                std::to_string(s.retry_after_seconds).c_str());
  }
  if (!s.owner.empty()) std::printf(" (owner %s)", s.owner.c_str());
  std::printf("  # %s\n", what);
  if (s.code != expected) {
    std::printf("FAILED: expected %d\n", expected);
    ++failures;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace portcullis::auth;  // NOLINT
  ManualClock clock(absl::FromUnixSeconds(1'700'000'000));
  absl::StatusOr<std::unique_ptr<example::Middleware>> m =
      example::Middleware::Start(argc > 1 ? argv[1] : "examples/monite", clock);
  if (!m.ok()) {
    std::fprintf(stderr, "startup: %s\n", m.status().ToString().c_str());
    return 1;
  }
  // Clients and users: an operator registers clients, a user store feeds
  // the directory. Then /auth/token issues the tokens.
  absl::StatusOr<std::string> backend =
      (*m)->clients().RegisterClient("c-acme-backend", "");
  absl::StatusOr<std::string> app =
      (*m)->clients().RegisterClient("c-acme-ap-app", "");
  const absl::Status user =
      (*m)->users().SetUser("u-carl", {"e-acme-gmbh", "r-acme-gmbh-ap-clerk"});
  if (!backend.ok() || !app.ok() || !user.ok()) {
    std::fprintf(stderr, "setup failed\n");
    return 1;
  }
  absl::StatusOr<IssuedTokens> partner = (*m)->service().IssueToken(
      {"client_credentials", "c-acme-backend", *backend, ""});
  absl::StatusOr<IssuedTokens> carl = (*m)->service().IssueToken(
      {"entity_user", "c-acme-ap-app", *app, "u-carl"});
  if (!partner.ok() || !carl.ok()) {
    std::fprintf(stderr, "issuing tokens failed\n");
    return 1;
  }
  const std::string p = "Bearer " + partner->access_token;
  const std::string c = "Bearer " + carl->access_token;
  const std::string gmbh = "e-acme-gmbh";
  const example::Middleware& mw = **m;

  Step(mw, "partner token, its own entity", 200, p, gmbh, "payable", "read");
  Step(mw, "no entity header", 400, p, "", "payable", "read");
  Step(mw, "an entity the policy does not know", 400, p, "e-x", "payable",
       "read");
  Step(mw, "no token", 401, "", gmbh, "payable", "read");
  Step(mw, "not a bearer token", 401, "Basic dXNlcjpwYXNz", gmbh, "payable",
       "read");
  Step(mw, "a token never issued", 401,
       "Bearer 6f1c1d9e-3b7a-4c2e-9a57-0d4b8e2f1a3c", gmbh, "payable", "read");
  Step(mw, "another partner's entity", 403, p, "e-globex", "payable", "read");
  Step(mw, "entity user, clerk role", 200, c, gmbh, "payable", "create");
  Step(mw, "clerk: read own payables only", 200, c, gmbh, "payable", "read");
  Step(mw, "clerk role lacks approve", 403, c, gmbh, "payable", "approve");
  Step(mw, "client scope is counterpart:write", 403, c, gmbh, "counterpart",
       "delete");
  Step(mw, "client restricted to e-acme-gmbh", 403, c, "e-acme-ltd", "payable",
       "read");

  // 1000 requests per 600 s: spend the rest of the partner's burst, then one
  // more is refused until a request's share of the interval (0.6 s) passes.
  int allowed = 0;
  Request burst{
      "payable", "read", {{"authorization", p}, {"x-monite-entity-id", gmbh}}};
  while (allowed < 2000 && mw.Authorize(burst).code == 200) ++allowed;
  std::printf("(burst: %d more requests allowed)\n", allowed);
  Step(mw, "burst spent", 429, p, gmbh, "payable", "read");
  clock.Advance(absl::Seconds(1));
  Step(mw, "a second later", 200, p, gmbh, "payable", "read");

  // /auth/revoke, then expiry: both tokens stop working.
  absl::StatusOr<RevokeResult> revoked =
      (*m)->service().Revoke({"c-acme-ap-app", *app, carl->access_token});
  if (!revoked.ok() || revoked->tokens_revoked != 1) {
    std::printf("FAILED: /auth/revoke: %s\n",
                revoked.status().ToString().c_str());
    ++failures;
  }
  Step(mw, "revoked token", 401, c, gmbh, "payable", "create");
  clock.Advance(absl::Hours(1));
  Step(mw, "an hour later: expired", 401, p, gmbh, "payable", "read");

  std::printf("%s\n", failures == 0 ? "every status as documented"
                                    : "UNEXPECTED STATUSES");
  return failures == 0 ? 0 : 1;
}
