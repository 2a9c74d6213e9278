// Scopes: `<object-type>:<level>` with levels read < write < delete (each
// covers the ones before it), `all:<level>` for every object type, and bare
// `all` for every object type at every level (Monta's /auth/me answers
// `"scopes": ["all"]`: "This credential has access to all resources"), the
// same as `all:delete`. Credentials list them; OAuth-style requests carry them
// as one space-separated string. Naming one object type twice is redundant,
// not wrong: the highest level applies (levels inherit), and the parsers
// report it as a warning so that authors can tidy up.
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
  // Written as bare `all` (then all is true and level kDelete).
  bool bare = false;

  // As written: "charge-points:read", "all:delete", "all".
  std::string ToString() const;
  // Whether `other` names the same object type (or both `all`).
  bool SameTarget(const Scope& other) const {
    return all == other.all && object_type == other.object_type;
  }
  friend bool operator==(const Scope& a, const Scope& b) {
    return a.object_type == b.object_type && a.all == b.all &&
           a.level == b.level && a.bare == b.bare;
  }
};

// The warning for a scope that names the same object type as an earlier one
// (`earlier`, described by where it is, e.g. `scope 1 "charge-points:read"`
// or `"charge-points:read" at credentials[0].scopes[0]`):
//   `repeats object type "charge-points" of <earlier>; the highest level
//   (write) applies`
std::string RedundantScopeWarning(const Scope& scope, const Scope& earlier,
                                  absl::string_view earlier_description);

// Parses one scope. InvalidArgument, naming the scope and the position, for an
// empty scope or part, a missing or repeated ':', whitespace or characters that
// cannot be in an object type name, or an unknown level. Levels are lowercase.
absl::StatusOr<Scope> ParseScope(absl::string_view text);

// Parses a user-typed scope list: scopes separated by single spaces
// (OAuth 2.0's `scope` parameter). Errors say which scope (1-based), at which
// position (0-based byte offset in `text`), and what was expected: stray or
// doubled whitespace, other separators. When `is_object_type` is given, every
// object type must satisfy it. Every scope is returned as written; one that
// names an object type listed before (with any level) adds a warning,
// `scope 2 "charge-points:write" at position 19 repeats object type
// "charge-points" of scope 1 "charge-points:read"; the highest level (write)
// applies`, to `warnings` when given.
absl::StatusOr<std::vector<Scope>> ParseScopeList(
    absl::string_view text, std::vector<std::string>* warnings = nullptr);
absl::StatusOr<std::vector<Scope>> ParseScopeList(
    absl::string_view text,
    absl::FunctionRef<bool(absl::string_view)> is_object_type,
    std::vector<std::string>* warnings = nullptr);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_COMMON_SCOPE_H_
