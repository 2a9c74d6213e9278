#include "tests/redis/redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace portcullis::test {
namespace {

// A loopback port the kernel just handed out and nobody listens on. Another
// process may take it before redis-server binds it; Start then fails
// clearly rather than talking to the wrong server.
absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return absl::InternalError("cannot bind a loopback port");
  }
  close(fd);
  return ntohs(address.sin_port);
}

std::string RedisServerBinary() {
  if (access("/usr/bin/redis-server", X_OK) == 0)
    return "/usr/bin/redis-server";
  return "redis-server";
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(
    std::vector<std::string> extra_args) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/redis-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
  }
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<int> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    std::unique_ptr<RedisServer> server(
        new RedisServer(pattern, *port, extra_args));
    last = server->Launch();
    if (last.ok()) last = server->WaitReady(absl::Seconds(10));
    if (last.ok()) return server;
    if (absl::IsFailedPrecondition(last)) return last;
    server->Stop();  // Lost the port to someone else: try another.
  }
  return last;
}

RedisServer::~RedisServer() {
  Stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

absl::Status RedisServer::Launch() {
  const std::string binary = RedisServerBinary();
  std::vector<std::string> args = {binary,
                                   "--port",
                                   absl::StrCat(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--appendonly",
                                   "yes",
                                   "--appendfsync",
                                   "always",
                                   "--save",
                                   "",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   dir_ + "/redis.log"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // Dies with the test, even if the test is SIGKILLed.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    const int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
    }
    execvp(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  paused_ = false;
  return absl::OkStatus();
}

absl::Status RedisServer::WaitReady(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        return absl::FailedPreconditionError(
            "redis-server is not installed: run tools/setup.sh");
      }
      return absl::UnavailableError(absl::StrCat(
          "redis-server on port ", port_, " exited at start: ", LogTail()));
    }
    redisContext* context =
        redisConnectWithTimeout("127.0.0.1", port_, {0, 200000});
    if (context != nullptr && context->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(context, "PING"));
      // LOADING while the AOF replays; PONG (or NOAUTH with a password)
      // once it serves.
      const bool ready =
          reply != nullptr && (reply->type == REDIS_REPLY_STATUS ||
                               (reply->type == REDIS_REPLY_ERROR &&
                                std::strncmp(reply->str, "NOAUTH", 6) == 0));
      if (reply != nullptr) freeReplyObject(reply);
      redisFree(context);
      if (ready) return absl::OkStatus();
    } else if (context != nullptr) {
      redisFree(context);
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::UnavailableError(
      absl::StrCat("redis-server on port ", port_, " not ready after ",
                   absl::FormatDuration(timeout), ": ", LogTail()));
}

void RedisServer::Reap() {
  if (pid_ <= 0) return;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  paused_ = false;
}

absl::Status RedisServer::Kill() {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  kill(pid_, SIGKILL);
  Reap();
  return absl::OkStatus();
}

absl::Status RedisServer::Pause() {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  if (kill(pid_, SIGSTOP) != 0) return absl::InternalError("SIGSTOP failed");
  paused_ = true;
  return absl::OkStatus();
}

absl::Status RedisServer::Resume() {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  if (kill(pid_, SIGCONT) != 0) return absl::InternalError("SIGCONT failed");
  paused_ = false;
  return absl::OkStatus();
}

absl::Status RedisServer::Restart() {
  if (pid_ > 0) return absl::FailedPreconditionError("still running");
  if (absl::Status launched = Launch(); !launched.ok()) return launched;
  return WaitReady(absl::Seconds(10));
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  if (paused_) kill(pid_, SIGCONT);
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      paused_ = false;
      return;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(pid_, SIGKILL);
  Reap();
}

std::string RedisServer::LogTail() const {
  std::ifstream log(dir_ + "/redis.log");
  std::stringstream content;
  content << log.rdbuf();
  std::string text = content.str();
  if (text.size() > 600) text = text.substr(text.size() - 600);
  return text.empty() ? "(empty log)" : text;
}

}  // namespace portcullis::test
