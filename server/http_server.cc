#include "server/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <future>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace portcullis::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

HttpResponse ErrorResponse(http::status status, absl::string_view error) {
  HttpResponse response(status, 11);
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  response.body() = absl::StrCat("{\"error\":\"", error, "\"}");
  return response;
}

}  // namespace

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer& server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)) {}

  ~Session() {
    server_.Unregister(this);
    server_.connections_.fetch_sub(1);
    server_.metrics_.ConnectionClosed();
  }

  void Start() { WaitForRequest(); }

  net::any_io_executor stream_executor() { return stream_.get_executor(); }

  // At shutdown: an idle connection is closed now, a busy one after its
  // answer.
  void OnShutdown() {
    if (idle_) stream_.cancel();
  }

 private:
  void WaitForRequest() {
    if (server_.stopping_.load()) return Close();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.limits_.header_bytes));
    parser_->body_limit(
        std::max(server_.limits_.body_bytes, server_.limits_.auth_body_bytes));
    if (buffer_.size() > 0) return ReadHeader();
    idle_ = true;
    stream_.expires_after(ToChrono(server_.limits_.idle_timeout));
    stream_.async_read_some(
        buffer_.prepare(4096),
        [self = shared_from_this()](beast::error_code ec, size_t n) {
          self->idle_ = false;
          if (ec) return self->Close();
          self->buffer_.commit(n);
          self->ReadHeader();
        });
  }

  void ReadHeader() {
    idle_ = false;
    // The whole request (header and body) must arrive within the read
    // timeout, counted from its first byte.
    stream_.expires_after(ToChrono(server_.limits_.read_timeout));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          self->OnHeader(ec);
        });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const HttpRequest& request = parser_->get();
    const size_t limit = server_.handler_.BodyLimit(
        absl::string_view(request.target().data(), request.target().size()));
    if (parser_->content_length().has_value() &&
        *parser_->content_length() > limit) {
      return Fail(http::status::payload_too_large, "body_too_large");
    }
    parser_->body_limit(limit);
    if (absl::EqualsIgnoreCase(
            absl::string_view(request[http::field::expect].data(),
                              request[http::field::expect].size()),
            "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(
          http::status::continue_, 11);
      http::async_write(
          stream_, *cont,
          [self = shared_from_this(), cont](beast::error_code ec, size_t) {
            if (ec) return self->Close();
            self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->OnRequest();
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted ||
        ec == net::error::connection_reset) {
      return Close();
    }
    if (ec == beast::error::timeout) {
      return Fail(http::status::request_timeout, "request_timeout");
    }
    if (ec == http::error::header_limit) {
      return Fail(http::status::request_header_fields_too_large,
                  "header_too_large");
    }
    if (ec == http::error::body_limit) {
      return Fail(http::status::payload_too_large, "body_too_large");
    }
    // Anything Beast's parser refuses: a bad request line, field or value
    // (CR or LF inside a value included), bad chunking.
    Fail(http::status::bad_request, "malformed_request");
  }

  void Fail(http::status status, absl::string_view error) {
    response_ = ErrorResponse(status, error);
    const absl::string_view endpoint = "malformed";
    server_.metrics_.Request(endpoint, static_cast<unsigned>(status),
                             absl::ZeroDuration());
    Write(/*keep_alive=*/false);
  }

  void OnRequest() {
    HttpRequest request = parser_->release();
    try {
      response_ = server_.handler_.Handle(request);
    } catch (...) {
      // Fail closed: never a 200 after an internal error.
      response_ =
          ErrorResponse(http::status::internal_server_error, "internal_error");
    }
    Write(request.keep_alive() && !server_.stopping_.load());
  }

  void Write(bool keep_alive) {
    response_.version(11);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    stream_.expires_after(ToChrono(server_.limits_.write_timeout));
    http::async_write(
        stream_, response_,
        [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
          if (ec || !keep_alive) return self->Close();
          self->WaitForRequest();
        });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  HttpServer& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpResponse response_;
  bool idle_ = true;
};

HttpServer::HttpServer(HttpHandler& handler, Metrics& metrics,
                       const LimitSettings& limits, size_t threads)
    : handler_(handler), metrics_(metrics), limits_(limits) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) {
    contexts_.push_back(std::make_unique<net::io_context>(1));
  }
}

HttpServer::~HttpServer() {
  Shutdown();
  // Sessions still held by pending handlers go with their io_context, and
  // unregister themselves: destroy the contexts while the rest is alive.
  acceptors_.clear();
  contexts_.clear();
}

absl::Status HttpServer::Listen(const std::vector<ListenAddress>& addresses) {
  for (const ListenAddress& address : addresses) {
    const std::string where = absl::StrCat(address.host, ":", address.port);
    beast::error_code ec;
    tcp::resolver resolver(*contexts_[0]);
    auto results = resolver.resolve(address.host, absl::StrCat(address.port),
                                    tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      return absl::UnavailableError(
          absl::StrCat("listen ", where, ": cannot resolve: ", ec.message()));
    }
    const tcp::endpoint endpoint = results.begin()->endpoint();
    auto acceptor = std::make_unique<tcp::acceptor>(*contexts_[0]);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("listen ", where, ": ", ec.message()));
    }
    acceptors_.push_back(std::move(acceptor));
  }
  return absl::OkStatus();
}

std::vector<tcp::endpoint> HttpServer::endpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& acceptor : acceptors_) {
    beast::error_code ec;
    out.push_back(acceptor->local_endpoint(ec));
  }
  return out;
}

void HttpServer::Start() {
  if (started_) return;
  started_ = true;
  for (size_t i = 0; i < acceptors_.size(); ++i) Accept(i);
  for (auto& context : contexts_) {
    net::io_context* ioc = context.get();
    threads_.emplace_back([ioc] {
      auto guard = net::make_work_guard(*ioc);
      ioc->run();
    });
  }
}

void HttpServer::Accept(size_t listener) {
  if (stopping_.load()) return;
  net::io_context& target =
      *contexts_[next_context_.fetch_add(1) % contexts_.size()];
  acceptors_[listener]->async_accept(
      target, [this, listener](beast::error_code ec, tcp::socket socket) {
        if (stopping_.load() || ec == net::error::operation_aborted) return;
        if (ec) {
          // Out of descriptors and the like: wait a little, then go on.
          auto timer = std::make_shared<net::steady_timer>(
              *contexts_[0], std::chrono::milliseconds(50));
          timer->async_wait(
              [this, listener, timer](beast::error_code) { Accept(listener); });
          return;
        }
        if (connections_.load() >= limits_.max_connections) {
          metrics_.ConnectionRejected();
          beast::error_code ignored;
          socket.close(ignored);
        } else {
          connections_.fetch_add(1);
          metrics_.ConnectionOpened();
          beast::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          auto session = std::make_shared<Session>(*this, std::move(socket));
          Register(session);
          net::dispatch(session->stream_executor(),
                        [session] { session->Start(); });
        }
        Accept(listener);
      });
}

void HttpServer::Register(const std::shared_ptr<Session>& session) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  sessions_[session.get()] = session;
}

void HttpServer::Unregister(Session* session) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  sessions_.erase(session);
}

void HttpServer::Shutdown() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  if (!started_) return;
  // Stop accepting (on the acceptors' thread).
  std::promise<void> closed;
  net::post(*contexts_[0], [this, &closed] {
    for (auto& acceptor : acceptors_) {
      beast::error_code ignored;
      acceptor->close(ignored);
    }
    closed.set_value();
  });
  closed.get_future().wait();
  // Close idle connections; busy ones close after their answer. The
  // sessions are posted to outside the lock: once posted, this thread's
  // reference may be a session's last, and ~Session unregisters itself under
  // sessions_mu_ (dropping it under the lock deadlocked shutdown, rarely:
  // only when the session's own thread finished first).
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    live.reserve(sessions_.size());
    for (auto& [raw, weak] : sessions_) {
      if (std::shared_ptr<Session> session = weak.lock()) {
        live.push_back(std::move(session));
      }
    }
  }
  for (std::shared_ptr<Session>& session : live) {
    net::post(session->stream_executor(), [session] { session->OnShutdown(); });
  }
  live.clear();
  const absl::Time deadline = absl::Now() + limits_.drain_timeout;
  while (connections_.load() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  for (auto& context : contexts_) context->stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace portcullis::server
