#include "engine/snapshot/policy_tables.h"

namespace portcullis::internal {
namespace {

template <typename T>
size_t VectorBytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

}  // namespace

size_t PolicyTables::MemoryBytes() const {
  return sizeof(*this) + object_types.MemoryBytes() + actions.MemoryBytes() +
         VectorBytes(type_base) + VectorBytes(slots) + partners.MemoryBytes() +
         VectorBytes(partner_entity_begin) + entities.MemoryBytes() +
         VectorBytes(entity_partner) + VectorBytes(entity_default_role) +
         roles.MemoryBytes() + role_names.MemoryBytes() +
         VectorBytes(role_owner) + VectorBytes(role_row) +
         VectorBytes(permission_rows) + credentials.MemoryBytes() +
         credential_names.MemoryBytes() + VectorBytes(credential_partner) +
         VectorBytes(credential_scope_row) +
         VectorBytes(credential_restriction) +
         VectorBytes(credential_rate_limit) +
         VectorBytes(credential_scopes_begin) +
         credential_scopes.MemoryBytes() +
         VectorBytes(credential_entities_begin) +
         VectorBytes(credential_entities) + VectorBytes(scope_rows) +
         VectorBytes(restriction_bits);
}

void PolicyTables::ShrinkToFit() {
  for (NameTable* table :
       {&object_types, &actions, &partners, &entities, &roles, &credentials}) {
    table->ShrinkToFit();
  }
  role_names.ShrinkToFit();
  credential_names.ShrinkToFit();
  credential_scopes.ShrinkToFit();
  for (std::vector<uint32_t>* v :
       {&type_base, &partner_entity_begin, &entity_partner,
        &entity_default_role, &role_owner, &role_row, &credential_partner,
        &credential_scope_row, &credential_restriction,
        &credential_scopes_begin, &credential_entities_begin,
        &credential_entities}) {
    v->shrink_to_fit();
  }
  slots.shrink_to_fit();
  credential_rate_limit.shrink_to_fit();
  permission_rows.shrink_to_fit();
  scope_rows.shrink_to_fit();
  restriction_bits.shrink_to_fit();
}

}  // namespace portcullis::internal
