#include "tests/bundle_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace portcullis::test_bundle_server {
namespace {

constexpr char kNginx[] = "/usr/sbin/nginx";

// A loopback TCP socket bound to a free port, listening.
int ListenLoopback(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(address.sin_port);
  return fd;
}

bool Accepts(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address),
                            sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

uint16_t FreePort() {
  uint16_t port = 0;
  const int fd = ListenLoopback(&port);
  if (fd >= 0) ::close(fd);
  return port;
}

std::unique_ptr<Nginx> Nginx::Start(const std::string& dir) {
  std::unique_ptr<Nginx> nginx(new Nginx());
  nginx->dir_ = dir + "/nginx";
  nginx->root_ = dir + "/www";
  std::filesystem::create_directories(nginx->dir_);
  std::filesystem::create_directories(nginx->root_);
  nginx->port_ = FreePort();
  const std::string& d = nginx->dir_;
  WriteText(
      d + "/nginx.conf",
      absl::StrCat(
          "daemon off;\nworker_processes 1;\npid ", d, "/nginx.pid;\n",
          ::geteuid() == 0 ? "user root;\n" : "", "error_log ", d,
          "/error.log;\nevents { worker_connections 64; }\n",
          "http {\n  access_log off;\n", "  client_body_temp_path ", d,
          "/client_body;\n", "  proxy_temp_path ", d, "/proxy;\n",
          "  fastcgi_temp_path ", d, "/fastcgi;\n", "  uwsgi_temp_path ", d,
          "/uwsgi;\n", "  scgi_temp_path ", d, "/scgi;\n",
          "  server {\n    listen 127.0.0.1:", nginx->port_, ";\n", "    root ",
          nginx->root_, ";\n", "    location / {\n",
          "      if (-f $document_root/FAIL) { return 500; }\n", "    }\n",
          "    location = /moved { return 302 /policy.bundle; }\n",
          "  }\n}\n"));
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string conf = d + "/nginx.conf";
    const std::string error_log = d + "/error.log";
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
    ::execl(kNginx, "nginx", "-p", d.c_str(), "-c", conf.c_str(), "-e",
            error_log.c_str(), static_cast<char*>(nullptr));
    std::perror("exec /usr/sbin/nginx (tools/setup.sh installs it)");
    ::_exit(127);
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return nullptr;
  }
  nginx->pid_ = pid;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Accepts(nginx->port_)) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      nginx->pid_ = -1;
      std::ifstream log(d + "/error.log");
      ADD_FAILURE() << "nginx exited at start: "
                    << std::string(std::istreambuf_iterator<char>(log), {});
      return nullptr;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "nginx did not listen on port " << nginx->port_
                    << " within 10 s";
      return nullptr;  // the destructor stops it
    }
    ::usleep(20 * 1000);
  }
  return nginx;
}

Nginx::~Nginx() { Stop(); }

void Nginx::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    ::usleep(10 * 1000);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string Nginx::Url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port_, "/", path);
}

void Nginx::Put(const std::string& name, const std::string& bytes) {
  const std::string path = root_ + "/" + name;
  const std::string temporary = path + ".tmp";
  WriteText(temporary, bytes);
  const timeval times[2] = {{next_mtime_, 0}, {next_mtime_, 0}};
  ++next_mtime_;
  ::utimes(temporary.c_str(), times);
  std::filesystem::rename(temporary, path);
}

HangingServer::HangingServer() {
  fd_ = ListenLoopback(&port_);
  EXPECT_GE(fd_, 0) << "cannot listen on loopback";
}

HangingServer::~HangingServer() {
  if (fd_ >= 0) ::close(fd_);
}

TruncatingServer::TruncatingServer() {
  fd_ = ListenLoopback(&port_);
  EXPECT_GE(fd_, 0) << "cannot listen on loopback";
  thread_ = std::thread([this] {
    while (!stopping_.load()) {
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      // The request's head (one read is enough for the poller's GET).
      char request[4096];
      pollfd readable{client, POLLIN, 0};
      // What was read, or whether the write went through, changes nothing:
      // the client is cut short either way.
      if (::poll(&readable, 1, 2000) > 0 &&
          ::read(client, request, sizeof(request)) < 0) {
        ::close(client);
        continue;
      }
      const std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\nETag: \"cut\"\r\n"
          "Connection: close\r\n\r\n\x89PCB partial";
      if (::write(client, answer.data(), answer.size()) < 0) {
        // Nothing to do: the connection closes below.
      }
      ::close(client);
    }
  });
}

TruncatingServer::~TruncatingServer() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace portcullis::test_bundle_server
