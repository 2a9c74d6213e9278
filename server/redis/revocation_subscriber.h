// Revocations made on other replicas, heard over Redis pub/sub
// (RevocationChannel, redis_token_store.h), and the staleness bound that
// holds when they cannot be heard (docs/replicas.md, "Guarantees").
//
// A thread keeps one dedicated connection SUBSCRIBEd to the channel and
// PINGs on it every staleness_bound / 4. Each message calls a callback
// (on_family for "f <id>", on_all for "u", on_clients for "c"), which tells
// the token service's caches (TokenService::NoteFamilyRevoked,
// NoteAllRevoked) or reloads the shared client registry. The subscription
// counts as lost when nothing (message or PONG) arrived for
// staleness_bound / 2 (checked every staleness_bound / 16): then on_all runs
// at once, and a second thread runs it every staleness_bound / 4 until the
// subscription is back (when on_all and on_clients run once more, for what
// was missed). So a revocation made at time t is acted on by t +
// staleness_bound * 9 / 16 at the latest, whatever happened to the
// subscription: a cached grant is then looked up in the store again, and
// with the store unreachable too that look fails and the server answers 503.
//
// Thread-safe. on_all runs on either thread and must be quick (an atomic
// add); on_family and on_clients run on the subscriber's thread, and
// on_clients may take a round trip. Costs: one connection and two threads
// per replica; nothing on the request path.
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
      RedisOptions options, std::string channel, absl::Duration staleness_bound,
      RevocationCallbacks callbacks);
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
  // While not subscribed: on_all every staleness_bound / 4.
  void Tick();
  // Sleeps up to `d`; false when stopping.
  bool Wait(absl::Duration d);

  const RedisOptions options_;
  const std::string channel_;
  const absl::Duration bound_;
  const RevocationCallbacks callbacks_;

  std::atomic<bool> subscribed_{false};
  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> losses_{0};

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // Guarded by mu_.
  std::thread thread_;
  std::thread ticker_;
};

}  // namespace portcullis::redis

#endif  // PORTCULLIS_SERVER_REDIS_REVOCATION_SUBSCRIBER_H_
