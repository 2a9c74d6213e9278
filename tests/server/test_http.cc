#include "tests/server/test_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "server/config.h"

namespace portcullis::server::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp);
    out << text;
  }
  ASSERT_EQ(rename(temp.c_str(), path.c_str()), 0) << path;
}

std::string MakeTempDir() {
  std::string templ = absl::StrCat(
      getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp", "/srvXXXXXX");
  return mkdtemp(templ.data());
}

std::string JsonField(const std::string& json, const std::string& name) {
  const std::string key = absl::StrCat("\"", name, "\":\"");
  size_t start = json.find(key);
  if (start == std::string::npos) return "";
  start += key.size();
  return json.substr(start, json.find('"', start) - start);
}

std::string MontaPolicy(int count) {
  std::string policy = ReadFile("examples/monta/policy.txtpb");
  EXPECT_NE(policy.find("count: 1000 "), std::string::npos);
  return absl::StrReplaceAll(
      policy, {{"count: 1000 ", absl::StrCat("count: ", count, " ")}});
}

std::string Header(const Response& response, const std::string& name) {
  auto it = response.find(name);
  return it == response.end() ? "" : std::string(it->value());
}

std::unique_ptr<TestServer> TestServer::Start(
    const TestServerOptions& options) {
  auto test = std::unique_ptr<TestServer>(new TestServer());
  test->dir_ = MakeTempDir();
  const std::string& dir = test->dir_;
  std::map<std::string, std::string> files = options.files;
  files["token.key"] = std::string(64, 'a');
  files["registry.key"] = std::string(64, 'b');
  if (options.admin) files["admin.token"] = absl::StrCat(kAdminToken, "\n");
  for (const auto& [name, text] : files) {
    WriteFileAtomically(dir + "/" + name, text);
    chmod((dir + "/" + name).c_str(), 0600);
  }
  WriteFileAtomically(dir + "/policy.txtpb",
                      options.policy.empty()
                          ? ReadFile("examples/monta/policy.txtpb")
                          : options.policy);
  WriteFileAtomically(dir + "/users.txtpb", options.users);
  WriteFileAtomically(dir + "/server.txtpb",
                      absl::StrCat(
                          R"pb(
                            listen: "127.0.0.1:0" policy {
                          )pb",
                          options.policy_source.empty()
                              ? "files: \"policy.txtpb\" quiet_period_zero: "
                                "true poll_interval_seconds: 1"
                              : options.policy_source,
                          R"pb(
                            }
                            user_directory_file: "users.txtpb"
                            keys { token_key_file: "token.key"
                                   registry_key_file: "registry.key"
                          )pb",
                          options.keys, "}\n", options.tokens, R"pb(
                            threads: 2
                            routes { routes {
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
                                     routes {
                                       method: "DELETE"
                                       path: "/charge-points/{id}"
                                       object_type: "charge-points"
                                       action: "delete"
                                     }
                                     routes {
                                       method: "GET"
                                       path: "/charges"
                                       object_type: "charges"
                                       action: "read"
                                     }
                          )pb",
                          options.routes, "}\n",
                          options.admin ? "admin { listen: \"127.0.0.1:0\" "
                                          "token_file: \"admin.token\" }\n"
                                        : "",
                          options.config));
  if (!test->Launch()) return nullptr;
  return test;
}

std::unique_ptr<TestServer> TestServer::Start(const std::string& policy,
                                              const std::string& extra_config) {
  TestServerOptions options;
  options.policy = policy;
  options.config = extra_config;
  return Start(options);
}

bool TestServer::Launch() {
  absl::StatusOr<ServerSettings> settings =
      LoadServerConfig(dir_ + "/server.txtpb");
  EXPECT_TRUE(settings.ok()) << settings.status();
  if (!settings.ok()) return false;
  settings->log_level = LogLevel::kError;
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(std::move(*settings));
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return false;
  server_ = std::move(*server);
  port_ = server_->endpoints()[0].port();
  admin_port_ = server_->admin_endpoint().port();
  EXPECT_NE(port_, 0);
  return port_ != 0;
}

TestServer::~TestServer() {
  if (server_ != nullptr) {
    EXPECT_TRUE(server_->Shutdown().ok());
  }
}

bool TestServer::Stop() {
  const absl::Status status = server_->Shutdown();
  EXPECT_TRUE(status.ok()) << status;
  server_.reset();
  return status.ok();
}

bool TestServer::Restart() {
  if (server_ != nullptr && !Stop()) return false;
  return Launch();
}

std::string TestServer::Secret(const std::string& client) {
  auto it = secrets_.find(client);
  if (it != secrets_.end()) return it->second;
  absl::StatusOr<std::string> secret =
      server_->service().registry().RegisterClient(client, "");
  EXPECT_TRUE(secret.ok()) << secret.status();
  if (!secret.ok()) return "";
  secrets_[client] = *secret;
  return *secret;
}

Response TestServer::TokenAnswer(const std::string& client,
                                 const std::string& secret) {
  return Send("POST", "/auth/token", "Content-Type: application/json\r\n",
              absl::StrCat("{\"clientId\":\"", client, "\",\"clientSecret\":\"",
                           secret, "\"}"));
}

std::string TestServer::Token(const std::string& client) {
  Response r = TokenAnswer(client, Secret(client));
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  return JsonField(r.body(), "accessToken");
}

std::string TestServer::UserToken(const std::string& user) {
  Response r =
      Send("POST", "/auth/token", "Content-Type: application/json\r\n",
           absl::StrCat("{\"grant_type\":\"entity_user\",\"client_id\":\"monta-"
                        "member-app\",\"client_secret\":\"",
                        Secret("monta-member-app"), "\",\"entity_user_id\":\"",
                        user, "\"}"));
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  return JsonField(r.body(), "access_token");
}

Response TestServer::Send(const std::string& method, const std::string& target,
                          const std::string& headers, const std::string& body) {
  return Exchange(port_, method, target, headers, body);
}

Response TestServer::Admin(const std::string& method, const std::string& target,
                           const std::string& token) {
  return Exchange(admin_port_, method, target,
                  absl::StrCat("Authorization: Bearer ", token, "\r\n"));
}

HttpClient::HttpClient(unsigned short port) : socket_(ioc_) {
  beast::error_code ec;
  socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_FALSE(ec) << ec.message();
}

bool HttpClient::Send(const std::string& method, const std::string& target,
                      const std::string& headers, const std::string& body,
                      Response* response, std::string* error) {
  const std::string raw =
      absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                   headers, "Content-Length: ", body.size(), "\r\n\r\n", body);
  beast::error_code ec;
  net::write(socket_, net::buffer(raw), ec);
  if (!ec) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 24);
    http::read(socket_, buffer_, parser, ec);
    if (!ec) *response = parser.release();
  }
  if (ec) {
    *error = ec.message();
    return false;
  }
  return true;
}

Response HttpClient::Send(const std::string& method, const std::string& target,
                          const std::string& headers, const std::string& body) {
  Response response;
  std::string error;
  EXPECT_TRUE(Send(method, target, headers, body, &response, &error))
      << method << " " << target << ": " << error;
  return response;
}

void HttpClient::Write(const std::string& raw) {
  beast::error_code ec;
  net::write(socket_, net::buffer(raw), ec);
  EXPECT_FALSE(ec) << ec.message();
}

Response HttpClient::Read() {
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 24);
  beast::error_code ec;
  http::read(socket_, buffer_, parser, ec);
  EXPECT_FALSE(ec) << ec.message();
  return parser.release();
}

Response SendRaw(unsigned short port, const std::string& raw) {
  HttpClient client(port);
  client.Write(raw);
  return client.Read();
}

Response Exchange(unsigned short port, const std::string& method,
                  const std::string& target, const std::string& headers,
                  const std::string& body) {
  return SendRaw(port, absl::StrCat(method, " ", target,
                                    " HTTP/1.1\r\nHost: test\r\nConnection: "
                                    "close\r\n",
                                    headers, "Content-Length: ", body.size(),
                                    "\r\n\r\n", body));
}

}  // namespace portcullis::server::testing
