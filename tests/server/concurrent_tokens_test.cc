// Tokens issued and revoked over HTTP from several connections at once (run
// under tsan by CI): every issued token authorizes until its revocation is
// answered, and never after, whatever the interleaving with the other
// threads' issues and revocations. Bounded: a fixed number of rounds.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/test_http.h"

namespace portcullis::server::testing {
namespace {

constexpr int kThreads = 4;
constexpr int kRounds = 40;

TEST(ConcurrentTokensTest, IssueAuthorizeRevokeFromManyConnections) {
  std::unique_ptr<TestServer> server =
      TestServer::Start(MontaPolicy(100000000), "");
  ASSERT_NE(server, nullptr);
  const std::string client = "monta-cp-reader";
  const std::string secret = server->Secret(client);
  ASSERT_FALSE(secret.empty());

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      HttpClient http(server->port());
      auto authorize = [&](const std::string& token) {
        return http
            .Send("GET", "/v1/authorize",
                  absl::StrCat("Authorization: Bearer ", token,
                               "\r\nx-monite-entity-id: team-north\r\n"
                               "X-Original-Method: GET\r\n"
                               "X-Original-URI: /charge-points\r\n"))
            .result_int();
      };
      for (int i = 0; i < kRounds; ++i) {
        const Response issued = http.Send(
            "POST", "/auth/token", "Content-Type: application/json\r\n",
            absl::StrCat("{\"clientId\":\"", client, "\",\"clientSecret\":\"",
                         secret, "\"}"));
        const std::string token = JsonField(issued.body(), "accessToken");
        if (issued.result_int() != 200 || token.empty()) {
          ++wrong;
          continue;
        }
        if (authorize(token) != 200) ++wrong;
        const Response revoked = http.Send(
            "POST", "/auth/revoke", "Content-Type: application/json\r\n",
            absl::StrCat("{\"client_id\":\"", client, "\",\"client_secret\":\"",
                         secret, "\",\"token\":\"", token, "\"}"));
        if (revoked.result_int() != 200) ++wrong;
        if (authorize(token) != 401) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace portcullis::server::testing
