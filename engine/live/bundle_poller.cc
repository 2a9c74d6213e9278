#include "engine/live/bundle_poller.h"

#include <curl/curl.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/common/atomic_file.h"
#include "engine/live/reload_guards.h"
#include "engine/snapshot/bundle.h"

namespace portcullis {
namespace {

constexpr absl::string_view kOptions = "BundlePollerOptions";
constexpr int kMaxRedirectsLimit = 20;

// libcurl's global state, set up once before the first handle (its global
// init is not thread-safe; a function-local static is).
void InitCurlOnce() {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)init;
}

struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// The URL as libcurl parses it: http(s) only, no credentials.
absl::Status CheckUrl(const std::string& url) {
  if (url.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOptions, "::url: required"));
  }
  std::unique_ptr<CURLU, CurlUrlDeleter> parsed(curl_url());
  if (parsed == nullptr) return absl::ResourceExhaustedError("curl_url");
  if (curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOptions, "::url: \"", absl::CEscape(url),
                     "\" is not a URL (an absolute http:// or https:// URL)"));
  }
  char* scheme = nullptr;
  curl_url_get(parsed.get(), CURLUPART_SCHEME, &scheme, 0);
  const std::string lowered =
      absl::AsciiStrToLower(scheme != nullptr ? scheme : "");
  curl_free(scheme);
  if (lowered != "http" && lowered != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat(kOptions, "::url: \"", absl::CEscape(url),
                     "\": the scheme must be http or https"));
  }
  for (const CURLUPart part : {CURLUPART_USER, CURLUPART_PASSWORD}) {
    char* value = nullptr;
    const CURLUcode got = curl_url_get(parsed.get(), part, &value, 0);
    curl_free(value);
    if (got == CURLUE_OK) {
      // The URL itself is not quoted: it holds a secret.
      return absl::InvalidArgumentError(absl::StrCat(
          kOptions,
          "::url: a user name or password in the URL is refused (it would "
          "be logged with the URL)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(absl::Duration value, absl::string_view name) {
  if (value > absl::ZeroDuration() && value < absl::InfiniteDuration()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(kOptions, "::", name, ": must be positive and finite; got ",
                   absl::FormatDuration(value)));
}

absl::Status CheckOptions(const BundlePollerOptions& options) {
  if (absl::Status url = CheckUrl(options.url); !url.ok()) return url;
  if (options.verification_keys.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOptions,
        "::verification_keys: at least one public key is required: a bundle "
        "fetched over a network is accepted only when signed"));
  }
  struct Named {
    absl::Duration value;
    absl::string_view name;
  };
  for (const Named& d : {Named{options.min_delay, "min_delay"},
                         Named{options.max_delay, "max_delay"},
                         Named{options.max_backoff, "max_backoff"},
                         Named{options.connect_timeout, "connect_timeout"},
                         Named{options.timeout, "timeout"}}) {
    if (absl::Status s = CheckPositive(d.value, d.name); !s.ok()) return s;
  }
  if (options.min_delay > options.max_delay) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOptions, "::min_delay (", absl::FormatDuration(options.min_delay),
        ") is above max_delay (", absl::FormatDuration(options.max_delay),
        ")"));
  }
  if (options.max_backoff < options.max_delay) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOptions, "::max_backoff (", absl::FormatDuration(options.max_backoff),
        ") is below max_delay (", absl::FormatDuration(options.max_delay),
        ")"));
  }
  if (options.max_bundle_bytes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOptions, "::max_bundle_bytes: must be positive"));
  }
  if (options.max_redirects < 0 || options.max_redirects > kMaxRedirectsLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOptions, "::max_redirects: must be within [0, ",
                     kMaxRedirectsLimit, "]; got ", options.max_redirects));
  }
  if (!(options.max_removed_share >= 0 && options.max_removed_share <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOptions, "::max_removed_share: must be within [0, 1]; ",
                     "got ", options.max_removed_share));
  }
  return absl::OkStatus();
}

// The state libcurl's callbacks write to during one fetch.
struct Transfer {
  std::string body;
  size_t max_bytes = 0;
  bool too_large = false;
  const std::atomic<bool>* abort = nullptr;
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  Transfer& transfer = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (bytes > transfer.max_bytes - transfer.body.size()) {
    transfer.too_large = true;
    return 0;  // libcurl aborts the transfer (CURLE_WRITE_ERROR)
  }
  transfer.body.append(data, bytes);
  return bytes;
}

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const Transfer& transfer = *static_cast<const Transfer*>(user);
  return transfer.abort->load(std::memory_order_relaxed) ? 1 : 0;
}

int64_t Milliseconds(absl::Duration d) {
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(d));
}

}  // namespace

struct BundlePoller::Answer {
  bool not_modified = false;
  std::string etag;
  std::string body;
};

absl::Duration NextPollDelay(const BundlePollerOptions& options, int failures,
                             absl::BitGenRef random) {
  absl::Duration upper = options.max_delay;
  if (failures > 0) {
    // max_delay * 2^failures, without overflowing for long outages.
    const int doublings = std::min(failures, 30);
    upper = std::min(options.max_backoff, options.max_delay * (1 << doublings));
  }
  const double span = absl::ToDoubleSeconds(upper - options.min_delay);
  return options.min_delay +
         absl::Seconds(absl::Uniform(absl::IntervalClosed, random, 0.0, span));
}

absl::StatusOr<std::unique_ptr<BundlePoller>> BundlePoller::Create(
    PolicyStore* store, BundlePollerOptions options) {
  InitCurlOnce();
  if (store == nullptr) {
    return absl::InvalidArgumentError("a bundle poller needs a store");
  }
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  return std::unique_ptr<BundlePoller>(
      new BundlePoller(store, std::move(options)));
}

BundlePoller::BundlePoller(PolicyStore* store, BundlePollerOptions options)
    : store_(store), options_(std::move(options)) {}

BundlePoller::~BundlePoller() { Stop(); }

absl::Time BundlePoller::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

absl::StatusOr<BundlePoller::Answer> BundlePoller::Fetch(
    const std::string& etag) {
  const std::string& url = options_.url;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat(url, ": cannot create a libcurl handle"));
  }
  Transfer transfer;
  transfer.max_bytes = options_.max_bundle_bytes;
  transfer.abort = &abort_;
  char error[CURL_ERROR_SIZE] = {0};
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  if (!etag.empty()) {
    headers.reset(curl_slist_append(
        nullptr, absl::StrCat("If-None-Match: ", etag).c_str()));
  }
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION,
                   options_.max_redirects > 0 ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, long{options_.max_redirects});
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(Milliseconds(options_.timeout)));
  // No signals from a thread of a library (the resolver's timeout).
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(options_.max_bundle_bytes));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &Progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "portcullis-bundle-poller/1");
  if (headers != nullptr)
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());

  const CURLcode code = curl_easy_perform(h);
  const std::string detail =
      error[0] != '\0' ? std::string(error) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OK:
      break;
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(absl::StrCat(
          url, ": no complete answer within the timeout (connect ",
          absl::FormatDuration(options_.connect_timeout), ", whole fetch ",
          absl::FormatDuration(options_.timeout), "): ", detail));
    case CURLE_PARTIAL_FILE:
      return absl::DataLossError(absl::StrCat(
          url,
          ": the answer was cut off before its announced length: ", detail));
    case CURLE_FILESIZE_EXCEEDED:
      return absl::ResourceExhaustedError(
          absl::StrCat(url, ": the bundle is larger than max_bundle_bytes (",
                       options_.max_bundle_bytes, " bytes); not downloaded"));
    case CURLE_WRITE_ERROR:
      if (transfer.too_large) {
        return absl::ResourceExhaustedError(absl::StrCat(
            url, ": the bundle is larger than max_bundle_bytes (",
            options_.max_bundle_bytes, " bytes); the download was aborted"));
      }
      return absl::UnavailableError(absl::StrCat(url, ": ", detail));
    case CURLE_ABORTED_BY_CALLBACK:
      return absl::CancelledError(
          absl::StrCat(url, ": the fetch was aborted: the poller is stopping"));
    case CURLE_TOO_MANY_REDIRECTS:
      return absl::UnavailableError(
          absl::StrCat(url, ": more than max_redirects (",
                       options_.max_redirects, ") redirects: ", detail));
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::UnavailableError(absl::StrCat(
          url, ": a redirect to a scheme other than http(s): ", detail));
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      return absl::UnavailableError(
          absl::StrCat(url, ": cannot connect: ", detail));
    default:
      return absl::UnavailableError(absl::StrCat(url, ": ", detail));
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  Answer answer;
  if (status == 304) {
    if (etag.empty()) {
      return absl::UnavailableError(absl::StrCat(
          url,
          ": the server answered 304 Not Modified to an unconditional "
          "GET"));
    }
    answer.not_modified = true;
    answer.etag = etag;
    return answer;
  }
  if (status != 200) {
    const bool redirect = status >= 300 && status < 400;
    return absl::UnavailableError(
        absl::StrCat(url, ": the server answered HTTP ", status,
                     redirect ? absl::StrCat(" (a redirect; max_redirects is ",
                                             options_.max_redirects, ")")
                              : ""));
  }
  // The ETag of the answer, as libcurl parsed it (the last one if several).
  curl_header* header = nullptr;
  if (curl_easy_header(h, "ETag", 0, CURLH_HEADER, -1, &header) == CURLHE_OK &&
      header != nullptr && header->value != nullptr) {
    answer.etag = header->value;
    // A value a header line cannot carry is not sent back.
    if (answer.etag.size() > 1024 ||
        answer.etag.find_first_of("\r\n") != std::string::npos) {
      answer.etag.clear();
    }
  }
  answer.body = std::move(transfer.body);
  return answer;
}

BundlePoller::PollResult BundlePoller::PollOnce() {
  std::lock_guard<std::mutex> lock(poll_mu_);
  const absl::Time now = Now();
  {
    std::lock_guard<std::mutex> state_lock(state_mu_);
    ++status_.stats.polls;
  }
  absl::StatusOr<Answer> answer = Fetch(etag_);
  PollResult result;
  if (!answer.ok()) {
    {
      std::lock_guard<std::mutex> state_lock(state_mu_);
      ++status_.stats.fetch_failures;
    }
    Fail(answer.status(), now, /*fetch_error=*/true);
    result = PollResult::kFailed;
  } else if (answer->not_modified) {
    {
      std::lock_guard<std::mutex> state_lock(state_mu_);
      ++status_.stats.not_modified;
    }
    if (etag_refused_) {
      // Still the bundle that was refused: still failing, already told.
      ++consecutive_failures_;
      result = PollResult::kRejected;
    } else {
      Succeed(now);
      result = PollResult::kUnchanged;
    }
  } else {
    {
      std::lock_guard<std::mutex> state_lock(state_mu_);
      ++status_.stats.downloads;
      status_.stats.download_bytes += answer->body.size();
      status_.etag = answer->etag;
    }
    etag_ = answer->etag;
    result = Offer(answer->body, /*from_cache=*/false, now);
    etag_refused_ = result == PollResult::kRejected;
  }
  if (result != PollResult::kPublished && result != PollResult::kUnchanged &&
      !cache_tried_ && store_->policy() == nullptr) {
    cache_tried_ = true;
    if (!options_.cache_path.empty()) {
      if (LoadCache(now) == PollResult::kPublished) {
        result = PollResult::kPublished;
      }
    }
  }
  store_->Reclaim();
  return result;
}

BundlePoller::PollResult BundlePoller::Offer(const std::string& bytes,
                                             bool from_cache, absl::Time now) {
  const std::string& origin = from_cache ? options_.cache_path : options_.url;
  BundleOptions bundle;
  bundle.verification_keys = options_.verification_keys;
  bundle.max_bundle_bytes = options_.max_bundle_bytes;
  // ParseBundle verifies the signature before it reads anything else of the
  // bundle (its digest, its sections): an unauthenticated bundle is never
  // parsed, and nothing is written before this succeeds.
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> parsed =
      ParseBundle(bytes, bundle);
  if (!parsed.ok()) {
    {
      std::lock_guard<std::mutex> state_lock(state_mu_);
      ++status_.stats.rejected;
    }
    Fail(absl::Status(parsed.status().code(),
                      absl::StrCat(origin, ": ", parsed.status().message())),
         now);
    return PollResult::kRejected;
  }
  std::shared_ptr<const CompiledPolicy> policy = *std::move(parsed);
  const std::shared_ptr<const CompiledPolicy> published = store_->policy();
  // The same policy as the one published (the cache's, or a re-signed
  // bundle): nothing to publish, and no new generation.
  const std::optional<PolicyStore::SnapshotInfo> current = store_->info();
  if (published != nullptr && current.has_value() &&
      DigestOf(*policy) == current->digest) {
    Succeed(now);
    return PollResult::kUnchanged;
  }
  absl::Status refused =
      internal::RefuseEmptyPolicy(*policy, options_.allow_empty, kOptions);
  uint64_t Stats::*counter = &Stats::refused_empty;
  if (refused.ok()) {
    refused = internal::RefuseMassRemoval(published.get(), *policy,
                                          options_.max_removed_share, kOptions);
    counter = &Stats::guarded;
  }
  if (!refused.ok()) {
    {
      std::lock_guard<std::mutex> state_lock(state_mu_);
      ++status_.stats.rejected;
      ++(status_.stats.*counter);
    }
    Fail(absl::FailedPreconditionError(
             absl::StrCat(origin, ": ", refused.message())),
         now);
    return PollResult::kRejected;
  }
  absl::StatusOr<PolicyStore::SnapshotInfo> info = store_->Publish(policy);
  if (!info.ok()) {
    Fail(absl::Status(info.status().code(),
                      absl::StrCat(origin, ": ", info.status().message())),
         now);
    return PollResult::kRejected;
  }
  absl::Status cache_error;
  if (!from_cache && !options_.cache_path.empty()) {
    // After publication: the file only ever holds a bundle that was
    // verified, passed the guards and went live.
    cache_error = internal::WriteFileAtomically(bytes, options_.cache_path);
  }
  ReloadEvent event;
  event.outcome = ReloadEvent::Outcome::kPublished;
  event.published = *info;
  event.policy = std::move(policy);
  {
    std::lock_guard<std::mutex> state_lock(state_mu_);
    ++status_.stats.published;
    status_.published = true;
    status_.last_good = *info;
    status_.last_good_at = now;
    status_.serving_cache = from_cache;
    if (from_cache) {
      ++status_.stats.cache_loads;
    } else {
      status_.last_success = now;
      status_.last_error = absl::OkStatus();
      status_.failing_since = absl::InfiniteFuture();
      if (!cache_error.ok()) ++status_.stats.cache_write_failures;
      status_.cache_error = cache_error;
    }
  }
  if (!from_cache) {
    consecutive_failures_ = 0;
    reported_error_.clear();
  }
  if (options_.on_reload) options_.on_reload(event);
  return PollResult::kPublished;
}

BundlePoller::PollResult BundlePoller::LoadCache(absl::Time now) {
  absl::StatusOr<std::string> bytes =
      internal::ReadFileUpTo(options_.cache_path, options_.max_bundle_bytes);
  if (!bytes.ok()) {
    if (!absl::IsNotFound(bytes.status())) {
      std::lock_guard<std::mutex> state_lock(state_mu_);
      status_.cache_error = bytes.status();
    }
    return PollResult::kFailed;
  }
  // The server's failure stays the poller's last error: the cache only
  // bridges it.
  absl::Status server_error;
  absl::Time failing_since;
  {
    std::lock_guard<std::mutex> state_lock(state_mu_);
    server_error = status_.last_error;
    failing_since = status_.failing_since;
  }
  const PollResult result = Offer(*bytes, /*from_cache=*/true, now);
  std::lock_guard<std::mutex> state_lock(state_mu_);
  if (result != PollResult::kPublished)
    status_.cache_error = status_.last_error;
  status_.last_error = server_error;
  status_.failing_since = failing_since;
  return result;
}

void BundlePoller::Fail(const absl::Status& error, absl::Time now,
                        bool fetch_error) {
  ++consecutive_failures_;
  {
    std::lock_guard<std::mutex> state_lock(state_mu_);
    status_.last_error = error;
    status_.failing_since = std::min(status_.failing_since, now);
  }
  // A fetch error's message ends with libcurl's words, which carry
  // timings and byte counts: the same failure is told once, so it is
  // compared without them ("<url>: <reason>").
  absl::string_view key = error.message();
  if (fetch_error) {
    key = key.substr(0, key.find(": ", options_.url.size() + 2));
  }
  const std::string reported = absl::StrCat(error.code(), " ", key);
  if (reported == reported_error_) return;
  reported_error_ = reported;
  if (options_.on_reload) {
    ReloadEvent event;
    event.outcome = ReloadEvent::Outcome::kRejected;
    event.status = error;
    options_.on_reload(event);
  }
}

void BundlePoller::Succeed(absl::Time now) {
  consecutive_failures_ = 0;
  reported_error_.clear();
  std::lock_guard<std::mutex> state_lock(state_mu_);
  status_.last_success = now;
  status_.last_error = absl::OkStatus();
  status_.failing_since = absl::InfiniteFuture();
  status_.serving_cache = false;
}

void BundlePoller::Start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  abort_.store(false);
  bool polled;
  {
    std::lock_guard<std::mutex> state_lock(state_mu_);
    polled = status_.stats.polls > 0;
  }
  thread_ = std::thread([this, polled] {
    absl::BitGen random;
    bool wait_first = polled;
    for (;;) {
      if (wait_first) {
        int failures;
        {
          std::lock_guard<std::mutex> poll_lock(poll_mu_);
          failures = consecutive_failures_;
        }
        const absl::Duration delay = NextPollDelay(options_, failures, random);
        std::unique_lock<std::mutex> wait_lock(thread_mu_);
        if (wake_.wait_for(wait_lock, absl::ToChronoNanoseconds(delay),
                           [this] { return stopping_; })) {
          return;
        }
      }
      wait_first = true;
      PollOnce();
    }
  });
}

void BundlePoller::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopping_ = true;
    abort_.store(true);
    thread = std::move(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
  abort_.store(false);
}

BundlePoller::Status BundlePoller::status() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  Status copy = status_;
  // The caller's errors share no heap with the poller's: an absl::Status
  // message is reference-counted inside Debian's Abseil, which is not built
  // for ThreadSanitizer, so a message freed by the polling thread after a
  // reader's copy was dropped would look like a race to it.
  copy.last_error = absl::Status(status_.last_error.code(),
                                 std::string(status_.last_error.message()));
  copy.cache_error = absl::Status(status_.cache_error.code(),
                                  std::string(status_.cache_error.message()));
  return copy;
}

}  // namespace portcullis
