// Reloads the user directory file like the policy (docs/server.md): a thread
// reads the file every poll interval and, when its content changed and it
// parses and checks, applies it to the live directory (users added, changed
// and removed; a lookup sees each user's old or new entry). A bad file keeps
// the last good directory; every reload is counted in /metrics.
#ifndef PORTCULLIS_SERVER_USER_RELOADER_H_
#define PORTCULLIS_SERVER_USER_RELOADER_H_

#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/auth/user_directory.h"
#include "server/api_metrics.h"
#include "server/log.h"

namespace portcullis::server {

class UserDirectoryReloader {
 public:
  // Loads `path` into `directory` once (an error is returned, nothing
  // started), then watches it every `interval`. Everything passed must
  // outlive the reloader.
  UserDirectoryReloader(std::string path, auth::InMemoryUserDirectory& users,
                        absl::Duration interval, ApiMetrics& metrics,
                        Logger& logger);
  ~UserDirectoryReloader();  // Stop()

  // The first load; must succeed before Start.
  absl::Status Load() { return Reload(/*initial=*/true); }
  void Start();
  void Stop();
  // One poll now: reloads if the content changed. OK when unchanged or
  // applied; the parse error otherwise (tests).
  absl::Status PollOnce() { return Reload(/*initial=*/false); }

 private:
  absl::Status Reload(bool initial);

  const std::string path_;
  auth::InMemoryUserDirectory& users_;
  const absl::Duration interval_;
  ApiMetrics& metrics_;
  Logger& logger_;

  std::mutex reload_mu_;       // one reload at a time
  std::string last_text_;      // guarded by reload_mu_
  bool last_failed_ = false;   // guarded by reload_mu_
  std::set<std::string> ids_;  // guarded by reload_mu_

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_USER_RELOADER_H_
