#include "benchmarks/map_of_maps_baseline.h"

#include <algorithm>

namespace portcullis::baseline {
namespace {

constexpr Decision Deny(Reason reason) {
  return {Verdict::kNotAllowed, reason};
}

int LevelOf(const v1::Action& action) {
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

}  // namespace

MapOfMapsPolicy MapOfMapsPolicy::Build(const v1::PolicySet& policy) {
  MapOfMapsPolicy out;
  for (const v1::ObjectType& type : policy.catalog().object_types()) {
    auto& actions = out.catalog_[type.name()];
    for (const v1::Action& action : type.actions()) {
      actions[action.name()] = {LevelOf(action), action.partner_only()};
    }
  }
  for (const v1::Role& role : policy.roles()) {
    Role& r = out.roles_[role.id().empty() ? role.name() : role.id()];
    r.owner = role.entity_id();
    for (const v1::ObjectPermissions& object : role.permissions().objects()) {
      auto& actions = r.permissions[object.object_type()];
      for (const v1::ActionPermission& entry : object.actions()) {
        actions[entry.action_name()] = entry.permission();
      }
    }
  }
  for (const v1::Entity& entity : policy.entities()) {
    out.entities_[entity.id()] = {entity.partner_id(),
                                  entity.default_role_id()};
  }
  for (const v1::Credential& credential : policy.credentials()) {
    Credential& c = out.credentials_[credential.client_id()];
    c.partner = credential.partner_id();
    c.entities.insert(credential.entity_ids().begin(),
                      credential.entity_ids().end());
    for (const std::string& scope : credential.scopes()) {
      const size_t colon = scope.find(':');
      const std::string type = scope.substr(0, colon);
      const std::string level = scope.substr(colon + 1);
      const int value = level == "read" ? 1 : level == "write" ? 2 : 3;
      if (type == "all") {
        c.all_level = std::max(c.all_level, value);
      } else {
        c.levels[type] = std::max(c.levels[type], value);
      }
    }
  }
  return out;
}

Decision MapOfMapsPolicy::Check(const v1::CheckRequest& request) const {
  const bool is_partner = request.principal().has_partner();
  if (!is_partner && !request.principal().has_entity_user()) {
    return Deny(Reason::kInvalidRequest);
  }
  const v1::EntityUserPrincipal& user = request.principal().entity_user();
  const Credential* credential = nullptr;
  const Entity* user_entity = nullptr;
  const Role* role = nullptr;
  if (is_partner) {
    const std::string& client = request.principal().partner().client_id();
    if (client.empty()) return Deny(Reason::kInvalidRequest);
    const auto it = credentials_.find(client);
    if (it == credentials_.end()) return Deny(Reason::kUnknownPrincipal);
    credential = &it->second;
  } else {
    if (user.user_id().empty() || user.entity_id().empty()) {
      return Deny(Reason::kInvalidRequest);
    }
    const auto entity = entities_.find(user.entity_id());
    if (entity == entities_.end()) return Deny(Reason::kUnknownEntity);
    user_entity = &entity->second;
    const std::string& role_id =
        user.role_id().empty() ? user_entity->default_role : user.role_id();
    if (!role_id.empty()) {
      const auto it = roles_.find(role_id);
      if (it == roles_.end()) return Deny(Reason::kUnknownRole);
      role = &it->second;
    }
    if (!user.client_id().empty()) {
      const auto it = credentials_.find(user.client_id());
      if (it == credentials_.end()) return Deny(Reason::kUnknownPrincipal);
      credential = &it->second;
    }
  }
  if (request.object_type().empty() || request.action().empty() ||
      request.entity_id().empty()) {
    return Deny(Reason::kInvalidRequest);
  }
  const auto type = catalog_.find(request.object_type());
  if (type == catalog_.end()) return Deny(Reason::kUnknownObjectType);
  const auto action = type->second.find(request.action());
  if (action == type->second.end()) return Deny(Reason::kUnknownAction);

  const auto entity = entities_.find(request.entity_id());
  if (entity == entities_.end()) return Deny(Reason::kTenant);
  if (request.has_resource() &&
      request.resource().entity_id() != request.entity_id()) {
    return Deny(Reason::kTenant);
  }
  const std::string& partner =
      is_partner ? credential->partner : user_entity->partner;
  if (entity->second.partner != partner) return Deny(Reason::kTenant);
  if (!is_partner && user.entity_id() != request.entity_id()) {
    return Deny(Reason::kTenant);
  }
  if (credential != nullptr) {
    if (credential->partner != partner) return Deny(Reason::kTenant);
    if (!credential->entities.empty() &&
        credential->entities.count(request.entity_id()) == 0) {
      return Deny(Reason::kTenant);
    }
    int level = credential->all_level;
    const auto it = credential->levels.find(request.object_type());
    if (it != credential->levels.end()) level = std::max(level, it->second);
    if (level < action->second.level) return Deny(Reason::kScope);
  }
  if (action->second.partner_only && !is_partner) {
    return Deny(Reason::kPartnerOnly);
  }
  if (is_partner) return {Verdict::kAllowed, Reason::kGranted};
  if (role == nullptr ||
      (!role->owner.empty() && role->owner != user.entity_id())) {
    return Deny(Reason::kRbac);
  }
  v1::Permission permission = v1::NOT_ALLOWED;
  const auto object = role->permissions.find(request.object_type());
  if (object != role->permissions.end()) {
    const auto entry = object->second.find(request.action());
    if (entry != object->second.end()) permission = entry->second;
  }
  if (permission == v1::ALLOWED) return {Verdict::kAllowed, Reason::kGranted};
  if (permission != v1::ALLOWED_FOR_OWN) return Deny(Reason::kRbac);
  if (!request.has_resource())
    return {Verdict::kAllowedForOwn, Reason::kOwnership};
  const std::string& creator = request.resource().created_by();
  if (!creator.empty() && creator == user.user_id()) {
    return {Verdict::kAllowed, Reason::kOwnership};
  }
  return Deny(Reason::kOwnership);
}

}  // namespace portcullis::baseline
