// The client registry's state (secret digests, suspensions, revocation
// counters: ClientRegistry::Export) shared by every replica through Redis, so
// that `portcullis clients add|rotate|suspend|resume|remove` on one replica's
// admin listener takes effect on all (docs/replicas.md).
//
// Layout, under the key prefix P:
//   P clients          the registry's sealed Export (sealed under the
//                      registry key, which every replica shares)
//   P clients:version  counts the writes; a replica loads the export when
//                      the version moved
//   P clients:lock     held (SET NX PX, a random token) by the replica
//                      changing the registry
// A change (Transact) takes the lock, loads the latest export, applies the
// change to the local registry, writes the export and bumps the version in
// one script that checks the lock is still held, then announces "c" on the
// revocation channel; the other replicas load it when they hear it (or
// within the staleness bound, RevocationSubscriber). So changes from
// different replicas are serialized and none is lost.
//
// Thread-safe. Every call is a few round trips; nothing on the request path.
#ifndef PORTCULLIS_SERVER_REDIS_REDIS_CLIENT_STATE_H_
#define PORTCULLIS_SERVER_REDIS_REDIS_CLIENT_STATE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/auth/client_registry.h"
#include "server/redis/redis_client.h"

namespace portcullis::redis {

class RedisClientState {
 public:
  // Neither is owned; both must outlive this object.
  RedisClientState(RedisClient& client, auth::ClientRegistry& registry)
      : client_(client), registry_(registry) {}
  RedisClientState(const RedisClientState&) = delete;
  RedisClientState& operator=(const RedisClientState&) = delete;

  // At startup: loads the shared registry into the local one when Redis has
  // one; else publishes the local one (its seed or saved state), unless
  // another replica did first. Unavailable when Redis is down.
  absl::Status Sync();

  // Loads the shared registry if its version moved since the last load;
  // returns whether it did. A replica calls it when a client fails to
  // authenticate, so that a client registered or rotated on another replica
  // a moment ago is not refused for not having been heard of yet.
  // Unavailable when Redis is down; InvalidArgument when the shared export
  // does not import (another registry key).
  absl::StatusOr<bool> Pull();

  // How many times the local registry has been replaced from Redis (by Pull
  // or Sync, on any thread). A caller that saw a client fail to authenticate
  // compares it before and after its Pull: another thread's Pull may have
  // loaded the change a moment earlier, and then its own Pull finds nothing
  // new.
  uint64_t loads() const { return loads_.load(std::memory_order_acquire); }

  // Runs `change` on the local registry with the latest shared state, under
  // the shared lock, and publishes the result. `change`'s error is returned
  // as it is (nothing is published). Unavailable when Redis is down or the
  // lock is held by another replica for longer than the lock wait (2 s): no
  // change is made. If the lock was lost mid-way (a replica stalled for
  // longer than the lock's 10 s lease), Aborted: the local change stands but
  // was not published, and the next Pull replaces it.
  absl::Status Transact(const std::function<absl::Status()>& change);

 private:
  absl::StatusOr<bool> PullLocked();
  absl::Status PublishLocked(const std::string& lock_token);

  RedisClient& client_;
  auth::ClientRegistry& registry_;
  std::mutex mu_;
  // The shared version last loaded or written; 0: none yet.
  int64_t version_ = 0;  // Guarded by mu_.
  std::atomic<uint64_t> loads_{0};
};

}  // namespace portcullis::redis

#endif  // PORTCULLIS_SERVER_REDIS_REDIS_CLIENT_STATE_H_
