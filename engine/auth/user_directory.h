// Where the token service learns who an entity user is: the entity the user
// belongs to and the role they hold. The service issues entity_user tokens
// (Monite's `entity_user` grant, `entity_user_id` in the request) and asks the
// directory at issuance and again at every refresh, so a user moved to
// another entity or role gets the new one within one access-token lifetime.
//
// The caller owns the user database; it implements UserDirectory over it.
// InMemoryUserDirectory is a small implementation for tests, examples and
// services whose users fit in memory.

#ifndef PORTCULLIS_ENGINE_AUTH_USER_DIRECTORY_H_
#define PORTCULLIS_ENGINE_AUTH_USER_DIRECTORY_H_

#include <shared_mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace portcullis::auth {

// One entity user, as the directory knows them.
struct DirectoryUser {
  // The entity the user belongs to. Required.
  std::string entity_id;
  // The user's role; empty means the entity's default role.
  std::string role_id;
};

// Looks users up by id. Every implementation is thread-safe: FindUser may be
// called concurrently from any number of threads.
class UserDirectory {
 public:
  virtual ~UserDirectory() = default;

  // The user with this id. Returns NotFound for an unknown user; any other
  // error is passed on to the caller of the token endpoint as is.
  virtual absl::StatusOr<DirectoryUser> FindUser(
      absl::string_view user_id) const = 0;
};

// A UserDirectory in memory. Thread-safe: FindUser may race with SetUser and
// RemoveUser (a reader-writer lock; lookups share it). Costs one hash lookup
// and a copy of the user's two strings per FindUser.
class InMemoryUserDirectory final : public UserDirectory {
 public:
  InMemoryUserDirectory() = default;
  InMemoryUserDirectory(const InMemoryUserDirectory&) = delete;
  InMemoryUserDirectory& operator=(const InMemoryUserDirectory&) = delete;

  // Adds or replaces a user. Returns InvalidArgument if `user_id` or
  // `user.entity_id` is empty.
  absl::Status SetUser(absl::string_view user_id, DirectoryUser user);

  // Removes a user; returns whether it was there.
  bool RemoveUser(absl::string_view user_id);

  // Returns NotFound `unknown user "<user_id>"` (C-escaped) for an unknown
  // user.
  absl::StatusOr<DirectoryUser> FindUser(
      absl::string_view user_id) const override;

 private:
  // std::shared_mutex rather than absl::Mutex: Debian's prebuilt Abseil is
  // not compiled with ThreadSanitizer, which then reports false races.
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<std::string, DirectoryUser> users_;  // Guarded by mu_.
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_USER_DIRECTORY_H_
