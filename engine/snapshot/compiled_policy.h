// An immutable, flat snapshot of a validated policy, and the interned ids and
// principals that checks against it take. Produced by Compile() (compiler.h);
// checked by the functions of evaluator.h.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_COMPILED_POLICY_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_COMPILED_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/common/decision.h"
#include "engine/snapshot/action_index.h"
#include "engine/snapshot/decision_rows.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis {

class CompiledPolicy;

namespace internal {
struct PrincipalFacts;
struct IdAccess;
}  // namespace internal

// Interned ids. Each carries the tag of the snapshot that issued it: checking
// an id against any other snapshot fails closed (Reason::kStaleSnapshot). A
// default-constructed id belongs to no snapshot. Trivially copyable, 8 bytes.
template <typename Tag>
class InternedId {
 public:
  InternedId() = default;
  uint32_t snapshot() const { return snapshot_; }
  uint32_t index() const { return index_; }
  friend bool operator==(InternedId a, InternedId b) {
    return a.snapshot_ == b.snapshot_ && a.index_ == b.index_;
  }
  friend bool operator!=(InternedId a, InternedId b) { return !(a == b); }

 private:
  friend class CompiledPolicy;
  friend struct internal::IdAccess;
  InternedId(uint32_t snapshot, uint32_t index)
      : index_(index), snapshot_(snapshot) {}
  // Index first: on a little-endian machine the two load as one word with the
  // tag in the high half (IdAccess::Word), with no rotate.
  uint32_t index_ = 0;
  uint32_t snapshot_ = 0;
};

using ObjectTypeId = InternedId<struct ObjectTypeTag>;
// An (object type, action) pair: its index is the pair's slot.
using ActionId = InternedId<struct ActionTag>;
using EntityId = InternedId<struct EntityTag>;
using RoleId = InternedId<struct RoleTag>;
using CredentialId = InternedId<struct CredentialTag>;

// The object a request acts on. `created_by` empty means the creator is
// unknown, which is never the caller. The view must outlive the check.
struct ResourceRef {
  EntityId entity;
  absl::string_view created_by;
};

namespace internal {
// What a check needs to know about its caller, resolved once when a token is
// bound to a snapshot so that the check itself only compares integers.
struct PrincipalFacts {
  enum class Kind : uint8_t { kNone, kPartner, kEntityUser };
  // What a check reads come first, together.
  // The tag of the snapshot bound to, in the high half as in
  // HotTables::snapshot_word, so that a check compares it with the
  // snapshot's and the action's tags in one 64-bit compare. 0 (no snapshot's
  // tag) when never bound.
  uint64_t snapshot_word = 0;
  // The entities the principal may act in, before any restriction, as one
  // range of `tenant_count` entities from the first, `tenant_origin`'s low
  // half (entities are numbered partner by partner): a partner's entities,
  // or the user's entity alone (none when `tenant_ok` is false). The high
  // half is the snapshot's tag, so that an entity id read as one word
  // (IdAccess::Word) minus the origin is its offset in the range, and an id
  // of another snapshot is past the range: the tenant rule is one compare
  // that also checks the entity's tag and bounds.
  uint32_t tenant_count = 0;
  Kind kind = Kind::kNone;
  // Entity users: the client's partner is the entity's and its restriction, if
  // any, lists the entity.
  bool tenant_ok = false;
  // Entity users: the role is global or owned by the user's entity.
  bool role_usable = false;
  // Entity users: no role was named, so `role` is the entity's default. Lets
  // a principal be bound again to another snapshot (a shadow candidate, a
  // reloaded policy) with the same meaning.
  bool default_role = false;
  uint64_t tenant_origin = 0;
  // The bits over that range in HotTables::tenant_bits: the credential's
  // restriction, or all ones when unrestricted. Points into the snapshot,
  // like `decisions` below.
  const uint64_t* tenant_bits = nullptr;
  // The decision row of the principal's combination (kind, scope row, role
  // row): rules 2 to 4 decided for every slot (decision_rows.h), so that a
  // check by ids reads one entry instead of evaluating them. Set by
  // CompiledPolicy::BindPartner / BindEntityUser; null in facts bound without
  // one (the allocation-free binding of a check entirely by names, which
  // evaluates the rules). Points into the snapshot's row cache: read only
  // after `snapshot` matched the snapshot being checked (which is then alive).
  const Decision* decisions = nullptr;
  // What the rules read, for the checks that evaluate them (entirely by
  // names, and explanations).
  uint32_t scope_row = 0;  // word offset of the credential's scope row
  uint32_t role_row = 0;   // the role's row; 0 (denies all) if unusable
  uint32_t partner = kNone;
  uint32_t credential = kNone;  // kNone: no scope restriction
  uint32_t entity = kNone;      // entity users: the user's entity
  uint32_t role = kNone;        // entity users: the effective role, or kNone

  uint32_t snapshot() const {
    return static_cast<uint32_t>(snapshot_word >> 32);
  }
};
static_assert(
    sizeof(PrincipalFacts) == 64,
    "a check by ids reads the first 40 bytes; the rest evaluates the rules, "
    "explains and rebinds");
}  // namespace internal

// Who is calling, bound to one snapshot: a partner (client_credentials token)
// or an entity user (entity_user token). Obtained from
// CompiledPolicy::BindPartner or BindEntityUser, once per token; checks then
// read a few integers from it. A Principal used with another snapshot fails
// closed (kStaleSnapshot): rebind it after a policy swap. Immutable; copyable.
class Principal {
 public:
  Principal() = default;

  uint32_t snapshot() const { return facts_.snapshot(); }
  bool is_partner() const {
    return facts_.kind == internal::PrincipalFacts::Kind::kPartner;
  }
  bool is_entity_user() const {
    return facts_.kind == internal::PrincipalFacts::Kind::kEntityUser;
  }
  // Entity users: the user id that ownership compares with a resource's
  // creator.
  const std::string& user_id() const { return user_id_; }
  const internal::PrincipalFacts& facts() const { return facts_; }

 private:
  friend class CompiledPolicy;
  friend struct internal::IdAccess;
  internal::PrincipalFacts facts_;
  std::string user_id_;
  // Entity users: the user's entity id, viewing the snapshot's own copy, so
  // that a check by names compares the request's entity with it in place
  // (most requests act in the user's entity). Read only while the principal
  // is bound to the snapshot being checked (which is then alive).
  absl::string_view entity_name_;
};

// Counts and sizes of a snapshot, as `portcullis stats` prints them.
struct PolicyStats {
  size_t object_types = 0;
  size_t actions = 0;  // (object type, action) pairs
  size_t roles = 0;
  size_t distinct_permission_rows = 0;  // including the deny-all row 0
  size_t entities = 0;
  size_t partners = 0;
  size_t credentials = 0;
  size_t distinct_scope_rows = 0;
  size_t memory_bytes = 0;  // everything the snapshot holds
  // The decision rows built for the principals bound so far (one per
  // distinct combination of kind, scope row and role row), and their bytes:
  // grows with the combinations bound, not counted in memory_bytes.
  size_t decision_rows = 0;
  size_t decision_row_bytes = 0;
};

// A compiled policy: every name interned to a dense id, every role a row of
// 2-bit permissions (identical rows stored once), every credential's scopes a
// row of 2-bit levels. Immutable and thread-safe: any number of threads may
// check against it concurrently. Lookups by name cost one hash lookup each;
// checks by id (evaluator.h) read a fixed number of words whatever the size of
// the policy.
//
// The one thing that changes after construction is internal: the cache of
// decision rows (decision_rows.h) that binding a principal fills, under its
// own mutex. What a snapshot decides never changes; checks never touch the
// cache (a bound principal points at its row).
class CompiledPolicy {
 public:
  // Takes ownership of tables built by the compiler or read from a bundle and
  // gives them a fresh snapshot tag. Precondition: the tables are consistent
  // (the compiler's output, or a bundle whose checks passed).
  static std::unique_ptr<const CompiledPolicy> FromTables(
      internal::PolicyTables tables);

  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  // The tag every id and principal issued by this snapshot carries; unique in
  // the process (until 2^32 snapshots have been made).
  uint32_t snapshot() const { return tables_.snapshot_tag; }

  // Name lookups: one hash lookup each, no allocation; nullopt when unknown.
  std::optional<ObjectTypeId> FindObjectType(absl::string_view name) const;
  std::optional<ActionId> FindAction(ObjectTypeId object_type,
                                     absl::string_view action) const;
  // One hash lookup for both names (inline: checks by names call it on
  // every request).
  std::optional<ActionId> FindAction(absl::string_view object_type,
                                     absl::string_view action) const;
  std::optional<EntityId> FindEntity(absl::string_view id) const;
  std::optional<RoleId> FindRole(absl::string_view id) const;
  std::optional<CredentialId> FindCredential(absl::string_view client_id) const;

  // Binding also finds (or, the first time its combination of kind,
  // credential's scope row and role's row is bound, builds: O(slots)) the
  // principal's decision row, under a mutex: bind once per token, not per
  // check.
  //
  // Binds a partner token's credential. InvalidArgument for an empty client
  // id (internal::kPartnerNeedsClient), NotFound for an unknown one.
  absl::StatusOr<Principal> BindPartner(absl::string_view client_id) const;
  // Binds an entity user. `role_id` empty: the entity's default role (a user
  // with neither is denied by rbac). `client_id` empty: no scope restriction.
  // InvalidArgument for an empty user or entity id
  // (internal::kEntityUserNeedsIds: as the check entirely by names answers
  // invalid_request), NotFound for an unknown entity, role or client. A client
  // of another partner, or restricted to other entities, binds but fails
  // `tenant`; a role owned by another entity binds but fails `rbac`: such
  // tokens exist, and their checks must say why they are denied.
  absl::StatusOr<Principal> BindEntityUser(absl::string_view user_id,
                                           absl::string_view entity_id,
                                           absl::string_view role_id,
                                           absl::string_view client_id) const;

  // Names of interned ids, for explanations and reports. An id this snapshot
  // did not issue (one kept across a policy swap, a default one) names
  // nothing: the name is empty and ObjectTypeOf returns a default id.
  absl::string_view ObjectTypeName(ObjectTypeId id) const;
  absl::string_view ActionName(ActionId id) const;
  ObjectTypeId ObjectTypeOf(ActionId id) const;
  absl::string_view EntityName(EntityId id) const;
  absl::string_view RoleName(RoleId id) const;  // the role's id

  PolicyStats Stats() const;

  // The flat tables (internal/policy_tables.h), for the evaluator and bundles.
  const internal::PolicyTables& tables() const { return tables_.tables; }
  // What a check reads, in one cache line.
  const internal::HotTables& hot() const { return hot_; }

 private:
  struct TaggedTables {
    internal::PolicyTables tables;
    uint32_t snapshot_tag;
  };
  explicit CompiledPolicy(TaggedTables tables);

  // Shared by the Bind* functions, the name-based check and LivePrincipal,
  // which must not allocate: fills `facts` or returns the reason binding
  // failed, kInvalidRequest for an empty required name (the one place that
  // rule is written).
  friend struct internal::IdAccess;
  Reason BindEntityUserFacts(absl::string_view user_id,
                             absl::string_view entity_id,
                             absl::string_view role_id,
                             absl::string_view client_id,
                             internal::PrincipalFacts& facts) const;
  Reason BindPartnerFacts(absl::string_view client_id,
                          internal::PrincipalFacts& facts) const;
  // The decision row of bound `facts`' combination, from decision_rows_.
  const Decision* DecisionRowOf(const internal::PrincipalFacts& facts) const;

  alignas(64) internal::HotTables hot_;
  TaggedTables tables_;
  // HotTables::tenant_bits: derived when the snapshot is made, not stored in
  // bundles.
  std::vector<uint64_t> tenant_bits_;
  uint32_t unrestricted_ = 0;  // word offset of the all-ones words
  // (object type, action) -> slot: one lookup for both names. Derived from
  // the tables when the snapshot is made, not stored in bundles.
  internal::ActionIndex action_index_;
  // The decision rows of bound principals, built on demand: thread-safe,
  // never read by a check (principals hold pointers into it).
  mutable internal::DecisionRowCache decision_rows_;
};

inline std::optional<ActionId> CompiledPolicy::FindAction(
    absl::string_view object_type, absl::string_view action) const {
  const uint32_t slot = action_index_.Find(object_type, action);
  if (slot == internal::ActionIndex::kNotFound) return std::nullopt;
  return ActionId(snapshot(), slot);
}

// Inline, always: the check entirely by names binds on every call, and
// inlined into it the binding stores only the facts the check reads, with no
// call (498 -> 443 instructions a check, BM_Check/all_names/1000).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Reason CompiledPolicy::BindPartnerFacts(
    absl::string_view client_id, internal::PrincipalFacts& facts) const {
  const internal::PolicyTables& t = tables();
  const uint32_t credential = t.credentials.Find(0, client_id);
  if (credential == internal::NameTable::kNotFound) {
    // A snapshot holds no empty name, so an empty one is never found: the
    // check for it costs nothing until then.
    return client_id.empty() ? Reason::kInvalidRequest
                             : Reason::kUnknownPrincipal;
  }
  facts = internal::PrincipalFacts();
  facts.snapshot_word = hot_.snapshot_word;
  facts.kind = internal::PrincipalFacts::Kind::kPartner;
  facts.credential = credential;
  facts.partner = t.credential_partner[credential];
  facts.scope_row = t.credential_scope_row[credential];
  const uint32_t first = t.partner_entity_begin[facts.partner];
  facts.tenant_origin = hot_.snapshot_word | first;
  facts.tenant_count = t.partner_entity_begin[facts.partner + 1] - first;
  const uint32_t restriction = t.credential_restriction[credential];
  facts.tenant_bits =
      tenant_bits_.data() +
      (restriction != internal::kNone ? restriction : unrestricted_);
  return Reason::kGranted;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline Reason CompiledPolicy::BindEntityUserFacts(
    absl::string_view user_id, absl::string_view entity_id,
    absl::string_view role_id, absl::string_view client_id,
    internal::PrincipalFacts& facts) const {
  if (user_id.empty()) return Reason::kInvalidRequest;
  const internal::PolicyTables& t = tables();
  const uint32_t entity = t.entities.Find(0, entity_id);
  if (entity == internal::NameTable::kNotFound) {
    return entity_id.empty() ? Reason::kInvalidRequest : Reason::kUnknownEntity;
  }
  uint32_t role = t.entity_default_role[entity];
  if (!role_id.empty()) {
    role = t.roles.Find(0, role_id);
    if (role == internal::NameTable::kNotFound) return Reason::kUnknownRole;
  }
  uint32_t credential = internal::kNone;
  if (!client_id.empty()) {
    credential = t.credentials.Find(0, client_id);
    if (credential == internal::NameTable::kNotFound) {
      return Reason::kUnknownPrincipal;
    }
  }

  facts = internal::PrincipalFacts();
  facts.snapshot_word = hot_.snapshot_word;
  facts.kind = internal::PrincipalFacts::Kind::kEntityUser;
  facts.entity = entity;
  facts.partner = t.entity_partner[entity];
  facts.tenant_ok = true;
  if (credential != internal::kNone) {
    facts.credential = credential;
    facts.scope_row = t.credential_scope_row[credential];
    const uint32_t restriction = t.credential_restriction[credential];
    facts.tenant_ok =
        t.credential_partner[credential] == facts.partner &&
        (restriction == internal::kNone ||
         internal::GetBit(t.restriction_bits.data() + restriction,
                          entity - t.partner_entity_begin[facts.partner]));
  }
  facts.tenant_origin = hot_.snapshot_word | entity;
  facts.tenant_count = facts.tenant_ok ? 1 : 0;
  facts.tenant_bits = tenant_bits_.data() + unrestricted_;
  facts.role = role;
  facts.default_role = role_id.empty();
  if (role != internal::kNone) {
    facts.role_usable =
        t.role_owner[role] == internal::kNone || t.role_owner[role] == entity;
    // Row 0 denies everything (see internal/policy_tables.h).
    if (facts.role_usable) facts.role_row = t.role_row[role];
  }
  return Reason::kGranted;
}

namespace internal {
// Why a principal without its required names is not bound, or not checked
// (the check entirely by names): the same words from both.
inline constexpr absl::string_view kPartnerNeedsClient =
    "a partner principal needs a client_id";
inline constexpr absl::string_view kEntityUserNeedsIds =
    "an entity_user principal needs a user_id and an entity_id";

// Lets the evaluator make ids and bind principals without allocating.
struct IdAccess {
  template <typename Id>
  static Id Make(uint32_t snapshot, uint32_t index) {
    return Id(snapshot, index);
  }
  // An id as one word: its snapshot tag in the high half, its index in the
  // low (see HotTables::snapshot_word).
  template <typename Id>
  static uint64_t Word(Id id) {
    static_assert(sizeof(Id) == sizeof(uint64_t) && offsetof(Id, index_) == 0 &&
                      offsetof(Id, snapshot_) == sizeof(uint32_t),
                  "an id is its index, then its tag");
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                  "the load below puts the tag in the high half");
    // One load (compilers do not merge the two fields' loads).
    uint64_t word;
    std::memcpy(&word, &id, sizeof(word));
    return word;
  }
  // The id whose word (above) is `word`.
  template <typename Id>
  static Id FromWord(uint64_t word) {
    return Id(static_cast<uint32_t>(word >> 32), static_cast<uint32_t>(word));
  }
  // The user's entity id of an entity user bound to `policy`; empty for
  // any other principal (a partner, or one bound to another snapshot, whose
  // view may have outlived its snapshot).
  static absl::string_view UserEntityName(const CompiledPolicy& policy,
                                          const Principal& principal) {
    return principal.facts_.snapshot() == policy.snapshot()
               ? principal.entity_name_
               : absl::string_view();
  }
  // The slot of (object type, action), or ActionIndex::kNotFound: what
  // FindAction() answers, without the id.
  static uint32_t FindSlot(const CompiledPolicy& policy,
                           absl::string_view object_type,
                           absl::string_view action) {
    return policy.action_index_.Find(object_type, action);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE static Reason BindPartner(
      const CompiledPolicy& policy, absl::string_view client_id,
      PrincipalFacts& facts) {
    return policy.BindPartnerFacts(client_id, facts);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE static Reason BindEntityUser(
      const CompiledPolicy& policy, absl::string_view user_id,
      absl::string_view entity_id, absl::string_view role_id,
      absl::string_view client_id, PrincipalFacts& facts) {
    return policy.BindEntityUserFacts(user_id, entity_id, role_id, client_id,
                                      facts);
  }
};
}  // namespace internal

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_COMPILED_POLICY_H_
