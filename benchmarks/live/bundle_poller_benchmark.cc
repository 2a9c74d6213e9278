// What a bundle server poll costs (engine/live/bundle_poller.h), against a
// real nginx on loopback (tests/bundle_server.h): a poll answered 304 (the
// steady state: one conditional GET), and a poll that downloads a new signed
// bundle, verifies it, guards it, publishes it and writes it to disk as the
// last good bundle. Wall time: the work is I/O as much as CPU.
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/policy_fixtures.h"
#include "engine/compile/compiler.h"
#include "engine/live/bundle_poller.h"
#include "engine/snapshot/bundle.h"
#include "tests/bundle_server.h"

namespace portcullis {
namespace {

using test_bundle_server::Nginx;

std::string TemporaryDir() {
  const char* base = std::getenv("TMPDIR");
  std::string dir = absl::StrCat(base != nullptr ? base : "/tmp",
                                 "/bundle_poller_benchmark.XXXXXX");
  return mkdtemp(dir.data());
}

// Two signed bundles of `roles` synthetic roles that differ by one role.
struct Bundles {
  std::shared_ptr<const Ed25519KeyPair> key;
  std::string a, b;
};

Bundles MakeBundles(int roles) {
  Bundles bundles;
  bundles.key = std::make_shared<const Ed25519KeyPair>(
      *Ed25519KeyPair::Generate("k-bench"));
  v1::PolicySet set =
      bench::SyntheticPolicy(roles, bench::RowShape::kRealistic);
  BundleOptions options;
  options.signing_key = bundles.key;
  bundles.a = *SerializeBundle(**Compile(set), options);
  v1::Role* extra = set.add_roles();
  *extra = set.roles(0);
  extra->set_id("r-bench-extra");
  bundles.b = *SerializeBundle(**Compile(set), options);
  return bundles;
}

struct Fixture {
  std::string dir;
  std::unique_ptr<Nginx> nginx;
  PolicyStore store;
  std::unique_ptr<BundlePoller> poller;
};

std::unique_ptr<Fixture> Start(benchmark::State& state,
                               const Bundles& bundles) {
  auto fixture = std::make_unique<Fixture>();
  fixture->dir = TemporaryDir();
  fixture->nginx = Nginx::Start(fixture->dir);
  if (fixture->nginx == nullptr) {
    state.SkipWithError("nginx did not start (tools/setup.sh installs it)");
    return nullptr;
  }
  fixture->nginx->Put("policy.bundle", bundles.a);
  BundlePollerOptions options;
  options.url = fixture->nginx->Url("policy.bundle");
  options.verification_keys = {bundles.key->public_key()};
  options.cache_path = fixture->dir + "/last-good.bundle";
  options.max_removed_share = 1;
  fixture->poller = *BundlePoller::Create(&fixture->store, options);
  if (fixture->poller->PollOnce() != BundlePoller::PollResult::kPublished) {
    state.SkipWithError("the first poll did not publish");
    return nullptr;
  }
  return fixture;
}

void Stop(std::unique_ptr<Fixture> fixture) {
  if (fixture == nullptr) return;
  const std::string dir = fixture->dir;
  fixture.reset();
  std::filesystem::remove_all(dir);
}

void BM_BundlePollNotModified(benchmark::State& state) {
  const Bundles bundles = MakeBundles(1000);
  std::unique_ptr<Fixture> fixture = Start(state, bundles);
  if (fixture == nullptr) return;
  for (auto _ : state) {
    if (fixture->poller->PollOnce() != BundlePoller::PollResult::kUnchanged) {
      state.SkipWithError("not a 304");
      break;
    }
  }
  Stop(std::move(fixture));
}
BENCHMARK(BM_BundlePollNotModified)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_BundlePollNewBundle(benchmark::State& state) {
  const Bundles bundles = MakeBundles(static_cast<int>(state.range(0)));
  std::unique_ptr<Fixture> fixture = Start(state, bundles);
  if (fixture == nullptr) return;
  bool b = true;
  for (auto _ : state) {
    state.PauseTiming();
    fixture->nginx->Put("policy.bundle", b ? bundles.b : bundles.a);
    b = !b;
    state.ResumeTiming();
    if (fixture->poller->PollOnce() != BundlePoller::PollResult::kPublished) {
      state.SkipWithError("not published");
      break;
    }
  }
  state.counters["bundle_bytes"] = static_cast<double>(bundles.a.size());
  Stop(std::move(fixture));
}
BENCHMARK(BM_BundlePollNewBundle)
    ->Arg(1000)
    ->Arg(100000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace portcullis
