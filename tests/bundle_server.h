// Bundle servers for the bundle poller's tests: Debian's nginx serving a
// directory on a free loopback port (static files with ETags, as a real
// bundle server), and two misbehaving servers nginx cannot play: one that
// accepts connections and never answers, one that announces a longer body
// than it sends and closes. Each is stopped by its destructor, whatever the
// test's outcome.
#ifndef PORTCULLIS_TESTS_BUNDLE_SERVER_H_
#define PORTCULLIS_TESTS_BUNDLE_SERVER_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace portcullis::test_bundle_server {

// nginx (master and one worker, in the foreground) serving `root()` at
// http://127.0.0.1:port()/. A GET of any path answers 500 while the file
// `root()/FAIL` exists (to make the same URL fail on demand).
class Nginx {
 public:
  // Starts nginx with its configuration, logs and temporary files in
  // `dir`/nginx and its documents in `dir`/www; waits until it accepts
  // connections (10 s at most). Null, with the test failed, if it does not
  // start.
  static std::unique_ptr<Nginx> Start(const std::string& dir);
  ~Nginx();  // Stop()

  // Stops nginx (SIGTERM, then SIGKILL after 5 s) and waits for it.
  void Stop();

  uint16_t port() const { return port_; }
  const std::string& root() const { return root_; }
  std::string Url(const std::string& path) const;

  // Writes `bytes` to root()/name atomically, with a modification time one
  // second later than any file written before, so that nginx's ETag (its
  // modification time and size) changes with every write.
  void Put(const std::string& name, const std::string& bytes);

 private:
  Nginx() = default;
  std::string dir_;
  std::string root_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  int64_t next_mtime_ = 1700000000;
};

// A loopback listener that never accepts: a client connects (the kernel's
// backlog completes the handshake), sends its request and waits forever.
class HangingServer {
 public:
  HangingServer();
  ~HangingServer();
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A loopback server that answers every request with a 200 announcing
// `Content-Length: 10000` and a few bytes of body, then closes the
// connection: a transfer cut short.
class TruncatingServer {
 public:
  TruncatingServer();
  ~TruncatingServer();
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// A free loopback TCP port (bound, then released).
uint16_t FreePort();

}  // namespace portcullis::test_bundle_server

#endif  // PORTCULLIS_TESTS_BUNDLE_SERVER_H_
