// POST /v1/check, GET /v1/permissions, decision logs and the metrics added
// with them, against a running server (test_http.h).
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/check_request.h"
#include "server/decision_log.h"
#include "tests/server/test_http.h"

namespace portcullis::server::testing {
namespace {

class DecisionApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions options;
    options.config =
        "decision_log { enabled: true }\n"
        "decision_api { max_batch_size: 5 }\n";
    test_ = TestServer::Start(options);
    ASSERT_NE(test_, nullptr);
  }

  Response Api(const std::string& method, const std::string& target,
               const std::string& headers, const std::string& body = "") {
    return test_->Send(method, target, headers, body);
  }

  Response Check(const std::string& token, const std::string& body,
                 const std::string& extra = "") {
    std::string headers =
        absl::StrCat("Content-Type: application/json\r\n", extra);
    if (!token.empty()) {
      absl::StrAppend(&headers, "Authorization: Bearer ", token, "\r\n");
    }
    return Api("POST", "/v1/check", headers, body);
  }

  Response Permissions(const std::string& token, const std::string& query) {
    return Api("GET", absl::StrCat("/v1/permissions", query),
               token.empty()
                   ? ""
                   : absl::StrCat("Authorization: Bearer ", token, "\r\n"));
  }

  std::unique_ptr<TestServer> test_;
};

TEST_F(DecisionApiTest, CheckAnswersInOrder) {
  const std::string token = test_->Token("monta-cp-reader");
  Response r = Check(token, R"({"requests":[
      {"object_type":"charge-points","action":"read","entity_id":"team-north"},
      {"object_type":"charge-points","action":"create","entity_id":"team-north"},
      {"object_type":"charge-points","action":"read","entity_id":"team-west"},
      {"object_type":"nope","action":"read","entity_id":"team-north"}]})");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(r.body(),
            "{\"decisions\":["
            "{\"decision\":\"allowed\",\"reason\":\"granted\"},"
            "{\"decision\":\"not_allowed\",\"reason\":\"scope\"},"
            "{\"decision\":\"not_allowed\",\"reason\":\"tenant\"},"
            "{\"decision\":\"not_allowed\",\"reason\":\"unknown_object_type\"}"
            "]}");
}

TEST_F(DecisionApiTest, CheckOwnershipWithResources) {
  const std::string token = test_->UserToken("u-anna");
  Response r = Check(token, R"({"requests":[
      {"object_type":"charges","action":"read","entity_id":"team-north"},
      {"object_type":"charges","action":"read","entity_id":"team-north",
       "resource":{"created_by":"u-anna"}},
      {"object_type":"charges","action":"read","entity_id":"team-north",
       "resource":{"created_by":"u-other"}}]})");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::vector<std::string> decisions = absl::StrSplit(r.body(), "},{");
  ASSERT_EQ(decisions.size(), 3u) << r.body();
  EXPECT_TRUE(absl::StrContains(decisions[0], "\"allowed_for_own\""));
  EXPECT_TRUE(absl::StrContains(decisions[1], "\"allowed\""));
  EXPECT_TRUE(absl::StrContains(decisions[2], "\"not_allowed\""));
  EXPECT_TRUE(absl::StrContains(decisions[2], "ownership"));
}

TEST_F(DecisionApiTest, CheckRejectsBadBodies) {
  const std::string token = test_->Token("monta-cp-reader");
  const std::string item =
      R"({"object_type":"charges","action":"read","entity_id":"team-north"})";
  struct Case {
    std::string body;
    std::string message;
  } cases[] = {
      {"{\"requests\":[{\"object_type\":\"a\",\"action\":\"b\",\"action\":"
       "\"c\",\"entity_id\":\"e\"}]}",
       "requests[0].action: appears more than once"},
      {absl::StrCat("{\"requests\":[", item,
                    ",{\"object_type\":\"a\",\"action\":\"b\",\"entity_id\":"
                    "\"e\",\"colour\":\"red\"}]}"),
       "requests[1].colour: unknown field"},
      {absl::StrCat("{\"requests\":[", item,
                    ",{\"object_type\":\"a\",\"action\":\"b\",\"entity_id\":"
                    "\"e\",\"resource\":{\"created_by\":7}}]}"),
       "requests[1].resource.created_by: expected a string"},
      {"{\"requests\":[{\"object_type\":\"a\",\"entity_id\":\"e\"}]}",
       "requests[0].action: missing"},
      {"{\"requests\":{}}", "requests: expected an array"},
      {"{\"requests\":[]}", "requests: must not be empty"},
      {"{}", "requests: missing"},
      {"{\"requests\":[1]}", "requests[0]: expected an object"},
      {"[", "malformed JSON"},
      {absl::StrCat("{\"requests\":[", item, ",", item, ",", item, ",", item,
                    ",", item, ",", item, "]}"),
       "requests: more than 5 requests"},
  };
  for (const Case& c : cases) {
    Response r = Check(token, c.body);
    EXPECT_EQ(r.result_int(), 400u) << c.body;
    EXPECT_TRUE(absl::StrContains(r.body(), c.message))
        << c.body << " -> " << r.body();
  }
  // Wrong content type, no token, a bad token, another method.
  Response r = Api("POST", "/v1/check",
                   absl::StrCat("Content-Type: text/plain\r\nAuthorization: "
                                "Bearer ",
                                token, "\r\n"),
                   "{}");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(Check("", absl::StrCat("{\"requests\":[", item, "]}")).result_int(),
            401u);
  EXPECT_EQ(Check("garbage", absl::StrCat("{\"requests\":[", item, "]}"))
                .result_int(),
            401u);
  EXPECT_EQ(Api("GET", "/v1/check", "").result_int(), 405u);
}

TEST_F(DecisionApiTest, PermissionsTable) {
  const std::string token = test_->Token("monta-cp-reader");
  Response r = Permissions(token, "?entity_id=team-north");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_TRUE(absl::StartsWith(
      r.body(),
      "{\"entity_id\":\"team-north\",\"principal\":\"client:monta-cp-reader\","
      "\"policy_generation\":1,\"permissions\":["))
      << r.body();
  EXPECT_TRUE(absl::StrContains(
      r.body(),
      "{\"object_type\":\"charge-points\",\"action\":\"read\",\"decision\":"
      "\"allowed\",\"reason\":\"granted\"}"))
      << r.body();
  EXPECT_TRUE(absl::StrContains(
      r.body(),
      "{\"object_type\":\"charge-points\",\"action\":\"create\",\"decision\":"
      "\"not_allowed\",\"reason\":\"scope\"}"))
      << r.body();
  // Another tenant's entity: every action denied by the tenant rule.
  r = Permissions(token, "?entity_id=team-west");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_FALSE(absl::StrContains(r.body(), "\"allowed\""));
  EXPECT_TRUE(absl::StrContains(r.body(), "\"tenant\""));

  EXPECT_EQ(Permissions(token, "").result_int(), 400u);
  EXPECT_EQ(Permissions(token, "?entity_id=").result_int(), 400u);
  EXPECT_EQ(Permissions(token, "?entity_id=team-north&entity_id=team-west")
                .result_int(),
            400u);
  EXPECT_EQ(Permissions(token, "?entity_id=team-north&x=1").result_int(), 400u);
  EXPECT_EQ(Permissions(token, "?entity_id=team-nowhere").result_int(), 400u);
  EXPECT_EQ(Permissions("", "?entity_id=team-north").result_int(), 401u);
}

TEST_F(DecisionApiTest, DecisionLogLinesAndNoSecrets) {
  const std::string token = test_->Token("monta-cp-reader");
  const std::string secret = test_->Secret("monta-cp-reader");
  Response r = Api("GET", "/v1/authorize",
                   absl::StrCat("X-Original-Method: GET\r\nX-Original-URI: "
                                "/charge-points?secret=x\r\nAuthorization: "
                                "Bearer ",
                                token,
                                "\r\nx-monite-entity-id: team-north\r\n"
                                "X-Request-Id: req-42\r\n"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  r = Api("GET", "/v1/authorize",
          "X-Original-Method: GET\r\nX-Original-URI: /charge-points\r\n"
          "Authorization: Bearer nonsense\r\n");
  ASSERT_EQ(r.result_int(), 401u);
  r = Check(token,
            R"({"requests":[{"object_type":"charge-points","action":"create",)"
            R"("entity_id":"team-north"}]})",
            "X-Request-Id: batch-7\r\n");
  ASSERT_EQ(r.result_int(), 200u);
  EXPECT_EQ(Header(r, "X-Request-Id"), "batch-7");

  DecisionLog* log = test_->server().service().decision_log();
  ASSERT_NE(log, nullptr);
  log->Flush();
  const std::string text = ReadFile(test_->dir() + "/state/decisions.log");
  const std::vector<std::string> lines =
      absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_TRUE(absl::StrContains(lines[0], "\"request_id\":\"req-42\""));
  EXPECT_TRUE(
      absl::StrContains(lines[0], "\"principal\":\"client:monta-cp-reader\""));
  EXPECT_TRUE(absl::StrContains(lines[0], "\"route\":\"GET /charge-points\""))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(
      lines[0],
      "\"object_type\":\"charge-points\",\"action\":\"read\",\"entity\":"
      "\"team-north\",\"decision\":\"allowed\",\"reason\":\"granted\","
      "\"policy_generation\":1,\"policy_digest\":\""))
      << lines[0];
  EXPECT_FALSE(absl::StrContains(lines[0], "\"policy_digest\":\"\""));
  EXPECT_TRUE(absl::StrContains(lines[1], "\"decision\":\"unauthenticated\""));
  EXPECT_TRUE(absl::StrContains(lines[1], "\"principal\":\"\""));
  EXPECT_TRUE(absl::StrContains(lines[2], "\"request_id\":\"batch-7\""));
  EXPECT_TRUE(absl::StrContains(lines[2], "\"route\":\"POST /v1/check\""));
  EXPECT_TRUE(absl::StrContains(lines[2], "\"reason\":\"scope\""));
  // Never a token or secret (nor the query that might carry one).
  EXPECT_FALSE(absl::StrContains(text, token));
  EXPECT_FALSE(absl::StrContains(text, secret));
  EXPECT_FALSE(absl::StrContains(text, "nonsense"));
  EXPECT_FALSE(absl::StrContains(text, "secret=x"));
}

TEST_F(DecisionApiTest, Metrics) {
  const std::string token = test_->Token("monta-cp-reader");
  ASSERT_EQ(test_->TokenAnswer("monta-cp-reader", "wrong").result_int(), 401u);
  for (int i = 0; i < 3; ++i) {
    Response r = Permissions(token, "?entity_id=team-north");
    ASSERT_EQ(r.result_int(), 200u);
  }
  const std::string text = Api("GET", "/metrics", "").body();
  EXPECT_TRUE(absl::StrContains(text, "portcullis_policy_info{digest=\""))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "generation=\"1\"} 1"));
  EXPECT_TRUE(absl::StrContains(
      text,
      "portcullis_authentication_failures_total{reason=\"malformed_"
      "secret\"} 1"))
      << text;
  EXPECT_TRUE(
      absl::StrContains(text, "portcullis_token_introspections_total 3"));
  EXPECT_TRUE(absl::StrContains(text, "portcullis_token_cache_hits_total"));
  EXPECT_TRUE(
      absl::StrContains(text, "portcullis_decision_log_dropped_total 0"));
  EXPECT_TRUE(absl::StrContains(text,
                                "portcullis_user_directory_reloads_total{"
                                "result=\"ok\"} 1"));
}

// A writer that cannot keep up: lines beyond the queue are dropped and
// counted, and Submit never waits.
TEST(DecisionLogTest, FloodedWriterDropsWithoutBlocking) {
  const std::string path = absl::StrCat(
      getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp", "/flood.log");
  DecisionLogSettings settings;
  settings.queue_size = 16;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto log = DecisionLog::Open(settings, path, [released] { released.wait(); });
  ASSERT_TRUE(log.ok()) << log.status();
  const auto start = std::chrono::steady_clock::now();
  size_t accepted = 0;
  for (int i = 0; i < 10000; ++i) {
    DecisionRecord record;
    record.request_id = absl::StrCat("r", i);
    accepted += (*log)->Submit(std::move(record)) ? 1 : 0;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  // At most the queue plus one batch taken by the blocked writer.
  EXPECT_LE(accepted, 32u);
  EXPECT_EQ((*log)->dropped(), 10000u - accepted);
  release.set_value();
  (*log)->Flush();
  EXPECT_EQ((*log)->written(), accepted);
  EXPECT_EQ(ReadFile(path).size() > 0, true);
}

TEST(DecisionLogTest, LineFormatAndRequestIds) {
  DecisionRecord record;
  record.time = absl::FromUnixMicros(1700000000123456);
  record.request_id = "r\"1";
  record.principal = "user:u-1";
  record.decision = "allowed";
  record.policy_generation = 3;
  EXPECT_EQ(DecisionLogLine(record),
            "{\"time\":\"2023-11-14T22:13:20.123456Z\",\"request_id\":"
            "\"r\\\"1\",\"principal\":\"user:u-1\",\"route\":\"\","
            "\"object_type\":\"\",\"action\":\"\",\"entity\":\"\","
            "\"decision\":\"allowed\",\"reason\":\"\",\"policy_generation\":3,"
            "\"policy_digest\":\"\"}\n");
  EXPECT_EQ(RequestIdOf("abc-1.2:3_4"), "abc-1.2:3_4");
  EXPECT_EQ(RequestIdOf("").size(), 32u);
  EXPECT_EQ(RequestIdOf("a b").size(), 32u);
  EXPECT_EQ(RequestIdOf(std::string(129, 'a')).size(), 32u);
  EXPECT_NE(RequestIdOf(""), RequestIdOf(""));
}

}  // namespace
}  // namespace portcullis::server::testing
