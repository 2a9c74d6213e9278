// The semantic difference of two compiled policies: everything that changes
// an answer (or what the auth module enforces), matched by name — ids are
// per snapshot. For operators reviewing a change before it goes live, and for
// the CLI's `diff`.
//
// Example:
//   PolicyDiff diff = DiffPolicies(*store.policy(), *candidate);
//   std::cout << diff.ToText();
//   for (const PolicyChange& change : diff.changes) ...
#ifndef PORTCULLIS_ENGINE_LIVE_POLICY_DIFF_H_
#define PORTCULLIS_ENGINE_LIVE_POLICY_DIFF_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/snapshot/compiled_policy.h"

namespace portcullis {

// One difference. `before` and `after` are values as text: a permission
// ("allowed", "not_allowed", "allowed_for_own"), a scope level ("none",
// "read", "write", "delete"), a level or partner_only of an action, an owner
// or default role ("(none)" for none), a partner, an entity restriction
// (entity ids joined by ", ", or "(all entities)"), a rate limit
// ("10 per 60 s", or "(none)"); "(absent)" when the role, credential or action
// it belongs to does not exist on that side. Empty for additions and
// removals, whose description is in `after` / `before`.
struct PolicyChange {
  enum class Kind : uint8_t {
    kObjectTypeAdded,
    kObjectTypeRemoved,
    kActionAdded,  // after: "level read, partner_only false"
    kActionRemoved,
    kActionLevel,
    kActionPartnerOnly,
    kRoleAdded,  // after: the owner, "(global)" or "entity \"e-1\""
    kRoleRemoved,
    kRoleOwner,
    kRolePermission,  // object_type, action
    kEntityAdded,     // after: "partner \"p-1\", default role \"r-1\""
    kEntityRemoved,
    kEntityPartner,
    kEntityDefaultRole,
    kCredentialAdded,  // after: "partner \"p-1\""
    kCredentialRemoved,
    kCredentialPartner,
    kCredentialScope,  // object_type
    kCredentialRestriction,
    kCredentialRateLimit,
  };

  Kind kind;
  // The object type (catalog changes), role id, entity id or client id.
  std::string subject;
  std::string
      object_type;  // kActionX: == subject; kRolePermission, kCredentialScope
  std::string action;  // kActionX, kRolePermission
  std::string before;
  std::string after;

  // One line, e.g. `~ role "r-clerk": payable.approve: not_allowed -> allowed`
  // (`+` added, `-` removed, `~` changed).
  std::string ToText() const;
  friend bool operator==(const PolicyChange& a, const PolicyChange& b);
};

// Sorted: catalog (by object type, then action), roles, entities, credentials
// (each by id); within a subject, its addition or removal first, then its
// attributes, then its permissions or scopes by object type and action.
struct PolicyDiff {
  std::vector<PolicyChange> changes;

  bool empty() const { return changes.empty(); }
  // One line per change (ToText), each ending in a newline; "" when empty.
  std::string ToText() const;
};

// Everything whose answer differs between `before` and `after`:
//   - object types and actions added or removed; an action's level or
//     partner_only changed;
//   - roles added, removed, or moved to another owner; for every (role,
//     object type, action) in either policy, a permission that differs,
//     counting an absent role or action as not_allowed (so an added role
//     lists what it allows, a removed one what it allowed);
//   - entities added or removed, or with another partner or default role;
//   - credentials added or removed, or with another partner, entity
//     restriction or rate limit; for every (credential, object type) in
//     either policy, a scope level that differs (absent counts as none).
// Display names (of roles and credentials) do not change answers and are not
// compared. Deterministic; costs a hash lookup per name plus, per pair of
// distinct permission rows, one comparison of them.
PolicyDiff DiffPolicies(const CompiledPolicy& before,
                        const CompiledPolicy& after);

// How many roles, entities and credentials of `before` are absent from
// `after` (matched by id), beside how many `before` has: what the watcher's
// mass-removal guard weighs. One hash lookup per id of `before`, no
// allocation; far cheaper than DiffPolicies.
struct RemovalCounts {
  struct Count {
    size_t removed = 0;
    size_t before = 0;
  };
  Count roles;
  Count entities;
  Count credentials;
};
RemovalCounts CountRemovals(const CompiledPolicy& before,
                            const CompiledPolicy& after);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_LIVE_POLICY_DIFF_H_
