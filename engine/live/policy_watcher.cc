#include "engine/live/policy_watcher.h"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"

namespace portcullis {
namespace {

int64_t Nanos(const struct timespec& time) {
  return int64_t{time.tv_sec} * 1000000000 + time.tv_nsec;
}

}  // namespace

absl::StatusOr<std::unique_ptr<const CompiledPolicy>> LoadPolicySource(
    const PolicySource& source, const PolicySourceOptions& options) {
  switch (source.kind) {
    case PolicySource::Kind::kBundle:
      if (source.paths.size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("a bundle source is one file; got ",
                         source.paths.size(), " paths"));
      }
      return ReadBundle(source.paths[0], options.bundle);
    case PolicySource::Kind::kPolicyFiles:
      break;
  }
  PORTCULLIS_ASSIGN_OR_RETURN(LoadedPolicy loaded,
                              LoadPolicyFiles(source.paths, options.load));
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(loaded.policy, options.compile);
  if (policy.ok()) return policy;
  // Compile's paths are the merged set's; validating again gives them one by
  // one, to trace each to its file.
  const ValidationReport report = Validate(loaded.policy, options.compile);
  if (report.ok()) return policy.status();
  std::string message = absl::StrJoin(
      report.errors, "\n", [&](std::string* out, const PolicyError& error) {
        absl::StrAppend(out, loaded.sources.Locate(error.path), ": ",
                        error.message);
      });
  if (report.more_errors > 0) {
    absl::StrAppend(&message, "\n(and ", report.more_errors, " more errors)");
  }
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<std::unique_ptr<PolicyWatcher>> PolicyWatcher::Create(
    PolicyStore* store, PolicySource source, PolicyWatcherOptions options) {
  if (store == nullptr) {
    return absl::InvalidArgumentError("a policy watcher needs a store");
  }
  if (source.paths.empty()) {
    return absl::InvalidArgumentError(
        "a policy source needs at least one path");
  }
  if (source.kind == PolicySource::Kind::kBundle && source.paths.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a bundle source is one file; got ", source.paths.size(), " paths"));
  }
  if (options.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the poll interval must be positive");
  }
  if (options.settle < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the settle time must not be negative; got ",
                     absl::FormatDuration(options.settle)));
  }
  return std::unique_ptr<PolicyWatcher>(
      new PolicyWatcher(store, std::move(source), std::move(options)));
}

PolicyWatcher::PolicyWatcher(PolicyStore* store, PolicySource source,
                             PolicyWatcherOptions options)
    : store_(store), source_(std::move(source)), options_(std::move(options)) {
  // Picks the fastest BLAKE2b for the CPU; idempotent and thread-safe.
  static const int sodium = sodium_init();
  (void)sodium;
}

PolicyWatcher::~PolicyWatcher() { Stop(); }

absl::Time PolicyWatcher::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

std::vector<PolicyWatcher::FileState> PolicyWatcher::StatSources() const {
  std::vector<std::string> paths;
  for (const std::string& path : source_.paths) {
    std::error_code error;
    if (source_.kind == PolicySource::Kind::kPolicyFiles &&
        std::filesystem::is_directory(path, error)) {
      // The loader's own listing: the watcher sees the files a load reads,
      // a dangling symbolic link among them (its state: missing).
      absl::StatusOr<std::vector<std::string>> files = ListPolicyFiles(path);
      if (files.ok()) {
        paths.insert(paths.end(), files->begin(), files->end());
      } else {
        paths.push_back(path);  // the load that follows names the problem
      }
    } else {
      paths.push_back(path);
    }
  }
  std::vector<FileState> states;
  states.reserve(paths.size());
  for (std::string& path : paths) {
    FileState state;
    struct stat info;
    if (stat(path.c_str(), &info) == 0) {
      state.exists = true;
      state.device = info.st_dev;
      state.inode = info.st_ino;
      state.size = static_cast<uint64_t>(info.st_size);
      state.modified_ns = Nanos(info.st_mtim);
      state.changed_ns = Nanos(info.st_ctim);
    }
    state.path = std::move(path);
    states.push_back(std::move(state));
  }
  return states;
}

PolicyWatcher::PollResult PolicyWatcher::PollOnce() {
  std::lock_guard<std::mutex> lock(poll_mu_);
  // Taken before reading anything: a write after this moment has a
  // modification time the racy rule below catches.
  const absl::Time now = Now();
  std::vector<FileState> files = StatSources();
  {
    std::lock_guard<std::mutex> state_lock(state_mu_);
    ++stats_.polls;
  }
  bool racy = false;
  for (const FileState& file : files) {
    if (file.exists &&
        absl::FromUnixNanos(file.modified_ns) + options_.racy_window >
            content_read_at_) {
      racy = true;
    }
  }
  const bool moved = !have_content_ || files != files_;
  PollResult result = PollResult::kUnchanged;
  if (moved || racy) {
    {
      std::lock_guard<std::mutex> state_lock(state_mu_);
      ++stats_.content_reads;
    }
    // The content's digest: every file's path, size and bytes.
    crypto_generichash_state hash;
    crypto_generichash_init(&hash, nullptr, 0, 32);
    absl::Status read_error;
    std::string bundle_bytes;
    const size_t max_bytes = source_.kind == PolicySource::Kind::kBundle
                                 ? options_.source.bundle.max_bundle_bytes
                                 : options_.source.load.max_file_bytes;
    for (const FileState& file : files) {
      absl::StatusOr<std::string> bytes =
          ReadFileToString(file.path, max_bytes);
      if (!bytes.ok()) {
        read_error = bytes.status();
        break;
      }
      const uint64_t size = bytes->size();
      crypto_generichash_update(
          &hash, reinterpret_cast<const unsigned char*>(file.path.c_str()),
          file.path.size() + 1);
      crypto_generichash_update(
          &hash, reinterpret_cast<const unsigned char*>(&size), sizeof(size));
      crypto_generichash_update(
          &hash, reinterpret_cast<const unsigned char*>(bytes->data()),
          bytes->size());
      if (source_.kind == PolicySource::Kind::kBundle) {
        bundle_bytes = *std::move(bytes);
      }
    }
    PolicyDigest content;
    crypto_generichash_final(&hash, content.bytes.data(), content.bytes.size());
    content_read_at_ = now;
    files_ = std::move(files);
    // A source that cannot be read counts as one content (all zeros), so
    // that the same failure is reported once, not on every poll.
    if (!read_error.ok()) content = PolicyDigest();
    if (!have_content_ || content != content_) {
      have_content_ = true;
      content_ = content;
      absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy;
      if (!read_error.ok()) {
        policy = read_error;
      } else if (source_.kind == PolicySource::Kind::kBundle) {
        policy = ParseBundle(bundle_bytes, options_.source.bundle);
        if (!policy.ok()) {
          policy = absl::Status(
              policy.status().code(),
              absl::StrCat(source_.paths[0], ": ", policy.status().message()));
        }
      } else {
        policy = LoadPolicySource(source_, options_.source);
      }
      result = Publish(std::move(policy));
    }
  }
  store_->Reclaim();
  return result;
}

PolicyWatcher::PollResult PolicyWatcher::Publish(
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy) {
  ReloadEvent event;
  if (policy.ok()) {
    std::shared_ptr<const CompiledPolicy> published = *std::move(policy);
    absl::StatusOr<PolicyStore::SnapshotInfo> info = store_->Publish(published);
    if (info.ok()) {
      event.outcome = ReloadEvent::Outcome::kPublished;
      event.published = *info;
      event.policy = std::move(published);
    } else {
      event.status = info.status();
    }
  } else {
    event.status = policy.status();
  }
  {
    std::lock_guard<std::mutex> state_lock(state_mu_);
    last_error_ = event.status;
    if (event.outcome == ReloadEvent::Outcome::kPublished) {
      ++stats_.published;
    } else {
      ++stats_.rejected;
    }
  }
  if (options_.on_reload) options_.on_reload(event);
  return event.outcome == ReloadEvent::Outcome::kPublished
             ? PollResult::kPublished
             : PollResult::kRejected;
}

void PolicyWatcher::Start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  if (options_.notify_on_change) {
    absl::StatusOr<std::unique_ptr<internal::ChangeNotifier>> notifier =
        internal::ChangeNotifier::Create(source_.paths);
    // Without inotify the interval's polls still reload, only later.
    if (notifier.ok()) notifier_ = *std::move(notifier);
  }
  thread_ = std::thread([this, notifier = notifier_.get()] {
    // An infinite interval (notifications only) still polls once a day:
    // waits are bounded, and an idle poll costs a few stat() calls.
    const absl::Duration period = std::min(options_.interval, absl::Hours(24));
    const auto interval = absl::ToChronoNanoseconds(period);
    bool notified = false;
    for (;;) {
      PollOnce();
      if (notified) {
        std::lock_guard<std::mutex> state_lock(state_mu_);
        ++stats_.notified_polls;
      }
      if (notifier != nullptr) {
        const auto woke = notifier->Wait(period, options_.settle);
        if (woke == internal::ChangeNotifier::WaitResult::kInterrupted) return;
        notified = woke == internal::ChangeNotifier::WaitResult::kChanged;
        continue;
      }
      std::unique_lock<std::mutex> wait_lock(thread_mu_);
      if (wake_.wait_for(wait_lock, interval, [this] { return stopping_; })) {
        return;
      }
    }
  });
}

void PolicyWatcher::Stop() {
  std::thread thread;
  std::unique_ptr<internal::ChangeNotifier> notifier;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopping_ = true;
    thread = std::move(thread_);
    notifier = std::move(notifier_);
  }
  if (notifier != nullptr) notifier->Interrupt();
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

absl::Status PolicyWatcher::last_error() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return last_error_;
}

PolicyWatcher::Stats PolicyWatcher::stats() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return stats_;
}

}  // namespace portcullis
