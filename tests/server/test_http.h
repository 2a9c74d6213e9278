// Test helpers for `portcullis serve` over real HTTP: an in-process Server
// over the Monta example on a loopback ephemeral port with a temporary state
// directory, and a keep-alive HTTP/1.1 client (one connection, requests in
// turn, as a proxy keeps its connections to the authorizer).
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

// A server over `policy` (written to policy.txtpb in a new temporary
// directory) with the Monta routes of examples/server, the entity users of
// examples/server, and `extra_config` appended to its configuration. The
// policy is reloaded with no quiet period, polled every second.
class TestServer {
 public:
  static std::unique_ptr<TestServer> Start(const std::string& policy,
                                           const std::string& extra_config);
  ~TestServer();

  unsigned short port() const { return port_; }
  const std::string& dir() const { return dir_; }
  Server& server() { return *server_; }
  // Registers `client` (a credential of the policy) and returns its secret.
  std::string Secret(const std::string& client);
  // An access token of `client` (client_credentials).
  std::string Token(const std::string& client);

 private:
  std::string dir_;
  std::unique_ptr<Server> server_;
  unsigned short port_ = 0;
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

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace portcullis::server::testing

#endif  // PORTCULLIS_TESTS_SERVER_TEST_HTTP_H_
