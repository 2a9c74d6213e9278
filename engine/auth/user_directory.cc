#include "engine/auth/user_directory.h"

#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/common/quote.h"

namespace portcullis::auth {

absl::Status InMemoryUserDirectory::SetUser(absl::string_view user_id,
                                            DirectoryUser user) {
  if (user_id.empty()) {
    return absl::InvalidArgumentError("user directory: user_id is empty");
  }
  if (user.entity_id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("user directory: user ",
                                                   internal::Quote(user_id),
                                                   ": entity_id is empty"));
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  users_.insert_or_assign(std::string(user_id), std::move(user));
  return absl::OkStatus();
}

bool InMemoryUserDirectory::RemoveUser(absl::string_view user_id) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  return users_.erase(user_id) > 0;
}

absl::StatusOr<DirectoryUser> InMemoryUserDirectory::FindUser(
    absl::string_view user_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = users_.find(user_id);
  if (it == users_.end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown user ", internal::Quote(user_id)));
  }
  return it->second;
}

}  // namespace portcullis::auth
