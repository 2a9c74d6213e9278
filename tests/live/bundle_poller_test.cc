// The bundle poller against a real nginx serving bundle files (and two tiny
// servers for what nginx does not do: hang, cut an answer short): the first
// fetch, 304 when unchanged, a changed bundle picked up, and every failure
// refused with its URL and reason while the last good policy keeps serving;
// the last good bundle on disk serves a restart while the server is down.
#include "engine/live/bundle_poller.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/bundle_server.h"
#include "tests/test_files.h"

namespace portcullis {
namespace {

using ::portcullis::test_bundle_server::FreePort;
using ::portcullis::test_bundle_server::HangingServer;
using ::portcullis::test_bundle_server::Nginx;
using ::portcullis::test_bundle_server::TruncatingServer;
using ::portcullis::test_files::TestDir;
using ::testing::HasSubstr;
using PollResult = BundlePoller::PollResult;

// A policy of `n` credentials c-0 ... c-(n-1), one role and one entity.
std::shared_ptr<const CompiledPolicy> PolicyWithCredentials(int n) {
  std::string text = R"pb(
    catalog {
      object_types {
        name: "payable"
        actions { name: "read" }
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
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&text, "credentials { client_id: \"c-", i,
                    "\" partner_id: \"p-1\" scopes: \"payable:read\" }\n");
  }
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(text);
  EXPECT_TRUE(set.ok()) << set.status();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(*set);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

std::shared_ptr<const CompiledPolicy> EmptyPolicy() {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(v1::PolicySet());
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

std::shared_ptr<const Ed25519KeyPair> Key(const std::string& kid) {
  absl::StatusOr<Ed25519KeyPair> key = Ed25519KeyPair::Generate(kid);
  EXPECT_TRUE(key.ok()) << key.status();
  return std::make_shared<const Ed25519KeyPair>(*std::move(key));
}

std::string Signed(const CompiledPolicy& policy,
                   std::shared_ptr<const Ed25519KeyPair> key) {
  BundleOptions options;
  options.signing_key = std::move(key);
  absl::StatusOr<std::string> bytes = SerializeBundle(policy, options);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *bytes;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class BundlePollerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestDir();
    nginx_ = Nginx::Start(dir_);
    ASSERT_NE(nginx_, nullptr);
    key_ = Key("k-ci");
  }

  // Options for `url`: the test's key, a cache file, short timeouts.
  BundlePollerOptions Options(const std::string& url) {
    BundlePollerOptions options;
    options.url = url;
    options.verification_keys = {key_->public_key()};
    options.cache_path = dir_ + "/last-good.bundle";
    options.connect_timeout = absl::Seconds(2);
    options.timeout = absl::Milliseconds(500);
    options.on_reload = [this](const ReloadEvent& event) {
      events_.push_back(event.status);
    };
    return options;
  }

  std::unique_ptr<BundlePoller> Poller(PolicyStore* store,
                                       BundlePollerOptions options) {
    absl::StatusOr<std::unique_ptr<BundlePoller>> poller =
        BundlePoller::Create(store, std::move(options));
    EXPECT_TRUE(poller.ok()) << poller.status();
    return poller.ok() ? *std::move(poller) : nullptr;
  }

  std::string dir_;
  std::unique_ptr<Nginx> nginx_;
  std::shared_ptr<const Ed25519KeyPair> key_;
  std::vector<absl::Status> events_;
};

TEST_F(BundlePollerTest, FetchesThenNotModifiedThenPicksUpAChange) {
  const std::shared_ptr<const CompiledPolicy> v1 = PolicyWithCredentials(4);
  const std::string v1_bytes = Signed(*v1, key_);
  nginx_->Put("policy.bundle", v1_bytes);
  PolicyStore store;
  std::unique_ptr<BundlePoller> poller =
      Poller(&store, Options(nginx_->Url("policy.bundle")));
  ASSERT_NE(poller, nullptr);

  EXPECT_EQ(poller->PollOnce(), PollResult::kPublished);
  BundlePoller::Status status = poller->status();
  EXPECT_TRUE(status.published);
  EXPECT_FALSE(status.serving_cache);
  EXPECT_EQ(status.last_good.generation, 1u);
  EXPECT_EQ(status.last_good.digest, DigestOf(*v1));
  EXPECT_TRUE(status.last_error.ok()) << status.last_error;
  EXPECT_EQ(status.failing_since, absl::InfiniteFuture());
  EXPECT_NE(status.last_success, absl::InfinitePast());
  EXPECT_FALSE(status.etag.empty());  // nginx's, for static files
  EXPECT_EQ(status.stats.downloads, 1u);
  EXPECT_EQ(status.stats.download_bytes, v1_bytes.size());
  // The last good bundle, on disk: the very bytes that were verified.
  EXPECT_EQ(ReadAll(dir_ + "/last-good.bundle"), v1_bytes);

  // Unchanged: nginx answers 304 to If-None-Match; nothing is parsed or
  // published again.
  EXPECT_EQ(poller->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(poller->PollOnce(), PollResult::kUnchanged);
  status = poller->status();
  EXPECT_EQ(status.stats.not_modified, 2u);
  EXPECT_EQ(status.stats.downloads, 1u);
  EXPECT_EQ(status.last_good.generation, 1u);

  // A new bundle: fetched, published as generation 2, cached.
  const std::shared_ptr<const CompiledPolicy> v2 = PolicyWithCredentials(5);
  const std::string v2_bytes = Signed(*v2, key_);
  nginx_->Put("policy.bundle", v2_bytes);
  EXPECT_EQ(poller->PollOnce(), PollResult::kPublished);
  status = poller->status();
  EXPECT_EQ(status.last_good.generation, 2u);
  EXPECT_EQ(store.info()->digest, DigestOf(*v2));
  EXPECT_EQ(ReadAll(dir_ + "/last-good.bundle"), v2_bytes);

  // The same policy signed again (new bytes, new ETag): no new generation.
  nginx_->Put("policy.bundle", Signed(*v2, key_));
  EXPECT_EQ(poller->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(poller->status().last_good.generation, 2u);
  EXPECT_EQ(poller->status().stats.downloads, 3u);
  EXPECT_TRUE(events_.size() == 2 && events_[0].ok() && events_[1].ok());
}

// Each way a poll can fail after a good publication: the store keeps the
// last good policy, and the status names the URL and the reason.
TEST_F(BundlePollerTest, RefusesWhatIsWrongAndKeepsTheLastGoodPolicy) {
  const std::shared_ptr<const CompiledPolicy> good = PolicyWithCredentials(4);
  const std::string good_bytes = Signed(*good, key_);
  const std::string url = nginx_->Url("policy.bundle");
  struct Case {
    std::string name;
    // Makes the server misbehave; returns the URL to poll.
    std::function<std::string()> arrange;
    absl::StatusCode code;
    std::string message;  // after "<url>: "
    PollResult result;
  };
  HangingServer hanging;
  TruncatingServer truncating;
  const std::string hanging_url =
      absl::StrCat("http://127.0.0.1:", hanging.port(), "/policy.bundle");
  const std::string truncating_url =
      absl::StrCat("http://127.0.0.1:", truncating.port(), "/policy.bundle");
  const std::string closed_url =
      absl::StrCat("http://127.0.0.1:", FreePort(), "/policy.bundle");
  const std::vector<Case> cases = {
      {"a server error",
       [&] {
         nginx_->Put("FAIL", "");
         return url;
       },
       absl::StatusCode::kUnavailable, "the server answered HTTP 500",
       PollResult::kFailed},
      {"a missing bundle", [&] { return nginx_->Url("missing.bundle"); },
       absl::StatusCode::kUnavailable, "the server answered HTTP 404",
       PollResult::kFailed},
      {"a redirect, with redirects off", [&] { return nginx_->Url("moved"); },
       absl::StatusCode::kUnavailable,
       "the server answered HTTP 302 (a redirect; max_redirects is 0)",
       PollResult::kFailed},
      {"a server that never answers", [&] { return hanging_url; },
       absl::StatusCode::kDeadlineExceeded,
       "no complete answer within the timeout (connect 2s, whole fetch "
       "500ms)",
       PollResult::kFailed},
      {"an answer cut short", [&] { return truncating_url; },
       absl::StatusCode::kDataLoss,
       "the answer was cut off before its announced length",
       PollResult::kFailed},
      {"nothing listening", [&] { return closed_url; },
       absl::StatusCode::kUnavailable, "cannot connect", PollResult::kFailed},
      {"a bundle signed by an unknown key",
       [&] {
         nginx_->Put("policy.bundle",
                     Signed(*PolicyWithCredentials(5), Key("k-stranger")));
         return url;
       },
       absl::StatusCode::kInvalidArgument,
       "the bundle is signed by unknown key \"k-stranger\" (known: "
       "\"k-ci\")",
       PollResult::kRejected},
      {"an unsigned bundle",
       [&] {
         absl::StatusOr<std::string> bytes =
             SerializeBundle(*PolicyWithCredentials(5));
         nginx_->Put("policy.bundle", *bytes);
         return url;
       },
       absl::StatusCode::kInvalidArgument,
       "the bundle is not signed, and verification keys are configured",
       PollResult::kRejected},
      {"a signed bundle whose header was edited",
       [&] {
         std::string bytes = Signed(*PolicyWithCredentials(5), key_);
         bytes[40] ^= 1;  // in the digest the signature covers
         nginx_->Put("policy.bundle", bytes);
         return url;
       },
       absl::StatusCode::kDataLoss,
       "signature mismatch: the bundle was modified after it was signed",
       PollResult::kRejected},
      {"a signed bundle whose body was edited",
       [&] {
         std::string bytes = Signed(*PolicyWithCredentials(5), key_);
         bytes[100] ^= 1;  // the signed digest no longer matches
         nginx_->Put("policy.bundle", bytes);
         return url;
       },
       absl::StatusCode::kDataLoss,
       "digest mismatch: the bundle is corrupted or was modified after it "
       "was written",
       PollResult::kRejected},
      {"garbage",
       [&] {
         nginx_->Put("policy.bundle", std::string("<html>maintenance</html>") +
                                          std::string(100, 'x'));
         return url;
       },
       absl::StatusCode::kInvalidArgument,
       "not a Portcullis bundle: wrong magic number", PollResult::kRejected},
      {"an empty policy",
       [&] {
         nginx_->Put("policy.bundle", Signed(*EmptyPolicy(), key_));
         return url;
       },
       absl::StatusCode::kFailedPrecondition,
       "the policy defines no role, entity or credential; an empty policy "
       "is refused unless BundlePollerOptions::allow_empty is set",
       PollResult::kRejected},
      {"a bundle removing most credentials",
       [&] {
         nginx_->Put("policy.bundle", Signed(*PolicyWithCredentials(1), key_));
         return url;
       },
       absl::StatusCode::kFailedPrecondition,
       "the new policy removes 3 of the 4 credentials published (75%), more "
       "than BundlePollerOptions::max_removed_share (50%) allows; nothing "
       "was published",
       PollResult::kRejected},
      {"a bundle over max_bundle_bytes",
       [&] {
         nginx_->Put("policy.bundle", Signed(*PolicyWithCredentials(5), key_) +
                                          std::string(64 << 10, '\0'));
         return url;
       },
       absl::StatusCode::kResourceExhausted,
       "the bundle is larger than max_bundle_bytes (32768 bytes); not "
       "downloaded",
       PollResult::kFailed},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::filesystem::remove(nginx_->root() + "/FAIL");
    nginx_->Put("policy.bundle", good_bytes);
    PolicyStore store;
    std::unique_ptr<BundlePoller> good_poller = Poller(&store, Options(url));
    ASSERT_EQ(good_poller->PollOnce(), PollResult::kPublished);
    good_poller.reset();

    const std::string bad_url = c.arrange();
    BundlePollerOptions options = Options(bad_url);
    options.max_bundle_bytes = 32 << 10;
    std::unique_ptr<BundlePoller> poller = Poller(&store, options);
    ASSERT_NE(poller, nullptr);
    // The poller serving the good policy is the one that must refuse: for
    // the servers nginx plays, the same URL; for the others, a poller over
    // the same store.
    events_.clear();
    const PollResult result = poller->PollOnce();
    EXPECT_EQ(result, c.result);
    const BundlePoller::Status status = poller->status();
    EXPECT_EQ(status.last_error.code(), c.code) << status.last_error;
    EXPECT_THAT(std::string(status.last_error.message()),
                HasSubstr(absl::StrCat(bad_url, ": ", c.message)));
    EXPECT_NE(status.failing_since, absl::InfiniteFuture());
    // Still the good policy, generation 1.
    ASSERT_TRUE(store.info().has_value());
    EXPECT_EQ(store.info()->generation, 1u);
    EXPECT_EQ(store.info()->digest, DigestOf(*good));
    EXPECT_EQ(ReadAll(dir_ + "/last-good.bundle"), good_bytes);
    // Told once, and not again while nothing changes.
    ASSERT_EQ(events_.size(), 1u);
    EXPECT_EQ(events_[0], status.last_error);
    (void)poller->PollOnce();
    EXPECT_EQ(events_.size(), 1u);
    EXPECT_NE(poller->status().failing_since, absl::InfiniteFuture());
  }
}

TEST_F(BundlePollerTest, ARefusedBundleStaysRefusedOnNotModified) {
  nginx_->Put("policy.bundle", Signed(*PolicyWithCredentials(4), key_));
  PolicyStore store;
  std::unique_ptr<BundlePoller> poller =
      Poller(&store, Options(nginx_->Url("policy.bundle")));
  ASSERT_EQ(poller->PollOnce(), PollResult::kPublished);
  nginx_->Put("policy.bundle",
              Signed(*PolicyWithCredentials(4), Key("k-stranger")));
  EXPECT_EQ(poller->PollOnce(), PollResult::kRejected);
  const absl::Time failing_since = poller->status().failing_since;
  // nginx now answers 304 to the refused bundle's ETag: still refused.
  EXPECT_EQ(poller->PollOnce(), PollResult::kRejected);
  const BundlePoller::Status status = poller->status();
  EXPECT_EQ(status.stats.not_modified, 1u);
  EXPECT_EQ(status.failing_since, failing_since);
  EXPECT_THAT(std::string(status.last_error.message()),
              HasSubstr("unknown key"));
  // The fix arrives: published, healthy again.
  nginx_->Put("policy.bundle", Signed(*PolicyWithCredentials(5), key_));
  EXPECT_EQ(poller->PollOnce(), PollResult::kPublished);
  EXPECT_TRUE(poller->status().last_error.ok());
  EXPECT_EQ(poller->status().failing_since, absl::InfiniteFuture());
}

TEST_F(BundlePollerTest, ARestartWithTheServerDownServesTheLastGoodBundle) {
  const std::shared_ptr<const CompiledPolicy> good = PolicyWithCredentials(4);
  nginx_->Put("policy.bundle", Signed(*good, key_));
  const std::string url = nginx_->Url("policy.bundle");
  {
    PolicyStore store;
    std::unique_ptr<BundlePoller> poller = Poller(&store, Options(url));
    ASSERT_EQ(poller->PollOnce(), PollResult::kPublished);
  }
  nginx_->Stop();

  // A new process: an empty store, the server down.
  PolicyStore store;
  std::unique_ptr<BundlePoller> poller = Poller(&store, Options(url));
  EXPECT_EQ(poller->PollOnce(), PollResult::kPublished);
  BundlePoller::Status status = poller->status();
  EXPECT_TRUE(status.published);
  EXPECT_TRUE(status.serving_cache);
  EXPECT_EQ(status.stats.cache_loads, 1u);
  EXPECT_EQ(store.info()->digest, DigestOf(*good));
  // The server's failure stays the error: the cache only bridges it.
  EXPECT_EQ(status.last_error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.last_error.message()),
              HasSubstr(absl::StrCat(url, ": cannot connect")));
  EXPECT_NE(status.failing_since, absl::InfiniteFuture());
  EXPECT_EQ(status.last_success, absl::InfinitePast());

  // The server is back with the same bundle: confirmed, not republished.
  nginx_ = Nginx::Start(dir_ + "/again");
  ASSERT_NE(nginx_, nullptr);
  nginx_->Put("policy.bundle", Signed(*good, key_));
  BundlePollerOptions options = Options(nginx_->Url("policy.bundle"));
  std::unique_ptr<BundlePoller> back = Poller(&store, options);
  EXPECT_EQ(back->PollOnce(), PollResult::kUnchanged);
  EXPECT_EQ(store.info()->generation, 1u);
  EXPECT_FALSE(back->status().serving_cache);
}

TEST_F(BundlePollerTest, ARestartFacingARefusedBundleServesTheLastGoodOne) {
  const std::shared_ptr<const CompiledPolicy> good = PolicyWithCredentials(4);
  nginx_->Put("policy.bundle", Signed(*good, key_));
  const std::string url = nginx_->Url("policy.bundle");
  {
    PolicyStore store;
    std::unique_ptr<BundlePoller> poller = Poller(&store, Options(url));
    ASSERT_EQ(poller->PollOnce(), PollResult::kPublished);
  }
  nginx_->Put("policy.bundle",
              Signed(*PolicyWithCredentials(5), Key("k-stranger")));
  PolicyStore store;
  std::unique_ptr<BundlePoller> poller = Poller(&store, Options(url));
  EXPECT_EQ(poller->PollOnce(), PollResult::kPublished);
  const BundlePoller::Status status = poller->status();
  EXPECT_TRUE(status.serving_cache);
  EXPECT_EQ(store.info()->digest, DigestOf(*good));
  EXPECT_THAT(std::string(status.last_error.message()),
              HasSubstr(absl::StrCat(url,
                                     ": the bundle is signed by unknown "
                                     "key \"k-stranger\"")));
  // Still refused on the next poll (a 304 to the refused bundle's ETag).
  EXPECT_EQ(poller->PollOnce(), PollResult::kRejected);
  EXPECT_EQ(store.info()->generation, 1u);
}

TEST_F(BundlePollerTest, ACacheFileNotSignedByAKnownKeyIsNotServed) {
  // Whoever can write the state directory cannot inject a policy: the
  // cache file is verified like a download.
  const std::string cache = dir_ + "/last-good.bundle";
  {
    std::ofstream out(cache, std::ios::binary);
    out << Signed(*PolicyWithCredentials(4), Key("k-stranger"));
  }
  PolicyStore store;
  BundlePollerOptions options =
      Options(absl::StrCat("http://127.0.0.1:", FreePort(), "/policy.bundle"));
  std::unique_ptr<BundlePoller> poller = Poller(&store, options);
  EXPECT_EQ(poller->PollOnce(), PollResult::kFailed);
  EXPECT_FALSE(store.info().has_value());
  const BundlePoller::Status status = poller->status();
  EXPECT_FALSE(status.published);
  EXPECT_THAT(std::string(status.cache_error.message()),
              HasSubstr(absl::StrCat(cache,
                                     ": the bundle is signed by "
                                     "unknown key \"k-stranger\"")));
  EXPECT_THAT(std::string(status.last_error.message()),
              HasSubstr("cannot connect"));
}

TEST_F(BundlePollerTest, FollowsRedirectsOnlyWhenAllowed) {
  nginx_->Put("policy.bundle", Signed(*PolicyWithCredentials(4), key_));
  PolicyStore store;
  BundlePollerOptions options = Options(nginx_->Url("moved"));
  options.max_redirects = 1;
  std::unique_ptr<BundlePoller> poller = Poller(&store, options);
  EXPECT_EQ(poller->PollOnce(), PollResult::kPublished);
}

TEST_F(BundlePollerTest, StartPollsUntilStopAndStopAbortsAHangingFetch) {
  nginx_->Put("policy.bundle", Signed(*PolicyWithCredentials(4), key_));
  PolicyStore store;
  BundlePollerOptions options = Options(nginx_->Url("policy.bundle"));
  options.min_delay = absl::Milliseconds(10);
  options.max_delay = absl::Milliseconds(30);
  std::unique_ptr<BundlePoller> poller = Poller(&store, options);
  ASSERT_EQ(poller->PollOnce(), PollResult::kPublished);
  poller->Start();
  nginx_->Put("policy.bundle", Signed(*PolicyWithCredentials(5), key_));
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (poller->status().last_good.generation < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(poller->status().last_good.generation, 2u);
  poller->Stop();

  // A fetch that would hang for a minute is aborted by Stop().
  HangingServer hanging;
  BundlePollerOptions slow = Options(
      absl::StrCat("http://127.0.0.1:", hanging.port(), "/policy.bundle"));
  slow.timeout = absl::Seconds(60);
  std::unique_ptr<BundlePoller> stuck = Poller(&store, slow);
  stuck->Start();
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time stop = absl::Now();
  stuck->Stop();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(30));
  EXPECT_EQ(stuck->status().last_error.code(), absl::StatusCode::kCancelled);
}

TEST(BundlePollerOptionsTest, RefusesBadOptions) {
  absl::StatusOr<Ed25519KeyPair> key = Ed25519KeyPair::Generate("k");
  ASSERT_TRUE(key.ok());
  struct Case {
    std::string name;
    std::function<void(BundlePollerOptions&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"no url", [](BundlePollerOptions& o) { o.url = ""; },
       "BundlePollerOptions::url: required"},
      {"not a url", [](BundlePollerOptions& o) { o.url = "bundles here"; },
       "BundlePollerOptions::url: \"bundles here\" is not a URL"},
      {"file scheme",
       [](BundlePollerOptions& o) { o.url = "file:///etc/passwd"; },
       "BundlePollerOptions::url: \"file:///etc/passwd\": the scheme must be "
       "http or https"},
      {"credentials",
       [](BundlePollerOptions& o) {
         o.url = "https://ci:hunter2@bundles.example.com/p.bundle";
       },
       "BundlePollerOptions::url: a user name or password in the URL is "
       "refused (it would be logged with the URL)"},
      {"no key", [](BundlePollerOptions& o) { o.verification_keys.clear(); },
       "BundlePollerOptions::verification_keys: at least one public key is "
       "required"},
      {"zero delay",
       [](BundlePollerOptions& o) { o.min_delay = absl::ZeroDuration(); },
       "BundlePollerOptions::min_delay: must be positive and finite; got 0"},
      {"min above max",
       [](BundlePollerOptions& o) { o.min_delay = absl::Seconds(40); },
       "BundlePollerOptions::min_delay (40s) is above max_delay (30s)"},
      {"backoff below max",
       [](BundlePollerOptions& o) { o.max_backoff = absl::Seconds(20); },
       "BundlePollerOptions::max_backoff (20s) is below max_delay (30s)"},
      {"no timeout",
       [](BundlePollerOptions& o) { o.timeout = absl::InfiniteDuration(); },
       "BundlePollerOptions::timeout: must be positive and finite; got inf"},
      {"zero size", [](BundlePollerOptions& o) { o.max_bundle_bytes = 0; },
       "BundlePollerOptions::max_bundle_bytes: must be positive"},
      {"redirects", [](BundlePollerOptions& o) { o.max_redirects = 21; },
       "BundlePollerOptions::max_redirects: must be within [0, 20]; got 21"},
      {"share", [](BundlePollerOptions& o) { o.max_removed_share = 1.5; },
       "BundlePollerOptions::max_removed_share: must be within [0, 1]; got "
       "1.5"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BundlePollerOptions options;
    options.url = "https://bundles.example.com/policy.bundle";
    options.verification_keys = {key->public_key()};
    c.change(options);
    PolicyStore store;
    absl::StatusOr<std::unique_ptr<BundlePoller>> poller =
        BundlePoller::Create(&store, options);
    ASSERT_FALSE(poller.ok());
    EXPECT_EQ(poller.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(poller.status().message()), HasSubstr(c.message));
  }
}

TEST(NextPollDelayTest, JittersWithinTheBoundsAndBacksOff) {
  BundlePollerOptions options;  // 10 s, 30 s, backoff up to 120 s
  absl::BitGen random;
  struct Bound {
    int failures;
    absl::Duration upper;
  };
  for (const Bound& b :
       {Bound{0, absl::Seconds(30)}, Bound{1, absl::Seconds(60)},
        Bound{2, absl::Seconds(120)}, Bound{50, absl::Seconds(120)}}) {
    SCOPED_TRACE(b.failures);
    absl::Duration low = absl::InfiniteDuration();
    absl::Duration high = absl::ZeroDuration();
    for (int i = 0; i < 2000; ++i) {
      const absl::Duration d = NextPollDelay(options, b.failures, random);
      ASSERT_GE(d, absl::Seconds(10));
      ASSERT_LE(d, b.upper);
      low = std::min(low, d);
      high = std::max(high, d);
    }
    // Spread over the range (2,000 uniform draws miss its outer tenths
    // with probability about 2e-92).
    const absl::Duration tenth = (b.upper - absl::Seconds(10)) / 10;
    EXPECT_LT(low, absl::Seconds(10) + tenth);
    EXPECT_GT(high, b.upper - tenth);
  }
}

}  // namespace
}  // namespace portcullis
