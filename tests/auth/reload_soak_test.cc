// Soak: writers do what unlucky operators do to a watched policy directory —
// non-atomic writes with pauses, truncations left for a while, deletes, a
// nesting bomb dropped beside the policy — while 4 threads check requests
// through the store and one introspects a token through the service that
// follows the watcher. Every check must see a complete policy (0 torn or
// partial snapshots served), every introspection must succeed, and at the end
// the clients' secrets and tokens must still work (0 secrets lost). Bounded:
// about 3 s of writing. Meant for tsan too.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "engine/auth/token_service.h"
#include "engine/evaluate/evaluator.h"
#include "engine/live/policy_store.h"
#include "engine/live/policy_watcher.h"
#include "gtest/gtest.h"
#include "tests/auth/service_fixture.h"

namespace portcullis::auth {
namespace {

using testing::kPolicy;
using testing::ServiceFixture;

constexpr int kExtraCredentials = 24;

// kPolicy and kExtraCredentials more credentials; `version` adds a role, so
// the two versions differ and each switch is a publication.
std::string PolicyText(int version) {
  std::string text(kPolicy);
  for (int i = 0; i < kExtraCredentials; ++i) {
    absl::StrAppend(&text, "credentials { client_id: \"c-extra-", i,
                    "\" partner_id: \"p-1\" scopes: \"payable:read\" }\n");
  }
  absl::StrAppend(&text, "roles { id: \"r-version-", version,
                  "\" name: \"Version\" }\n");
  return text;
}

void SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Writes `content` in place, in two parts with a pause between: what an
// editor saving in place or a slow copy does.
void WriteInPlace(const std::string& path, absl::string_view content,
                  size_t split, int pause_ms) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  split = std::min(split, content.size());
  ASSERT_EQ(write(fd, content.data(), split), static_cast<ssize_t>(split));
  SleepMs(pause_ms);
  ASSERT_EQ(write(fd, content.data() + split, content.size() - split),
            static_cast<ssize_t>(content.size() - split));
  close(fd);
}

TEST(ReloadSoakTest, NoPartialPolicyIsServedAndNoSecretIsLost) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/soak");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/policy.txtpb";
  const std::string bomb = dir + "/bomb.json";
  WriteInPlace(path, PolicyText(1), 0, 0);

  ServiceFixture f(/*policy=*/nullptr);
  PolicyStore store;
  PolicyWatcherOptions options;
  // Longer than any pause of the writers below: a file they are writing is
  // never quiet long enough to be read.
  options.quiet_period = absl::Milliseconds(150);
  options.interval = absl::Milliseconds(5);
  options.on_reload = [&f](const ReloadEvent& event) {
    if (event.policy != nullptr) {
      EXPECT_TRUE(f.service().SetPolicy(event.policy).ok());
    }
  };
  absl::StatusOr<std::unique_ptr<PolicyWatcher>> watcher =
      PolicyWatcher::Create(&store, PolicySource::Files({dir}), options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  // The first load waits out the quiet period like any other.
  for (int i = 0; i < 400 && store.policy() == nullptr; ++i) {
    (*watcher)->PollOnce();
    SleepMs(5);
  }
  ASSERT_NE(store.policy(), nullptr) << (*watcher)->last_error();

  const std::string secret = f.Register("c-backend");
  const IssuedTokens tokens = f.Issue("c-backend", secret);
  const std::string bearer = absl::StrCat("Bearer ", tokens.access_token);

  (*watcher)->Start();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> checks{0}, partial{0}, introspections{0},
      refused_introspections{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      PolicyStore::Reader reader = store.NewReader();
      // The last credential of the file: a prefix of it lacks this one.
      const std::string client =
          absl::StrCat("c-extra-", kExtraCredentials - 1 - r);
      CheckRequestView view;
      view.principal_kind = CheckRequestView::PrincipalKind::kPartner;
      view.client_id = client;
      view.object_type = "payable";
      view.action = "read";
      view.entity_id = "e-1";
      while (!stop.load(std::memory_order_relaxed)) {
        const Decision decision = reader.Check(view);
        checks.fetch_add(1, std::memory_order_relaxed);
        if (decision.verdict != Verdict::kAllowed) {
          partial.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  readers.emplace_back([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      introspections.fetch_add(1, std::memory_order_relaxed);
      if (!f.service().IntrospectHeader(bearer, f.clock().Now()).ok()) {
        refused_introspections.fetch_add(1, std::memory_order_relaxed);
      }
      SleepMs(1);
    }
    f.service().ReleaseThreadCache();
  });

  std::mt19937 rng(20261206);
  const absl::Time end = absl::Now() + absl::Seconds(3);
  int version = 1;
  int rounds = 0;
  while (absl::Now() < end) {
    ++rounds;
    const std::string full = PolicyText(version);
    // Where a write stops: after a whole line, so that the part written is
    // a valid, smaller policy (text format has no end marker), the worst
    // case for a reader.
    size_t cut = full.rfind('\n', rng() % full.size());
    cut = cut == std::string::npos ? 0 : cut + 1;
    const int pause = 1 + static_cast<int>(rng() % 40);
    switch (rng() % 4) {
      case 0:  // a non-atomic write that pauses half way
        WriteInPlace(path, full, cut, pause);
        break;
      case 1:  // a truncated file, left for a while, then rewritten
        WriteInPlace(path, full.substr(0, rng() % full.size()), full.size(), 0);
        SleepMs(pause);
        WriteInPlace(path, full, 0, 0);
        break;
      case 2:  // deleted, then written again
        std::filesystem::remove(path);
        SleepMs(pause);
        WriteInPlace(path, full, 0, 0);
        break;
      case 3:  // a nesting bomb beside the policy, then removed
        WriteInPlace(bomb, std::string(100000, '['), 0, 0);
        SleepMs(pause);
        std::filesystem::remove(bomb);
        break;
    }
    // Now and then quiet for longer than the quiet period, with the other
    // version: a publication.
    if (rng() % 4 == 0) {
      version = 3 - version;
      WriteInPlace(path, PolicyText(version), 0, 0);
      SleepMs(200);
    }
  }
  // The last state stays: version `version`, complete.
  WriteInPlace(path, PolicyText(version), 0, 0);
  SleepMs(400);
  stop = true;
  for (std::thread& reader : readers) reader.join();
  (*watcher)->Stop();

  const PolicyWatcher::Stats stats = (*watcher)->stats();
  EXPECT_GT(checks.load(), 1000u);
  EXPECT_EQ(partial.load(), 0u) << "checks that saw a partial policy";
  EXPECT_EQ(refused_introspections.load(), 0u)
      << "of " << introspections.load() << " introspections";
  EXPECT_GT(stats.published, 2u) << "the soak must publish now and then";
  EXPECT_GT(stats.pending, 0u);
  RecordProperty("rounds", rounds);
  RecordProperty("published", static_cast<int>(stats.published));
  RecordProperty("rejected", static_cast<int>(stats.rejected));
  // Nothing lost: the secret authenticates, the token introspects, and the
  // store serves the complete last version.
  EXPECT_TRUE(f.clients().Authenticate("c-backend", secret).ok());
  EXPECT_TRUE(f.service().IntrospectHeader(bearer, f.clock().Now()).ok());
  EXPECT_TRUE(store.policy()
                  ->FindRole(absl::StrCat("r-version-", version))
                  .has_value());
  EXPECT_EQ(store.policy()->Stats().credentials, 3u + kExtraCredentials);
}

}  // namespace
}  // namespace portcullis::auth
