// Scopes: `<object-type>:<level>` with levels read < write < delete (each
// covers the ones before it), and `all:<level>` for every object type.
// Credentials list them; OAuth-style requests carry them as one space-separated
// string.
#ifndef PORTCULLIS_ENGINE_COMMON_SCOPE_H_
#define PORTCULLIS_ENGINE_COMMON_SCOPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace portcullis {

enum class ScopeLevel : uint8_t { kRead = 1, kWrite = 2, kDelete = 3 };

// "read", "write", "delete".
absl::string_view ScopeLevelName(ScopeLevel level);

struct Scope {
  // The object type; empty for `all`.
  std::string object_type;
  bool all = false;
  ScopeLevel level = ScopeLevel::kRead;

  // "charge-points:read", "all:delete".
  std::string ToString() const;
  friend bool operator==(const Scope& a, const Scope& b) {
    return a.object_type == b.object_type && a.all == b.all &&
           a.level == b.level;
  }
};

// Parses one scope. InvalidArgument, naming the scope and the position, for an
// empty scope or part, a missing or repeated ':', whitespace or characters that
// cannot be in an object type name, or an unknown level. Levels are lowercase.
absl::StatusOr<Scope> ParseScope(absl::string_view text);

// Parses a user-typed scope list: scopes separated by single spaces
// (OAuth 2.0's `scope` parameter). Errors say which scope (1-based), at which
// position (0-based byte offset in `text`), and what was expected: stray or
// doubled whitespace, other separators, and the same object type listed twice
// with different levels (an exact repeat is accepted). When `is_object_type` is
// given, every object type must satisfy it.
absl::StatusOr<std::vector<Scope>> ParseScopeList(absl::string_view text);
absl::StatusOr<std::vector<Scope>> ParseScopeList(
    absl::string_view text,
    absl::FunctionRef<bool(absl::string_view)> is_object_type);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_COMMON_SCOPE_H_
