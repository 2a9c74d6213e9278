// What a reload refuses (docs/live-policy.md, "What a reload refuses"): a
// source still being written (the quiet period), an empty source, a reload
// that removes most of the policy, and a file set that does not match its
// manifest. Each keeps the last good policy serving and shows in status().
#include <sodium.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "engine/live/manifest.h"
#include "engine/live/policy_watcher.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_files.h"

namespace portcullis {
namespace {

using ::portcullis::test_files::TestDir;
using ::portcullis::test_files::WriteFile;

using ::testing::HasSubstr;
using PollResult = PolicyWatcher::PollResult;

constexpr absl::string_view kCatalog = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
    }
  }
)pb";

// A policy of `n` credentials c-0 … c-(n-1), one role and one entity.
std::string PolicyWithCredentials(int n) {
  std::string text(kCatalog);
  absl::StrAppend(&text, R"pb(
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
  )pb");
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&text, "credentials { client_id: \"c-", i,
                    "\" partner_id: \"p-1\" scopes: \"payable:read\" }\n");
  }
  return text;
}

absl::Time ModifiedAt(const std::string& path) {
  struct stat info;
  EXPECT_EQ(stat(path.c_str(), &info), 0);
  return absl::FromUnixNanos(int64_t{info.st_ctim.tv_sec} * 1000000000 +
                             info.st_ctim.tv_nsec);
}

std::string Sha256Hex(absl::string_view content) {
  unsigned char digest[32];
  crypto_hash_sha256(digest,
                     reinterpret_cast<const unsigned char*>(content.data()),
                     content.size());
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 32));
}

// A watcher whose clock the test sets.
struct Fixture {
  explicit Fixture(PolicySource source,
                   PolicyWatcherOptions options = Options()) {
    options.clock = [this] { return now; };
    absl::StatusOr<std::unique_ptr<PolicyWatcher>> created =
        PolicyWatcher::Create(&store, std::move(source), std::move(options));
    EXPECT_TRUE(created.ok()) << created.status();
    watcher = *std::move(created);
  }
  static PolicyWatcherOptions Options() {
    PolicyWatcherOptions options;
    options.quiet_period = absl::ZeroDuration();
    return options;
  }
  size_t credentials() const { return store.policy()->Stats().credentials; }

  absl::Time now = absl::Now() + absl::Hours(1);
  PolicyStore store;
  std::unique_ptr<PolicyWatcher> watcher;
};

TEST(QuietPeriodTest, ASourceIsReadOnlyOnceItsFilesAreOldEnough) {
  const std::string path = TestDir() + "/policy.txtpb";
  WriteFile(path, PolicyWithCredentials(2));
  PolicyWatcherOptions options = Fixture::Options();
  options.quiet_period = absl::Seconds(1);
  Fixture f(PolicySource::Files({path}), options);
  f.now = ModifiedAt(path) + absl::Milliseconds(400);

  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPending);
  EXPECT_EQ(f.store.policy(), nullptr);
  EXPECT_TRUE(f.watcher->status().pending);
  f.now += absl::Milliseconds(599);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPending);
  f.now += absl::Milliseconds(1);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPublished);
  EXPECT_FALSE(f.watcher->status().pending);
  EXPECT_EQ(f.watcher->stats().pending, 2u);
  EXPECT_EQ(f.credentials(), 2u);
}

TEST(QuietPeriodTest, FilesFromTheFutureAreReadWhenUnchangedForThePeriod) {
  const std::string path = TestDir() + "/policy.txtpb";
  WriteFile(path, PolicyWithCredentials(2));
  PolicyWatcherOptions options = Fixture::Options();
  options.quiet_period = absl::Seconds(1);
  Fixture f(PolicySource::Files({path}), options);
  // The clock is behind the file system's: age says nothing, so the same
  // stat() seen a period apart does.
  f.now = ModifiedAt(path) - absl::Hours(1);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPending);
  f.now += absl::Milliseconds(500);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPending);
  f.now += absl::Milliseconds(500);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPublished);
}

TEST(QuietPeriodTest, AWriteDuringThePeriodStartsItAgain) {
  const std::string path = TestDir() + "/policy.txtpb";
  WriteFile(path, PolicyWithCredentials(2));
  PolicyWatcherOptions options = Fixture::Options();
  options.quiet_period = absl::Seconds(1);
  Fixture f(PolicySource::Files({path}), options);
  f.now = ModifiedAt(path) - absl::Hours(1);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPending);
  f.now += absl::Milliseconds(900);
  WriteFile(path, PolicyWithCredentials(3));  // another size: another stat
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPending);
  f.now += absl::Milliseconds(900);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPending);
  f.now += absl::Milliseconds(100);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(f.credentials(), 3u);
}

TEST(EmptySourceTest, EachKindOfEmptyIsRefusedUnlessAllowed) {
  struct Case {
    std::string name;
    std::string content;  // "<none>": no policy file at all
    std::string error;
  };
  const Case cases[] = {
      {"zero_bytes", "",
       ": the file is empty (a truncated write?); an empty policy file is "
       "refused unless PolicyWatcherOptions::allow_empty is set"},
      {"no_file", "<none>",
       "the source has no policy file; an empty source is refused unless "
       "PolicyWatcherOptions::allow_empty is set"},
      {"catalog_only", std::string(kCatalog),
       "the policy defines no role, entity or credential; an empty policy is "
       "refused unless PolicyWatcherOptions::allow_empty is set"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string dir = absl::StrCat(TestDir(), "/", c.name);
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/policy.txtpb";
    if (c.content != "<none>") WriteFile(path, c.content);

    Fixture refusing(PolicySource::Files({dir}));
    EXPECT_EQ(refusing.watcher->PollOnce(), PollResult::kRejected);
    const absl::Status error = refusing.watcher->last_error();
    EXPECT_EQ(error.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(error.message()), HasSubstr(c.error));
    EXPECT_EQ(refusing.store.policy(), nullptr);
    EXPECT_EQ(refusing.watcher->stats().refused_empty, 1u);
    EXPECT_FALSE(refusing.watcher->status().published);

    PolicyWatcherOptions options = Fixture::Options();
    options.allow_empty = true;
    Fixture allowing(PolicySource::Files({dir}), options);
    EXPECT_EQ(allowing.watcher->PollOnce(), PollResult::kPublished);
  }
}

// The reproduction of the deployment-safety issue: a text-format file
// written in place is read after its first credentials. Text format has no
// end marker, so the prefix parses; the guard refuses it.
TEST(MassRemovalTest, AHalfWrittenPolicyIsRefusedAndCounted) {
  const std::string path = TestDir() + "/policy.txtpb";
  const std::string full = PolicyWithCredentials(10);
  WriteFile(path, full);
  Fixture f(PolicySource::Files({path}));
  ASSERT_EQ(f.watcher->PollOnce(), PollResult::kPublished);
  const PolicyStore::SnapshotInfo good = *f.store.info();

  WriteFile(path, PolicyWithCredentials(4));
  f.now += absl::Seconds(5);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kRejected);
  const PolicyWatcher::Status status = f.watcher->status();
  EXPECT_EQ(status.last_error.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.last_error.message(),
            "the new policy removes 6 of the 10 credentials published (60%), "
            "more than PolicyWatcherOptions::max_removed_share (50%) allows; "
            "nothing was published");
  EXPECT_EQ(status.stats.guarded, 1u);
  EXPECT_EQ(status.stats.rejected, 1u);
  EXPECT_TRUE(status.published);
  EXPECT_EQ(status.last_good.generation, good.generation);
  EXPECT_EQ(status.failing_since, f.now);
  EXPECT_EQ(f.credentials(), 10u);

  // Half exactly is allowed; the status recovers.
  WriteFile(path, PolicyWithCredentials(5));
  f.now += absl::Seconds(5);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(f.credentials(), 5u);
  EXPECT_TRUE(f.watcher->status().last_error.ok());
  EXPECT_EQ(f.watcher->status().failing_since, absl::InfiniteFuture());
  EXPECT_EQ(f.watcher->status().last_good.generation, good.generation + 1);
}

TEST(MassRemovalTest, TheOptionsDecideTheShare) {
  const std::string path = TestDir() + "/policy.txtpb";
  WriteFile(path, PolicyWithCredentials(10));
  PolicyWatcherOptions options = Fixture::Options();
  options.max_removed_share = 1;
  Fixture f(PolicySource::Files({path}), options);
  ASSERT_EQ(f.watcher->PollOnce(), PollResult::kPublished);
  WriteFile(path, PolicyWithCredentials(1));
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(f.credentials(), 1u);

  for (double share : {-0.1, 1.5}) {
    PolicyStore store;
    PolicyWatcherOptions bad = Fixture::Options();
    bad.max_removed_share = share;
    EXPECT_EQ(PolicyWatcher::Create(&store, PolicySource::Files({path}), bad)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(ManifestTest, OnlyASetMatchingItsManifestIsPublished) {
  const std::string dir = TestDir();
  const std::string catalog = std::string(kCatalog);
  const std::string rest = PolicyWithCredentials(3).substr(catalog.size());
  WriteFile(dir + "/a.txtpb", catalog);
  WriteFile(dir + "/b.txtpb", rest);
  auto manifest_for = [](absl::string_view a, absl::string_view b) {
    return absl::StrCat("# written last\n", Sha256Hex(a), "  a.txtpb\n",
                        Sha256Hex(b), " *b.txtpb\n");
  };
  WriteFile(dir + "/policy.manifest", manifest_for(catalog, rest));
  Fixture f(PolicySource::Manifest(dir + "/policy.manifest"));
  ASSERT_EQ(f.watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(f.credentials(), 3u);

  // b is rewritten before the manifest: refused, naming the file.
  const std::string rest4 = PolicyWithCredentials(4).substr(catalog.size());
  WriteFile(dir + "/b.txtpb", rest4);
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kRejected);
  EXPECT_EQ(f.watcher->last_error().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      std::string(f.watcher->last_error().message()),
      HasSubstr(absl::StrCat(dir, "/b.txtpb: its SHA-256 is ", Sha256Hex(rest4),
                             ", the manifest lists ", Sha256Hex(rest),
                             "; the file set is incomplete or being written")));
  EXPECT_EQ(f.credentials(), 3u);

  // Then the manifest: published.
  WriteFile(dir + "/policy.manifest", manifest_for(catalog, rest4));
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kPublished);
  EXPECT_EQ(f.credentials(), 4u);

  // A file the manifest lists is missing.
  std::filesystem::remove(dir + "/a.txtpb");
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kRejected);
  EXPECT_THAT(std::string(f.watcher->last_error().message()),
              HasSubstr(dir + "/a.txtpb"));
  EXPECT_EQ(f.credentials(), 4u);
}

TEST(ManifestTest, MalformedManifestsAreRejectedWithTheirLine) {
  const std::string hash(64, 'a');
  struct Case {
    std::string content;
    std::string error;
  };
  const Case cases[] = {
      {"not a digest  a.json\n",
       "line 1: expected \"<sha256 in 64 hex digits>  <path>\", as sha256sum "
       "prints"},
      {absl::StrCat("\n", hash, "  /etc/a.json\n"),
       "line 2: path \"/etc/a.json\" must be relative to the manifest"},
      {absl::StrCat(hash, "  ../a.json\n"),
       "line 1: path \"../a.json\" must not have an empty or \"..\" "
       "component"},
      {absl::StrCat(hash, "  a.json\n", hash, "  a.json\n"),
       "line 2: \"a.json\" is listed twice"},
      {absl::StrCat(std::string(63, 'a'), "g  a.json\n"), "line 1: expected"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.content);
    absl::StatusOr<std::vector<ManifestEntry>> parsed =
        ParseManifest("dir/policy.manifest", c.content);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()),
                HasSubstr(absl::StrCat("dir/policy.manifest: ", c.error)));
  }
  absl::StatusOr<std::vector<ManifestEntry>> parsed = ParseManifest(
      "dir/policy.manifest", absl::StrCat(hash, "  sub/a.json\r\n"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].path, "dir/sub/a.json");
}

TEST(ManifestTest, AnEmptyManifestIsAnEmptySource) {
  const std::string dir = TestDir();
  WriteFile(dir + "/policy.manifest", "# nothing yet\n");
  Fixture f(PolicySource::Manifest(dir + "/policy.manifest"));
  EXPECT_EQ(f.watcher->PollOnce(), PollResult::kRejected);
  EXPECT_THAT(std::string(f.watcher->last_error().message()),
              HasSubstr("the source has no policy file"));
}

}  // namespace
}  // namespace portcullis
