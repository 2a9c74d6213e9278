// ChangeNotifier: which changes wake a waiter, which do not, interruption,
// and watches that follow a directory deleted and created again.
#include "engine/live/change_notifier.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/test_files.h"

namespace portcullis::internal {
namespace {

using ::portcullis::test_files::TestDir;

using WaitResult = ChangeNotifier::WaitResult;

// Long enough never to expire in a passing test: events are queued by the
// kernel before Wait() is called, so Wait() returns at once.
constexpr absl::Duration kLong = absl::Seconds(30);
// For "nothing happens": short, since a failure shows as kChanged, not as a
// slow pass.
constexpr absl::Duration kShort = absl::Milliseconds(30);
constexpr absl::Duration kSettle = absl::Milliseconds(5);

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// Null, with the test skipped, when the kernel refuses inotify (the per-user
// instance limit, say): the watcher then polls, as its own tests show.
std::unique_ptr<ChangeNotifier> Notify(std::vector<std::string> paths) {
  absl::StatusOr<std::unique_ptr<ChangeNotifier>> notifier =
      ChangeNotifier::Create(std::move(paths));
  EXPECT_TRUE(notifier.ok() || absl::IsUnavailable(notifier.status()))
      << notifier.status();
  return notifier.ok() ? *std::move(notifier) : nullptr;
}

constexpr char kNoInotify[] = "the kernel refuses inotify here";

TEST(ChangeNotifierTest, QuietDirectoryTimesOut) {
  const std::string dir = TestDir();
  WriteFile(dir + "/policy.txtpb", "a");
  std::unique_ptr<ChangeNotifier> notifier = Notify({dir + "/policy.txtpb"});
  if (notifier == nullptr) GTEST_SKIP() << kNoInotify;
  EXPECT_EQ(notifier->watched_directories(), 1u);
  EXPECT_EQ(notifier->Wait(kShort, kSettle), WaitResult::kTimeout);
}

TEST(ChangeNotifierTest, EditsAndAtomicReplacementWake) {
  const std::string dir = TestDir();
  const std::string path = dir + "/policy.txtpb";
  WriteFile(path, "a");
  std::unique_ptr<ChangeNotifier> notifier = Notify({path});
  if (notifier == nullptr) GTEST_SKIP() << kNoInotify;

  WriteFile(path, "b");  // in place
  EXPECT_EQ(notifier->Wait(kLong, kSettle), WaitResult::kChanged);
  // The burst was one wake-up.
  EXPECT_EQ(notifier->Wait(kShort, kSettle), WaitResult::kTimeout);

  WriteFile(dir + "/.policy.tmp", "c");  // written aside, renamed over
  std::filesystem::rename(dir + "/.policy.tmp", path);
  EXPECT_EQ(notifier->Wait(kLong, kSettle), WaitResult::kChanged);

  std::filesystem::remove(path);
  EXPECT_EQ(notifier->Wait(kLong, kSettle), WaitResult::kChanged);
}

TEST(ChangeNotifierTest, DirectoryPathWatchesItsFiles) {
  const std::string dir = TestDir() + "/policy";
  std::filesystem::create_directories(dir);
  std::unique_ptr<ChangeNotifier> notifier = Notify({dir + "/"});
  if (notifier == nullptr) GTEST_SKIP() << kNoInotify;
  WriteFile(dir + "/roles.json", "{}");
  EXPECT_EQ(notifier->Wait(kLong, kSettle), WaitResult::kChanged);
}

TEST(ChangeNotifierTest, OtherDirectoriesDoNotWake) {
  const std::string dir = TestDir();
  std::filesystem::create_directories(dir + "/watched");
  std::filesystem::create_directories(dir + "/other");
  std::unique_ptr<ChangeNotifier> notifier = Notify({dir + "/watched"});
  if (notifier == nullptr) GTEST_SKIP() << kNoInotify;
  WriteFile(dir + "/other/roles.json", "{}");
  EXPECT_EQ(notifier->Wait(kShort, kSettle), WaitResult::kTimeout);
}

TEST(ChangeNotifierTest, DirectoryDeletedAndCreatedAgainIsWatchedAgain) {
  const std::string dir = TestDir() + "/policy";
  std::filesystem::create_directories(dir);
  std::unique_ptr<ChangeNotifier> notifier = Notify({dir});
  if (notifier == nullptr) GTEST_SKIP() << kNoInotify;
  std::filesystem::remove_all(dir);
  EXPECT_EQ(notifier->Wait(kLong, kSettle), WaitResult::kChanged);
  EXPECT_EQ(notifier->watched_directories(), 0u);

  std::filesystem::create_directories(dir);
  // The next wake-up (here a timeout) watches it again.
  EXPECT_EQ(notifier->Wait(kShort, kSettle), WaitResult::kTimeout);
  EXPECT_EQ(notifier->watched_directories(), 1u);
  WriteFile(dir + "/roles.json", "{}");
  EXPECT_EQ(notifier->Wait(kLong, kSettle), WaitResult::kChanged);
}

TEST(ChangeNotifierTest, MissingParentIsNotWatched) {
  const std::string dir = TestDir();
  std::unique_ptr<ChangeNotifier> notifier =
      Notify({dir + "/absent/policy.txtpb"});
  if (notifier == nullptr) GTEST_SKIP() << kNoInotify;
  EXPECT_EQ(notifier->watched_directories(), 0u);
  EXPECT_EQ(notifier->Wait(kShort, kSettle), WaitResult::kTimeout);
}

TEST(ChangeNotifierTest, InterruptWakesTheWaiterAndEveryLaterWait) {
  const std::string dir = TestDir();
  std::unique_ptr<ChangeNotifier> notifier = Notify({dir});
  if (notifier == nullptr) GTEST_SKIP() << kNoInotify;
  WaitResult result = WaitResult::kTimeout;
  // Without the interrupt this waits an hour, and the test times out.
  std::thread waiter([&] { result = notifier->Wait(absl::Hours(1), kSettle); });
  notifier->Interrupt();
  waiter.join();
  EXPECT_EQ(result, WaitResult::kInterrupted);
  EXPECT_EQ(notifier->Wait(absl::Hours(1), kSettle), WaitResult::kInterrupted);
}

}  // namespace
}  // namespace portcullis::internal
