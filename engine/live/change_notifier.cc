#include "engine/live/change_notifier.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace portcullis::internal {
namespace {

// Everything that can change what a directory's policy files hold or which
// ones there are. IN_ONLYDIR: a path that became a file is not watched.
constexpr uint32_t kEvents =
    IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE |
    IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

bool IsDirectory(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeNotifier>> ChangeNotifier::Create(
    std::vector<std::string> paths) {
  std::vector<std::string> directories;
  for (std::string& path : paths) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    directories.push_back(IsDirectory(path) ? path : ParentOf(path));
  }
  std::sort(directories.begin(), directories.end());
  directories.erase(std::unique(directories.begin(), directories.end()),
                    directories.end());

  const int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("inotify_init1: ", std::strerror(errno)));
  }
  const int interrupt_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (interrupt_fd < 0) {
    const int error = errno;
    close(inotify_fd);
    return absl::UnavailableError(
        absl::StrCat("eventfd: ", std::strerror(error)));
  }
  std::unique_ptr<ChangeNotifier> notifier(
      new ChangeNotifier(inotify_fd, interrupt_fd, std::move(directories)));
  notifier->Rewatch();
  return notifier;
}

ChangeNotifier::ChangeNotifier(int inotify_fd, int interrupt_fd,
                               std::vector<std::string> directories)
    : inotify_fd_(inotify_fd),
      interrupt_fd_(interrupt_fd),
      directories_(std::move(directories)) {}

ChangeNotifier::~ChangeNotifier() {
  close(inotify_fd_);  // drops every watch
  close(interrupt_fd_);
}

void ChangeNotifier::Rewatch() {
  for (const int watch : watches_) inotify_rm_watch(inotify_fd_, watch);
  watches_.clear();
  for (const std::string& directory : directories_) {
    const int watch =
        inotify_add_watch(inotify_fd_, directory.c_str(), kEvents);
    if (watch >= 0) watches_.push_back(watch);
  }
  // Removing the watches queued IN_IGNORED events: not changes.
  Drain();
  watched_.store(watches_.size(), std::memory_order_relaxed);
}

bool ChangeNotifier::Drain() {
  // Large enough for many events at once; aligned as inotify_event requires.
  alignas(struct inotify_event) char buffer[16 * 1024];
  bool changed = false;
  for (;;) {
    const ssize_t n = read(inotify_fd_, buffer, sizeof(buffer));
    if (n <= 0) break;  // EAGAIN: nothing more pending
    for (ssize_t offset = 0; offset < n;) {
      const auto* event =
          reinterpret_cast<const struct inotify_event*>(buffer + offset);
      if ((event->mask & IN_IGNORED) == 0) changed = true;
      offset += static_cast<ssize_t>(sizeof(struct inotify_event)) +
                static_cast<ssize_t>(event->len);
    }
  }
  return changed;
}

ChangeNotifier::WaitResult ChangeNotifier::Wait(absl::Duration timeout,
                                                absl::Duration settle) {
  const absl::Time deadline = absl::Now() + timeout;
  bool changed = false;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    const absl::Duration wait = changed ? std::min(settle, left) : left;
    struct pollfd fds[2] = {{interrupt_fd_, POLLIN, 0},
                            {inotify_fd_, POLLIN, 0}};
    // Rounded up so that a sub-millisecond wait does not spin; never
    // negative, which poll() would take as "forever".
    const int64_t millis = std::clamp<int64_t>(absl::ToInt64Milliseconds(wait),
                                               -1, (int64_t{1} << 30) - 1) +
                           1;
    const int ready = poll(fds, 2, static_cast<int>(millis));
    if (ready < 0 && errno != EINTR) break;  // treated as a timeout
    if (fds[0].revents != 0) return WaitResult::kInterrupted;
    if (ready > 0 && fds[1].revents != 0) {
      if (Drain()) {
        changed = true;
        continue;  // settle: wait for quiet
      }
    } else if (ready == 0 && changed) {
      break;  // quiet for `settle`
    }
  }
  if (!changed) {
    // A directory that was missing may exist now.
    if (watches_.size() < directories_.size()) Rewatch();
    return WaitResult::kTimeout;
  }
  // A watched directory may have been replaced: watch what is there now.
  Rewatch();
  return WaitResult::kChanged;
}

void ChangeNotifier::Interrupt() {
  const uint64_t one = 1;
  // Cannot fail short of a counter overflow; the eventfd stays readable.
  (void)!write(interrupt_fd_, &one, sizeof(one));
}

size_t ChangeNotifier::watched_directories() const {
  return watched_.load(std::memory_order_relaxed);
}

}  // namespace portcullis::internal
