// Decision logs: one JSON line per sampled decision, appended to a file by a
// bounded asynchronous writer (docs/server.md, "Decision logs"). A request
// thread only enqueues a record: when the queue is full the line
// is dropped and counted, never waited for. One writer thread formats and
// writes. Records carry ids, names and the policy's digest, never a token, a
// secret or a digest of one.
#ifndef PORTCULLIS_SERVER_DECISION_LOG_H_
#define PORTCULLIS_SERVER_DECISION_LOG_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/api_settings.h"

namespace portcullis::server {

// One decision, as logged.
struct DecisionRecord {
  absl::Time time;
  std::string request_id;
  std::string principal;  // "client:<id>", "user:<id>"; empty: none
  std::string route;      // "GET /charge-points", "POST /v1/check"
  std::string object_type;
  std::string action;
  std::string entity;
  std::string decision;  // allowed, allowed_for_own, not_allowed, ...
  std::string reason;
  uint64_t policy_generation = 0;  // 0: unknown
  std::string policy_digest;       // hex; the policy's, empty: unknown
};

// The record as one JSON object and a newline; keys in the order above
// (`time` RFC 3339 UTC with microseconds).
std::string DecisionLogLine(const DecisionRecord& record);

// The request id: `X-Request-Id` when it is 1..128 characters of
// [A-Za-z0-9._:-], else a fresh random one (32 hex digits).
std::string RequestIdOf(absl::string_view header);

class DecisionLog {
 public:
  // For tests: runs on the writer thread before each batch is written.
  using WriteHook = std::function<void()>;

  // Opens `path` for appending (created 0600) and starts the writer.
  static absl::StatusOr<std::unique_ptr<DecisionLog>> Open(
      const DecisionLogSettings& settings, const std::string& path,
      WriteHook hook = nullptr);
  ~DecisionLog();  // writes what is queued, stops the writer, closes

  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;

  // Whether to log a decision (sampling). Thread-safe, lock-free.
  bool Sampled(bool denied) const;
  // Enqueues the record; false (counted as dropped) if the queue is full.
  // Never waits for the writer.
  bool Submit(DecisionRecord record);
  // Waits until every record submitted so far is written (tests, shutdown).
  void Flush();

  uint64_t dropped() const { return dropped_.load(); }
  uint64_t written() const { return written_.load(); }
  uint64_t write_errors() const { return write_errors_.load(); }

 private:
  DecisionLog(const DecisionLogSettings& settings, int fd, WriteHook hook);
  void WriterLoop();

  const DecisionLogSettings settings_;
  const int fd_;
  const WriteHook hook_;
  std::mutex mu_;
  std::condition_variable wake_;      // the writer: records or stop
  std::condition_variable progress_;  // Flush: a batch was written
  std::deque<DecisionRecord> queue_;  // guarded by mu_
  uint64_t submitted_ = 0;            // guarded by mu_
  uint64_t done_ = 0;                 // guarded by mu_ (written or failed)
  bool stopping_ = false;             // guarded by mu_
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> write_errors_{0};
  std::thread writer_;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_DECISION_LOG_H_
