// A PolicyWatcher drives the token service through ReloadEvent::policy: a
// reload that removes a client suspends it (its tokens are refused while it
// is absent), with no SetPolicy by hand.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/auth/token_service.h"
#include "engine/live/policy_store.h"
#include "engine/live/policy_watcher.h"
#include "engine/load/policy_loader.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "proto/policy.pb.h"
#include "tests/auth/service_fixture.h"
#include "tests/test_files.h"

namespace portcullis::auth {
namespace {

using ::portcullis::test_files::TestDir;

using testing::Describe;
using testing::kPolicy;
using testing::kStart;
using testing::ServiceFixture;

// Replaces `path` atomically, as a deployment would (write, then rename).
void ReplaceFile(const std::string& path, absl::string_view content) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
  }
  std::filesystem::rename(temporary, path);
}

// kPolicy without the credential of `client_id`, in text format.
std::string PolicyWithout(absl::string_view client_id) {
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(kPolicy);
  EXPECT_TRUE(set.ok()) << set.status();
  auto& credentials = *set->mutable_credentials();
  for (int i = 0; i < credentials.size(); ++i) {
    if (credentials[i].client_id() == client_id) {
      credentials.DeleteSubrange(i, 1);
      break;
    }
  }
  std::string text;
  EXPECT_TRUE(google::protobuf::TextFormat::PrintToString(*set, &text));
  return text;
}

// The wiring docs/live-policy.md shows ("Followers"): every published snapshot
// goes to the service.
struct Wiring {
  std::mutex mu;
  std::vector<absl::Status> set_policy;  // SetPolicy's answers, in order

  PolicyWatcherOptions Options(TokenService& service) {
    PolicyWatcherOptions options;
    options.quiet_period =
        absl::ZeroDuration();  // files are written, then polled
    options.notify_on_change = false;
    options.on_reload = [this, &service](const ReloadEvent& event) {
      if (event.policy == nullptr) return;  // rejected: keep serving
      const absl::Status set = service.SetPolicy(event.policy);
      std::lock_guard<std::mutex> lock(mu);
      set_policy.push_back(set);
    };
    return options;
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return set_policy.size();
  }
};

TEST(TokenServiceReloadTest, WatcherReloadThatRemovesAClientSuspendsIt) {
  const std::string path = TestDir() + "/policy.txtpb";
  ReplaceFile(path, kPolicy);
  ServiceFixture f(/*policy=*/nullptr);
  PolicyStore store;
  Wiring wiring;
  absl::StatusOr<std::unique_ptr<PolicyWatcher>> watcher =
      PolicyWatcher::Create(&store, PolicySource::Files({path}),
                            wiring.Options(f.service()));
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  ASSERT_EQ((*watcher)->PollOnce(), PolicyWatcher::PollResult::kPublished);
  ASSERT_EQ(wiring.size(), 1u);
  EXPECT_TRUE(wiring.set_policy[0].ok()) << wiring.set_policy[0];
  // The service serves the store's snapshot itself.
  EXPECT_EQ(f.service().policy(), store.policy());

  const std::string secret = f.Register("c-app");
  const IssuedTokens issued = f.Issue("c-app", secret, "u-ann");
  const IssuedTokens backend = f.Issue("c-backend", f.Register("c-backend"));
  // Cached on this thread before the reload.
  ASSERT_EQ(
      Describe(f.service().Introspect(issued.access_token, kStart).status()),
      "OK");

  // An invalid edit is rejected: nothing reaches the service.
  ReplaceFile(path, "credentials {");
  ASSERT_EQ((*watcher)->PollOnce(), PolicyWatcher::PollResult::kRejected);
  EXPECT_EQ(wiring.size(), 1u);
  EXPECT_EQ(
      Describe(f.service().Introspect(issued.access_token, kStart).status()),
      "OK");

  // The reload that drops c-app.
  ReplaceFile(path, PolicyWithout("c-app"));
  ASSERT_EQ((*watcher)->PollOnce(), PolicyWatcher::PollResult::kPublished);
  ASSERT_EQ(wiring.size(), 2u);
  EXPECT_TRUE(wiring.set_policy[1].ok()) << wiring.set_policy[1];
  EXPECT_EQ(f.service().policy(), store.policy());
  EXPECT_EQ(
      Describe(f.service().Introspect(issued.access_token, kStart).status()),
      "UNAUTHENTICATED: access token: client \"c-app\" is no longer in "
      "the policy");
  EXPECT_EQ(Describe(f.service().Refresh(issued.refresh_token).status()),
            "UNAUTHENTICATED: refresh token: client \"c-app\" is no longer in "
            "the policy");
  EXPECT_EQ(Describe(f.service()
                         .IssueToken({"entity_user", "c-app", secret, "u-ann"})
                         .status()),
            "UNAUTHENTICATED: invalid client credentials");
  // Other clients are untouched.
  EXPECT_EQ(
      Describe(f.service().Introspect(backend.access_token, kStart).status()),
      "OK");

  // The client returns: same secret, same tokens (issue 14).
  ReplaceFile(path, kPolicy);
  ASSERT_EQ((*watcher)->PollOnce(), PolicyWatcher::PollResult::kPublished);
  EXPECT_EQ(
      Describe(f.service().Introspect(issued.access_token, kStart).status()),
      "OK");
  EXPECT_TRUE(
      f.service().IssueToken({"entity_user", "c-app", secret, "u-ann"}).ok());
}

// The same through the watcher's own thread, while this thread keeps
// introspecting (under ThreadSanitizer: SetPolicy from the polling thread
// against cached introspections).
TEST(TokenServiceReloadTest, WatcherThreadReloadSuspendsARemovedClient) {
  const std::string path = TestDir() + "/policy.txtpb";
  ReplaceFile(path, kPolicy);
  ServiceFixture f(/*policy=*/nullptr);
  PolicyStore store;
  Wiring wiring;
  PolicyWatcherOptions options = wiring.Options(f.service());
  options.interval = absl::Milliseconds(5);
  absl::StatusOr<std::unique_ptr<PolicyWatcher>> watcher =
      PolicyWatcher::Create(&store, PolicySource::Files({path}), options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  ASSERT_EQ((*watcher)->PollOnce(), PolicyWatcher::PollResult::kPublished);
  const IssuedTokens issued =
      f.Issue("c-app", f.Register("c-app"), /*entity_user_id=*/"u-ann");
  (*watcher)->Start();

  ReplaceFile(path, PolicyWithout("c-app"));
  const std::string removed =
      "UNAUTHENTICATED: access token: client \"c-app\" is no longer in the "
      "policy";
  std::string status;
  for (int i = 0; i < 2000; ++i) {
    status =
        Describe(f.service().Introspect(issued.access_token, kStart).status());
    if (status != "OK") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  (*watcher)->Stop();
  EXPECT_EQ(status, removed);
  EXPECT_EQ(wiring.size(), 2u);
  EXPECT_EQ(f.service().policy(), store.policy());
}

}  // namespace
}  // namespace portcullis::auth
