// `portcullis serve` with its policy from a bundle server (policy.bundle_url):
// nginx serves signed bundles of the Monta example; the server publishes the
// first, follows a change (a decision changes), refuses a bundle signed by a
// stranger while serving on, reports all of it on /readyz and /metrics, and
// after a restart with nginx stopped serves the last good bundle from its
// state directory (a token issued before still authorizes).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "engine/auth/jwt.h"
#include "engine/common/ed25519_key.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/bundle_server.h"
#include "tests/server/test_http.h"

namespace portcullis::server::testing {
namespace {

using ::portcullis::test_bundle_server::Nginx;
using ::testing::HasSubstr;
using ::testing::Not;

std::string SignedBundle(const std::string& policy_text,
                         std::shared_ptr<const Ed25519KeyPair> key) {
  absl::StatusOr<::portcullis::v1::PolicySet> set =
      ParsePolicyText(policy_text);
  EXPECT_TRUE(set.ok()) << set.status();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(*set);
  EXPECT_TRUE(policy.ok()) << policy.status();
  BundleOptions options;
  options.signing_key = std::move(key);
  absl::StatusOr<std::string> bytes = SerializeBundle(**policy, options);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *bytes;
}

std::shared_ptr<const Ed25519KeyPair> Key(const std::string& kid) {
  absl::StatusOr<Ed25519KeyPair> key = Ed25519KeyPair::Generate(kid);
  EXPECT_TRUE(key.ok()) << key.status();
  return std::make_shared<const Ed25519KeyPair>(*std::move(key));
}

// Polls `server`'s /readyz until its body has `text` (10 s at most).
Response WaitForReadyz(TestServer& server, const std::string& text) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  Response r;
  do {
    r = server.Send("GET", "/readyz", "");
    if (r.body().find(text) != std::string::npos) return r;
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < deadline);
  ADD_FAILURE() << "/readyz never said \"" << text << "\"; last:\n" << r.body();
  return r;
}

TEST(BundleServeTest, ServesFollowsRefusesAndRestartsFromTheLastGoodBundle) {
  const std::string dir = MakeTempDir();
  std::unique_ptr<Nginx> nginx = Nginx::Start(dir);
  ASSERT_NE(nginx, nullptr);
  const std::shared_ptr<const Ed25519KeyPair> key = Key("k-ci");

  // Version A: monta-cp-reader may read charge points only (POST: 403).
  // Version B: it may write them too (POST: 200).
  const std::string a = MontaPolicy(100000000);
  const std::string b = absl::StrReplaceAll(
      a, {{"scopes: \"charge-points:read\"\n  rate_limit",
           "scopes: \"charge-points:write\"\n  rate_limit"}});
  ASSERT_NE(a, b);
  nginx->Put("policy.bundle", SignedBundle(a, key));
  const std::string url = nginx->Url("policy.bundle");

  TestServerOptions options;
  options.policy_source = absl::StrCat(
      "bundle_url: \"", url,
      "\" bundle_public_key_files: \"bundle.jwk.pub\" "
      "min_poll_delay_ms: 20 max_poll_delay_ms: 50 max_backoff_ms: 100 "
      "connect_timeout_ms: 1000 fetch_timeout_ms: 2000");
  options.files["bundle.jwk.pub"] = auth::PublicKeyToJwk(key->public_key());
  std::unique_ptr<TestServer> server = TestServer::Start(options);
  ASSERT_NE(server, nullptr);

  Response ready = server->Send("GET", "/readyz", "");
  EXPECT_EQ(ready.result_int(), 200u);
  EXPECT_THAT(ready.body(),
              HasSubstr(absl::StrCat("ready\nbundle server: ", url,
                                     "\npolicy: "
                                     "generation 1")));
  EXPECT_THAT(ready.body(), Not(HasSubstr("failing")));

  const std::string token = server->Token("monta-cp-reader");
  ASSERT_FALSE(token.empty());
  auto authorize = [&](TestServer& s) {
    return s
        .Send("GET", "/v1/authorize",
              absl::StrCat("Authorization: Bearer ", token,
                           "\r\nx-monite-entity-id: team-north\r\n"
                           "X-Original-URI: /charge-points\r\n"
                           "X-Original-Method: POST\r\n"))
        .result_int();
  };
  EXPECT_EQ(authorize(*server), 403u);

  // Version B on the bundle server: picked up within a few polls.
  nginx->Put("policy.bundle", SignedBundle(b, key));
  WaitForReadyz(*server, "policy: generation 2");
  EXPECT_EQ(authorize(*server), 200u);

  // A bundle signed by a stranger: refused, version B serves on, and
  // /readyz and /metrics say so (ready still: the last good policy).
  nginx->Put("policy.bundle", SignedBundle(a, Key("k-stranger")));
  Response failing = WaitForReadyz(*server, "failing since");
  EXPECT_EQ(failing.result_int(), 200u);
  EXPECT_THAT(failing.body(),
              HasSubstr(absl::StrCat(url,
                                     ": the bundle is signed by unknown key "
                                     "\"k-stranger\" (known: \"k-ci\")")));
  EXPECT_THAT(failing.body(), HasSubstr("policy: generation 2"));
  EXPECT_EQ(authorize(*server), 200u);
  const std::string metrics = server->Send("GET", "/metrics", "").body();
  EXPECT_THAT(metrics,
              HasSubstr("\nportcullis_policy_bundle_rejected_total 1"));
  EXPECT_THAT(metrics,
              HasSubstr("\nportcullis_policy_bundle_downloads_total "));
  EXPECT_THAT(metrics, HasSubstr("\nportcullis_policy_bundle_serving_cache 0"));
  EXPECT_THAT(metrics, Not(HasSubstr("\nportcullis_policy_bundle_failing_since_"
                                     "timestamp_seconds 0\n")));

  // Restart with the bundle server down: the last good bundle (B) serves
  // at once, and the token issued before still authorizes.
  ASSERT_TRUE(server->Stop());
  nginx->Stop();
  ASSERT_TRUE(server->Restart());
  ready = server->Send("GET", "/readyz", "");
  EXPECT_EQ(ready.result_int(), 200u);
  EXPECT_THAT(ready.body(), HasSubstr("generation 1, digest "));
  EXPECT_THAT(ready.body(), HasSubstr("(the last good bundle on disk)"));
  EXPECT_THAT(ready.body(), HasSubstr(absl::StrCat(url, ": cannot connect")));
  EXPECT_EQ(authorize(*server), 200u);
  EXPECT_THAT(server->Send("GET", "/metrics", "").body(),
              HasSubstr("\nportcullis_policy_bundle_serving_cache 1"));
}

TEST(BundleServeTest, StartsNotReadyWithoutServerAndCacheThenCatchesUp) {
  const std::string dir = MakeTempDir();
  const std::shared_ptr<const Ed25519KeyPair> key = Key("k-ci");
  // The port nginx will listen on, nothing there yet.
  std::unique_ptr<Nginx> nginx = Nginx::Start(dir);
  ASSERT_NE(nginx, nullptr);
  const std::string url = nginx->Url("policy.bundle");  // 404 for now
  TestServerOptions options;
  options.policy_source = absl::StrCat(
      "bundle_url: \"", url,
      "\" bundle_public_key_files: \"bundle.jwk.pub\" "
      "min_poll_delay_ms: 20 max_poll_delay_ms: 50 max_backoff_ms: 100");
  options.files["bundle.jwk.pub"] = auth::PublicKeyToJwk(key->public_key());
  std::unique_ptr<TestServer> server = TestServer::Start(options);
  ASSERT_NE(server, nullptr);
  Response r = server->Send("GET", "/readyz", "");
  EXPECT_EQ(r.result_int(), 503u);
  EXPECT_THAT(r.body(), HasSubstr(absl::StrCat(
                            "not ready: no policy published yet: ", url,
                            ": the server answered HTTP 404")));
  nginx->Put("policy.bundle", SignedBundle(MontaPolicy(1000), key));
  r = WaitForReadyz(*server, "policy: generation 1");
  EXPECT_EQ(r.result_int(), 200u);
}

// policy.bundle (a file) with bundle_public_key_files: only a bundle signed
// by one of the keys loads.
TEST(BundleServeTest, ABundleFileMustBeSignedByAConfiguredKey) {
  const std::shared_ptr<const Ed25519KeyPair> key = Key("k-ci");
  TestServerOptions options;
  options.policy_source =
      "bundle: \"policy.bundle\" bundle_public_key_files: \"bundle.jwk.pub\" "
      "quiet_period_zero: true";
  options.files["bundle.jwk.pub"] = auth::PublicKeyToJwk(key->public_key());
  options.files["policy.bundle"] = SignedBundle(MontaPolicy(1000), key);
  std::unique_ptr<TestServer> server = TestServer::Start(options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->Send("GET", "/readyz", "").result_int(), 200u);
  ASSERT_TRUE(server->Stop());

  WriteFileAtomically(server->dir() + "/policy.bundle",
                      SignedBundle(MontaPolicy(1000), Key("k-stranger")));
  absl::StatusOr<ServerSettings> settings =
      LoadServerConfig(server->dir() + "/server.txtpb");
  ASSERT_TRUE(settings.ok()) << settings.status();
  settings->log_level = LogLevel::kError;
  absl::StatusOr<std::unique_ptr<Server>> refused =
      Server::Start(*std::move(settings));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("policy.bundle: the bundle is signed by unknown key "
                        "\"k-stranger\" (known: \"k-ci\")"));
}

}  // namespace
}  // namespace portcullis::server::testing
