// The auth module's hot path, on the Monta example policy
// (examples/monta/policy.txtpb): a bearer token to a Principal
// (introspection), the token to a decision (docs/design.md's "token → principal
// → decision ≤ 100 ns"), and per-credential rate limits. The argument is the
// number of distinct live tokens the benchmark cycles through, each
// validated once before timing (the thread's introspection cache is warm):
// 1 and 100 stay in the CPU caches, 10,000 do not (every request then
// misses on its cache entry and its grant).
//
//   BM_Introspect/<variant>/<tokens>:
//     token       the token text, `now` given by the caller
//     header      the Authorization header, `now` given
//     clock       the token text, `now` read from the system clock
//     lent        the Authorization header, `now` given, the grant lent
//                 (IntrospectHeaderLent: no reference count written)
//     slow_path   baseline: a cache of 4 entries, so every call misses and
//                 validates from the store (BLAKE2b, store lookup, binding)
//   BM_IntrospectJwt/<variant>/<tokens>: the same with JWT access tokens
//     (RFC 9068, EdDSA, about 450 bytes; docs/jwt.md), the service's cache
//     keyed by a SipHash of the whole JWT text:
//     cached      the token text, `now` given, the thread's cache warm (the
//                 signature verified once, before timing)
//     header      the Authorization header, cache warm
//     first       baseline: a cache of 4 entries, so every call misses: the
//                 Ed25519 verification and claim checks, then the opaque
//                 slow path (BLAKE2b of the jti, store lookup, binding);
//                 what each thread pays on a token's first use
//   BM_TokenCheck/<variant>/<tokens>   header → grant → decision by ids (the
//                                      route's action and the header's
//                                      entity interned once): the budget row
//     ids         partner tokens (client_credentials): tenant and scope
//     full        entity-user tokens and a request that runs all five rules,
//                 through ownership
//     lent        ids, the grant lent (IntrospectHeaderLent)
//     lent_full   full, the grant lent
//   BM_TokenCheckByNames/names/<tokens>   partner tokens, the action and
//                                      entity by name (Check with
//                                      RequestNames): introspection plus
//                                      docs/design.md's "check by names", which
//                                      has its own budget row
//   BM_RateLimit/<variant>/real_time/threads:N   one CheckRateLimit per
//                                      iteration, always allowed:
//     shared        every thread counts against one credential, by its grant
//                   (a contended compare-and-swap)
//     own           each thread against its own credential, by its grant
//     by_client_id  each thread its own credential, by client id (a shared
//                   lock and a hash lookup more)
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "benchmarks/fixed_iterations.h"
#include "benchmarks/thread_counts.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/clock.h"
#include "engine/auth/crypto.h"
#include "engine/auth/jwt.h"
#include "engine/auth/token_service.h"
#include "engine/auth/token_store.h"
#include "engine/auth/user_directory.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/load/policy_loader.h"
#include "proto/policy.pb.h"

namespace portcullis::auth {
namespace {

// A credential of the Monta example with every scope (all:delete).
constexpr char kClient[] = "monta-full-access";

void Die(const absl::Status& status) {
  std::fprintf(stderr, "auth_benchmark: %s\n",
               std::string(status.message()).c_str());
  std::exit(1);
}

// The Monta example, optionally with extra credentials for the rate-limit
// benchmarks: `limited-<i>`, 4,000,000,000 requests per second each.
std::shared_ptr<const CompiledPolicy> LoadPolicy(int limited_credentials) {
  absl::StatusOr<LoadedPolicy> loaded =
      LoadPolicyFiles({"examples/monta/policy.txtpb"});
  if (!loaded.ok()) Die(loaded.status());
  for (int i = 0; i < limited_credentials; ++i) {
    v1::Credential& credential = *loaded->policy.add_credentials();
    credential.set_client_id(absl::StrCat("limited-", i));
    credential.set_partner_id("operator-42");
    credential.add_scopes("all:read");
    credential.mutable_rate_limit()->set_count(4'000'000'000u);
    credential.mutable_rate_limit()->set_interval_seconds(1);
  }
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      Compile(loaded->policy);
  if (!compiled.ok()) Die(compiled.status());
  return std::shared_ptr<const CompiledPolicy>(*std::move(compiled));
}

// A running service with `tokens` access tokens of kClient: partner tokens,
// or entity-user tokens of users u-0, u-1, ... of team-north (default role
// team-member).
struct Fixture {
  std::shared_ptr<const CompiledPolicy> policy;
  std::unique_ptr<ClientRegistry> clients;
  InMemoryTokenStore store;
  InMemoryUserDirectory users;
  std::unique_ptr<TokenService> service;
  std::vector<std::string> tokens;
  std::vector<std::string> headers;
  absl::Time now;
};

std::unique_ptr<Fixture> MakeFixture(size_t tokens, size_t cache_entries,
                                     bool entity_users, bool jwt = false,
                                     int limited_credentials = 0) {
  auto f = std::make_unique<Fixture>();
  f->policy = LoadPolicy(limited_credentials);
  f->clients = std::make_unique<ClientRegistry>(SecretKey::Generate(),
                                                SystemClock::Instance());
  TokenServiceOptions options;
  options.access_token_ttl = absl::Hours(24);  // Outlives any run.
  options.cache_entries_per_thread = cache_entries;
  if (jwt) {
    absl::StatusOr<Ed25519KeyPair> key = Ed25519KeyPair::Generate("bench-1");
    if (!key.ok()) Die(key.status());
    absl::StatusOr<JwtSigner> signer = JwtSigner::Create(*std::move(key));
    if (!signer.ok()) Die(signer.status());
    options.token_format = TokenFormat::kJwt;
    options.jwt.signer = std::make_shared<const JwtSigner>(*std::move(signer));
    options.jwt.issuer = "https://auth.monta.example";
    options.jwt.audience = "https://api.monta.example";
  }
  absl::StatusOr<std::unique_ptr<TokenService>> service =
      TokenService::Create(options, SecretKey::Generate(), *f->clients,
                           f->store, f->users, SystemClock::Instance());
  if (!service.ok()) Die(service.status());
  f->service = *std::move(service);
  if (absl::Status set = f->service->SetPolicy(f->policy); !set.ok()) Die(set);
  absl::StatusOr<std::string> secret = f->clients->RegisterClient(kClient, "");
  if (!secret.ok()) Die(secret.status());
  for (size_t i = 0; i < tokens; ++i) {
    const std::string user = absl::StrCat("u-", i);
    if (entity_users) {
      if (absl::Status set = f->users.SetUser(user, {"team-north", ""});
          !set.ok()) {
        Die(set);
      }
    }
    absl::StatusOr<IssuedTokens> issued = f->service->IssueToken(
        {entity_users ? "entity_user" : "client_credentials", kClient, *secret,
         entity_users ? user : ""});
    if (!issued.ok()) Die(issued.status());
    f->tokens.push_back(issued->access_token);
    f->headers.push_back(absl::StrCat("Bearer ", issued->access_token));
  }
  f->now = absl::Now();
  // Warm this thread's cache.
  for (const std::string& token : f->tokens) {
    if (!f->service->Introspect(token, f->now).ok()) {
      Die(absl::InternalError("warm-up"));
    }
  }
  return f;
}

constexpr size_t kCacheEntries = 65536;

// One fixture at a time, built for the first benchmark that needs it.
Fixture& GetFixture(size_t tokens, size_t cache_entries,
                    bool entity_users = false, bool jwt = false) {
  static std::unique_ptr<Fixture> fixture;
  static std::tuple<size_t, size_t, bool, bool> key{0, 0, false, false};
  if (fixture == nullptr ||
      key != std::make_tuple(tokens, cache_entries, entity_users, jwt)) {
    fixture.reset();
    fixture = MakeFixture(tokens, cache_entries, entity_users, jwt);
    key = {tokens, cache_entries, entity_users, jwt};
  }
  return *fixture;
}

enum class Input { kToken, kHeader, kClock, kHeaderLent };

void BM_Introspect(benchmark::State& state, Input input, size_t cache_entries,
                   bool jwt) {
  Fixture& f = GetFixture(static_cast<size_t>(state.range(0)), cache_entries,
                          /*entity_users=*/false, jwt);
  const TokenService& service = *f.service;
  const size_t n = f.tokens.size();
  size_t i = 0;
  auto introspect = [&](size_t i) {
    switch (input) {
      case Input::kToken:
        return service.Introspect(f.tokens[i], f.now);
      case Input::kHeader:
      case Input::kHeaderLent:  // Timed below, without this lambda.
        return service.IntrospectHeader(f.headers[i], f.now);
      case Input::kClock:
        return service.Introspect(f.tokens[i]);
    }
    return service.Introspect(f.tokens[i], f.now);
  };
  if (input == Input::kHeaderLent) {
    for (auto _ : state) {
      absl::StatusOr<const AccessGrant*> grant =
          service.IntrospectHeaderLent(f.headers[i], f.now);
      benchmark::DoNotOptimize(grant);
      if (++i == n) i = 0;
    }
  } else {
    for (auto _ : state) {
      absl::StatusOr<std::shared_ptr<const AccessGrant>> grant = introspect(i);
      benchmark::DoNotOptimize(grant);
      if (++i == n) i = 0;
    }
  }
  if (!service.Introspect(f.tokens[0], f.now).ok()) {
    state.SkipWithError("introspection failed");
  }
  state.SetItemsProcessed(state.iterations());
}

// The grant of `header`, shared (IntrospectHeader) or lent
// (IntrospectHeaderLent), as a pointer valid until the next call; null if
// introspection failed. `held` keeps a shared grant.
const AccessGrant* GrantOf(const TokenService& service,
                           const std::string& header, absl::Time now, bool lent,
                           std::shared_ptr<const AccessGrant>& held) {
  if (lent) {
    absl::StatusOr<const AccessGrant*> grant =
        service.IntrospectHeaderLent(header, now);
    return grant.ok() ? *grant : nullptr;
  }
  absl::StatusOr<std::shared_ptr<const AccessGrant>> grant =
      service.IntrospectHeader(header, now);
  held = grant.ok() ? *std::move(grant) : nullptr;
  return held.get();
}

void BM_TokenCheckIds(benchmark::State& state, bool lent) {
  Fixture& f = GetFixture(static_cast<size_t>(state.range(0)), kCacheEntries);
  const TokenService& service = *f.service;
  // Interned once per snapshot, as a service does per route and per team.
  const ActionId action = *f.policy->FindAction("charge-points", "read");
  const EntityId entity = *f.policy->FindEntity("team-north");
  const size_t n = f.headers.size();
  size_t i = 0;
  size_t allowed = 0;
  std::shared_ptr<const AccessGrant> held;
  for (auto _ : state) {
    const AccessGrant* grant =
        GrantOf(service, f.headers[i], f.now, lent, held);
    if (grant != nullptr) {
      const Decision d =
          Check(grant->policy(), grant->principal(), action, entity);
      allowed += d.allowed();
    }
    if (++i == n) i = 0;
  }
  if (allowed != static_cast<size_t>(state.iterations())) {
    state.SkipWithError("a check was denied");
  }
  state.SetItemsProcessed(state.iterations());
}

// Entity-user tokens, and a request that runs all five rules: tenant, scope,
// partner_only, rbac (team-member: charges.read is allowed_for_own) and
// ownership (the user created the charge).
void BM_TokenCheckFull(benchmark::State& state, bool lent) {
  Fixture& f = GetFixture(static_cast<size_t>(state.range(0)), kCacheEntries,
                          /*entity_users=*/true);
  const TokenService& service = *f.service;
  const ActionId action = *f.policy->FindAction("charges", "read");
  const EntityId entity = *f.policy->FindEntity("team-north");
  const size_t n = f.headers.size();
  std::vector<std::string> creators;
  for (size_t i = 0; i < n; ++i) creators.push_back(absl::StrCat("u-", i));
  std::vector<ResourceRef> charges;
  for (const std::string& creator : creators) {
    charges.push_back({entity, creator});
  }
  size_t i = 0;
  size_t own = 0;
  std::shared_ptr<const AccessGrant> held;
  for (auto _ : state) {
    const AccessGrant* grant =
        GrantOf(service, f.headers[i], f.now, lent, held);
    if (grant != nullptr) {
      const Decision d = Check(grant->policy(), grant->principal(), action,
                               entity, &charges[i]);
      own += d.verdict == Verdict::kAllowed && d.reason == Reason::kOwnership;
    }
    if (++i == n) i = 0;
  }
  if (own != static_cast<size_t>(state.iterations())) {
    state.SkipWithError("a check did not reach the ownership rule");
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_TokenCheckNames(benchmark::State& state) {
  Fixture& f = GetFixture(static_cast<size_t>(state.range(0)), kCacheEntries);
  const TokenService& service = *f.service;
  RequestNames request;
  request.object_type = "charge-points";
  request.action = "read";
  request.entity_id = "team-north";
  const size_t n = f.headers.size();
  size_t i = 0;
  size_t allowed = 0;
  for (auto _ : state) {
    absl::StatusOr<std::shared_ptr<const AccessGrant>> grant =
        service.IntrospectHeader(f.headers[i], f.now);
    if (grant.ok()) {
      allowed +=
          Check((*grant)->policy(), (*grant)->principal(), request).allowed();
    }
    if (++i == n) i = 0;
  }
  if (allowed != static_cast<size_t>(state.iterations())) {
    state.SkipWithError("a check was denied");
  }
  state.SetItemsProcessed(state.iterations());
}

// The rate-limit benchmarks share one service whose policy has two limited
// credentials, and a grant (an introspected token) of each.
struct RateFixture {
  std::unique_ptr<Fixture> base;
  std::vector<std::string> clients;
  std::vector<std::shared_ptr<const AccessGrant>> grants;
};

RateFixture& GetRateFixture() {
  static RateFixture* const fixture = [] {
    auto* f = new RateFixture;
    f->base = MakeFixture(1, 4, /*entity_users=*/false, /*jwt=*/false,
                          /*limited_credentials=*/2);
    for (int i = 0; i < 2; ++i) {
      const std::string client = absl::StrCat("limited-", i);
      absl::StatusOr<std::string> secret =
          f->base->clients->RegisterClient(client, "");
      if (!secret.ok()) Die(secret.status());
      absl::StatusOr<IssuedTokens> issued = f->base->service->IssueToken(
          {"client_credentials", client, *secret, ""});
      if (!issued.ok()) Die(issued.status());
      absl::StatusOr<std::shared_ptr<const AccessGrant>> grant =
          f->base->service->Introspect(issued->access_token);
      if (!grant.ok()) Die(grant.status());
      f->clients.push_back(client);
      f->grants.push_back(*std::move(grant));
    }
    return f;
  }();
  return *fixture;
}

enum class RateInput { kSharedGrant, kOwnGrant, kOwnClientId };

void BM_RateLimit(benchmark::State& state, RateInput input) {
  RateFixture& f = GetRateFixture();
  const TokenService& service = *f.base->service;
  const size_t own = static_cast<size_t>(state.thread_index()) % 2;
  const AccessGrant& grant =
      *f.grants[input == RateInput::kSharedGrant ? 0 : own];
  const std::string& client = f.clients[own];
  // Time moves on by 1 ns per request, and the limit allows 4e9 per second
  // (one per nanosecond, a burst of 4e9): every request is allowed, so each
  // one updates the credential's state.
  absl::Time now = absl::Now();
  size_t allowed = 0;
  for (auto _ : state) {
    allowed +=
        (input == RateInput::kOwnClientId ? service.CheckRateLimit(client, now)
                                          : service.CheckRateLimit(grant, now))
            .allowed;
    now += absl::Nanoseconds(1);
  }
  if (allowed != static_cast<size_t>(state.iterations())) {
    state.SkipWithError("a request was refused");
  }
  state.SetItemsProcessed(state.iterations());
}

int RegisterAll() {
  using portcullis::internal::FixedIterationsFromEnv;
  for (int tokens : {1, 100, 1000, 10000}) {
    benchmark::RegisterBenchmark("BM_Introspect/token", BM_Introspect,
                                 Input::kToken, kCacheEntries, false)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
    benchmark::RegisterBenchmark("BM_Introspect/header", BM_Introspect,
                                 Input::kHeader, kCacheEntries, false)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
    benchmark::RegisterBenchmark("BM_Introspect/clock", BM_Introspect,
                                 Input::kClock, kCacheEntries, false)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
    benchmark::RegisterBenchmark("BM_Introspect/lent", BM_Introspect,
                                 Input::kHeaderLent, kCacheEntries, false)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
    benchmark::RegisterBenchmark("BM_TokenCheck/ids", BM_TokenCheckIds, false)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
    benchmark::RegisterBenchmark("BM_TokenCheck/full", BM_TokenCheckFull, false)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
    benchmark::RegisterBenchmark("BM_TokenCheck/lent", BM_TokenCheckIds, true)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
    benchmark::RegisterBenchmark("BM_TokenCheck/lent_full", BM_TokenCheckFull,
                                 true)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
    benchmark::RegisterBenchmark("BM_TokenCheckByNames/names",
                                 BM_TokenCheckNames)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
  }
  for (int tokens : {100}) {
    benchmark::RegisterBenchmark("BM_Introspect/slow_path", BM_Introspect,
                                 Input::kToken, size_t{4}, false)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
  }
  for (int tokens : {1, 100, 10000}) {
    benchmark::RegisterBenchmark("BM_IntrospectJwt/cached", BM_Introspect,
                                 Input::kToken, kCacheEntries, true)
        ->Arg(tokens)
        ->Apply(FixedIterationsFromEnv);
  }
  benchmark::RegisterBenchmark("BM_IntrospectJwt/header", BM_Introspect,
                               Input::kHeader, kCacheEntries, true)
      ->Arg(100)
      ->Apply(FixedIterationsFromEnv);
  benchmark::RegisterBenchmark("BM_IntrospectJwt/first", BM_Introspect,
                               Input::kToken, size_t{4}, true)
      ->Arg(100)
      ->Apply(FixedIterationsFromEnv);
  const std::pair<const char*, RateInput> rate_variants[] = {
      {"BM_RateLimit/shared", RateInput::kSharedGrant},
      {"BM_RateLimit/own", RateInput::kOwnGrant},
      {"BM_RateLimit/by_client_id", RateInput::kOwnClientId},
  };
  for (const auto& [name, input] : rate_variants) {
    benchmark::RegisterBenchmark(name, BM_RateLimit, input)
        ->Apply(portcullis::internal::ScalingThreadCounts)
        ->UseRealTime()
        ->Apply(FixedIterationsFromEnv);
  }
  return 0;
}

const int registered = RegisterAll();

}  // namespace
}  // namespace portcullis::auth
