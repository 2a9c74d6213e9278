#include "tests/random_policy.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace portcullis::testing {
namespace {

// Uniform in [0, n): written out so that the sequence does not depend on the
// standard library's distribution implementation.
int Below(std::mt19937_64& random, int n) {
  return n <= 1 ? 0 : static_cast<int>(random() % static_cast<uint64_t>(n));
}
bool Chance(std::mt19937_64& random, int percent) {
  return Below(random, 100) < percent;
}
template <typename T>
const T& Pick(std::mt19937_64& random, const std::vector<T>& values) {
  return values[Below(random, static_cast<int>(values.size()))];
}

const std::vector<std::string>& ActionNames() {
  static const auto* names = new std::vector<std::string>{
      "read", "create", "update", "delete", "approve", "pay", "submit"};
  return *names;
}

std::string RoleKey(const v1::Role& role) {
  return role.id().empty() ? role.name() : role.id();
}

}  // namespace

v1::PolicySet RandomPolicy(std::mt19937_64& random,
                           const RandomPolicyOptions& options) {
  v1::PolicySet policy;
  const int type_count = 1 + Below(random, options.max_object_types);
  for (int t = 0; t < type_count; ++t) {
    v1::ObjectType* type = policy.mutable_catalog()->add_object_types();
    type->set_name(absl::StrCat("type-", t));
    std::vector<std::string> names = ActionNames();
    std::shuffle(names.begin(), names.end(), random);
    const int action_count = 1 + Below(random, options.max_actions_per_type);
    for (int a = 0; a < action_count; ++a) {
      v1::Action* action = type->add_actions();
      action->set_name(names[a]);
      if (Chance(random, 40)) {
        action->set_level(static_cast<v1::ScopeLevel>(1 + Below(random, 3)));
      }
      action->set_partner_only(Chance(random, 10));
    }
  }

  const int partner_count = 1 + Below(random, options.max_partners);
  const int entity_count = 1 + Below(random, options.max_entities);
  for (int e = 0; e < entity_count; ++e) {
    v1::Entity* entity = policy.add_entities();
    entity->set_id(absl::StrCat("e-", e));
    entity->set_partner_id(absl::StrCat("p-", Below(random, partner_count)));
  }

  const int role_count = 1 + Below(random, options.max_roles);
  for (int r = 0; r < role_count; ++r) {
    v1::Role* role = policy.add_roles();
    role->set_name(absl::StrCat("Role ", r));
    if (!Chance(random, 15)) role->set_id(absl::StrCat("r-", r));
    if (Chance(random, 30)) {
      role->set_entity_id(
          policy.entities(Below(random, policy.entities_size())).id());
    }
    const int objects = Below(random, 2 * type_count + 1);
    for (int o = 0; o < objects; ++o) {
      const v1::ObjectType& type =
          policy.catalog().object_types(Below(random, type_count));
      v1::ObjectPermissions* object =
          role->mutable_permissions()->add_objects();
      object->set_object_type(type.name());
      for (const v1::Action& action : type.actions()) {
        if (!Chance(random, 60)) continue;
        // An action already listed for this type keeps its permission: a
        // repeat is valid only when it agrees.
        v1::Permission permission =
            static_cast<v1::Permission>(1 + Below(random, 3));
        for (const v1::ObjectPermissions& other :
             role->permissions().objects()) {
          if (other.object_type() != type.name()) continue;
          for (const v1::ActionPermission& entry : other.actions()) {
            if (entry.action_name() == action.name())
              permission = entry.permission();
          }
        }
        v1::ActionPermission* entry = object->add_actions();
        entry->set_action_name(action.name());
        entry->set_permission(permission);
      }
    }
  }

  for (v1::Entity& entity : *policy.mutable_entities()) {
    if (Chance(random, 20)) continue;  // no default role
    std::vector<std::string> usable;
    for (const v1::Role& role : policy.roles()) {
      if (role.entity_id().empty() || role.entity_id() == entity.id()) {
        usable.push_back(RoleKey(role));
      }
    }
    if (!usable.empty()) entity.set_default_role_id(Pick(random, usable));
  }

  const int credential_count = Below(random, options.max_credentials + 1);
  for (int c = 0; c < credential_count; ++c) {
    v1::Credential* credential = policy.add_credentials();
    credential->set_client_id(absl::StrCat("c-", c));
    const v1::Entity& anchor =
        policy.entities(Below(random, policy.entities_size()));
    credential->set_partner_id(anchor.partner_id());
    if (Chance(random, 40)) {
      for (const v1::Entity& entity : policy.entities()) {
        if (entity.partner_id() == anchor.partner_id() &&
            (entity.id() == anchor.id() || Chance(random, 40))) {
          credential->add_entity_ids(entity.id());
        }
      }
    }
    const int scope_count = 1 + Below(random, 3);
    std::vector<std::string> listed;
    for (int s = 0; s < scope_count; ++s) {
      const std::string type =
          Chance(random, 25)
              ? "all"
              : policy.catalog().object_types(Below(random, type_count)).name();
      if (std::find(listed.begin(), listed.end(), type) != listed.end())
        continue;
      listed.push_back(type);
      static const char* const kLevels[] = {"read", "write", "delete"};
      credential->add_scopes(
          absl::StrCat(type, ":", kLevels[Below(random, 3)]));
    }
    if (Chance(random, 50)) {
      credential->mutable_rate_limit()->set_count(1 + Below(random, 1000));
      credential->mutable_rate_limit()->set_interval_seconds(
          1 + Below(random, 600));
    }
  }
  return policy;
}

v1::CheckRequest RandomRequest(const v1::PolicySet& policy,
                               std::mt19937_64& random) {
  static const std::vector<std::string> kUsers = {"u-0", "u-1", "u-2"};
  auto entity_id = [&] {
    return Chance(random, 4)
               ? std::string("e-unknown")
               : policy.entities(Below(random, policy.entities_size())).id();
  };
  v1::CheckRequest request;
  request.set_id(absl::StrCat(random() % 100000));
  const int kind = Below(random, 100);
  if (kind < 35 && policy.credentials_size() > 0) {
    request.mutable_principal()->mutable_partner()->set_client_id(
        Chance(random, 4)
            ? "c-unknown"
            : policy.credentials(Below(random, policy.credentials_size()))
                  .client_id());
  } else if (kind < 97) {
    v1::EntityUserPrincipal* user =
        request.mutable_principal()->mutable_entity_user();
    user->set_user_id(Pick(random, kUsers));
    user->set_entity_id(entity_id());
    if (Chance(random, 60)) {
      const v1::Role& role = policy.roles(Below(random, policy.roles_size()));
      user->set_role_id(Chance(random, 4) ? "r-unknown" : RoleKey(role));
    }
    if (policy.credentials_size() > 0 && Chance(random, 60)) {
      user->set_client_id(
          Chance(random, 4)
              ? "c-unknown"
              : policy.credentials(Below(random, policy.credentials_size()))
                    .client_id());
    }
  }  // else: no principal
  const v1::ObjectType& type = policy.catalog().object_types(
      Below(random, policy.catalog().object_types_size()));
  request.set_object_type(Chance(random, 3) ? "type-unknown" : type.name());
  request.set_action(
      Chance(random, 3)
          ? "fly"
          : type.actions(Below(random, type.actions_size())).name());
  // The principal's own entity most of the time, so that later rules are
  // reached often.
  if (request.principal().has_entity_user() && Chance(random, 70)) {
    request.set_entity_id(request.principal().entity_user().entity_id());
  } else {
    request.set_entity_id(entity_id());
  }
  if (Chance(random, 60)) {
    v1::Resource* resource = request.mutable_resource();
    resource->set_entity_id(Chance(random, 80) ? request.entity_id()
                                               : entity_id());
    if (!Chance(random, 20)) resource->set_created_by(Pick(random, kUsers));
  }
  return request;
}

}  // namespace portcullis::testing
