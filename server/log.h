// The server's log: one line per event on stderr, with a level. Callers
// never pass a token, secret, key or digest.
#ifndef PORTCULLIS_SERVER_LOG_H_
#define PORTCULLIS_SERVER_LOG_H_

#include <cstdio>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/config.h"

namespace portcullis::server {

class Logger {
 public:
  explicit Logger(LogLevel level) : level_(level) {}

  bool Enabled(LogLevel level) const { return level <= level_; }
  void Log(LogLevel level, absl::string_view message) {
    if (!Enabled(level)) return;
    static constexpr absl::string_view kNames[] = {"error", "warning", "info",
                                                   "debug"};
    const std::string line =
        absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                      absl::UTCTimeZone()),
                     " ", kNames[static_cast<int>(level)], " ", message, "\n");
    std::lock_guard<std::mutex> lock(mu_);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
  void Error(absl::string_view m) { Log(LogLevel::kError, m); }
  void Warning(absl::string_view m) { Log(LogLevel::kWarning, m); }
  void Info(absl::string_view m) { Log(LogLevel::kInfo, m); }
  void Debug(absl::string_view m) { Log(LogLevel::kDebug, m); }

 private:
  const LogLevel level_;
  std::mutex mu_;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_LOG_H_
