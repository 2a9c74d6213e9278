// Written straight from DESIGN.md and evaluator.h's name-based contract, with
// none of the compiler's machinery: every lookup is a scan of the proto, every
// rule is spelled out. Where the two disagree, one of them is wrong.
#include "tests/reference_evaluator.h"

#include <string>

namespace portcullis {
namespace {

Decision Deny(Reason reason) { return {Verdict::kNotAllowed, reason}; }

const v1::Entity* FindEntity(const v1::PolicySet& policy,
                             const std::string& id) {
  for (const v1::Entity& entity : policy.entities()) {
    if (entity.id() == id) return &entity;
  }
  return nullptr;
}

// A role without an id is identified by its name.
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

const v1::ObjectType* FindObjectType(const v1::PolicySet& policy,
                                     const std::string& name) {
  for (const v1::ObjectType& type : policy.catalog().object_types()) {
    if (type.name() == name) return &type;
  }
  return nullptr;
}

const v1::Action* FindAction(const v1::ObjectType& type,
                             const std::string& name) {
  for (const v1::Action& action : type.actions()) {
    if (action.name() == name) return &action;
  }
  return nullptr;
}

// Levels as numbers: read 1 < write 2 < delete 3; 0 grants nothing.
int RequiredLevel(const v1::Action& action) {
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

int ScopeLevelValue(const std::string& level) {
  if (level == "read") return 1;
  if (level == "write") return 2;
  if (level == "delete") return 3;
  return 0;
}

// The highest level `credential`'s scopes grant on `object_type`, `all`
// included.
int GrantedLevel(const v1::Credential& credential,
                 const std::string& object_type) {
  int granted = 0;
  for (const std::string& scope : credential.scopes()) {
    const size_t colon = scope.find(':');
    const std::string type = scope.substr(0, colon);
    if (type == object_type || type == "all") {
      const int level = ScopeLevelValue(scope.substr(colon + 1));
      if (level > granted) granted = level;
    }
  }
  return granted;
}

bool Lists(const v1::Credential& credential, const std::string& entity_id) {
  for (const std::string& id : credential.entity_ids()) {
    if (id == entity_id) return true;
  }
  return false;
}

// The credential's partner owns `entity`, and its restriction, if any, lists
// it.
bool CredentialCovers(const v1::Credential& credential,
                      const v1::Entity& entity) {
  return credential.partner_id() == entity.partner_id() &&
         (credential.entity_ids().empty() || Lists(credential, entity.id()));
}

v1::Permission PermissionOf(const v1::Role& role, const std::string& type,
                            const std::string& action) {
  for (const v1::ObjectPermissions& object : role.permissions().objects()) {
    if (object.object_type() != type) continue;
    for (const v1::ActionPermission& permission : object.actions()) {
      if (permission.action_name() == action) return permission.permission();
    }
  }
  return v1::NOT_ALLOWED;
}

}  // namespace

Decision ReferenceCheck(const v1::PolicySet& policy,
                        const v1::CheckRequest& request) {
  // Who is calling: the name checks evaluator.h lists, in its order.
  const v1::Principal& principal = request.principal();
  const bool is_partner = principal.has_partner();
  const v1::Credential* credential = nullptr;
  const v1::Entity* user_entity = nullptr;
  const v1::Role* role = nullptr;
  if (is_partner) {
    const std::string& client_id = principal.partner().client_id();
    if (client_id.empty()) return Deny(Reason::kInvalidRequest);
    credential = FindCredential(policy, client_id);
    if (credential == nullptr) return Deny(Reason::kUnknownPrincipal);
  } else if (principal.has_entity_user()) {
    const v1::EntityUserPrincipal& user = principal.entity_user();
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
  } else {
    return Deny(Reason::kInvalidRequest);
  }

  // What is asked.
  if (request.object_type().empty() || request.action().empty() ||
      request.entity_id().empty()) {
    return Deny(Reason::kInvalidRequest);
  }
  const v1::ObjectType* type = FindObjectType(policy, request.object_type());
  if (type == nullptr) return Deny(Reason::kUnknownObjectType);
  const v1::Action* action = FindAction(*type, request.action());
  if (action == nullptr) return Deny(Reason::kUnknownAction);

  // 1. tenant (an entity that does not exist belongs to no one).
  const v1::Entity* entity = FindEntity(policy, request.entity_id());
  if (entity == nullptr) return Deny(Reason::kTenant);
  if (request.has_resource() &&
      FindEntity(policy, request.resource().entity_id()) == nullptr) {
    return Deny(Reason::kTenant);
  }
  bool tenant = false;
  if (is_partner) {
    tenant = CredentialCovers(*credential, *entity);
  } else {
    tenant = entity->id() == user_entity->id() &&
             (credential == nullptr || CredentialCovers(*credential, *entity));
  }
  if (request.has_resource() &&
      request.resource().entity_id() != entity->id()) {
    tenant = false;
  }
  if (!tenant) return Deny(Reason::kTenant);

  // 2. scope (a user whose token names no client is not limited).
  if (credential != nullptr &&
      GrantedLevel(*credential, type->name()) < RequiredLevel(*action)) {
    return Deny(Reason::kScope);
  }

  // 3. partner_only
  if (action->partner_only() && !is_partner) {
    return Deny(Reason::kPartnerOnly);
  }

  // Partners skip rbac and ownership: the partner manages access itself.
  if (is_partner) return {Verdict::kAllowed, Reason::kGranted};

  // 4. rbac
  if (role == nullptr) return Deny(Reason::kRbac);
  if (!role->entity_id().empty() && role->entity_id() != user_entity->id()) {
    return Deny(Reason::kRbac);
  }
  const v1::Permission permission =
      PermissionOf(*role, type->name(), action->name());
  switch (permission) {
    case v1::ALLOWED:
      return {Verdict::kAllowed, Reason::kGranted};
    case v1::ALLOWED_FOR_OWN:
      break;
    default:
      return Deny(Reason::kRbac);
  }

  // 5. ownership
  if (!request.has_resource()) {
    return {Verdict::kAllowedForOwn, Reason::kOwnership};
  }
  const std::string& creator = request.resource().created_by();
  const bool own =
      !creator.empty() && creator == principal.entity_user().user_id();
  return {own ? Verdict::kAllowed : Verdict::kNotAllowed, Reason::kOwnership};
}

}  // namespace portcullis
