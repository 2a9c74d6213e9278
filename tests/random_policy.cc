#include "tests/random_policy.h"

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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

// Sized random policies (SizedRandomPolicy, AllRequests).

namespace {

constexpr const char* kActionNames[] = {
    "read", "create", "update", "delete", "submit", "approve", "pay", "export"};
constexpr int kMaxActions = sizeof(kActionNames) / sizeof(kActionNames[0]);

v1::Permission RandomPermission(std::mt19937_64& rng) {
  switch (rng() % 3) {
    case 0:
      return v1::NOT_ALLOWED;
    case 1:
      return v1::ALLOWED;
    default:
      return v1::ALLOWED_FOR_OWN;
  }
}

void FillPermissions(const v1::Catalog& catalog, int max_types,
                     std::mt19937_64& rng, v1::RolePermissions& out) {
  const int types = catalog.object_types_size();
  const int listed = 1 + static_cast<int>(rng() % std::max(1, max_types));
  for (int k = 0; k < listed; ++k) {
    const v1::ObjectType& type = catalog.object_types(rng() % types);
    v1::ObjectPermissions* object = out.add_objects();
    object->set_object_type(type.name());
    for (const v1::Action& action : type.actions()) {
      if (rng() % 3 == 0) continue;
      v1::ActionPermission* permission = object->add_actions();
      permission->set_action_name(action.name());
      permission->set_permission(RandomPermission(rng));
    }
  }
  // An object type listed twice merges; a conflicting repeat is an error, so
  // keep the first listing of each action.
  for (int k = 1; k < out.objects_size(); ++k) {
    for (int j = 0; j < k; ++j) {
      if (out.objects(j).object_type() != out.objects(k).object_type())
        continue;
      out.mutable_objects(k)->clear_actions();
    }
  }
}

}  // namespace

v1::PolicySet SizedRandomPolicy(const SizedPolicyOptions& options) {
  std::mt19937_64 rng(options.seed);
  v1::PolicySet policy;
  v1::Catalog& catalog = *policy.mutable_catalog();
  for (int t = 0; t < options.object_types; ++t) {
    v1::ObjectType* type = catalog.add_object_types();
    type->set_name(absl::StrCat("type-", t));
    const int actions =
        1 + static_cast<int>(
                rng() % std::min(options.max_actions_per_type, kMaxActions));
    for (int a = 0; a < actions; ++a) {
      v1::Action* action = type->add_actions();
      action->set_name(kActionNames[a]);
      action->set_level(static_cast<v1::ScopeLevel>(rng() % 4));
      action->set_partner_only(rng() % 8 == 0);
    }
  }

  const int partners =
      std::max(1, std::min(options.partners, options.entities));
  for (int e = 0; e < options.entities; ++e) {
    v1::Entity* entity = policy.add_entities();
    entity->set_id(absl::StrFormat("e-%d", e));
    // Every partner owns at least one entity.
    entity->set_partner_id(absl::StrCat(
        "p-", e < partners ? e : static_cast<int>(rng() % partners)));
  }

  std::vector<v1::RolePermissions> patterns(options.role_patterns);
  for (v1::RolePermissions& pattern : patterns) {
    FillPermissions(catalog, options.max_types_per_role, rng, pattern);
  }
  for (int r = 0; r < options.roles; ++r) {
    v1::Role* role = policy.add_roles();
    role->set_id(absl::StrFormat("r-%d", r));
    role->set_name(absl::StrFormat("Role %d", r));
    if (options.entities > 0 && rng() % 4 == 0) {
      role->set_entity_id(absl::StrFormat("e-%d", rng() % options.entities));
    }
    if (patterns.empty()) {
      FillPermissions(catalog, options.max_types_per_role, rng,
                      *role->mutable_permissions());
    } else {
      *role->mutable_permissions() = patterns[rng() % patterns.size()];
    }
  }
  for (int e = 0; e < options.entities && options.roles > 0; ++e) {
    if (rng() % 3 == 0) continue;
    // A global role, or one owned by this entity.
    for (int attempt = 0; attempt < 4; ++attempt) {
      const v1::Role& role = policy.roles(rng() % options.roles);
      if (role.entity_id().empty() ||
          role.entity_id() == policy.entities(e).id()) {
        policy.mutable_entities(e)->set_default_role_id(role.id());
        break;
      }
    }
  }

  static constexpr const char* kLevels[] = {"read", "write", "delete"};
  for (int c = 0; c < options.credentials && options.entities > 0; ++c) {
    v1::Credential* credential = policy.add_credentials();
    credential->set_client_id(absl::StrFormat("c-%d", c));
    credential->set_name(absl::StrFormat("Client %d", c));
    const std::string partner = absl::StrCat("p-", rng() % partners);
    credential->set_partner_id(partner);
    if (rng() % 2 == 0) {
      for (const v1::Entity& entity : policy.entities()) {
        if (entity.partner_id() == partner && rng() % 2 == 0) {
          credential->add_entity_ids(entity.id());
        }
      }
    }
    if (rng() % 4 == 0) {
      credential->add_scopes(absl::StrCat("all:", kLevels[rng() % 3]));
    } else if (rng() % 16 == 0) {
      credential->add_scopes("all");
    }
    for (const v1::ObjectType& type : catalog.object_types()) {
      if (rng() % 2 == 0) {
        credential->add_scopes(
            absl::StrCat(type.name(), ":", kLevels[rng() % 3]));
        // Now and then the same type again: redundant, the highest applies.
        if (rng() % 8 == 0) {
          credential->add_scopes(
              absl::StrCat(type.name(), ":", kLevels[rng() % 3]));
        }
      }
    }
    if (credential->scopes().empty()) credential->add_scopes("all:read");
    if (rng() % 3 == 0) {
      credential->mutable_rate_limit()->set_count(1 + rng() % 1000);
      credential->mutable_rate_limit()->set_interval_seconds(1 + rng() % 600);
    }
  }
  return policy;
}

std::vector<CheckRequestView> AllRequests(const v1::PolicySet& policy,
                                          size_t max_requests) {
  using Kind = CheckRequestView::PrincipalKind;
  std::vector<CheckRequestView> principals;
  for (const v1::Credential& credential : policy.credentials()) {
    CheckRequestView view;
    view.principal_kind = Kind::kPartner;
    view.client_id = credential.client_id();
    principals.push_back(view);
  }
  for (const v1::Entity& entity : policy.entities()) {
    std::vector<absl::string_view> roles = {""};
    for (const v1::Role& role : policy.roles()) roles.push_back(role.id());
    std::vector<absl::string_view> clients = {""};
    for (const v1::Credential& c : policy.credentials()) {
      clients.push_back(c.client_id());
    }
    for (absl::string_view role : roles) {
      for (absl::string_view client : clients) {
        CheckRequestView view;
        view.principal_kind = Kind::kEntityUser;
        view.user_id = "u-1";
        view.user_entity_id = entity.id();
        view.role_id = role;
        view.client_id = client;
        principals.push_back(view);
      }
    }
  }
  std::vector<std::pair<absl::string_view, absl::string_view>> actions;
  for (const v1::ObjectType& type : policy.catalog().object_types()) {
    for (const v1::Action& action : type.actions()) {
      actions.emplace_back(type.name(), action.name());
    }
  }
  const size_t entities = static_cast<size_t>(policy.entities_size());
  const size_t total = principals.size() * actions.size() * entities * 3;
  const size_t count = std::min(total, max_requests);

  // Request i of `count`, spread evenly over all `total` combinations.
  std::vector<CheckRequestView> requests;
  requests.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    size_t index = count == total ? i : i * (total / count);
    const int resource = static_cast<int>(index % 3);
    index /= 3;
    const v1::Entity& entity =
        policy.entities(static_cast<int>(index % entities));
    index /= entities;
    const auto& [type, action] = actions[index % actions.size()];
    index /= actions.size();
    CheckRequestView view = principals[index];
    view.object_type = type;
    view.action = action;
    view.entity_id = entity.id();
    view.has_resource = resource > 0;
    if (view.has_resource) {
      view.resource_entity_id = entity.id();
      view.resource_created_by = resource == 1 ? "u-1" : "u-2";
    }
    requests.push_back(view);
  }
  return requests;
}

std::string MutatedJson(const std::string& json, std::mt19937_64& random) {
  static const std::string bytes =
      "{}[]\",:\\ \t\n0123456789-+.eEtrufalsn\x01\x7f\xc3\xa9\xff'/u";
  std::string mutated = json;
  const size_t at = random() % (mutated.size() + 1);
  switch (random() % 5) {
    case 0:
      if (at < mutated.size()) mutated.erase(at, 1);
      break;
    case 1:
      mutated.insert(at, 1, bytes[random() % bytes.size()]);
      break;
    case 2:
      if (at < mutated.size()) mutated[at] = bytes[random() % bytes.size()];
      break;
    case 3: {  // a copy of a stretch elsewhere: duplicate keys, members
      const size_t from = random() % mutated.size();
      const size_t length = 1 + random() % 40;
      mutated.insert(at, mutated.substr(from, length));
      break;
    }
    case 4:
      mutated.resize(at);
      break;
  }
  return mutated;
}

}  // namespace portcullis::testing
