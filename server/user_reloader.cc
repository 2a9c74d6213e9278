#include "server/user_reloader.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/config.h"

namespace portcullis::server {

UserDirectoryReloader::UserDirectoryReloader(std::string path,
                                             auth::InMemoryUserDirectory& users,
                                             absl::Duration interval,
                                             ApiMetrics& metrics,
                                             Logger& logger)
    : path_(std::move(path)),
      users_(users),
      interval_(interval),
      metrics_(metrics),
      logger_(logger) {}

UserDirectoryReloader::~UserDirectoryReloader() { Stop(); }

void UserDirectoryReloader::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, absl::ToChronoNanoseconds(interval_));
      if (stopping_) break;
      lock.unlock();
      (void)Reload(/*initial=*/false);
      lock.lock();
    }
  });
}

void UserDirectoryReloader::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Status UserDirectoryReloader::Reload(bool initial) {
  std::lock_guard<std::mutex> lock(reload_mu_);
  absl::StatusOr<std::string> text = ReadFile(path_);
  absl::Status status = text.status();
  if (text.ok() && !initial && *text == last_text_) {
    return absl::OkStatus();  // unchanged
  }
  if (text.ok()) {
    auto users = ParseUserDirectory(*text, path_);
    if (users.ok()) {
      std::set<std::string> ids;
      for (auto& [id, user] : *users) {
        status = users_.SetUser(id, std::move(user));
        if (!status.ok()) break;  // unreachable: ids and entities are checked
        ids.insert(id);
      }
      if (status.ok()) {
        for (const std::string& id : ids_) {
          if (ids.count(id) == 0) users_.RemoveUser(id);
        }
        ids_ = std::move(ids);
      }
    } else {
      status = users.status();
    }
  }
  if (text.ok()) last_text_ = std::move(*text);
  if (status.ok()) {
    last_failed_ = false;
    metrics_.UserDirectoryReload(true, ids_.size());
    if (!initial) {
      logger_.Info(
          absl::StrCat("user directory reloaded: ", ids_.size(), " users"));
    }
    return status;
  }
  if (initial) return status;
  // Counted and logged once per bad content, not every poll.
  if (!last_failed_) {
    metrics_.UserDirectoryReload(false, 0);
    logger_.Warning(absl::StrCat(
        "user directory reload rejected, keeping the last good one: ",
        status.message()));
  }
  last_failed_ = true;
  return status;
}

}  // namespace portcullis::server
