#include "server/decision_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/auth/crypto.h"
#include "engine/common/json_string.h"

namespace portcullis::server {

namespace {

void AppendField(std::string& out, absl::string_view key,
                 absl::string_view value) {
  absl::StrAppend(&out, ",\"", key, "\":");
  internal::AppendJsonString(value, out);
}

bool RequestIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
}

// A uniform double in [0, 1) from a per-thread generator (sampling needs no
// cryptographic randomness).
double Uniform() {
  thread_local std::mt19937_64 generator([] {
    uint64_t seed = 0;
    auth::RandomBytes(
        absl::MakeSpan(reinterpret_cast<uint8_t*>(&seed), sizeof(seed)));
    return seed;
  }());
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

}  // namespace

std::string DecisionLogLine(const DecisionRecord& r) {
  std::string out = "{\"time\":";
  internal::AppendJsonString(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", r.time, absl::UTCTimeZone()),
      out);
  AppendField(out, "request_id", r.request_id);
  AppendField(out, "principal", r.principal);
  AppendField(out, "route", r.route);
  AppendField(out, "object_type", r.object_type);
  AppendField(out, "action", r.action);
  AppendField(out, "entity", r.entity);
  AppendField(out, "decision", r.decision);
  AppendField(out, "reason", r.reason);
  absl::StrAppend(&out, ",\"policy_generation\":", r.policy_generation);
  AppendField(out, "policy_digest", r.policy_digest);
  out.append("}\n");
  return out;
}

std::string RequestIdOf(absl::string_view header) {
  bool valid = !header.empty() && header.size() <= 128;
  for (char c : header) valid = valid && RequestIdChar(c);
  if (valid) return std::string(header);
  uint8_t bytes[16];
  auth::RandomBytes(absl::MakeSpan(bytes));
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

absl::StatusOr<std::unique_ptr<DecisionLog>> DecisionLog::Open(
    const DecisionLogSettings& settings, const std::string& path,
    WriteHook hook) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat(
        path, ": cannot open the decision log: ", std::strerror(errno)));
  }
  return std::unique_ptr<DecisionLog>(
      new DecisionLog(settings, fd, std::move(hook)));
}

DecisionLog::DecisionLog(const DecisionLogSettings& settings, int fd,
                         WriteHook hook)
    : settings_(settings), fd_(fd), hook_(std::move(hook)) {
  writer_ = std::thread([this] { WriterLoop(); });
}

DecisionLog::~DecisionLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
  ::close(fd_);
}

bool DecisionLog::Sampled(bool denied) const {
  if (denied && !settings_.sample_denials) return true;
  if (settings_.sample_rate >= 1) return true;
  if (settings_.sample_rate <= 0) return false;
  return Uniform() < settings_.sample_rate;
}

bool DecisionLog::Submit(DecisionRecord record) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= settings_.queue_size) {
      dropped_.fetch_add(1);
      return false;
    }
    queue_.push_back(std::move(record));
    ++submitted_;
  }
  wake_.notify_one();
  return true;
}

void DecisionLog::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = submitted_;
  progress_.wait(lock, [&] { return done_ >= target; });
}

void DecisionLog::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) return;
    std::deque<DecisionRecord> batch;
    batch.swap(queue_);
    lock.unlock();
    if (hook_) hook_();
    std::string text;
    for (const DecisionRecord& record : batch) {
      text += DecisionLogLine(record);
    }
    size_t offset = 0;
    bool failed = false;
    while (offset < text.size()) {
      const ssize_t n =
          ::write(fd_, text.data() + offset, text.size() - offset);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        failed = true;
        break;
      }
      offset += static_cast<size_t>(n);
    }
    if (failed) {
      write_errors_.fetch_add(batch.size());
    } else {
      written_.fetch_add(batch.size());
    }
    lock.lock();
    done_ += batch.size();
    progress_.notify_all();
  }
}

}  // namespace portcullis::server
