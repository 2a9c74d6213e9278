// A small, thread-safe Redis client over hiredis (Debian's libhiredis-dev):
// a pool of blocking connections with connect and command timeouts,
// reconnection with exponential backoff, binary-safe commands and Lua scripts
// run by EVALSHA. The replicated token store, the shared client registry and
// the distributed rate limiter are built on it (docs/replicas.md).
//
// Example:
//   RedisOptions options;
//   options.port = 6380;
//   options.key_prefix = "portcullis:prod:";
//   absl::StatusOr<std::unique_ptr<RedisClient>> client =
//       RedisClient::Create(options);
//   if (!client.ok()) return client.status();
//   const std::string key = (*client)->Key("hits");
//   absl::StatusOr<RedisReply> reply = (*client)->Command({"INCR", key});
//
//   static const RedisScript kIncrBy("return redis.call('INCRBY', KEYS[1], "
//                                    "ARGV[1])");
//   reply = (*client)->Eval(kIncrBy, {key}, {"5"});
//
// Errors. UnavailableError for anything that means "Redis could not be
// asked": connection refused or lost, a connect or command timeout, a
// connection still in its reconnect backoff, no pooled connection free within
// the command timeout. Callers fail closed (or fall back, where documented).
// InternalError for an error reply from Redis (a wrong type, a script error).
// Messages name the server address and the command's name, never its
// arguments: keys and values may be derived from secrets.
#ifndef PORTCULLIS_SERVER_REDIS_REDIS_CLIENT_H_
#define PORTCULLIS_SERVER_REDIS_REDIS_CLIENT_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

struct redisContext;
struct redisReply;

namespace portcullis::redis {

// How to reach Redis. Every field states its default.
struct RedisOptions {
  // An IPv4/IPv6 address or host name. Default 127.0.0.1 (loopback, no TLS:
  // Redis belongs on a private network next to the replicas).
  std::string host = "127.0.0.1";
  // 1 to 65535. Default 6379.
  int port = 6379;
  // Sent with AUTH after connecting; empty (default): no AUTH. Read from a
  // file by the server (ServerConfig.redis.password_file), never written in
  // a config, never logged.
  std::string password;
  // Positive. Default 200 ms.
  absl::Duration connect_timeout = absl::Milliseconds(200);
  // How long one command may take, and how long a caller waits for a free
  // pooled connection. Positive. Default 200 ms.
  absl::Duration command_timeout = absl::Milliseconds(200);
  // Connections kept open; at most this many commands run at once. 1 to 1024.
  // Default 8.
  int pool_size = 8;
  // After a failed connect, a connection is not tried again for this long,
  // doubling per consecutive failure up to reconnect_backoff_max (commands
  // meanwhile fail at once with Unavailable). Positive, min <= max. Defaults
  // 10 ms and 1 s.
  absl::Duration reconnect_backoff_min = absl::Milliseconds(10);
  absl::Duration reconnect_backoff_max = absl::Seconds(1);
  // Prepended to every key (Key()), so several deployments can share one
  // Redis. Default empty.
  std::string key_prefix;
};

// OK, or InvalidArgument naming every bad field and its value, e.g.
// "redis: port: 0 is out of range [1, 65535]; pool_size: 0 is out of range
// [1, 1024]".
absl::Status ValidateRedisOptions(const RedisOptions& options);

// A reply, copied out of hiredis's. A plain value type. Error replies are not
// represented: they come back as InternalError.
struct RedisReply {
  enum class Type : uint8_t { kNil, kInteger, kString, kStatus, kArray };
  Type type = Type::kNil;
  // kInteger.
  int64_t integer = 0;
  // kString (binary-safe) and kStatus ("OK", "PONG").
  std::string string;
  // kArray.
  std::vector<RedisReply> elements;
};

// A Lua script. Immutable apart from its cached SHA1, which is thread-safe:
// one object may be run concurrently by many clients. Loaded into a server
// (SCRIPT LOAD) on first use and run by EVALSHA; loaded again when Redis
// answers NOSCRIPT (a restart or SCRIPT FLUSH emptied its cache). Define
// scripts once, as statics or members.
class RedisScript {
 public:
  explicit RedisScript(std::string lua_source);
  RedisScript(const RedisScript&) = delete;
  RedisScript& operator=(const RedisScript&) = delete;

  const std::string& source() const { return source_; }

 private:
  friend class RedisClient;
  // The SHA1 from the last SCRIPT LOAD; empty before the first.
  std::string sha1() const;
  void set_sha1(std::string sha1) const;

  const std::string source_;
  mutable std::mutex mu_;
  mutable std::string sha1_;  // Guarded by mu_.
};

// A pool of connections to one Redis server. Thread-safe: every method may be
// called concurrently; each command takes one pooled connection for its round
// trip. A connection that fails is closed and reopened on its next use,
// after its backoff; pooled connections that were idle through a Redis
// restart fail once and are retried on a fresh connection, so a command may
// reach Redis twice after a connection loss (the project's scripts are
// idempotent or detect a replay). Cost: one round trip per call (about 30 us
// on loopback) plus copying the reply.
class RedisClient {
 public:
  // Validates `options` (InvalidArgument, ValidateRedisOptions) and opens
  // one connection to check that Redis answers PING (and accepts the
  // password): Unavailable if it does not, PermissionDenied if AUTH is
  // refused. The rest of the pool connects on demand.
  static absl::StatusOr<std::unique_ptr<RedisClient>> Create(
      RedisOptions options);
  // Like Create, but does not require Redis to be up now: a replica starts
  // and serves (failing closed) while Redis is down, and connects when it
  // comes back. InvalidArgument for bad options only.
  static absl::StatusOr<std::unique_ptr<RedisClient>> CreateLazy(
      RedisOptions options);

  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command, e.g. {"SET", key, value, "PXAT", "1700000000000"}.
  // Binary-safe (redisCommandArgv). `argv` must not be empty.
  absl::StatusOr<RedisReply> Command(absl::Span<const absl::string_view> argv);

  // Runs `script` with KEYS and ARGV by EVALSHA, loading it first when this
  // server has not got it (NOSCRIPT).
  absl::StatusOr<RedisReply> Eval(const RedisScript& script,
                                  absl::Span<const absl::string_view> keys,
                                  absl::Span<const absl::string_view> args);

  // key_prefix + suffix.
  std::string Key(absl::string_view suffix) const;

  const RedisOptions& options() const { return options_; }

  // "host:port", for messages.
  const std::string& address() const { return address_; }

 private:
  struct Connection;

  explicit RedisClient(RedisOptions options);

  // Takes a free pooled connection (waiting up to command_timeout), runs
  // `argv` on it and returns it to the pool.
  absl::StatusOr<RedisReply> Run(absl::Span<const absl::string_view> argv);
  // Gives `connection` a live context: connects if it has none, unless the
  // client is in its reconnect backoff (Unavailable).
  absl::Status EnsureConnected(Connection& connection);
  absl::StatusOr<redisContext*> Connect();

  const RedisOptions options_;
  const std::string address_;

  std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<std::unique_ptr<Connection>> connections_;  // Guarded by mu_.
  std::vector<Connection*> free_;                         // Guarded by mu_.
  // Reconnect backoff, shared by the pool: while Redis is down, one connect
  // attempt per backoff period, not one per command.
  absl::Time next_connect_ = absl::InfinitePast();  // Guarded by mu_.
  absl::Duration backoff_ = absl::ZeroDuration();   // Guarded by mu_.
};

}  // namespace portcullis::redis

#endif  // PORTCULLIS_SERVER_REDIS_REDIS_CLIENT_H_
