#include "engine/live/policy_watcher.h"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/common/status_macros.h"
#include "engine/compile/json_policy_compiler.h"
#include "engine/live/manifest.h"
#include "engine/live/reload_guards.h"

namespace portcullis {
namespace {

int64_t Nanos(const struct timespec& time) {
  return int64_t{time.tv_sec} * 1000000000 + time.tv_nsec;
}

// The largest manifest read: a listing, not a policy.
constexpr size_t kMaxManifestBytes = size_t{1} << 20;

// A bundle or a manifest is one file.
absl::Status CheckOneFile(const PolicySource& source) {
  if (source.kind == PolicySource::Kind::kPolicyFiles ||
      source.paths.size() == 1) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "a ", source.kind == PolicySource::Kind::kBundle ? "bundle" : "manifest",
      " source is one file; got ", source.paths.size(), " paths"));
}

// Compiles loaded policy files, tracing each compile error to its file.
absl::StatusOr<std::unique_ptr<const CompiledPolicy>> CompileLoaded(
    const LoadedPolicy& loaded, const CompileOptions& options) {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      Compile(loaded.policy, options);
  if (policy.ok()) return policy;
  // Compile's paths are the merged set's; validating again gives them one by
  // one, to trace each to its file.
  const ValidationReport report = Validate(loaded.policy, options);
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

// The manifest's entries, each checked against the document read for it.
// `documents` holds the manifest first, then the files in the manifest's
// order (as SourceFiles lists them).
absl::Status VerifyManifest(absl::Span<const PolicyDocument> documents) {
  PORTCULLIS_ASSIGN_OR_RETURN(
      const std::vector<ManifestEntry> entries,
      ParseManifest(documents[0].path, documents[0].content));
  if (entries.size() != documents.size() - 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        documents[0].path, ": the manifest changed while it was read"));
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].path != documents[i + 1].path) {
      return absl::FailedPreconditionError(absl::StrCat(
          documents[0].path, ": the manifest changed while it was read"));
    }
    PORTCULLIS_RETURN_IF_ERROR(
        VerifyManifestEntry(entries[i], documents[i + 1].content));
  }
  return absl::OkStatus();
}

// The files a source stands for, in a fixed order: a directory's policy
// files by name; a manifest, then the files it lists.
absl::StatusOr<std::vector<std::string>> SourceFiles(
    const PolicySource& source) {
  std::vector<std::string> paths;
  if (source.kind == PolicySource::Kind::kManifest) {
    const std::string& manifest = source.paths[0];
    PORTCULLIS_ASSIGN_OR_RETURN(const std::string content,
                                ReadFileToString(manifest, kMaxManifestBytes));
    PORTCULLIS_ASSIGN_OR_RETURN(const std::vector<ManifestEntry> entries,
                                ParseManifest(manifest, content));
    paths.push_back(manifest);
    for (const ManifestEntry& entry : entries) paths.push_back(entry.path);
    return paths;
  }
  for (const std::string& path : source.paths) {
    std::error_code error;
    if (source.kind == PolicySource::Kind::kPolicyFiles &&
        std::filesystem::is_directory(path, error)) {
      // The loader's own listing: the watcher reads the files a load would,
      // a dangling symbolic link among them (reading it names it).
      PORTCULLIS_ASSIGN_OR_RETURN(const std::vector<std::string> files,
                                  ListPolicyFiles(path));
      paths.insert(paths.end(), files.begin(), files.end());
    } else {
      paths.push_back(path);
    }
  }
  return paths;
}

// Compiles the documents of one read of a source (SourceFiles' order).
absl::StatusOr<std::unique_ptr<const CompiledPolicy>> CompileDocuments(
    const PolicySource& source, std::vector<PolicyDocument> documents,
    const PolicySourceOptions& options) {
  switch (source.kind) {
    case PolicySource::Kind::kBundle: {
      absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
          ParseBundle(documents[0].content, options.bundle);
      if (policy.ok()) return policy;
      return absl::Status(
          policy.status().code(),
          absl::StrCat(documents[0].path, ": ", policy.status().message()));
    }
    case PolicySource::Kind::kManifest:
      PORTCULLIS_RETURN_IF_ERROR(VerifyManifest(documents));
      documents.erase(documents.begin());
      break;
    case PolicySource::Kind::kPolicyFiles:
      break;
  }
  // No policy file: an empty policy, which the watcher refuses unless
  // PolicyWatcherOptions::allow_empty says it is intended.
  if (documents.empty()) return Compile(v1::PolicySet(), options.compile);
  // One JSON document compiles in two passes over its bytes
  // (json_policy_compiler.h); what that does not take, the loader and
  // compiler below take or explain.
  if (documents.size() == 1 &&
      IsJsonDocumentWithinLimits(documents[0], options.load)) {
    const std::string& content = documents[0].content;
    std::optional<std::unique_ptr<const CompiledPolicy>> streamed =
        CompileJsonStreamed(content, content.capacity(), options.load,
                            options.compile, nullptr);
    if (streamed) return *std::move(streamed);
  }
  PORTCULLIS_ASSIGN_OR_RETURN(const LoadedPolicy loaded,
                              LoadPolicyDocuments(documents, options.load));
  return CompileLoaded(loaded, options.compile);
}

size_t MaxFileBytes(const PolicySource& source,
                    const PolicySourceOptions& options) {
  return source.kind == PolicySource::Kind::kBundle
             ? options.bundle.max_bundle_bytes
             : options.load.max_file_bytes;
}

}  // namespace

absl::StatusOr<std::unique_ptr<const CompiledPolicy>> LoadPolicySource(
    const PolicySource& source, const PolicySourceOptions& options) {
  PORTCULLIS_RETURN_IF_ERROR(CheckOneFile(source));
  if (source.kind == PolicySource::Kind::kPolicyFiles) {
    std::optional<std::unique_ptr<const CompiledPolicy>> streamed =
        CompileJsonFileStreamed(source.paths, options.load, options.compile,
                                nullptr);
    if (streamed) return *std::move(streamed);
    // Streamed, one file at a time: a large policy is not held twice.
    PORTCULLIS_ASSIGN_OR_RETURN(const LoadedPolicy loaded,
                                LoadPolicyFiles(source.paths, options.load));
    return CompileLoaded(loaded, options.compile);
  }
  PORTCULLIS_ASSIGN_OR_RETURN(const std::vector<std::string> files,
                              SourceFiles(source));
  std::vector<PolicyDocument> documents;
  for (const std::string& file : files) {
    PORTCULLIS_ASSIGN_OR_RETURN(
        std::string content,
        ReadFileToString(
            file,
            documents.empty() && source.kind == PolicySource::Kind::kManifest
                ? kMaxManifestBytes
                : MaxFileBytes(source, options)));
    documents.push_back({file, std::move(content)});
  }
  return CompileDocuments(source, std::move(documents), options);
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
  PORTCULLIS_RETURN_IF_ERROR(CheckOneFile(source));
  if (options.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the poll interval must be positive");
  }
  if (options.quiet_period < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the quiet period must not be negative; got ",
                     absl::FormatDuration(options.quiet_period)));
  }
  if (!(options.max_removed_share >= 0 && options.max_removed_share <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_removed_share must be within [0, 1]; got ",
                     options.max_removed_share));
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
  // A source whose files cannot be listed (an unreadable or malformed
  // manifest) is watched through its own paths; reading it reports why.
  absl::StatusOr<std::vector<std::string>> listed = SourceFiles(source_);
  std::vector<std::string> paths =
      listed.ok() ? *std::move(listed) : source_.paths;
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

bool PolicyWatcher::Quiet(const std::vector<FileState>& files, absl::Time now) {
  bool old_enough = true;
  for (const FileState& file : files) {
    const absl::Time touched =
        absl::FromUnixNanos(std::max(file.modified_ns, file.changed_ns));
    if (file.exists && touched + options_.quiet_period > now) {
      old_enough = false;
    }
  }
  if (old_enough) return true;
  if (files != pending_files_) {
    pending_files_ = files;
    pending_since_ = now;
  }
  return now - pending_since_ >= options_.quiet_period;
}

absl::Status PolicyWatcher::RefuseEmpty(
    const std::vector<PolicyDocument>& documents,
    const CompiledPolicy& policy) const {
  if (!options_.allow_empty) {
    const size_t first_policy_file =
        source_.kind == PolicySource::Kind::kManifest ? 1 : 0;
    if (documents.size() <= first_policy_file) {
      return absl::FailedPreconditionError(
          "the source has no policy file; an empty source is refused unless "
          "PolicyWatcherOptions::allow_empty is set");
    }
    for (size_t i = first_policy_file; i < documents.size(); ++i) {
      if (documents[i].content.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            documents[i].path,
            ": the file is empty (a truncated write?); an empty policy file "
            "is refused unless PolicyWatcherOptions::allow_empty is set"));
      }
    }
  }
  return internal::RefuseEmptyPolicy(policy, options_.allow_empty,
                                     "PolicyWatcherOptions");
}

absl::Status PolicyWatcher::RefuseMassRemoval(
    const CompiledPolicy& policy) const {
  const std::shared_ptr<const CompiledPolicy> published = store_->policy();
  return internal::RefuseMassRemoval(published.get(), policy,
                                     options_.max_removed_share,
                                     "PolicyWatcherOptions");
}

PolicyWatcher::PollResult PolicyWatcher::PollOnce() {
  std::lock_guard<std::mutex> lock(poll_mu_);
  // Taken before reading anything: a write after this moment has a
  // modification time the racy rule below catches.
  const absl::Time now = Now();
  std::vector<FileState> files = StatSources();
  {
    std::lock_guard<std::mutex> state_lock(state_mu_);
    ++status_.stats.polls;
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
  if (moved && !Quiet(files, now)) {
    std::lock_guard<std::mutex> state_lock(state_mu_);
    ++status_.stats.pending;
    status_.pending = true;
    return PollResult::kPending;
  }
  pending_files_.clear();
  if (moved || racy) {
    {
      std::lock_guard<std::mutex> state_lock(state_mu_);
      ++status_.stats.content_reads;
      status_.pending = false;
    }
    // The content's digest: every file's path, size and bytes. The same
    // bytes are then compiled, so what is published is what was digested.
    crypto_generichash_state hash;
    crypto_generichash_init(&hash, nullptr, 0, 32);
    absl::Status read_error;
    std::vector<PolicyDocument> documents;
    documents.reserve(files.size());
    for (const FileState& file : files) {
      const bool manifest =
          documents.empty() && source_.kind == PolicySource::Kind::kManifest;
      absl::StatusOr<std::string> bytes = ReadFileToString(
          file.path, manifest ? kMaxManifestBytes
                              : MaxFileBytes(source_, options_.source));
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
      documents.push_back({file.path, *std::move(bytes)});
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
      } else {
        policy = CompileDocuments(source_, documents, options_.source);
      }
      if (policy.ok()) {
        absl::Status refused = RefuseEmpty(documents, **policy);
        uint64_t Stats::*counter = &Stats::refused_empty;
        if (refused.ok()) {
          refused = RefuseMassRemoval(**policy);
          counter = &Stats::guarded;
        }
        if (!refused.ok()) {
          std::lock_guard<std::mutex> state_lock(state_mu_);
          ++(status_.stats.*counter);
          policy = std::move(refused);
        }
      }
      result = Publish(std::move(policy), now);
    }
  }
  store_->Reclaim();
  return result;
}

PolicyWatcher::PollResult PolicyWatcher::Publish(
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy,
    absl::Time now) {
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
    status_.last_error = event.status;
    if (event.outcome == ReloadEvent::Outcome::kPublished) {
      ++status_.stats.published;
      status_.published = true;
      status_.last_good = event.published;
      status_.last_good_at = now;
      status_.failing_since = absl::InfiniteFuture();
    } else {
      ++status_.stats.rejected;
      status_.failing_since = std::min(status_.failing_since, now);
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
    bool notified = false;
    for (;;) {
      // A source still being written is looked at again once it may be
      // quiet, not an interval later.
      const bool pending = PollOnce() == PollResult::kPending;
      if (notified) {
        std::lock_guard<std::mutex> state_lock(state_mu_);
        ++status_.stats.notified_polls;
      }
      const absl::Duration wait =
          pending ? std::min(period, std::max(options_.quiet_period,
                                              absl::Milliseconds(10)))
                  : period;
      if (notifier != nullptr) {
        const auto woke = notifier->Wait(wait, options_.settle);
        if (woke == internal::ChangeNotifier::WaitResult::kInterrupted) return;
        notified = woke == internal::ChangeNotifier::WaitResult::kChanged;
        continue;
      }
      std::unique_lock<std::mutex> wait_lock(thread_mu_);
      if (wake_.wait_for(wait_lock, absl::ToChronoNanoseconds(wait),
                         [this] { return stopping_; })) {
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
  return status_.last_error;
}

PolicyWatcher::Stats PolicyWatcher::stats() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return status_.stats;
}

PolicyWatcher::Status PolicyWatcher::status() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return status_;
}

}  // namespace portcullis
