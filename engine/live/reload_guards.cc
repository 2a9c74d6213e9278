#include "engine/live/reload_guards.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/live/policy_diff.h"

namespace portcullis::internal {

absl::Status RefuseEmptyPolicy(const CompiledPolicy& policy, bool allow_empty,
                               absl::string_view options) {
  if (allow_empty) return absl::OkStatus();
  const PolicyStats stats = policy.Stats();
  if (stats.roles == 0 && stats.entities == 0 && stats.credentials == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the policy defines no role, entity or credential; an "
                     "empty policy is refused unless ",
                     options, "::allow_empty is set"));
  }
  return absl::OkStatus();
}

absl::Status RefuseMassRemoval(const CompiledPolicy* published,
                               const CompiledPolicy& candidate,
                               double max_removed_share,
                               absl::string_view options) {
  if (published == nullptr || max_removed_share >= 1) {
    return absl::OkStatus();
  }
  const RemovalCounts removals = CountRemovals(*published, candidate);
  struct Kind {
    absl::string_view name;
    RemovalCounts::Count count;
  };
  for (const Kind& kind :
       {Kind{"roles", removals.roles}, Kind{"entities", removals.entities},
        Kind{"credentials", removals.credentials}}) {
    const double share = kind.count.before == 0
                             ? 0
                             : static_cast<double>(kind.count.removed) /
                                   static_cast<double>(kind.count.before);
    if (share > max_removed_share) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the new policy removes %d of the %d %s published (%.0f%%), more "
          "than %s::max_removed_share (%.0f%%) allows; nothing was published",
          kind.count.removed, kind.count.before, kind.name, share * 100,
          options, max_removed_share * 100));
    }
  }
  return absl::OkStatus();
}

}  // namespace portcullis::internal
