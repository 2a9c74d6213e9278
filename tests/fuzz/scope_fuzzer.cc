// Fuzzes the scope parsers (engine/scope.h) with arbitrary text: ParseScope and
// ParseScopeList must return a value or an error, never crash, and agree with
// each other and with Scope::ToString.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/common/scope.h"
#include "tests/fuzz/fuzz_check.h"

namespace portcullis {
namespace {

// A stand-in for a catalog: object types whose name has an even length.
bool EvenLength(absl::string_view name) { return name.size() % 2 == 0; }

void CheckScope(absl::string_view text) {
  const absl::StatusOr<Scope> scope = ParseScope(text);
  if (!scope.ok()) {
    PORTCULLIS_FUZZ_CHECK(
        absl::StartsWith(scope.status().message(), "scope \""),
        std::string(scope.status().message()));
    return;
  }
  // A scope is exactly `<object-type>:<level>`: it prints back as written.
  PORTCULLIS_FUZZ_CHECK(scope->ToString() == text, scope->ToString());
  PORTCULLIS_FUZZ_CHECK(scope->all == scope->object_type.empty(),
                        scope->ToString());
  // One scope is a scope list of one.
  const absl::StatusOr<std::vector<Scope>> list = ParseScopeList(text);
  PORTCULLIS_FUZZ_CHECK(list.ok() && list->size() == 1 && (*list)[0] == *scope,
                        list.status().ToString());
}

void CheckScopeList(absl::string_view text) {
  const absl::StatusOr<std::vector<Scope>> list = ParseScopeList(text);
  const absl::StatusOr<std::vector<Scope>> restricted =
      ParseScopeList(text, EvenLength);
  if (!list.ok()) {
    PORTCULLIS_FUZZ_CHECK(absl::StartsWith(list.status().message(), "scope "),
                          std::string(list.status().message()));
    // A predicate only adds reasons to reject.
    PORTCULLIS_FUZZ_CHECK(!restricted.ok(), "accepted only with a predicate");
    return;
  }
  PORTCULLIS_FUZZ_CHECK(!list->empty(), "an accepted list is never empty");
  // Scopes separated by single spaces: the list prints back as written, and
  // each of its scopes parses alone.
  const std::string joined =
      absl::StrJoin(*list, " ", [](std::string* out, const Scope& scope) {
        out->append(scope.ToString());
      });
  PORTCULLIS_FUZZ_CHECK(joined == text, joined);
  for (const Scope& scope : *list) {
    const absl::StatusOr<Scope> alone = ParseScope(scope.ToString());
    PORTCULLIS_FUZZ_CHECK(alone.ok() && *alone == scope, scope.ToString());
  }
  if (restricted.ok()) {
    PORTCULLIS_FUZZ_CHECK(restricted->size() == list->size(), joined);
    for (const Scope& scope : *restricted) {
      PORTCULLIS_FUZZ_CHECK(scope.all || EvenLength(scope.object_type),
                            scope.ToString());
    }
  } else {
    PORTCULLIS_FUZZ_CHECK(absl::StrContains(restricted.status().message(),
                                            "names unknown object type"),
                          std::string(restricted.status().message()));
  }
}

}  // namespace
}  // namespace portcullis

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  portcullis::CheckScope(text);
  portcullis::CheckScopeList(text);
  return 0;
}
