// A real redis-server for tests: started on a free loopback port with its own
// data directory under the test's temporary directory, appendonly yes with
// appendfsync always (so a SIGKILL loses no acknowledged write), and no RDB
// snapshots. Faults on demand: Kill (SIGKILL), Pause (SIGSTOP), Resume
// (SIGCONT), Restart (same port and directory: the AOF is replayed). The
// server is stopped by Stop or the destructor whatever happened, and dies with
// the test process (PR_SET_PDEATHSIG) if that is killed first.
//
// Example:
//   absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
//   ASSERT_TRUE(redis.ok()) << redis.status();
//   options.port = (*redis)->port();
//   ...
//   ASSERT_TRUE((*redis)->Kill().ok());
//   ASSERT_TRUE((*redis)->Restart().ok());
//
// Thread-compatible: drive one server from one thread (the clients under test
// may run anywhere).
#ifndef PORTCULLIS_TESTS_REDIS_REDIS_SERVER_H_
#define PORTCULLIS_TESTS_REDIS_REDIS_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace portcullis::test {

class RedisServer {
 public:
  // Starts redis-server (/usr/bin/redis-server, else from PATH) and waits
  // until it answers PING (at most 10 s). `extra_args` are appended to the
  // command line, e.g. {"--requirepass", "secret"}. FailedPrecondition when
  // redis-server is not installed (run tools/setup.sh), Unavailable when it
  // does not come up (its log's tail in the message).
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(
      std::vector<std::string> extra_args = {});

  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }

  // SIGKILL, then waits for the process to exit.
  absl::Status Kill();
  // SIGSTOP / SIGCONT: the server keeps its connections but answers nothing.
  absl::Status Pause();
  absl::Status Resume();
  // Starts the server again on the same port and directory after Kill or
  // Stop (the AOF is loaded) and waits until it answers PING.
  absl::Status Restart();
  // SIGTERM (SIGCONT first if paused) and waits up to 5 s, then SIGKILL.
  // Idempotent.
  void Stop();

 private:
  RedisServer(std::string dir, int port, std::vector<std::string> extra_args)
      : dir_(std::move(dir)), port_(port), extra_args_(std::move(extra_args)) {}

  absl::Status Launch();
  absl::Status WaitReady(absl::Duration timeout);
  void Reap();
  std::string LogTail() const;

  const std::string dir_;
  const int port_;
  const std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace portcullis::test

#endif  // PORTCULLIS_TESTS_REDIS_REDIS_SERVER_H_
