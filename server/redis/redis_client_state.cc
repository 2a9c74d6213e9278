#include "server/redis/redis_client_state.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/auth/crypto.h"
#include "server/redis/redis_token_store.h"

namespace portcullis::redis {
namespace {

constexpr absl::Duration kLockWait = absl::Seconds(2);
constexpr int64_t kLockLeaseMillis = 10'000;

// KEYS: export, version, lock. ARGV: export, lock token, channel.
// The new version, or -1 when the lock is not ours any more.
const RedisScript kPublish(R"lua(
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
local version = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[3], 'c')
return version
)lua");

// KEYS: lock. ARGV: lock token. Releases the lock if it is ours.
const RedisScript kUnlock(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua");

// KEYS: export, version. ARGV: export, channel. Publishes the first export
// if there is none: 1, else 0.
const RedisScript kSeed(R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], 'c')
return 1
)lua");

absl::StatusOr<int64_t> ParseVersion(const RedisReply& reply) {
  if (reply.type == RedisReply::Type::kNil) return int64_t{0};
  int64_t version = 0;
  if (reply.type != RedisReply::Type::kString ||
      !absl::SimpleAtoi(reply.string, &version)) {
    return absl::InternalError("client state: the version is not a number");
  }
  return version;
}

}  // namespace

absl::Status RedisClientState::Sync() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<std::string> local = registry_.Export();
  if (!local.ok()) return local.status();
  const std::string export_key = client_.Key("clients");
  const std::string version_key = client_.Key("clients:version");
  const std::string channel = RevocationChannel::Name(client_);
  const absl::string_view keys[] = {export_key, version_key};
  const absl::string_view args[] = {*local, channel};
  absl::StatusOr<RedisReply> seeded = client_.Eval(kSeed, keys, args);
  if (!seeded.ok()) return seeded.status();
  return PullLocked().status();
}

absl::StatusOr<bool> RedisClientState::Pull() {
  std::lock_guard<std::mutex> lock(mu_);
  return PullLocked();
}

absl::StatusOr<bool> RedisClientState::PullLocked() {
  const std::string export_key = client_.Key("clients");
  const std::string version_key = client_.Key("clients:version");
  const absl::string_view get_version[] = {"GET", version_key};
  absl::StatusOr<RedisReply> reply = client_.Command(get_version);
  if (!reply.ok()) return reply.status();
  absl::StatusOr<int64_t> version = ParseVersion(*reply);
  if (!version.ok()) return version.status();
  if (*version == version_) return false;
  // The export and its version together (MULTI would do too; a script is
  // one round trip).
  const absl::string_view get_both[] = {"MGET", export_key, version_key};
  absl::StatusOr<RedisReply> both = client_.Command(get_both);
  if (!both.ok()) return both.status();
  if (both->type != RedisReply::Type::kArray || both->elements.size() != 2) {
    return absl::InternalError("client state: unexpected reply from redis");
  }
  if (both->elements[0].type != RedisReply::Type::kString) {
    return false;  // nothing shared yet
  }
  absl::StatusOr<int64_t> loaded = ParseVersion(both->elements[1]);
  if (!loaded.ok()) return loaded.status();
  if (absl::Status replaced = registry_.Replace(both->elements[0].string);
      !replaced.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client state in redis (", export_key, "): ", replaced.message()));
  }
  version_ = *loaded;
  loads_.fetch_add(1, std::memory_order_release);
  return true;
}

absl::Status RedisClientState::Transact(
    const std::function<absl::Status()>& change) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string lock_key = client_.Key("clients:lock");
  auth::SecretKey random = auth::SecretKey::Generate();
  const std::string token = absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(random.bytes().data()), 16));
  const std::string lease = absl::StrCat(kLockLeaseMillis);
  const absl::Time deadline = absl::Now() + kLockWait;
  while (true) {
    const absl::string_view set[] = {"SET", lock_key, token, "NX", "PX", lease};
    absl::StatusOr<RedisReply> taken = client_.Command(set);
    if (!taken.ok()) return taken.status();
    if (taken->type == RedisReply::Type::kStatus) break;  // OK
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(
          "client state: another replica holds the registry lock");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::string_view lock_keys[] = {lock_key};
  const absl::string_view lock_args[] = {token};
  auto unlock = [&] { (void)client_.Eval(kUnlock, lock_keys, lock_args); };
  if (absl::StatusOr<bool> pulled = PullLocked(); !pulled.ok()) {
    unlock();
    return pulled.status();
  }
  if (absl::Status changed = change(); !changed.ok()) {
    unlock();
    return changed;
  }
  absl::Status published = PublishLocked(token);
  if (!published.ok()) unlock();
  return published;
}

absl::Status RedisClientState::PublishLocked(const std::string& lock_token) {
  absl::StatusOr<std::string> exported = registry_.Export();
  if (!exported.ok()) return exported.status();
  const std::string export_key = client_.Key("clients");
  const std::string version_key = client_.Key("clients:version");
  const std::string lock_key = client_.Key("clients:lock");
  const std::string channel = RevocationChannel::Name(client_);
  const absl::string_view keys[] = {export_key, version_key, lock_key};
  const absl::string_view args[] = {*exported, lock_token, channel};
  absl::StatusOr<RedisReply> reply = client_.Eval(kPublish, keys, args);
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kInteger) {
    return absl::InternalError("client state: unexpected reply from redis");
  }
  if (reply->integer < 0) {
    version_ = -1;  // Pull again next time, whatever the version says.
    return absl::AbortedError(
        "client state: the registry lock expired before the change was "
        "published");
  }
  version_ = reply->integer;
  return absl::OkStatus();
}

}  // namespace portcullis::redis
