#include "server/redis/revocation_subscriber.h"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace portcullis::redis {
namespace {

absl::string_view Text(const redisReply& reply) {
  return reply.str == nullptr ? absl::string_view()
                              : absl::string_view(reply.str, reply.len);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RevocationSubscriber>>
RevocationSubscriber::Start(RedisOptions options, std::string channel,
                            absl::Duration staleness_bound,
                            RevocationCallbacks callbacks) {
  if (absl::Status valid = ValidateRedisOptions(options); !valid.ok()) {
    return valid;
  }
  if (staleness_bound < absl::Milliseconds(20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "redis: staleness_bound: ", absl::FormatDuration(staleness_bound),
        " is under 20ms"));
  }
  if (!callbacks.on_family || !callbacks.on_all || !callbacks.on_clients) {
    return absl::InvalidArgumentError("redis: a revocation callback is unset");
  }
  std::unique_ptr<RevocationSubscriber> subscriber(
      new RevocationSubscriber(std::move(options), std::move(channel),
                               staleness_bound, std::move(callbacks)));
  subscriber->thread_ = std::thread([s = subscriber.get()] { s->Run(); });
  subscriber->ticker_ = std::thread([s = subscriber.get()] { s->Tick(); });
  return subscriber;
}

RevocationSubscriber::RevocationSubscriber(RedisOptions options,
                                           std::string channel,
                                           absl::Duration staleness_bound,
                                           RevocationCallbacks callbacks)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      bound_(staleness_bound),
      callbacks_(std::move(callbacks)) {}

RevocationSubscriber::~RevocationSubscriber() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (ticker_.joinable()) ticker_.join();
}

void RevocationSubscriber::Tick() {
  // Apart from Run, whose connects and SUBSCRIBE may block for the
  // timeouts: while not subscribed, every bound / 4, whatever Run is doing.
  while (Wait(bound_ / 4)) {
    if (!subscribed_.load()) callbacks_.on_all();
  }
}

bool RevocationSubscriber::Wait(absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  wake_.wait_for(lock, absl::ToChronoNanoseconds(d),
                 [this] { return stopping_; });
  return !stopping_;
}

void RevocationSubscriber::Run() {
  absl::Duration backoff = options_.reconnect_backoff_min;
  // Until the first subscription, nothing can be heard: callers' caches are
  // empty then anyway, but the rule is the same.
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    const absl::Time started = absl::Now();
    SubscribeOnce();
    // A subscription that lasted resets the backoff; Tick invalidates the
    // caches meanwhile.
    if (absl::Now() - started > bound_) {
      backoff = options_.reconnect_backoff_min;
    }
    if (!Wait(std::min(backoff, bound_ / 4))) return;
    backoff = std::min(backoff * 2, options_.reconnect_backoff_max);
  }
}

void RevocationSubscriber::SubscribeOnce() {
  redisContext* context =
      redisConnectWithTimeout(options_.host.c_str(), options_.port,
                              absl::ToTimeval(options_.connect_timeout));
  if (context == nullptr) return;
  struct Free {
    redisContext* c;
    ~Free() { redisFree(c); }
  } free_context{context};
  if (context->err != 0) return;
  if (redisSetTimeout(context, absl::ToTimeval(options_.command_timeout)) !=
      REDIS_OK) {
    return;
  }
  if (!options_.password.empty()) {
    const char* argv[] = {"AUTH", options_.password.data()};
    const size_t lengths[] = {4, options_.password.size()};
    auto* reply =
        static_cast<redisReply*>(redisCommandArgv(context, 2, argv, lengths));
    const bool ok = reply != nullptr && reply->type != REDIS_REPLY_ERROR;
    if (reply != nullptr) freeReplyObject(reply);
    if (!ok) return;
  }
  {
    const char* argv[] = {"SUBSCRIBE", channel_.data()};
    const size_t lengths[] = {9, channel_.size()};
    auto* reply =
        static_cast<redisReply*>(redisCommandArgv(context, 2, argv, lengths));
    const bool ok = reply != nullptr && reply->type == REDIS_REPLY_ARRAY;
    if (reply != nullptr) freeReplyObject(reply);
    if (!ok) return;
  }
  // Subscribed: revocations made while not subscribed were not heard, so
  // every cached grant is looked at again once, and the registry too.
  subscribed_.store(true);
  callbacks_.on_all();
  callbacks_.on_clients();
  absl::Time last_heard = absl::Now();
  absl::Time last_ping = last_heard;
  const absl::Duration ping_every = bound_ / 4;
  const absl::Duration lost_after = bound_ / 2;
  const int poll_ms = static_cast<int>(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(bound_ / 16)));
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    pollfd fd{context->fd, POLLIN, 0};
    const int ready = ::poll(&fd, 1, poll_ms);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      if (redisBufferRead(context) != REDIS_OK) break;
      void* reply = nullptr;
      bool failed = false;
      while (true) {
        if (redisGetReplyFromReader(context, &reply) != REDIS_OK) {
          failed = true;
          break;
        }
        if (reply == nullptr) break;
        Handle(*static_cast<redisReply*>(reply));
        freeReplyObject(reply);
        last_heard = absl::Now();
      }
      if (failed) break;
    }
    const absl::Time now = absl::Now();
    if (now - last_heard > lost_after) break;
    if (now - last_ping >= ping_every) {
      const char* argv[] = {"PING"};
      const size_t lengths[] = {4};
      int done = 0;
      if (redisAppendCommandArgv(context, 1, argv, lengths) != REDIS_OK ||
          redisBufferWrite(context, &done) != REDIS_OK) {
        break;
      }
      last_ping = now;
    }
  }
  subscribed_.store(false);
  losses_.fetch_add(1);
  // Lost: what it would have said is unknown from now on.
  callbacks_.on_all();
}

void RevocationSubscriber::Handle(const ::redisReply& reply) {
  // ["message", channel, payload] or ["pong", ""].
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 2) return;
  if (Text(*reply.element[0]) != "message" || reply.elements != 3) return;
  messages_.fetch_add(1);
  const absl::string_view payload = Text(*reply.element[2]);
  uint64_t family_id = 0;
  if (payload.size() > 2 && payload.substr(0, 2) == "f " &&
      absl::SimpleAtoi(payload.substr(2), &family_id)) {
    callbacks_.on_family(family_id);
  } else if (payload == "c") {
    callbacks_.on_clients();
  } else {
    // "u", or anything this version does not know: the safe answer.
    callbacks_.on_all();
  }
}

}  // namespace portcullis::redis
