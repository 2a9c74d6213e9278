#include "server/redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace portcullis::redis {
namespace {

// At most this much of a Redis error reply goes into a Status: enough for
// "WRONGTYPE ..." or a script's error, short of anything a script could echo
// at length.
constexpr size_t kMaxErrorText = 200;

RedisReply CopyReply(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.string.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.string.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) {
        out.elements.push_back(CopyReply(*reply.element[i]));
      }
      break;
    default:  // REDIS_REPLY_NIL; errors are handled by the caller.
      out.type = RedisReply::Type::kNil;
      break;
  }
  return out;
}

}  // namespace

absl::Status ValidateRedisOptions(const RedisOptions& options) {
  std::vector<std::string> problems;
  if (options.host.empty()) problems.push_back("host: empty");
  if (options.port < 1 || options.port > 65535) {
    problems.push_back(
        absl::StrCat("port: ", options.port, " is out of range [1, 65535]"));
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    problems.push_back(absl::StrCat(
        "connect_timeout: ", absl::FormatDuration(options.connect_timeout),
        " is not positive"));
  }
  if (options.command_timeout <= absl::ZeroDuration()) {
    problems.push_back(absl::StrCat(
        "command_timeout: ", absl::FormatDuration(options.command_timeout),
        " is not positive"));
  }
  if (options.pool_size < 1 || options.pool_size > 1024) {
    problems.push_back(absl::StrCat("pool_size: ", options.pool_size,
                                    " is out of range [1, 1024]"));
  }
  if (options.reconnect_backoff_min <= absl::ZeroDuration()) {
    problems.push_back(
        absl::StrCat("reconnect_backoff_min: ",
                     absl::FormatDuration(options.reconnect_backoff_min),
                     " is not positive"));
  } else if (options.reconnect_backoff_max < options.reconnect_backoff_min) {
    problems.push_back(
        absl::StrCat("reconnect_backoff_max: ",
                     absl::FormatDuration(options.reconnect_backoff_max),
                     " is less than reconnect_backoff_min (",
                     absl::FormatDuration(options.reconnect_backoff_min), ")"));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("redis: ", absl::StrJoin(problems, "; ")));
}

RedisScript::RedisScript(std::string lua_source)
    : source_(std::move(lua_source)) {}

std::string RedisScript::sha1() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sha1_;
}

void RedisScript::set_sha1(std::string sha1) const {
  std::lock_guard<std::mutex> lock(mu_);
  sha1_ = std::move(sha1);
}

struct RedisClient::Connection {
  redisContext* context = nullptr;  // Null: not connected.
  // Commands run on this context since it connected; a failure on a context
  // that had answered before may be a connection that died while idle, and
  // is retried once on a fresh one.
  uint64_t used = 0;

  void Close() {
    if (context != nullptr) redisFree(context);
    context = nullptr;
    used = 0;
  }
  ~Connection() { Close(); }
};

RedisClient::RedisClient(RedisOptions options)
    : options_(std::move(options)),
      address_(absl::StrCat(options_.host, ":", options_.port)) {
  for (int i = 0; i < options_.pool_size; ++i) {
    connections_.push_back(std::make_unique<Connection>());
    free_.push_back(connections_.back().get());
  }
}

RedisClient::~RedisClient() = default;

absl::StatusOr<std::unique_ptr<RedisClient>> RedisClient::CreateLazy(
    RedisOptions options) {
  if (absl::Status valid = ValidateRedisOptions(options); !valid.ok()) {
    return valid;
  }
  return std::unique_ptr<RedisClient>(new RedisClient(std::move(options)));
}

absl::StatusOr<std::unique_ptr<RedisClient>> RedisClient::Create(
    RedisOptions options) {
  absl::StatusOr<std::unique_ptr<RedisClient>> client =
      CreateLazy(std::move(options));
  if (!client.ok()) return client;
  const absl::string_view ping[] = {"PING"};
  absl::StatusOr<RedisReply> pong = (*client)->Command(ping);
  if (!pong.ok()) return pong.status();
  return client;
}

std::string RedisClient::Key(absl::string_view suffix) const {
  return absl::StrCat(options_.key_prefix, suffix);
}

absl::StatusOr<redisContext*> RedisClient::Connect() {
  redisContext* context =
      redisConnectWithTimeout(options_.host.c_str(), options_.port,
                              absl::ToTimeval(options_.connect_timeout));
  if (context == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("redis ", address_, ": cannot allocate a connection"));
  }
  if (context->err != 0) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat("redis ", address_, ": connect: ", context->errstr));
    redisFree(context);
    return status;
  }
  if (redisSetTimeout(context, absl::ToTimeval(options_.command_timeout)) !=
      REDIS_OK) {
    redisFree(context);
    return absl::UnavailableError(
        absl::StrCat("redis ", address_, ": cannot set the command timeout"));
  }
  if (!options_.password.empty()) {
    const char* argv[] = {"AUTH", options_.password.data()};
    const size_t lengths[] = {4, options_.password.size()};
    auto* reply =
        static_cast<redisReply*>(redisCommandArgv(context, 2, argv, lengths));
    absl::Status status;
    if (reply == nullptr) {
      status = absl::UnavailableError(
          absl::StrCat("redis ", address_, ": AUTH: ", context->errstr));
    } else if (reply->type == REDIS_REPLY_ERROR) {
      // The reply names no password; keep only its first word
      // (WRONGPASS, NOAUTH, ERR) anyway.
      const absl::string_view text(reply->str, reply->len);
      status = absl::PermissionDeniedError(
          absl::StrCat("redis ", address_, ": AUTH refused (",
                       text.substr(0, text.find(' ')), ")"));
    }
    if (reply != nullptr) freeReplyObject(reply);
    if (!status.ok()) {
      redisFree(context);
      return status;
    }
  }
  return context;
}

absl::Status RedisClient::EnsureConnected(Connection& connection) {
  if (connection.context != nullptr) return absl::OkStatus();
  {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time now = absl::Now();
    if (now < next_connect_) {
      return absl::UnavailableError(absl::StrCat(
          "redis ", address_, ": unreachable, next connect attempt in ",
          absl::FormatDuration(
              absl::Trunc(next_connect_ - now, absl::Milliseconds(1)))));
    }
  }
  absl::StatusOr<redisContext*> context = Connect();
  std::lock_guard<std::mutex> lock(mu_);
  if (!context.ok()) {
    backoff_ = backoff_ == absl::ZeroDuration()
                   ? options_.reconnect_backoff_min
                   : std::min(backoff_ * 2, options_.reconnect_backoff_max);
    next_connect_ = absl::Now() + backoff_;
    return context.status();
  }
  backoff_ = absl::ZeroDuration();
  next_connect_ = absl::InfinitePast();
  connection.context = *context;
  connection.used = 0;
  return absl::OkStatus();
}

absl::StatusOr<RedisReply> RedisClient::Run(
    absl::Span<const absl::string_view> argv) {
  if (argv.empty()) {
    return absl::InvalidArgumentError("redis: empty command");
  }
  Connection* connection = nullptr;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!free_cv_.wait_for(lock,
                           absl::ToChronoMilliseconds(options_.command_timeout),
                           [&] { return !free_.empty(); })) {
      return absl::UnavailableError(
          absl::StrCat("redis ", address_, ": no free connection within ",
                       absl::FormatDuration(options_.command_timeout),
                       " (pool_size ", options_.pool_size, ")"));
    }
    connection = free_.back();
    free_.pop_back();
  }
  struct Release {
    RedisClient* client;
    Connection* connection;
    ~Release() {
      {
        std::lock_guard<std::mutex> lock(client->mu_);
        client->free_.push_back(connection);
      }
      client->free_cv_.notify_one();
    }
  } release{this, connection};

  std::vector<const char*> args(argv.size());
  std::vector<size_t> lengths(argv.size());
  for (size_t i = 0; i < argv.size(); ++i) {
    args[i] = argv[i].data();
    lengths[i] = argv[i].size();
  }
  const std::string name(argv[0].substr(0, 16));
  for (int attempt = 0;; ++attempt) {
    if (absl::Status connected = EnsureConnected(*connection);
        !connected.ok()) {
      return connected;
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(connection->context, static_cast<int>(argv.size()),
                         args.data(), lengths.data()));
    if (reply == nullptr) {
      const bool was_used = connection->used > 0;
      const std::string error = connection->context->errstr;
      connection->Close();
      // A connection that had worked may have died while pooled (Redis
      // restarted, an idle timeout): one more try on a fresh connection.
      if (was_used && attempt == 0) continue;
      return absl::UnavailableError(
          absl::StrCat("redis ", address_, ": ", name, ": ", error));
    }
    ++connection->used;
    absl::StatusOr<RedisReply> result;
    if (reply->type == REDIS_REPLY_ERROR) {
      const absl::string_view text(reply->str, reply->len);
      result = absl::InternalError(absl::StrCat(
          "redis ", address_, ": ", name, ": ", text.substr(0, kMaxErrorText)));
    } else {
      result = CopyReply(*reply);
    }
    freeReplyObject(reply);
    return result;
  }
}

absl::StatusOr<RedisReply> RedisClient::Command(
    absl::Span<const absl::string_view> argv) {
  return Run(argv);
}

absl::StatusOr<RedisReply> RedisClient::Eval(
    const RedisScript& script, absl::Span<const absl::string_view> keys,
    absl::Span<const absl::string_view> args) {
  const std::string key_count = absl::StrCat(keys.size());
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string sha1 = script.sha1();
    if (sha1.empty()) {
      const absl::string_view load[] = {"SCRIPT", "LOAD", script.source()};
      absl::StatusOr<RedisReply> loaded = Run(load);
      if (!loaded.ok()) return loaded.status();
      if (loaded->type != RedisReply::Type::kString) {
        return absl::InternalError(
            absl::StrCat("redis ", address_, ": SCRIPT LOAD: not a string"));
      }
      sha1 = loaded->string;
      script.set_sha1(sha1);
    }
    std::vector<absl::string_view> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.push_back("EVALSHA");
    argv.push_back(sha1);
    argv.push_back(key_count);
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<RedisReply> reply = Run(argv);
    if (reply.ok() || !absl::IsInternal(reply.status()) ||
        !absl::StrContains(reply.status().message(), ": NOSCRIPT")) {
      return reply;
    }
    // Redis restarted (or SCRIPT FLUSH): its script cache is empty.
    script.set_sha1("");
  }
  return absl::InternalError(absl::StrCat(
      "redis ", address_, ": EVALSHA: NOSCRIPT right after SCRIPT LOAD"));
}

}  // namespace portcullis::redis
