// Test helpers for `portcullis serve` over real HTTP: an in-process Server
// over the Monta example on a loopback ephemeral port with a temporary state
// directory, and HTTP/1.1 clients: a keep-alive one (one connection,
// requests in turn, as a proxy keeps its connections to the authorizer) and
// one request (or raw bytes, malformed ones too) per connection.
#ifndef PORTCULLIS_TESTS_SERVER_TEST_HTTP_H_
#define PORTCULLIS_TESTS_SERVER_TEST_HTTP_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <map>
#include <memory>
#include <string>

#include "server/service.h"

namespace portcullis::server::testing {

using Response = boost::beast::http::response<boost::beast::http::string_body>;

std::string ReadFile(const std::string& path);
// Writes `text` to `path` through a temporary file renamed over it (an
// atomic replacement, as a deployment tool does).
void WriteFileAtomically(const std::string& path, const std::string& text);
// A new directory under $TEST_TMPDIR.
std::string MakeTempDir();
// The one JSON string field `name` of a flat JSON object.
std::string JsonField(const std::string& json, const std::string& name);
// examples/monta/policy.txtpb with every credential's rate limit raised
// from 1000 to `count` requests.
std::string MontaPolicy(int count);
// A header of `response`, "" if absent.
std::string Header(const Response& response, const std::string& name);

// The admin listener's token when TestServerOptions::admin is set.
inline constexpr char kAdminToken[] =
    "admin-token-0123456789abcdef0123456789abcdef";

// What a TestServer serves. Its configuration: listen on 127.0.0.1:0, the
// policy reloaded with no quiet period and polled every second, token and
// registry keys, the user directory, 2 threads, the Monta routes of
// examples/server; then the sections below.
struct TestServerOptions {
  // policy.txtpb; "" for examples/monta/policy.txtpb as it is.
  std::string policy;
  // users.txtpb (the entity users of examples/server).
  std::string users = "users { id: \"u-anna\" entity: \"team-north\" }\n";
  // More fields of the `keys` section (e.g. jwt_signing_key_file).
  std::string keys;
  // The `tokens` section.
  std::string tokens = "tokens { oauth_token_format: \"opaque\" }";
  // More routes (`routes { ... }` each) after the Monta ones.
  std::string routes;
  // An admin listener on 127.0.0.1:0 with kAdminToken (file admin.token).
  bool admin = false;
  // The fields of the `policy` section; empty: policy.txtpb, reloaded
  // with no quiet period and polled every second.
  std::string policy_source;
  // Appended to the configuration.
  std::string config;
  // More files of the directory: name, contents (written with mode 0600).
  std::map<std::string, std::string> files;
};

class TestServer {
 public:
  // Writes `options` to a new temporary directory and starts a server over
  // it; nullptr (and the test failed) if it does not start.
  static std::unique_ptr<TestServer> Start(const TestServerOptions& options);
  // A server over `policy` with `extra_config` appended.
  static std::unique_ptr<TestServer> Start(const std::string& policy,
                                           const std::string& extra_config);
  ~TestServer();

  unsigned short port() const { return port_; }
  unsigned short admin_port() const { return admin_port_; }
  const std::string& dir() const { return dir_; }
  Server& server() { return *server_; }
  // Shuts the server down (its state saved in dir()/state); true if it
  // shut down cleanly.
  bool Stop();
  // Starts a new server over the same directory (after Stop).
  bool Restart();

  // Registers `client` (a credential of the policy) and returns its secret.
  std::string Secret(const std::string& client);
  // client_credentials in Monta's dialect (camelCase JSON): the answer.
  Response TokenAnswer(const std::string& client, const std::string& secret);
  // An access token of `client` (client_credentials).
  std::string Token(const std::string& client);
  // An entity_user access token of `user` through monta-member-app.
  std::string UserToken(const std::string& user);

  // One request on a new connection to the public listener (Exchange).
  Response Send(const std::string& method, const std::string& target,
                const std::string& headers, const std::string& body = "");
  // One request to the admin listener with `token` as its bearer token.
  Response Admin(const std::string& method, const std::string& target,
                 const std::string& token = kAdminToken);

 private:
  bool Launch();

  std::string dir_;
  std::unique_ptr<Server> server_;
  unsigned short port_ = 0;
  unsigned short admin_port_ = 0;
  std::map<std::string, std::string> secrets_;
};

// One keep-alive connection to 127.0.0.1:port.
class HttpClient {
 public:
  explicit HttpClient(unsigned short port);
  // Sends `method target` with `headers` ("Name: value\r\n" each) and
  // `body`; false (and `error` set) on a connection or protocol error.
  bool Send(const std::string& method, const std::string& target,
            const std::string& headers, const std::string& body,
            Response* response, std::string* error);
  // The same, failing the test on an error.
  Response Send(const std::string& method, const std::string& target,
                const std::string& headers, const std::string& body = "");
  // Writes `raw` bytes as they are (a malformed request, or several
  // pipelined), failing the test on an error.
  void Write(const std::string& raw);
  // Reads one answer, failing the test on an error.
  Response Read();

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

// `raw` bytes on a new connection to 127.0.0.1:port: the answer.
Response SendRaw(unsigned short port, const std::string& raw);
// `method target` with `headers` ("Name: value\r\n" each) and `body` on a
// new connection (Host: test, Connection: close): the answer.
Response Exchange(unsigned short port, const std::string& method,
                  const std::string& target, const std::string& headers,
                  const std::string& body = "");

}  // namespace portcullis::server::testing

#endif  // PORTCULLIS_TESTS_SERVER_TEST_HTTP_H_
