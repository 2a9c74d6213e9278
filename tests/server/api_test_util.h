// A running server for the tests of the decision API, decision logs, admin
// listener and user directory reloads: the Monta example in a temporary
// directory, decision logs on, an admin listener with a token file, and a
// small HTTP client (Beast) for both listeners.
#ifndef PORTCULLIS_TESTS_SERVER_API_TEST_UTIL_H_
#define PORTCULLIS_TESTS_SERVER_API_TEST_UTIL_H_

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/config.h"
#include "server/service.h"

namespace portcullis::server::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

using Answer = http::response<http::string_body>;

inline std::string FileText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void PutFile(const std::string& path, const std::string& text,
                    int mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

// The string value of `"name":"…"` in a JSON text (test helper only).
inline std::string JsonField(const std::string& json, const std::string& name) {
  const std::string key = absl::StrCat("\"", name, "\":\"");
  size_t start = json.find(key);
  if (start == std::string::npos) return "";
  start += key.size();
  return json.substr(start, json.find('"', start) - start);
}

inline constexpr char kAdminToken[] =
    "admin-token-0123456789abcdef0123456789abcdef";

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = absl::StrCat(
        getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp", "/apiXXXXXX");
    dir_ = mkdtemp(templ.data());
    PutFile(dir_ + "/policy.txtpb", FileText("examples/monta/policy.txtpb"),
            0644);
    PutFile(dir_ + "/token.key", std::string(64, 'a'), 0600);
    PutFile(dir_ + "/registry.key", std::string(64, 'b'), 0600);
    PutFile(dir_ + "/admin.token", absl::StrCat(kAdminToken, "\n"), 0600);
    PutFile(dir_ + "/users.txtpb",
            "users { id: \"u-anna\" entity: \"team-north\" }\n", 0644);
    PutFile(
        dir_ + "/server.txtpb",
        absl::StrCat(R"pb(
                       listen: "127.0.0.1:0"
                       policy {
                         files: "policy.txtpb"
                         quiet_period_zero: true
                         poll_interval_seconds: 1
                       }
                       user_directory_file: "users.txtpb"
                       keys {
                         token_key_file: "token.key"
                         registry_key_file: "registry.key"
                       }
                       tokens { oauth_token_format: "opaque" }
                       threads: 2
                       admin { listen: "127.0.0.1:0" token_file: "admin.token" }
                       routes {
                         routes {
                           method: "GET"
                           path: "/charge-points"
                           object_type: "charge-points"
                           action: "read"
                         }
                         routes {
                           method: "POST"
                           path: "/charge-points"
                           object_type: "charge-points"
                           action: "create"
                         }
                       }
                     )pb",
                     ExtraConfig()),
        0644);
    absl::StatusOr<ServerSettings> settings =
        LoadServerConfig(dir_ + "/server.txtpb");
    ASSERT_TRUE(settings.ok()) << settings.status();
    settings->log_level = LogLevel::kError;
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(std::move(*settings));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    port_ = server_->endpoints()[0].port();
    admin_port_ = server_->admin_endpoint().port();
  }

  // Appended to the configuration.
  virtual std::string ExtraConfig() {
    return "decision_log { enabled: true }\n";
  }

  static Answer Exchange(unsigned short port, const std::string& method,
                         const std::string& target, const std::string& headers,
                         const std::string& body = "") {
    net::io_context ioc;
    net::ip::tcp::socket socket(ioc);
    socket.connect(
        net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    net::write(socket,
               net::buffer(absl::StrCat(
                   method, " ", target,
                   " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n", headers,
                   "Content-Length: ", body.size(), "\r\n\r\n", body)));
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 24);
    beast::error_code ec;
    http::read(socket, buffer, parser, ec);
    EXPECT_FALSE(ec) << ec.message();
    return parser.release();
  }

  Answer Api(const std::string& method, const std::string& target,
             const std::string& headers, const std::string& body = "") {
    return Exchange(port_, method, target, headers, body);
  }

  Answer Admin(const std::string& method, const std::string& target,
               const std::string& token = kAdminToken) {
    return Exchange(admin_port_, method, target,
                    absl::StrCat("Authorization: Bearer ", token, "\r\n"));
  }

  // client_credentials with Monta's camelCase body: the answer.
  Answer TokenAnswer(const std::string& client, const std::string& secret) {
    return Api("POST", "/auth/token", "Content-Type: application/json\r\n",
               absl::StrCat("{\"clientId\":\"", client,
                            "\",\"clientSecret\":\"", secret, "\"}"));
  }

  // Registers `client` directly and returns an access token of it.
  std::string ClientToken(const std::string& client) {
    if (secrets_.count(client) == 0) {
      absl::StatusOr<std::string> secret =
          server_->service().registry().RegisterClient(client, "");
      EXPECT_TRUE(secret.ok()) << secret.status();
      secrets_[client] = secret.value_or("");
    }
    Answer r = TokenAnswer(client, secrets_[client]);
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    return JsonField(r.body(), "accessToken");
  }

  // An entity_user token of `user` through monta-member-app.
  std::string UserToken(const std::string& user) {
    ClientToken("monta-member-app");
    Answer r = Api(
        "POST", "/auth/token", "Content-Type: application/json\r\n",
        absl::StrCat("{\"grant_type\":\"entity_user\",\"client_id\":\"monta-"
                     "member-app\",\"client_secret\":\"",
                     secrets_["monta-member-app"], "\",\"entity_user_id\":\"",
                     user, "\"}"));
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    return JsonField(r.body(), "access_token");
  }

  static std::string H(const Answer& r, const std::string& name) {
    auto it = r.find(name);
    return it == r.end() ? "" : std::string(it->value());
  }

  std::string dir_;
  std::unique_ptr<Server> server_;
  unsigned short port_ = 0;
  unsigned short admin_port_ = 0;
  std::map<std::string, std::string> secrets_;
};

}  // namespace portcullis::server::testing

#endif  // PORTCULLIS_TESTS_SERVER_API_TEST_UTIL_H_
