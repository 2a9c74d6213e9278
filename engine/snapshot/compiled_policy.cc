#include "engine/snapshot/compiled_policy.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace portcullis {
namespace {

using internal::NameTable;
using internal::PrincipalFacts;

uint32_t NextSnapshotTag() {
  // 0 is never issued: default-constructed ids and principals match nothing.
  static std::atomic<uint32_t> next{1};
  uint32_t tag = next.fetch_add(1, std::memory_order_relaxed);
  if (tag == 0) tag = next.fetch_add(1, std::memory_order_relaxed);
  return tag;
}

// The name of `id` in `names`, or nothing when `id` is not one of `snapshot`'s.
template <typename Id>
absl::string_view NameOf(const NameTable& names, uint32_t snapshot, Id id) {
  if (id.snapshot() != snapshot || id.index() >= names.size()) return {};
  return names.name(id.index());
}

}  // namespace

std::unique_ptr<const CompiledPolicy> CompiledPolicy::FromTables(
    internal::PolicyTables tables) {
  return std::unique_ptr<const CompiledPolicy>(
      new CompiledPolicy(TaggedTables{std::move(tables), NextSnapshotTag()}));
}

CompiledPolicy::CompiledPolicy(TaggedTables tables)
    : tables_(std::move(tables)), action_index_(tables_.tables) {
  const internal::PolicyTables& t = tables_.tables;
  // The restrictions, then all ones over the largest range a principal can
  // have (a partner's entities; an entity user's range is one entity).
  uint32_t widest = 1;
  for (size_t p = 0; p + 1 < t.partner_entity_begin.size(); ++p) {
    widest = std::max(
        widest, t.partner_entity_begin[p + 1] - t.partner_entity_begin[p]);
  }
  tenant_bits_.reserve(t.restriction_bits.size() + widest / 64 + 1);
  tenant_bits_ = t.restriction_bits;
  unrestricted_ = static_cast<uint32_t>(tenant_bits_.size());
  tenant_bits_.resize(tenant_bits_.size() + widest / 64 + 1, ~uint64_t{0});
  hot_.slots = t.slots.data();
  hot_.scope_rows = t.scope_rows.data();
  hot_.permissions = t.permissions.data();
  hot_.tenant_bits = tenant_bits_.data();
  hot_.slot_count = t.slots.size();
  hot_.entity_count = t.entity_partner.size();
  hot_.snapshot = tables_.snapshot_tag;
  hot_.snapshot_word = uint64_t{tables_.snapshot_tag} << 32;
}

std::optional<ObjectTypeId> CompiledPolicy::FindObjectType(
    absl::string_view name) const {
  const uint32_t index = tables().object_types.Find(0, name);
  if (index == NameTable::kNotFound) return std::nullopt;
  return ObjectTypeId(snapshot(), index);
}

std::optional<ActionId> CompiledPolicy::FindAction(
    ObjectTypeId object_type, absl::string_view action) const {
  if (object_type.snapshot() != snapshot()) return std::nullopt;
  const uint32_t slot = tables().actions.Find(object_type.index(), action);
  if (slot == NameTable::kNotFound) return std::nullopt;
  return ActionId(snapshot(), slot);
}

std::optional<EntityId> CompiledPolicy::FindEntity(absl::string_view id) const {
  const uint32_t index = tables().entities.Find(0, id);
  if (index == NameTable::kNotFound) return std::nullopt;
  return EntityId(snapshot(), index);
}

std::optional<RoleId> CompiledPolicy::FindRole(absl::string_view id) const {
  const uint32_t index = tables().roles.Find(0, id);
  if (index == NameTable::kNotFound) return std::nullopt;
  return RoleId(snapshot(), index);
}

std::optional<CredentialId> CompiledPolicy::FindCredential(
    absl::string_view client_id) const {
  const uint32_t index = tables().credentials.Find(0, client_id);
  if (index == NameTable::kNotFound) return std::nullopt;
  return CredentialId(snapshot(), index);
}

const Decision* CompiledPolicy::DecisionRowOf(
    const PrincipalFacts& facts) const {
  return decision_rows_.RowFor(hot_,
                               facts.kind == PrincipalFacts::Kind::kPartner,
                               facts.scope_row, facts.role_row);
}

absl::StatusOr<Principal> CompiledPolicy::BindPartner(
    absl::string_view client_id) const {
  Principal principal;
  switch (BindPartnerFacts(client_id, principal.facts_)) {
    case Reason::kGranted:
      break;
    case Reason::kInvalidRequest:
      return absl::InvalidArgumentError(internal::kPartnerNeedsClient);
    default:
      return absl::NotFoundError(
          absl::StrCat("unknown client \"", client_id, "\""));
  }
  principal.facts_.decisions = DecisionRowOf(principal.facts_);
  return principal;
}

absl::StatusOr<Principal> CompiledPolicy::BindEntityUser(
    absl::string_view user_id, absl::string_view entity_id,
    absl::string_view role_id, absl::string_view client_id) const {
  Principal principal;
  switch (BindEntityUserFacts(user_id, entity_id, role_id, client_id,
                              principal.facts_)) {
    case Reason::kGranted:
      break;
    case Reason::kInvalidRequest:
      return absl::InvalidArgumentError(internal::kEntityUserNeedsIds);
    case Reason::kUnknownEntity:
      return absl::NotFoundError(
          absl::StrCat("unknown entity \"", entity_id, "\""));
    case Reason::kUnknownRole:
      return absl::NotFoundError(
          absl::StrCat("unknown role \"", role_id, "\""));
    default:
      return absl::NotFoundError(
          absl::StrCat("unknown client \"", client_id, "\""));
  }
  principal.facts_.decisions = DecisionRowOf(principal.facts_);
  principal.user_id_ = std::string(user_id);
  principal.entity_name_ = tables().entities.name(principal.facts_.entity);
  return principal;
}

absl::string_view CompiledPolicy::ObjectTypeName(ObjectTypeId id) const {
  return NameOf(tables().object_types, snapshot(), id);
}

absl::string_view CompiledPolicy::ActionName(ActionId id) const {
  return NameOf(tables().actions, snapshot(), id);
}

ObjectTypeId CompiledPolicy::ObjectTypeOf(ActionId id) const {
  if (id.snapshot() != snapshot() || id.index() >= tables().slots.size()) {
    return ObjectTypeId();
  }
  return ObjectTypeId(snapshot(), tables().slots[id.index()].object_type);
}

absl::string_view CompiledPolicy::EntityName(EntityId id) const {
  return NameOf(tables().entities, snapshot(), id);
}

absl::string_view CompiledPolicy::RoleName(RoleId id) const {
  return NameOf(tables().roles, snapshot(), id);
}

PolicyStats CompiledPolicy::Stats() const {
  const internal::PolicyTables& t = tables();
  PolicyStats stats;
  stats.object_types = t.object_types.size();
  stats.actions = t.slots.size();
  stats.roles = t.roles.size();
  stats.distinct_permission_rows = t.permission_row_count;
  stats.entities = t.entities.size();
  stats.partners = t.partners.size();
  stats.credentials = t.credentials.size();
  stats.distinct_scope_rows =
      t.scope_words == 0 ? 0 : t.scope_rows.size() / t.scope_words;
  stats.memory_bytes = sizeof(*this) + t.MemoryBytes() +
                       tenant_bits_.capacity() * sizeof(uint64_t) +
                       action_index_.MemoryBytes();
  stats.decision_rows = decision_rows_.RowCount();
  stats.decision_row_bytes = decision_rows_.MemoryBytes();
  return stats;
}

}  // namespace portcullis
