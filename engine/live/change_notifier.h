// Wakes a waiting thread when something changes in the directories that hold
// a set of paths (Linux inotify). For PolicyWatcher: a notification is only a
// hint to poll now, never a verdict on what changed, so a missed or spurious
// event costs latency, not correctness. Not part of the public API.
#ifndef PORTCULLIS_ENGINE_LIVE_CHANGE_NOTIFIER_H_
#define PORTCULLIS_ENGINE_LIVE_CHANGE_NOTIFIER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace portcullis::internal {

// Watches, for each path, the path itself when it is a directory and its
// parent directory otherwise, so that atomic replacement (write a temporary
// file, rename it over the old one), creation, deletion and Kubernetes-style
// symlink swaps are all seen. Watches are re-established after every change,
// and after a timeout while a directory is not watched, so a directory that
// is deleted and created again is watched again.
//
// Thread-safe: one thread Wait()s; any thread may Interrupt().
class ChangeNotifier {
 public:
  enum class WaitResult : uint8_t { kChanged, kTimeout, kInterrupted };

  // Unavailable when the kernel refuses inotify (e.g. the per-user instance
  // limit); a caller then falls back to plain polling. A path that does not
  // exist yet is watched through its parent directory; when that does not
  // exist either, nothing is watched for the path (polling still sees it
  // appear).
  static absl::StatusOr<std::unique_ptr<ChangeNotifier>> Create(
      std::vector<std::string> paths);

  ChangeNotifier(const ChangeNotifier&) = delete;
  ChangeNotifier& operator=(const ChangeNotifier&) = delete;
  ~ChangeNotifier();

  // Blocks until a change is seen, `timeout` passes, or Interrupt() is
  // called. After a change it waits further until `settle` passes without
  // another event (at most `timeout` in all), so that a writer's burst of
  // events (truncate, write, close) becomes one wake-up.
  WaitResult Wait(absl::Duration timeout, absl::Duration settle);

  // Makes the current and every later Wait() return kInterrupted.
  void Interrupt();

  // How many directories are watched now (0: only timeouts will wake).
  size_t watched_directories() const;

 private:
  ChangeNotifier(int inotify_fd, int interrupt_fd,
                 std::vector<std::string> directories);

  // Drops every watch and adds one per directory that exists.
  void Rewatch();
  // Reads and discards every pending event; true if there was one.
  bool Drain();

  const int inotify_fd_;
  const int interrupt_fd_;  // an eventfd
  const std::vector<std::string> directories_;
  std::vector<int> watches_;  // the waiting thread's
  std::atomic<size_t> watched_{0};
};

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_LIVE_CHANGE_NOTIFIER_H_
