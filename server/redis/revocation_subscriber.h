// Revocations made on other replicas, heard over Redis pub/sub
// (RevocationChannel, redis_token_store.h), and the staleness bound that
// holds when they cannot be heard (docs/replicas.md, "Guarantees").
//
// A thread keeps one dedicated connection SUBSCRIBEd to the channel and
// PINGs on it every staleness_bound / 4. Each message calls a callback
// (on_family for "f <id>", on_all for "u", on_clients for "c"), which tells
// the token service's caches (TokenService::NoteFamilyRevoked,
// NoteAllRevoked). The subscription counts as lost when nothing (message or
// PONG) arrived for staleness_bound / 2: then on_all runs at once and again
// every staleness_bound / 2 until the subscription is back (and once more when
// it is, for what was missed), so no cached grant is trusted for longer than
// the bound without a look at the store; with the store unreachable too, that
// look fails and the server answers 503.
//
// Thread-safe. The callbacks run on the subscriber's thread and must be
// quick and must not block (an atomic add). Costs: one connection and one
// thread per replica; nothing on the request path.
#ifndef PORTCULLIS_SERVER_REDIS_REVOCATION_SUBSCRIBER_H_
#define PORTCULLIS_SERVER_REDIS_REVOCATION_SUBSCRIBER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/redis/redis_client.h"

namespace portcullis::redis {

struct RevocationCallbacks {
  std::function<void(uint64_t family_id)> on_family;
  std::function<void()> on_all;
  std::function<void()> on_clients;
};

class RevocationSubscriber {
 public:
  // Starts the thread; it connects (and reconnects, after
  // options.reconnect_backoff_min..max) by itself, so Redis need not be up.
  // `staleness_bound`: at least 20 ms (InvalidArgument otherwise). Every
  // callback must be set.
  static absl::StatusOr<std::unique_ptr<RevocationSubscriber>> Start(
      RedisOptions options, std::string channel,
      absl::Duration staleness_bound, RevocationCallbacks callbacks);
  ~RevocationSubscriber();  // Stops and joins the thread.
  RevocationSubscriber(const RevocationSubscriber&) = delete;
  RevocationSubscriber& operator=(const RevocationSubscriber&) = delete;

  // Subscribed and heard from within staleness_bound / 2.
  bool subscribed() const { return subscribed_.load(); }
  // Messages handled, and subscriptions lost (or never made), so far.
  uint64_t messages() const { return messages_.load(); }
  uint64_t losses() const { return losses_.load(); }

 private:
  RevocationSubscriber(RedisOptions options, std::string channel,
                       absl::Duration staleness_bound,
                       RevocationCallbacks callbacks);
  void Run();
  // One subscription, from connect to loss; returns when it is lost or on
  // stop.
  void SubscribeOnce();
  void Handle(const ::redisReply& reply);
  // Sleeps up to `d`; false when stopping.
  bool Wait(absl::Duration d);
  void InvalidateIfDue(absl::Time now);

  const RedisOptions options_;
  const std::string channel_;
  const absl::Duration bound_;
  const RevocationCallbacks callbacks_;

  std::atomic<bool> subscribed_{false};
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> losses_{0};
  // Subscriber thread only.
  absl::Time last_invalidation_ = absl::InfinitePast();

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // Guarded by mu_.
  std::thread thread_;
};

}  // namespace portcullis::redis

#endif  // PORTCULLIS_SERVER_REDIS_REVOCATION_SUBSCRIBER_H_
