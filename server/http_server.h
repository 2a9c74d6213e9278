// Event-driven HTTP/1.1 with keep-alive on Boost.Beast/Asio: one io_context
// per worker thread, one acceptor per listen address handing connections to
// the workers in turn. Per connection: an idle timeout between requests, a
// read timeout for a request once its first byte arrived, a write timeout;
// header and body limits enforced by Beast's parser (431 and 413, the body
// never read whole); a connection limit (a connection beyond it is closed at
// once). Shutdown stops accepting, closes idle connections, lets in-flight
// requests finish (up to a drain timeout), then stops the workers.
#ifndef PORTCULLIS_SERVER_HTTP_SERVER_H_
#define PORTCULLIS_SERVER_HTTP_SERVER_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/config.h"
#include "server/metrics.h"

namespace portcullis::server {

using HttpRequest =
    boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse =
    boost::beast::http::response<boost::beast::http::string_body>;

// What answers the requests. Called on the worker threads, concurrently.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // The largest body accepted for a request to `target`.
  virtual size_t BodyLimit(absl::string_view target) const = 0;
  // The answer. Must not throw (the server answers 500 if it does).
  virtual HttpResponse Handle(const HttpRequest& request) = 0;
};

class HttpServer {
 public:
  // `handler` and `metrics` must outlive the server.
  HttpServer(HttpHandler& handler, Metrics& metrics,
             const LimitSettings& limits, size_t threads);
  ~HttpServer();  // Shutdown()

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on every address (a host name is resolved; its first
  // address is used). Unavailable naming the address on failure.
  absl::Status Listen(const std::vector<ListenAddress>& addresses);
  // The bound endpoints, in the order of Listen's addresses (with the port
  // picked for port 0).
  std::vector<boost::asio::ip::tcp::endpoint> endpoints() const;

  // Starts the workers and accepting.
  void Start();
  // Stops accepting, closes idle connections, waits up to the drain timeout
  // for in-flight requests, then stops the workers. Idempotent.
  void Shutdown();

  size_t open_connections() const { return connections_.load(); }

 private:
  class Session;
  friend class Session;

  void Accept(size_t listener);
  void Register(const std::shared_ptr<Session>& session);
  void Unregister(Session* session);

  HttpHandler& handler_;
  Metrics& metrics_;
  const LimitSettings limits_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_context_{0};
  std::atomic<size_t> connections_{0};
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool stopped_ = false;

  std::mutex sessions_mu_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_HTTP_SERVER_H_
