// Hot reload from files: edits are published, invalid edits are rejected
// with their errors while the last good policy keeps serving, and nothing is
// reloaded when nothing changed.
#include "engine/live/policy_watcher.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "engine/compile/compiler.h"
#include "engine/live/change_notifier.h"
#include "engine/snapshot/bundle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_files.h"

namespace portcullis {
namespace {

using ::portcullis::test_files::TestDir;
using ::portcullis::test_files::WriteFile;

using ::testing::HasSubstr;
using PollResult = PolicyWatcher::PollResult;

constexpr absl::string_view kPolicyA = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
    }
  }
  roles {
    id: "r-1"
    name: "One"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-1" }
)pb";

// A's role also approves.
constexpr absl::string_view kPolicyB = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
    }
  }
  roles {
    id: "r-1"
    name: "One"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-1" }
)pb";

// A typo in an action name.
constexpr absl::string_view kInvalid = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
    }
  }
  roles {
    id: "r-1"
    name: "One"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "aprove" permission: ALLOWED }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-1" }
)pb";

CheckRequestView Approve() {
  CheckRequestView view;
  view.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
  view.user_id = "u-1";
  view.user_entity_id = "e-1";
  view.object_type = "payable";
  view.action = "approve";
  view.entity_id = "e-1";
  return view;
}

constexpr Decision kAllowed{Verdict::kAllowed, Reason::kGranted};
constexpr Decision kRbac{Verdict::kNotAllowed, Reason::kRbac};

// Records every reload event.
struct Events {
  std::mutex mu;
  std::vector<ReloadEvent> events;

  std::function<void(const ReloadEvent&)> Callback() {
    return [this](const ReloadEvent& event) {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(event);
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return events.size();
  }
};

// Waits for a condition, polling; bounded (10 s) so a failure cannot hang.
template <typename Condition>
bool Eventually(Condition condition) {
  for (int i = 0; i < 2000 && !condition(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// These tests write a file and poll at once: no quiet period. The tests of
// the quiet period set their own.
PolicyWatcherOptions TestOptions() {
  PolicyWatcherOptions options;
  options.quiet_period = absl::ZeroDuration();
  return options;
}

std::unique_ptr<PolicyWatcher> Watch(
    PolicyStore& store, PolicySource source,
    PolicyWatcherOptions options = TestOptions()) {
  absl::StatusOr<std::unique_ptr<PolicyWatcher>> watcher =
      PolicyWatcher::Create(&store, std::move(source), std::move(options));
  EXPECT_TRUE(watcher.ok()) << watcher.status();
  return *std::move(watcher);
}

TEST(PolicyWatcherTest, InvalidEditKeepsServingTheLastGoodPolicy) {
  const std::string dir = TestDir();
  const std::string path = dir + "/policy.txtpb";
  WriteFile(path, kPolicyA);
  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  Events events;
  PolicyWatcherOptions options = TestOptions();
  options.on_reload = events.Callback();
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Files({path}), options);

  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(reader.Check(Approve()), kRbac);
  EXPECT_EQ(store.info()->generation, 1u);
  EXPECT_TRUE(watcher->last_error().ok());

  WriteFile(path, kInvalid);
  EXPECT_EQ(watcher->PollOnce(), PollResult::kRejected);
  const std::string error = absl::StrCat(
      path,
      ":roles[0].permissions.objects[0].actions[0].action_name: unknown "
      "action \"aprove\" for object type \"payable\"");
  EXPECT_EQ(watcher->last_error().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(watcher->last_error().message()), error);
  // Still A.
  EXPECT_EQ(reader.Check(Approve()), kRbac);
  EXPECT_EQ(store.info()->generation, 1u);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events.events[0].outcome, ReloadEvent::Outcome::kPublished);
  EXPECT_EQ(events.events[0].published.generation, 1u);
  // The published snapshot itself, for followers such as a token service.
  ASSERT_NE(events.events[0].policy, nullptr);
  EXPECT_EQ(events.events[0].policy, store.policy());
  EXPECT_EQ(events.events[0].policy->snapshot(),
            events.events[0].published.snapshot);
  EXPECT_EQ(events.events[1].outcome, ReloadEvent::Outcome::kRejected);
  EXPECT_EQ(std::string(events.events[1].status.message()), error);
  EXPECT_EQ(events.events[1].policy, nullptr);

  // Reported once, not on every poll.
  EXPECT_EQ(watcher->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(events.size(), 2u);

  // A syntax error too.
  WriteFile(path, "catalog { object_types {");
  EXPECT_EQ(watcher->PollOnce(), PollResult::kRejected);
  EXPECT_THAT(std::string(watcher->last_error().message()),
              HasSubstr(absl::StrCat(path, ": invalid text format: ")));
  EXPECT_EQ(reader.Check(Approve()), kRbac);

  WriteFile(path, kPolicyB);
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(reader.Check(Approve()), kAllowed);
  EXPECT_EQ(store.info()->generation, 2u);
  EXPECT_TRUE(watcher->last_error().ok());
  const PolicyWatcher::Stats stats = watcher->stats();
  EXPECT_EQ(stats.polls, 5u);
  EXPECT_EQ(stats.published, 2u);
  EXPECT_EQ(stats.rejected, 2u);
}

TEST(PolicyWatcherTest, TouchingAFileDoesNotReload) {
  const std::string dir = TestDir();
  const std::string path = dir + "/policy.txtpb";
  WriteFile(path, kPolicyA);
  PolicyStore store;
  PolicyWatcherOptions options = TestOptions();
  // Far from every modification time: only changed metadata reads content.
  options.clock = [] { return absl::Now() + absl::Hours(1); };
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Files({path}), options);
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(watcher->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(watcher->stats().content_reads, 1u);

  const struct timespec times[2] = {{0, UTIME_NOW}, {12345, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  EXPECT_EQ(watcher->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(watcher->stats().content_reads, 2u);
  EXPECT_EQ(store.info()->generation, 1u);
}

TEST(PolicyWatcherTest, RecentlyModifiedFilesAreReadAgain) {
  const std::string dir = TestDir();
  const std::string path = dir + "/policy.txtpb";
  WriteFile(path, kPolicyA);
  PolicyStore store;
  absl::Time now = absl::Now();
  PolicyWatcherOptions options = TestOptions();
  options.clock = [&now] { return now; };
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Files({path}), options);
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
  // Modified within the racy window of the last read: a same-size rewrite
  // in the same timestamp tick would be invisible to stat(), so read again.
  EXPECT_EQ(watcher->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(watcher->stats().content_reads, 2u);
  now += absl::Minutes(1);
  EXPECT_EQ(watcher->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(watcher->stats().content_reads, 3u);
  // Now the last read was long after the modification.
  EXPECT_EQ(watcher->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(watcher->stats().content_reads, 3u);
}

TEST(PolicyWatcherTest, DirectoriesAreWatchedForAddedAndRemovedFiles) {
  const std::string dir = TestDir();
  WriteFile(dir + "/catalog.txtpb", R"pb(
    catalog {
      object_types {
        name: "payable"
        actions { name: "read" }
      }
    }
  )pb");
  WriteFile(dir + "/entities.txtpb",
            R"pb(entities { id: "e-1" partner_id: "p-1" })pb");
  WriteFile(dir + "/notes.md", "not a policy file");
  PolicyStore store;
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Files({dir}));
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(store.policy()->Stats().entities, 1u);

  WriteFile(dir + "/notes.md", "still not a policy file");
  EXPECT_EQ(watcher->PollOnce(), PollResult::kUnchanged);

  WriteFile(dir + "/more.txtpb",
            R"pb(entities { id: "e-2" partner_id: "p-1" })pb");
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(store.policy()->Stats().entities, 2u);

  std::filesystem::remove(dir + "/catalog.txtpb");
  WriteFile(dir + "/roles.txtpb", R"pb(
    roles {
      id: "r-1"
      name: "One"
      permissions { objects { object_type: "payable" } }
    }
  )pb");
  EXPECT_EQ(watcher->PollOnce(), PollResult::kRejected);
  EXPECT_EQ(std::string(watcher->last_error().message()),
            absl::StrCat(dir,
                         "/roles.txtpb:roles[0].permissions.objects[0]."
                         "object_type: unknown object type \"payable\""));
  EXPECT_EQ(store.policy()->Stats().entities, 2u);
  EXPECT_EQ(store.info()->generation, 2u);
}

// The watcher lists a directory as the loader does: a dangling symbolic link
// is a file of the policy that cannot be read, so the reload fails naming it
// (and the last good policy stays), until the link is fixed or removed.
TEST(PolicyWatcherTest, DanglingSymlinkInADirectoryFailsTheReload) {
  const std::string dir = TestDir();
  WriteFile(dir + "/entities.txtpb",
            R"pb(entities { id: "e-1" partner_id: "p-1" })pb");
  PolicyStore store;
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Files({dir}));
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);

  const std::string target = dir + ".target.json";  // outside the directory
  std::filesystem::remove(target);
  std::filesystem::create_symlink(target, dir + "/a.json");
  EXPECT_EQ(watcher->PollOnce(), PollResult::kRejected);
  EXPECT_EQ(watcher->last_error().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(std::string(watcher->last_error().message()),
            dir + "/a.json: cannot open: a symbolic link to a missing file");
  EXPECT_EQ(store.policy()->Stats().entities, 1u);

  WriteFile(target, R"({"entities": [{"id": "e-2", "partner_id": "p-1"}]})");
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(store.policy()->Stats().entities, 2u);
}

TEST(PolicyWatcherTest, BundleSource) {
  const std::string dir = TestDir();
  const std::string path = dir + "/policy.bundle";
  absl::StatusOr<v1::PolicySet> a = ParsePolicyText(kPolicyA);
  absl::StatusOr<v1::PolicySet> b = ParsePolicyText(kPolicyB);
  std::unique_ptr<const CompiledPolicy> policy_a = *Compile(*a);
  std::unique_ptr<const CompiledPolicy> policy_b = *Compile(*b);
  ASSERT_TRUE(WriteBundle(*policy_a, path).ok());

  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Bundle(path));
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(store.info()->digest, DigestOf(*policy_a));
  EXPECT_EQ(reader.Check(Approve()), kRbac);

  // Truncated in place, as by an interrupted copy.
  std::string bytes = *SerializeBundle(*policy_b);
  WriteFile(path, absl::string_view(bytes).substr(0, bytes.size() / 2));
  EXPECT_EQ(watcher->PollOnce(), PollResult::kRejected);
  EXPECT_EQ(
      std::string(watcher->last_error().message()),
      absl::StrCat(path, ": truncated bundle: the header announces ",
                   bytes.size() - kBundleHeaderBytes, " body bytes; ",
                   bytes.size() / 2 - kBundleHeaderBytes, " are present"));
  EXPECT_EQ(reader.Check(Approve()), kRbac);

  ASSERT_TRUE(WriteBundle(*policy_b, path).ok());
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(reader.Check(Approve()), kAllowed);
  EXPECT_EQ(store.info()->digest, DigestOf(*policy_b));
}

TEST(PolicyWatcherTest, MissingFileIsReportedOnceUntilItAppears) {
  const std::string dir = TestDir();
  const std::string path = dir + "/policy.txtpb";
  PolicyStore store;
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Files({path}));
  EXPECT_EQ(watcher->PollOnce(), PollResult::kRejected);
  EXPECT_EQ(watcher->last_error().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(std::string(watcher->last_error().message()),
            absl::StrCat(path, ": cannot open: No such file or directory"));
  EXPECT_EQ(watcher->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(store.policy(), nullptr);
  WriteFile(path, kPolicyA);
  EXPECT_EQ(watcher->PollOnce(), PollResult::kPublished);
}

TEST(PolicyWatcherTest, CreateRejectsBadSources) {
  PolicyStore store;
  struct Case {
    const char* name;
    PolicySource source;
    absl::Duration interval;
    std::string message;
    absl::Duration settle = absl::Milliseconds(50);
  };
  const Case cases[] = {
      {"no_paths", PolicySource::Files({}), absl::Seconds(1),
       "a policy source needs at least one path"},
      {"two_bundles",
       PolicySource{PolicySource::Kind::kBundle, {"a.bundle", "b.bundle"}},
       absl::Seconds(1), "a bundle source is one file; got 2 paths"},
      {"zero_interval", PolicySource::Files({"policy.txtpb"}),
       absl::ZeroDuration(), "the poll interval must be positive"},
      {"negative_settle", PolicySource::Files({"policy.txtpb"}),
       absl::Seconds(1), "the settle time must not be negative; got -5ms",
       absl::Milliseconds(-5)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    PolicyWatcherOptions options = TestOptions();
    options.interval = c.interval;
    options.settle = c.settle;
    absl::StatusOr<std::unique_ptr<PolicyWatcher>> watcher =
        PolicyWatcher::Create(&store, c.source, options);
    ASSERT_FALSE(watcher.ok());
    EXPECT_EQ(watcher.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(watcher.status().message()), c.message);
  }
}

TEST(PolicyWatcherTest, BackgroundPollingPublishesEdits) {
  const std::string dir = TestDir();
  const std::string path = dir + "/policy.txtpb";
  WriteFile(path, kPolicyA);
  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  PolicyWatcherOptions options = TestOptions();
  options.interval = absl::Milliseconds(5);
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Files({path}), options);
  watcher->Start();
  watcher->Start();  // a second Start() does nothing
  EXPECT_TRUE(Eventually([&] { return reader.Check(Approve()) == kRbac; }));
  WriteFile(path, kInvalid);
  EXPECT_TRUE(Eventually([&] { return !watcher->last_error().ok(); }));
  EXPECT_EQ(reader.Check(Approve()), kRbac);
  WriteFile(path, kPolicyB);
  EXPECT_TRUE(Eventually([&] { return reader.Check(Approve()) == kAllowed; }));
  watcher->Stop();
  const uint64_t polls = watcher->stats().polls;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(watcher->stats().polls, polls);
}

// With an infinite interval (a poll a day), only a notification can reload.
TEST(PolicyWatcherTest, ChangeNotificationReloadsWithoutWaitingForThePoll) {
  const std::string dir = TestDir();
  if (!internal::ChangeNotifier::Create({dir}).ok()) {
    GTEST_SKIP() << "the kernel refuses inotify here; the watcher only polls";
  }
  const std::string path = dir + "/policy.txtpb";
  WriteFile(path, kPolicyA);
  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  Events events;
  PolicyWatcherOptions options = TestOptions();
  options.interval = absl::InfiniteDuration();
  options.on_reload = events.Callback();
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Files({path}), options);
  watcher->Start();  // polls at once
  ASSERT_TRUE(Eventually([&] { return events.size() == 1; }));
  EXPECT_EQ(reader.Check(Approve()), kRbac);

  // Written aside and renamed over the policy, as deployment tools do.
  WriteFile(dir + "/.policy.tmp", kPolicyB);
  std::filesystem::rename(dir + "/.policy.tmp", path);
  EXPECT_TRUE(Eventually([&] { return reader.Check(Approve()) == kAllowed; }));
  watcher->Stop();  // returns at once: the day-long wait is interrupted
  const PolicyWatcher::Stats stats = watcher->stats();
  EXPECT_GE(stats.notified_polls, 1u);
  EXPECT_EQ(stats.polls, 1 + stats.notified_polls);
}

TEST(PolicyWatcherTest, WithoutNotificationsOnlyThePollReloads) {
  const std::string dir = TestDir();
  const std::string path = dir + "/policy.txtpb";
  WriteFile(path, kPolicyA);
  PolicyStore store;
  PolicyStore::Reader reader = store.NewReader();
  Events events;
  PolicyWatcherOptions options = TestOptions();
  options.interval = absl::InfiniteDuration();
  options.notify_on_change = false;
  options.on_reload = events.Callback();
  std::unique_ptr<PolicyWatcher> watcher =
      Watch(store, PolicySource::Files({path}), options);
  watcher->Start();
  ASSERT_TRUE(Eventually([&] { return events.size() == 1; }));
  WriteFile(path, kPolicyB);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(reader.Check(Approve()), kRbac);  // the next poll is a day away
  watcher->Stop();
  EXPECT_EQ(watcher->stats().polls, 1u);
  EXPECT_EQ(watcher->stats().notified_polls, 0u);
}

}  // namespace
}  // namespace portcullis
