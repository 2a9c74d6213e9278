// The deployment-safety guards a new policy passes before it is published
// (docs/live-policy.md, "What a reload refuses"), shared by the file watcher
// (policy_watcher.h) and the bundle poller (bundle_poller.h) so that both
// refuse the same policies with the same words. Internal.
#ifndef PORTCULLIS_ENGINE_LIVE_RELOAD_GUARDS_H_
#define PORTCULLIS_ENGINE_LIVE_RELOAD_GUARDS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/snapshot/compiled_policy.h"

namespace portcullis::internal {

// FailedPrecondition when `policy` defines no role, entity or credential and
// `allow_empty` is false; `options` names the options struct whose
// `allow_empty` lifts it ("PolicyWatcherOptions"). Costs a Stats() call.
absl::Status RefuseEmptyPolicy(const CompiledPolicy& policy, bool allow_empty,
                               absl::string_view options);

// FailedPrecondition when `candidate` removes more than `max_removed_share`
// of `published`'s roles, entities or credentials (matched by id), naming
// the count, the share and `options`' max_removed_share. OK when nothing is
// published (null) or the share is 1. Costs one pass over both name tables.
absl::Status RefuseMassRemoval(const CompiledPolicy* published,
                               const CompiledPolicy& candidate,
                               double max_removed_share,
                               absl::string_view options);

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_LIVE_RELOAD_GUARDS_H_
