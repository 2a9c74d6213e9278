// Policy distribution: a BundlePoller fetches a signed policy bundle
// (bundle.h, `portcullis compile --signing-key`) from a bundle server over
// HTTP(S), publishes it to a PolicyStore, and keeps the last good bundle on
// disk, so that a restart while the bundle server is down serves the last
// policy that was verified and published (docs/live-policy.md, "Policy
// bundles from a bundle server").
//
// Each poll is one conditional GET (If-None-Match with the ETag of the
// bundle last received: 304 Not Modified costs no download and no parse).
// A downloaded bundle is refused unless its Ed25519 signature verifies
// against one of the configured public keys, and the signature is verified
// before anything else in the bundle is read or anything is written; it then
// passes the same guards as a file reload (reload_guards.h: no empty policy
// unless allowed, no mass removal), and only then is it published and
// written, atomically, as the last good bundle. Whatever fails (the server
// is unreachable, answers 500, hangs past the timeout, cuts the answer short,
// sends too much, sends a bundle signed by an unknown key, or garbage), the
// store keeps the policy it serves and status() says what and since when,
// naming the URL.
//
// libcurl does the HTTP; this target (//engine/live:bundle_poller) is the
// only one of the engine that links it.
//
// Example:
//   PolicyStore store;
//   BundlePollerOptions options;
//   options.url = "https://bundles.example.com/policy.bundle";
//   options.verification_keys = {*auth::LoadPublicKeyFile("ci.jwk.pub")};
//   options.cache_path = "/var/lib/service/last-good.bundle";
//   options.on_reload = [&](const ReloadEvent& e) {
//     if (e.policy != nullptr) (void)token_service->SetPolicy(e.policy);
//   };
//   absl::StatusOr<std::unique_ptr<BundlePoller>> poller =
//       BundlePoller::Create(&store, std::move(options));
//   (*poller)->PollOnce();  // before serving: the server's bundle, or the
//                           // last good one from disk
//   (*poller)->Start();     // then every 10 to 30 s, jittered
#ifndef PORTCULLIS_ENGINE_LIVE_BUNDLE_POLLER_H_
#define PORTCULLIS_ENGINE_LIVE_BUNDLE_POLLER_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/common/ed25519_key.h"
#include "engine/live/policy_store.h"
#include "engine/live/policy_watcher.h"
#include "engine/snapshot/bundle_format.h"

namespace portcullis {

struct BundlePollerOptions {
  // The bundle's URL: http:// or https:// only, without user name or
  // password (they would end up in logs). Required.
  std::string url;
  // Only a bundle signed by one of these keys (by key id; several during a
  // rotation) is accepted, from the server and from the cache file.
  // Required: a bundle that arrives over a network is never trusted on its
  // digest alone.
  std::vector<Ed25519PublicKey> verification_keys;
  // Where the last good bundle is kept (written atomically after each
  // publication, read by the first poll when the server cannot give a
  // bundle that publishes). Empty: no cache; a restart then waits for the
  // server.
  std::string cache_path;

  // Between two polls of Start()'s thread: uniformly random within
  // [min_delay, max_delay], so that replicas started together do not poll
  // together. After n failed polls in a row (n >= 1) the upper bound grows
  // to min(max_backoff, max_delay * 2^n): a struggling server is polled
  // less often, and a recovered one is noticed within max_backoff.
  // Defaults 10 s, 30 s and 120 s.
  absl::Duration min_delay = absl::Seconds(10);
  absl::Duration max_delay = absl::Seconds(30);
  absl::Duration max_backoff = absl::Seconds(120);

  // Time to establish the connection (TCP and TLS), and for the whole
  // fetch, connection included: a server that accepts and never answers
  // fails after `timeout`. Defaults 5 s and 60 s.
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration timeout = absl::Seconds(60);
  // Largest bundle accepted: a longer announced Content-Length is refused
  // before the body, a longer body is aborted once it passes the limit.
  // Default 256 MiB.
  size_t max_bundle_bytes = size_t{256} << 20;
  // Redirects followed (http and https only) at most. Default 0: a redirect
  // is an error naming it.
  int max_redirects = 0;

  // The guards a file reload passes too (policy_watcher.h): a policy
  // without roles, entities and credentials is refused unless allow_empty;
  // a bundle removing more than max_removed_share of the published roles,
  // entities or credentials is refused (1 turns it off). No quiet period: a
  // fetched bundle arrives whole or not at all.
  bool allow_empty = false;
  double max_removed_share = 0.5;

  // Called after each publication, and once per distinct failure (a
  // refused bundle, or a fetch error other than the last one), on the
  // polling thread while the poller's poll lock is held: it must not call
  // PollOnce() or Stop(). ReloadEvent::policy as for the watcher.
  std::function<void(const ReloadEvent&)> on_reload;
  // The time of status(). Default (empty): absl::Now.
  std::function<absl::Time()> clock;
};

// Polls one bundle URL for one PolicyStore. Thread-safe; polls are
// serialized. Costs one HTTP request per poll; a bundle is parsed only when
// the server sends one (not on a 304), and published only when its policy
// differs from the published one (an unchanged policy makes no new
// generation).
class BundlePoller {
 public:
  enum class PollResult : uint8_t {
    kUnchanged,  // 304, or a bundle of the policy already published
    kPublished,  // from the server, or from the cache file
    kRejected,   // the server's bundle was refused (signature, guards, ...)
    kFailed,     // no bundle: unreachable, HTTP error, timeout, cut short
  };

  struct Stats {
    uint64_t polls = 0;
    uint64_t downloads = 0;     // 200 answers read whole
    uint64_t not_modified = 0;  // 304 answers
    uint64_t download_bytes = 0;
    uint64_t published = 0;  // including a cache load
    uint64_t rejected = 0;   // bundles refused, including the two below
    uint64_t refused_empty = 0;
    uint64_t guarded = 0;  // refused by the mass-removal guard
    uint64_t fetch_failures = 0;
    uint64_t cache_loads = 0;           // publications from the cache file
    uint64_t cache_write_failures = 0;  // the policy still went live
  };

  // What /readyz and /metrics report.
  struct Status {
    bool published = false;  // this poller has published a policy
    PolicyStore::SnapshotInfo last_good;
    absl::Time last_good_at = absl::InfinitePast();
    // The published policy came from the cache file, and no answer of the
    // server has confirmed it since.
    bool serving_cache = false;
    // The last poll whose answer was usable: a 304, or a bundle that
    // published or was the published policy. InfinitePast before any.
    absl::Time last_success = absl::InfinitePast();
    // The error of the last poll (OK when it succeeded, or before any), and
    // since when polls have failed without a success in between
    // (InfiniteFuture while healthy). Messages name the URL.
    absl::Status last_error;
    absl::Time failing_since = absl::InfiniteFuture();
    // The ETag of the last bundle received (empty: none, or the server
    // sends none; If-None-Match is then not sent).
    std::string etag;
    // The last cache file write's error (OK if none failed).
    absl::Status cache_error;
    Stats stats;
  };

  // `store` must outlive the poller. InvalidArgument naming the option for
  // a URL that is not http(s) or carries a user name or password, no
  // verification key, a non-positive delay or timeout, min_delay above
  // max_delay or max_backoff below max_delay, a zero max_bundle_bytes,
  // max_redirects outside [0, 20], or max_removed_share outside [0, 1].
  // Fetches nothing: call PollOnce() or Start().
  static absl::StatusOr<std::unique_ptr<BundlePoller>> Create(
      PolicyStore* store, BundlePollerOptions options);

  BundlePoller(const BundlePoller&) = delete;
  BundlePoller& operator=(const BundlePoller&) = delete;
  ~BundlePoller();  // Stop()s

  // Polls once, now. When nothing is published yet and the server gives no
  // bundle that publishes, loads the cache file instead (once): the result
  // is then kPublished and status().serving_cache is set, while last_error
  // keeps the server's failure.
  PollResult PollOnce();

  // A thread that polls (at once if PollOnce() never ran, otherwise after a
  // delay), then again after each delay (BundlePollerOptions::min_delay),
  // until Stop(). Does nothing if already started.
  void Start();
  // Stops the thread, aborting a fetch in flight. Idempotent.
  void Stop();

  Status status() const;

 private:
  struct Answer;  // one HTTP answer (bundle_poller.cc)

  BundlePoller(PolicyStore* store, BundlePollerOptions options);
  absl::Time Now() const;
  absl::StatusOr<Answer> Fetch(const std::string& etag);
  // Verifies, guards and publishes `bytes` (from the server: `from_cache`
  // false); on publication from the server, writes the cache file.
  PollResult Offer(const std::string& bytes, bool from_cache, absl::Time now);
  PollResult LoadCache(absl::Time now);
  // Records a failure; tells on_reload when it differs from the last one.
  void Fail(const absl::Status& error, absl::Time now,
            bool fetch_error = false);
  void Succeed(absl::Time now);

  PolicyStore* const store_;
  const BundlePollerOptions options_;

  // Serializes polls; guards the members up to state_mu_.
  std::mutex poll_mu_;
  bool cache_tried_ = false;
  // The last failure told to on_reload (to tell each one once).
  std::string reported_error_;
  // The ETag sent as If-None-Match; whether its bundle was refused (a 304
  // to it is then still a failure).
  std::string etag_;
  bool etag_refused_ = false;
  int consecutive_failures_ = 0;

  mutable std::mutex state_mu_;
  Status status_;

  // Start()'s thread.
  std::mutex thread_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;           // guarded by thread_mu_
  std::atomic<bool> abort_{false};  // read by libcurl's progress callback
  std::thread thread_;
};

// The delay before the next poll after `failures` failed polls in a row
// (BundlePollerOptions::min_delay), drawn from `random`.
absl::Duration NextPollDelay(const BundlePollerOptions& options, int failures,
                             absl::BitGenRef random);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_LIVE_BUNDLE_POLLER_H_
