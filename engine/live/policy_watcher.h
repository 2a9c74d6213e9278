// Hot reload: a PolicyWatcher watches a policy's source files (policy files
// or a compiled bundle), and when they change, loads, compiles and publishes
// the new policy to a PolicyStore. An invalid edit is rejected with its
// errors and the last good policy keeps serving: a bad edit never takes
// authorization down.
//
// Example:
//   PolicyStore store;
//   PolicyWatcherOptions options;
//   options.on_reload = [&](const ReloadEvent& event) {
//     if (!event.status.ok()) std::cerr << event.status << "\n";
//     // Anything else that serves the policy follows the store:
//     if (event.policy != nullptr)
//     (void)token_service->SetPolicy(event.policy);
//   };
//   absl::StatusOr<std::unique_ptr<PolicyWatcher>> watcher =
//       PolicyWatcher::Create(&store, PolicySource::Files({"policy/"}),
//                             options);
//   (*watcher)->PollOnce();  // the first load, before serving
//   (*watcher)->Start();     // then on every change, and every interval
#ifndef PORTCULLIS_ENGINE_LIVE_POLICY_WATCHER_H_
#define PORTCULLIS_ENGINE_LIVE_POLICY_WATCHER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/compile/compiler.h"
#include "engine/live/change_notifier.h"
#include "engine/live/policy_store.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "engine/snapshot/compiled_policy.h"

namespace portcullis {

// Where a policy comes from: policy files and directories (compiled on
// load), the policy files a manifest lists (manifest.h: published only when
// every listed file matches its digest), or one compiled bundle.
struct PolicySource {
  enum class Kind : uint8_t { kPolicyFiles, kBundle, kManifest };

  static PolicySource Files(std::vector<std::string> paths) {
    return {Kind::kPolicyFiles, std::move(paths)};
  }
  static PolicySource Bundle(std::string path) {
    return {Kind::kBundle, {std::move(path)}};
  }
  // `path` is the manifest file; the files it lists are the source.
  static PolicySource Manifest(std::string path) {
    return {Kind::kManifest, {std::move(path)}};
  }

  Kind kind = Kind::kPolicyFiles;
  std::vector<std::string> paths;
};

struct PolicySourceOptions {
  CompileOptions compile;  // policy files
  LoadOptions load;        // policy files
  BundleOptions bundle;    // bundles (and their key)
};

// Loads a source into a compiled policy: policy files are read, merged and
// compiled (LoadPolicyFiles, Compile), with each compile error's path naming
// the file it comes from (`b.json:roles[1].name: ...`); a manifest's files
// likewise, once each matches its digest (FailedPrecondition otherwise); a
// bundle is read and checked (as ReadBundle does). One load of a source,
// outside a watcher (the watcher compiles the bytes its poll read and
// digested, through the same steps).
absl::StatusOr<std::unique_ptr<const CompiledPolicy>> LoadPolicySource(
    const PolicySource& source,
    const PolicySourceOptions& options = PolicySourceOptions());

// What one reload attempt did.
struct ReloadEvent {
  enum class Outcome : uint8_t { kPublished, kRejected };
  Outcome outcome = Outcome::kRejected;
  // kRejected: why; the store still serves what it served before.
  absl::Status status;
  // kPublished: the publication.
  PolicyStore::SnapshotInfo published;
  // kPublished: the snapshot just published (the store's, not a copy), for
  // whatever else must follow the store, e.g. a token service:
  //   options.on_reload = [&](const ReloadEvent& e) {
  //     if (e.policy != nullptr) (void)service->SetPolicy(e.policy);
  //   };
  // Null when rejected. Holding it past the callback keeps the snapshot
  // alive after the store replaces it.
  std::shared_ptr<const CompiledPolicy> policy;
};

struct PolicyWatcherOptions {
  PolicySourceOptions source;
  // Between two polls of Start()'s thread (at most a day: an infinite
  // interval, for notifications only, polls daily). Default 1 s.
  absl::Duration interval = absl::Seconds(1);
  // Start()'s thread also polls as soon as inotify reports a change in a
  // directory holding the source (an edit, an atomic rename, a Kubernetes
  // ConfigMap's symlink swap), after `settle` passes without another event,
  // so a reload follows an edit within milliseconds. The interval's polls go
  // on: they catch what inotify cannot see (network file systems, a source
  // directory created later). Without inotify (off, or refused by the
  // kernel) the watcher only polls.
  bool notify_on_change = true;
  absl::Duration settle = absl::Milliseconds(50);
  // A file modified less than this long before its content was last read
  // may have changed again within its file system's timestamp granularity
  // without its size, inode or times changing; such files are read and
  // digested again on each poll until they are older. Default 2 s (FAT's
  // granularity; most file systems need far less).
  absl::Duration racy_window = absl::Seconds(2);
  // The time, for the rules above and below. Default (empty): absl::Now.
  std::function<absl::Time()> clock;

  // Guards against publishing a source caught mid-write
  // (docs/live-policy.md, "What a reload refuses"):
  //
  // A changed source is read only once it is quiet: every file's
  // modification and change times at least `quiet_period` old, or the same
  // stat() of every file seen on polls `quiet_period` apart (for clocks that
  // disagree with the file system's). Until then a poll returns kPending and
  // Start()'s thread polls again when the period ends. Default 1 s; zero
  // reads every change at once. No wait catches a writer that pauses
  // longer; a manifest (PolicySource::Manifest) is the complete answer.
  absl::Duration quiet_period = absl::Seconds(1);
  // An empty source is refused with FailedPrecondition unless this is set:
  // no policy file, a policy file of zero bytes (text format has no end
  // marker: a truncated file is a valid, smaller policy), or a policy that
  // defines no role, entity or credential.
  bool allow_empty = false;
  // A reload that removes more than this share of the published policy's
  // roles, of its entities or of its credentials (matched by id) is refused
  // with FailedPrecondition and counted in Stats::guarded. Default 0.5: a
  // reload may remove at most half of each; 1 turns the guard off.
  double max_removed_share = 0.5;
  // Called after every reload attempt, on the polling thread, while the
  // watcher's poll lock is held: it must not call PollOnce() or Stop().
  // Calls come one at a time and in publication order, so forwarding
  // ReloadEvent::policy (to TokenService::SetPolicy) keeps the follower on
  // the store's policy; it follows just after the store, not atomically
  // with it.
  std::function<void(const ReloadEvent&)> on_reload;
};

// Watches a PolicySource for one PolicyStore. A poll stats the source's files
// (a directory stands for its policy files, so adding or removing one counts)
// and compares device, inode, size and modification and change times with the
// last poll; on a difference (or a racy modification time, see
// PolicyWatcherOptions) it reads the files and compares their BLAKE2b digest,
// and only when the content changed does it load, compile and publish. An
// invalid source is rejected once per distinct content: the error is kept in
// last_error() and passed to on_reload, and the store keeps its policy.
// Start()'s thread polls every options.interval and, with inotify, as soon as
// the source's directories change (PolicyWatcherOptions::notify_on_change).
// Thread-safe; polls are serialized.
class PolicyWatcher {
 public:
  // kPending: the source changed but is not quiet yet (quiet_period).
  enum class PollResult : uint8_t {
    kUnchanged,
    kPublished,
    kRejected,
    kPending
  };

  struct Stats {
    uint64_t polls = 0;
    uint64_t content_reads = 0;  // polls that read and digested the files
    uint64_t published = 0;
    uint64_t rejected = 0;  // including the two kinds below
    uint64_t refused_empty = 0;
    uint64_t guarded = 0;  // refused by the mass-removal guard
    uint64_t pending = 0;  // polls that found the source not yet quiet
    // Start()'s polls that a change notification triggered (the others
    // came with the interval).
    uint64_t notified_polls = 0;
  };

  // `store` must outlive the watcher. InvalidArgument for a source without
  // paths, a bundle source with more than one, a non-positive interval or a
  // negative settle time.
  // Loads nothing: call PollOnce() or Start().
  static absl::StatusOr<std::unique_ptr<PolicyWatcher>> Create(
      PolicyStore* store, PolicySource source,
      PolicyWatcherOptions options = PolicyWatcherOptions());

  PolicyWatcher(const PolicyWatcher&) = delete;
  PolicyWatcher& operator=(const PolicyWatcher&) = delete;
  ~PolicyWatcher();  // Stop()s

  // Polls once, now (the poll trigger for tests and for callers with their
  // own scheduling).
  PollResult PollOnce();

  // Polls at once, then every options.interval on a thread of its own, until
  // Stop(). Does nothing if already started.
  void Start();
  void Stop();

  // The error of the last reload attempt; OK if it published, or before any.
  absl::Status last_error() const;
  Stats stats() const;

  // What a health endpoint reports: a service is ready once `published` and
  // may call itself degraded while `failing_since` is long past.
  struct Status {
    bool published = false;  // this watcher has published a policy
    // The store's publication this watcher made last.
    PolicyStore::SnapshotInfo last_good;
    absl::Time last_good_at = absl::InfinitePast();
    // The error of the last attempt (OK if it published, or before any), and
    // since when attempts have failed without a publication in between
    // (InfiniteFuture while the last attempt published or before any).
    absl::Status last_error;
    absl::Time failing_since = absl::InfiniteFuture();
    // Polls since the last publication or rejection that found the source
    // still changing (it is not quiet yet).
    bool pending = false;
    Stats stats;
  };
  Status status() const;

 private:
  // One file as stat() saw it.
  struct FileState {
    std::string path;
    bool exists = false;
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t modified_ns = 0;
    int64_t changed_ns = 0;
    friend bool operator==(const FileState& a, const FileState& b) {
      return a.path == b.path && a.exists == b.exists && a.device == b.device &&
             a.inode == b.inode && a.size == b.size &&
             a.modified_ns == b.modified_ns && a.changed_ns == b.changed_ns;
    }
    friend bool operator!=(const FileState& a, const FileState& b) {
      return !(a == b);
    }
  };

  PolicyWatcher(PolicyStore* store, PolicySource source,
                PolicyWatcherOptions options);

  std::vector<FileState> StatSources() const;
  absl::Time Now() const;
  // Publishes a loaded policy, or records why it could not be loaded, and
  // tells on_reload.
  PollResult Publish(
      absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy,
      absl::Time now);
  // Whether `files` may be read now (PolicyWatcherOptions::quiet_period);
  // remembers a changing source across polls.
  bool Quiet(const std::vector<FileState>& files, absl::Time now);
  // The guards that weigh the new policy (PolicyWatcherOptions::allow_empty
  // and max_removed_share); FailedPrecondition saying why.
  absl::Status RefuseEmpty(const std::vector<PolicyDocument>& documents,
                           const CompiledPolicy& policy) const;
  absl::Status RefuseMassRemoval(const CompiledPolicy& policy) const;

  PolicyStore* const store_;
  const PolicySource source_;
  const PolicyWatcherOptions options_;

  // Serializes polls; guards the members up to state_mu_.
  std::mutex poll_mu_;
  std::vector<FileState> files_;
  bool have_content_ = false;
  PolicyDigest content_;
  absl::Time content_read_at_ = absl::InfinitePast();
  // The changed source seen last while not quiet, and since when.
  std::vector<FileState> pending_files_;
  absl::Time pending_since_ = absl::InfinitePast();

  // Guards what readers of the watcher's state see.
  mutable std::mutex state_mu_;
  Status status_;

  // The polling thread, and its inotify watches (null: polling only).
  std::mutex thread_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::unique_ptr<internal::ChangeNotifier> notifier_;
  std::thread thread_;
};

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_LIVE_POLICY_WATCHER_H_
