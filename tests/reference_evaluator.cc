#include "tests/reference_evaluator.h"

#include <algorithm>
#include <string>

namespace portcullis {
namespace {

const v1::Entity* FindEntity(const v1::PolicySet& policy,
                             const std::string& id) {
  for (const v1::Entity& entity : policy.entities()) {
    if (entity.id() == id) return &entity;
  }
  return nullptr;
}

const v1::Role* FindRole(const v1::PolicySet& policy, const std::string& id) {
  for (const v1::Role& role : policy.roles()) {
    if ((role.id().empty() ? role.name() : role.id()) == id) return &role;
  }
  return nullptr;
}

const v1::Credential* FindCredential(const v1::PolicySet& policy,
                                     const std::string& client_id) {
  for (const v1::Credential& credential : policy.credentials()) {
    if (credential.client_id() == client_id) return &credential;
  }
  return nullptr;
}

int ActionLevel(const v1::Action& action) {
  switch (action.level()) {
    case v1::READ:
      return 1;
    case v1::WRITE:
      return 2;
    case v1::DELETE:
      return 3;
    default:
      return action.name() == "read" ? 1 : action.name() == "delete" ? 3 : 2;
  }
}

int GrantedLevel(const v1::Credential& credential,
                 const std::string& object_type) {
  int level = 0;
  for (const std::string& scope : credential.scopes()) {
    if (scope == "all") return 3;  // every object type at every level
    const size_t colon = scope.find(':');
    const std::string type = scope.substr(0, colon);
    const std::string name = scope.substr(colon + 1);
    if (type != "all" && type != object_type) continue;
    level = std::max(level, name == "read" ? 1 : name == "write" ? 2 : 3);
  }
  return level;
}

v1::Permission RolePermission(const v1::Role& role,
                              const std::string& object_type,
                              const std::string& action) {
  for (const v1::ObjectPermissions& object : role.permissions().objects()) {
    if (object.object_type() != object_type) continue;
    for (const v1::ActionPermission& entry : object.actions()) {
      if (entry.action_name() == action) return entry.permission();
    }
  }
  return v1::NOT_ALLOWED;
}

bool Lists(const v1::Credential& credential, const std::string& entity) {
  if (credential.entity_ids().empty()) return true;
  return std::find(credential.entity_ids().begin(),
                   credential.entity_ids().end(),
                   entity) != credential.entity_ids().end();
}

constexpr Decision Deny(Reason reason) {
  return {Verdict::kNotAllowed, reason};
}

}  // namespace

Decision ReferenceCheck(const v1::PolicySet& policy,
                        const v1::CheckRequest& request) {
  const bool is_partner = request.principal().has_partner();
  const bool is_user = request.principal().has_entity_user();
  if (!is_partner && !is_user) return Deny(Reason::kInvalidRequest);

  const v1::Credential* credential = nullptr;
  const v1::Entity* user_entity = nullptr;
  const v1::Role* role = nullptr;
  const v1::EntityUserPrincipal& user = request.principal().entity_user();
  if (is_partner) {
    const std::string& client = request.principal().partner().client_id();
    if (client.empty()) return Deny(Reason::kInvalidRequest);
    credential = FindCredential(policy, client);
    if (credential == nullptr) return Deny(Reason::kUnknownPrincipal);
  } else {
    if (user.user_id().empty() || user.entity_id().empty()) {
      return Deny(Reason::kInvalidRequest);
    }
    user_entity = FindEntity(policy, user.entity_id());
    if (user_entity == nullptr) return Deny(Reason::kUnknownEntity);
    const std::string& role_id = user.role_id().empty()
                                     ? user_entity->default_role_id()
                                     : user.role_id();
    if (!role_id.empty()) {
      role = FindRole(policy, role_id);
      if (role == nullptr) return Deny(Reason::kUnknownRole);
    }
    if (!user.client_id().empty()) {
      credential = FindCredential(policy, user.client_id());
      if (credential == nullptr) return Deny(Reason::kUnknownPrincipal);
    }
  }
  if (request.object_type().empty() || request.action().empty() ||
      request.entity_id().empty()) {
    return Deny(Reason::kInvalidRequest);
  }
  const v1::ObjectType* type = nullptr;
  for (const v1::ObjectType& candidate : policy.catalog().object_types()) {
    if (candidate.name() == request.object_type()) type = &candidate;
  }
  if (type == nullptr) return Deny(Reason::kUnknownObjectType);
  const v1::Action* action = nullptr;
  for (const v1::Action& candidate : type->actions()) {
    if (candidate.name() == request.action()) action = &candidate;
  }
  if (action == nullptr) return Deny(Reason::kUnknownAction);

  // 1. tenant
  const v1::Entity* entity = FindEntity(policy, request.entity_id());
  if (entity == nullptr) return Deny(Reason::kTenant);
  if (request.has_resource()) {
    const v1::Entity* resource_entity =
        FindEntity(policy, request.resource().entity_id());
    if (resource_entity == nullptr) return Deny(Reason::kTenant);
    if (resource_entity->id() != entity->id()) return Deny(Reason::kTenant);
  }
  if (is_partner) {
    if (entity->partner_id() != credential->partner_id()) {
      return Deny(Reason::kTenant);
    }
  } else {
    if (user_entity->id() != entity->id()) return Deny(Reason::kTenant);
    if (credential != nullptr &&
        credential->partner_id() != entity->partner_id()) {
      return Deny(Reason::kTenant);
    }
  }
  if (credential != nullptr && !Lists(*credential, entity->id())) {
    return Deny(Reason::kTenant);
  }

  // 2. scope
  if (credential != nullptr &&
      GrantedLevel(*credential, type->name()) < ActionLevel(*action)) {
    return Deny(Reason::kScope);
  }

  // 3. partner_only
  if (action->partner_only() && !is_partner) return Deny(Reason::kPartnerOnly);
  if (is_partner) return {Verdict::kAllowed, Reason::kGranted};

  // 4. rbac
  if (role == nullptr) return Deny(Reason::kRbac);
  if (!role->entity_id().empty() && role->entity_id() != user_entity->id()) {
    return Deny(Reason::kRbac);
  }
  const v1::Permission permission =
      RolePermission(*role, type->name(), action->name());
  if (permission == v1::ALLOWED) return {Verdict::kAllowed, Reason::kGranted};
  if (permission != v1::ALLOWED_FOR_OWN) return Deny(Reason::kRbac);

  // 5. ownership
  if (!request.has_resource()) {
    return {Verdict::kAllowedForOwn, Reason::kOwnership};
  }
  const std::string& creator = request.resource().created_by();
  if (!creator.empty() && creator == user.user_id()) {
    return {Verdict::kAllowed, Reason::kOwnership};
  }
  return Deny(Reason::kOwnership);
}

}  // namespace portcullis
