// The admin listener and `portcullis clients` over real HTTP: changes take
// effect at /auth/token at once, without a restart; a bad admin token is
// refused; no secret in a list, an error or the log.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/test_http.h"
#include "tools/cli/command.h"

namespace portcullis::server::testing {
namespace {

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions options;
    options.admin = true;
    options.config = "decision_log { enabled: true }\n";
    test_ = TestServer::Start(options);
    ASSERT_NE(test_, nullptr);
    dir_ = test_->dir();
    admin_port_ = test_->admin_port();
  }

  Response Api(const std::string& method, const std::string& target,
               const std::string& headers, const std::string& body = "") {
    return test_->Send(method, target, headers, body);
  }

  Response Admin(const std::string& method, const std::string& target,
                 const std::string& token = kAdminToken) {
    return test_->Admin(method, target, token);
  }

  // client_credentials with `secret`: the status.
  unsigned TokenStatus(const std::string& client, const std::string& secret) {
    return test_->TokenAnswer(client, secret).result_int();
  }

  // Runs `portcullis clients ...` in-process: exit code and stdout.
  std::pair<int, std::string> Cli(std::vector<std::string> args) {
    args.insert(args.begin(), "clients");
    args.push_back("--server");
    args.push_back(absl::StrCat("http://127.0.0.1:", admin_port_));
    args.push_back("--admin-token-file");
    args.push_back(dir_ + "/admin.token");
    ::testing::internal::CaptureStdout();
    const int code = cli::RunTool(args);
    std::fflush(stdout);
    return {code, ::testing::internal::GetCapturedStdout()};
  }

  std::unique_ptr<TestServer> test_;
  std::string dir_;
  unsigned short admin_port_ = 0;
};

TEST_F(AdminTest, ClientLifecycleWithoutRestart) {
  const std::string client = "monta-cp-reader";
  Response r = Admin("POST", "/admin/clients/monta-cp-reader");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(Header(r, "Cache-Control"), "no-store");
  const std::string first = JsonField(r.body(), "client_secret");
  ASSERT_FALSE(first.empty()) << r.body();
  EXPECT_EQ(JsonField(r.body(), "state"), "active");
  EXPECT_EQ(TokenStatus(client, first), 200u);
  // Registering again is a conflict, not a second secret.
  r = Admin("POST", "/admin/clients/monta-cp-reader");
  EXPECT_EQ(r.result_int(), 409u);
  EXPECT_TRUE(JsonField(r.body(), "client_secret").empty());

  // Rotate: the old secret is refused, the new one works.
  r = Admin("POST", "/admin/clients/monta-cp-reader/rotate");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::string second = JsonField(r.body(), "client_secret");
  ASSERT_FALSE(second.empty());
  EXPECT_NE(first, second);
  EXPECT_EQ(TokenStatus(client, first), 401u);
  Response issued = test_->TokenAnswer(client, second);
  ASSERT_EQ(issued.result_int(), 200u);
  const std::string access = JsonField(issued.body(), "accessToken");
  auto authorize = [&] {
    return Api("GET", "/v1/authorize",
               absl::StrCat("X-Original-Method: GET\r\nX-Original-URI: "
                            "/charge-points\r\nx-monite-entity-id: "
                            "team-north\r\nAuthorization: Bearer ",
                            access, "\r\n"))
        .result_int();
  };
  EXPECT_EQ(authorize(), 200u);

  // Suspend: no new tokens, the issued ones refused; resume lifts it.
  r = Admin("POST", "/admin/clients/monta-cp-reader/suspend");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(JsonField(r.body(), "state"), "suspended");
  EXPECT_EQ(TokenStatus(client, second), 401u);
  EXPECT_EQ(authorize(), 401u);
  r = Admin("POST", "/admin/clients/monta-cp-reader/resume");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(TokenStatus(client, second), 200u);
  EXPECT_EQ(authorize(), 200u);

  // The list: states, never a secret.
  r = Admin("GET", "/admin/clients");
  ASSERT_EQ(r.result_int(), 200u);
  EXPECT_TRUE(absl::StrContains(
      r.body(), "{\"client_id\":\"monta-cp-reader\",\"state\":\"active\""))
      << r.body();
  EXPECT_FALSE(absl::StrContains(r.body(), second));
  EXPECT_FALSE(absl::StrContains(r.body(), "secret"));

  // Remove: refused for good, tokens included.
  r = Admin("DELETE", "/admin/clients/monta-cp-reader");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(TokenStatus(client, second), 401u);
  EXPECT_EQ(authorize(), 401u);
  EXPECT_EQ(Admin("POST", "/admin/clients/monta-cp-reader/rotate").result_int(),
            409u);

  // Unknown clients and routes.
  EXPECT_EQ(Admin("POST", "/admin/clients/nobody").result_int(), 404u);
  EXPECT_EQ(Admin("POST", "/admin/clients/nobody/explode").result_int(), 404u);
  EXPECT_EQ(Admin("GET", "/admin/clients/monta-cp-reader").result_int(), 405u);
  EXPECT_EQ(Admin("POST", "/admin/clients/%zz").result_int(), 400u);

  // The change was saved: the sealed export exists.
  EXPECT_FALSE(ReadFile(dir_ + "/state/clients.sealed").empty());
}

TEST_F(AdminTest, BadAdminTokenIsRefused) {
  for (const std::string& token :
       {std::string("wrong"), std::string(kAdminToken) + "x",
        std::string(kAdminToken).substr(1), std::string()}) {
    Response r = Admin("POST", "/admin/clients/monta-cp-reader", token);
    EXPECT_EQ(r.result_int(), 401u) << token;
    EXPECT_FALSE(absl::StrContains(r.body(), "secret"));
  }
  Response r = Exchange(admin_port_, "GET", "/admin/clients", "");
  EXPECT_EQ(r.result_int(), 401u);
  r = Exchange(admin_port_, "GET", "/admin/clients",
               absl::StrCat("Authorization: Basic ", kAdminToken, "\r\n"));
  EXPECT_EQ(r.result_int(), 401u);
  // Nothing was registered.
  EXPECT_EQ(test_->server().service().registry().Find("monta-cp-reader")->state,
            auth::ClientState::kUnregistered);
  // The admin routes are not on the public listener.
  EXPECT_EQ(Api("GET", "/admin/clients",
                absl::StrCat("Authorization: Bearer ", kAdminToken, "\r\n"))
                .result_int(),
            404u);
  const std::string metrics = Api("GET", "/metrics", "").body();
  EXPECT_TRUE(
      absl::StrContains(metrics, "portcullis_admin_auth_failures_total 6"))
      << metrics;
}

TEST_F(AdminTest, CliCommands) {
  auto [code, out] = Cli({"add", "monta-full-access"});
  ASSERT_EQ(code, 0) << out;
  const std::string secret = JsonField(out, "client_secret");
  ASSERT_FALSE(secret.empty()) << out;
  EXPECT_EQ(TokenStatus("monta-full-access", secret), 200u);

  std::tie(code, out) = Cli({"rotate", "monta-full-access"});
  ASSERT_EQ(code, 0) << out;
  const std::string rotated = JsonField(out, "client_secret");
  EXPECT_EQ(TokenStatus("monta-full-access", secret), 401u);
  EXPECT_EQ(TokenStatus("monta-full-access", rotated), 200u);

  std::tie(code, out) = Cli({"suspend", "monta-full-access"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(TokenStatus("monta-full-access", rotated), 401u);
  std::tie(code, out) = Cli({"resume", "monta-full-access"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(TokenStatus("monta-full-access", rotated), 200u);

  std::tie(code, out) = Cli({"list"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "\"monta-full-access\""));
  EXPECT_FALSE(absl::StrContains(out, rotated));

  std::tie(code, out) = Cli({"remove", "monta-full-access"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(TokenStatus("monta-full-access", rotated), 401u);

  // Refusals: exit 1; usage errors: exit 2.
  std::tie(code, out) = Cli({"add", "nobody"});
  EXPECT_EQ(code, 1);
  EXPECT_EQ(Cli({"explode", "x"}).first, 2);
  EXPECT_EQ(Cli({"add"}).first, 2);
  WriteFileAtomically(dir_ + "/wrong.token", "not-the-admin-token\n");
  chmod((dir_ + "/wrong.token").c_str(), 0600);
  ::testing::internal::CaptureStdout();
  code = cli::RunTool({"clients", "add", "monta-cp-reader", "--server",
                       absl::StrCat("http://127.0.0.1:", admin_port_),
                       "--admin-token-file", dir_ + "/wrong.token"});
  ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 1);
}

// The user directory file is reloaded: a good change is applied, a bad file
// keeps the last good directory, both counted.
TEST_F(AdminTest, UserDirectoryReload) {
  test_->Token("monta-member-app");
  auto user_token = [&](const std::string& user) {
    return Api("POST", "/auth/token", "Content-Type: application/json\r\n",
               absl::StrCat("{\"grant_type\":\"entity_user\",\"client_id\":"
                            "\"monta-member-app\",\"client_secret\":\"",
                            test_->Secret("monta-member-app"),
                            "\",\"entity_user_id\":\"", user, "\"}"))
        .result_int();
  };
  EXPECT_EQ(user_token("u-anna"), 200u);
  EXPECT_EQ(user_token("u-bo"), 400u);
  UserDirectoryReloader* reloader = test_->server().service().user_reloader();
  ASSERT_NE(reloader, nullptr);
  WriteFileAtomically(dir_ + "/users.txtpb",
                      "users { id: \"u-bo\" entity: \"team-north\" }\n");
  EXPECT_TRUE(reloader->PollOnce().ok());
  EXPECT_EQ(user_token("u-bo"), 200u);
  EXPECT_EQ(user_token("u-anna"), 400u);  // removed
  // A bad file: the last good directory stays.
  WriteFileAtomically(dir_ + "/users.txtpb",
                      "users { id: \"u-cy\" entity: \"team-north\" }\n"
                      "users { id: \"u-cy\" entity: \"team-north\" }\n");
  EXPECT_FALSE(reloader->PollOnce().ok());
  EXPECT_EQ(user_token("u-bo"), 200u);
  EXPECT_EQ(user_token("u-cy"), 400u);
  const std::string metrics = Api("GET", "/metrics", "").body();
  EXPECT_TRUE(absl::StrContains(
      metrics, "portcullis_user_directory_reloads_total{result=\"failed\"} 1"))
      << metrics;
  EXPECT_TRUE(absl::StrContains(
      metrics, "portcullis_user_directory_reloads_total{result=\"ok\"} 2"));
  EXPECT_TRUE(absl::StrContains(metrics, "portcullis_user_directory_users 1"));
  // The watcher thread picks a change up by itself (poll interval 1 s).
  WriteFileAtomically(dir_ + "/users.txtpb",
                      "users { id: \"u-dee\" entity: \"team-north\" }\n");
  unsigned status = 0;
  for (int i = 0; i < 50 && status != 200u; ++i) {
    usleep(100 * 1000);
    status = user_token("u-dee");
  }
  EXPECT_EQ(status, 200u);
}

}  // namespace
}  // namespace portcullis::server::testing
