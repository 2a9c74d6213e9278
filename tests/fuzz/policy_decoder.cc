#include "tests/fuzz/policy_decoder.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"

namespace portcullis::fuzz {
namespace {

// Small counts keep a failing case readable and still reach every
// interaction: two partners, several entities per partner, custom roles,
// restricted credentials.
constexpr int kMaxObjectTypes = 4;
constexpr int kMaxEntities = 5;
constexpr int kMaxRoles = 4;
constexpr int kMaxCredentials = 4;
constexpr int kMaxRequests = 24;
// More than a 64-bit word's worth of 1-bit or 2-bit fields.
constexpr int kFillers = 70;
// Byte values from here up choose the rare, mostly invalid, alternatives.
constexpr uint8_t kRare = 240;

constexpr const char* kActionNames[] = {"read", "write", "delete", "approve"};
constexpr const char* kLevels[] = {"read", "write", "delete"};

class ByteReader {
 public:
  explicit ByteReader(absl::string_view bytes) : bytes_(bytes) {}

  bool empty() const { return position_ >= bytes_.size(); }

  uint8_t Byte() {
    return empty() ? 0 : static_cast<uint8_t>(bytes_[position_++]);
  }
  // A number in [0, n); n <= 256.
  int Below(int n) { return Byte() % n; }
  bool Bit() { return Byte() & 1; }

  // One of `names` (the first when the input is exhausted), or rarely, or
  // when `names` is empty, one of `others`.
  std::string Pick(const std::vector<std::string>& names,
                   std::initializer_list<const char*> others) {
    const uint8_t b = Byte();
    if (!names.empty() && b < kRare) return names[b % names.size()];
    return others.begin()[b % others.size()];
  }

  // The `index`th name of a list: "<prefix><index>", or rarely one of `others`
  // (a duplicate or an invalid name).
  std::string Name(absl::string_view prefix, int index,
                   std::initializer_list<const char*> others) {
    const uint8_t b = Byte();
    if (b < kRare) return absl::StrCat(prefix, index);
    return others.begin()[b % others.size()];
  }

 private:
  absl::string_view bytes_;
  size_t position_ = 0;
};

// What the policy defines so far, for references to pick from.
struct Names {
  std::vector<std::string> types;
  std::vector<std::vector<std::string>> actions;  // by type
  std::vector<std::string> entities;
  std::vector<std::string> entity_partners;  // by entity
  std::vector<std::string> partners;
  std::vector<std::string> roles;        // ids, or names for roles without one
  std::vector<std::string> role_owners;  // by role; empty: global
  std::vector<std::string> clients;
};

void DecodeCatalog(ByteReader& in, v1::PolicySet& policy, Names& names) {
  // Sometimes filler object types come first, so that the others' slots and
  // scope levels sit past the first 64-bit word of every row. Nothing refers
  // to them.
  if (in.Byte() >= kRare) {
    for (int i = 0; i < kFillers; ++i) {
      v1::ObjectType* type = policy.mutable_catalog()->add_object_types();
      type->set_name(absl::StrCat("filler", i));
      type->add_actions()->set_name("read");
    }
  }
  const int types = 1 + in.Below(kMaxObjectTypes);
  for (int i = 0; i < types; ++i) {
    v1::ObjectType* type = policy.mutable_catalog()->add_object_types();
    type->set_name(
        in.Name("t", i, {"t0", "a/b.c-d_e", "", "all", "bad name", "t:0"}));
    names.types.push_back(type->name());
    names.actions.emplace_back();
    // Rarely no action at all (an error).
    const uint8_t count = in.Byte();
    const int actions = count >= kRare + 8 ? 0 : 1 + count % 4;
    const int first = in.Below(4);
    for (int j = 0; j < actions; ++j) {
      v1::Action* action = type->add_actions();
      const uint8_t b = in.Byte();
      action->set_name(b < kRare       ? kActionNames[(first + j) % 4]
                       : b < kRare + 8 ? kActionNames[b % 4]  // a duplicate?
                                       : "bad action");
      names.actions.back().push_back(action->name());
      // 0 takes the default from the name; 4 is out of range.
      const uint8_t level = in.Byte();
      action->set_level(
          static_cast<v1::ScopeLevel>(level < kRare ? level % 4 : 4));
      action->set_partner_only(in.Below(8) == 7);
    }
  }
}

void DecodeEntities(ByteReader& in, v1::PolicySet& policy, Names& names) {
  // Likewise filler entities of partner p0, so that the others' bits in a
  // restriction sit past the first word.
  if (in.Byte() >= kRare) {
    for (int i = 0; i < kFillers; ++i) {
      v1::Entity* entity = policy.add_entities();
      entity->set_id(absl::StrCat("filler", i));
      entity->set_partner_id("p0");
    }
  }
  const int entities = 1 + in.Below(kMaxEntities);
  for (int i = 0; i < entities; ++i) {
    v1::Entity* entity = policy.add_entities();
    entity->set_id(in.Name("e", i, {"e0", "", "e\n"}));
    entity->set_partner_id(in.Name("p", in.Below(2), {"", "p\x01"}));
    names.entities.push_back(entity->id());
    names.entity_partners.push_back(entity->partner_id());
    if (std::find(names.partners.begin(), names.partners.end(),
                  entity->partner_id()) == names.partners.end()) {
      names.partners.push_back(entity->partner_id());
    }
  }
}

void DecodeRoles(ByteReader& in, v1::PolicySet& policy, Names& names) {
  const int roles = in.Below(kMaxRoles + 1);
  for (int i = 0; i < roles; ++i) {
    v1::Role* role = policy.add_roles();
    // A role without an id is identified by its name.
    const bool has_id = in.Below(8) != 7;
    if (has_id) role->set_id(in.Name("r", i, {"r0", "\x7f"}));
    role->set_name(has_id ? in.Name("Role ", i, {"Role 0", ""})
                          : in.Name("R", i, {"R0", "r0", ""}));
    // A quarter are custom roles of one entity.
    if (in.Below(4) == 3) {
      role->set_entity_id(in.Pick(names.entities, {"e9"}));
    }
    names.roles.push_back(has_id ? role->id() : role->name());
    names.role_owners.push_back(role->entity_id());
    const int objects = in.Below(4);
    for (int k = 0; k < objects; ++k) {
      v1::ObjectPermissions* object =
          role->mutable_permissions()->add_objects();
      const uint8_t t = in.Byte();
      const int type = t % names.types.size();
      object->set_object_type(t < kRare ? names.types[type]
                              : t % 2   ? "t9"
                                        : "all");
      // Each of the type's actions: not listed, or listed with a permission;
      // rarely an unknown action or an unset or out-of-range permission.
      for (const std::string& name : names.actions[type]) {
        const uint8_t b = in.Byte();
        if (b % 4 == 0 && b < kRare) continue;
        v1::ActionPermission* action = object->add_actions();
        action->set_action_name(b < kRare + 12 ? name : "unknown");
        action->set_permission(static_cast<v1::Permission>(b < kRare ? b % 4
                                                           : b % 2   ? 0
                                                                     : 7));
      }
    }
  }
}

void DecodeDefaultRoles(ByteReader& in, v1::PolicySet& policy,
                        const Names& names) {
  for (int i = 0; i < policy.entities_size(); ++i) {
    v1::Entity* entity = policy.mutable_entities(i);
    // Roles this entity may default to: global ones and its own.
    std::vector<std::string> usable;
    for (size_t r = 0; r < names.roles.size(); ++r) {
      if (names.role_owners[r].empty() ||
          names.role_owners[r] == entity->id()) {
        usable.push_back(names.roles[r]);
      }
    }
    // A quarter have no default role; rarely one they may not use.
    if (in.Below(4) == 3) continue;
    entity->set_default_role_id(
        in.Pick(usable, {"r9", names.roles.empty() ? "" : "r0"}));
  }
}

void DecodeCredentials(ByteReader& in, v1::PolicySet& policy, Names& names) {
  const int credentials = in.Below(kMaxCredentials + 1);
  for (int i = 0; i < credentials; ++i) {
    v1::Credential* credential = policy.add_credentials();
    credential->set_client_id(in.Name("c", i, {"c0", "", "c\t"}));
    names.clients.push_back(credential->client_id());
    credential->set_partner_id(in.Pick(names.partners, {"p9", ""}));
    std::vector<std::string> own;  // the partner's entities
    for (size_t e = 0; e < names.entities.size(); ++e) {
      if (names.entity_partners[e] == credential->partner_id()) {
        own.push_back(names.entities[e]);
      }
    }
    const int restricted = in.Below(3);
    for (int j = 0; j < restricted; ++j) {
      const std::string entity = in.Pick(own, {"e9", "e0"});
      const auto& listed = credential->entity_ids();
      if (std::find(listed.begin(), listed.end(), entity) != listed.end()) {
        continue;
      }
      credential->add_entity_ids(entity);
    }
    // One to three scopes, each on another object type (or `all`); rarely
    // none, a malformed one or a conflicting one.
    const uint8_t count = in.Byte();
    const int scopes = count >= kRare + 8 ? 0 : 1 + count % 3;
    std::vector<std::string> scoped;
    for (int j = 0; j < scopes; ++j) {
      const uint8_t b = in.Byte();
      if (b >= kRare) {
        constexpr const char* kBad[] = {
            "t0",   "t0:admin", "t 0:read", ":read",    "t0:read:write", "",
            "all:", "t0:READ",  "t0:read",  "t0:write", "t9:read"};
        credential->add_scopes(kBad[b % 11]);
        continue;
      }
      const std::string type =
          b % 4 == 3 ? "all" : names.types[b % names.types.size()];
      if (std::find(scoped.begin(), scoped.end(), type) != scoped.end()) {
        continue;
      }
      scoped.push_back(type);
      credential->add_scopes(absl::StrCat(type, ":", kLevels[(b / 4) % 3]));
    }
    if (in.Below(4) == 3) {
      const uint8_t b = in.Byte();
      credential->mutable_rate_limit()->set_count(b < kRare ? 1 + b : 0);
      credential->mutable_rate_limit()->set_interval_seconds(
          in.Byte() < kRare ? 60 : 0);
    }
  }
}

v1::CheckRequest DecodeRequest(ByteReader& in, int index, const Names& names) {
  v1::CheckRequest request;
  request.set_id(absl::StrCat("q", index));
  const std::string entity = in.Pick(names.entities, {"", "e9"});
  const uint8_t kind = in.Byte();
  if (kind >= kRare) {
    // no principal
  } else if (kind % 8 >= 5) {
    request.mutable_principal()->mutable_partner()->set_client_id(
        in.Pick(names.clients, {"", "c9"}));
  } else {
    v1::EntityUserPrincipal* user =
        request.mutable_principal()->mutable_entity_user();
    user->set_user_id(in.Pick({"u0", "u1"}, {""}));
    // Mostly the request's own entity, so that tenant often passes.
    user->set_entity_id(in.Bit() ? in.Pick(names.entities, {"", "e9"})
                                 : entity);
    // Mostly the entity's default role (no role_id) and no client.
    if (in.Bit()) user->set_role_id(in.Pick(names.roles, {"r9"}));
    if (in.Bit()) user->set_client_id(in.Pick(names.clients, {"c9"}));
  }
  const uint8_t t = in.Byte();
  const size_t type = t % names.types.size();
  request.set_object_type(t < kRare ? names.types[type] : t % 2 ? "" : "all");
  request.set_action(in.Pick(names.actions[type], {"", "unknown"}));
  request.set_entity_id(entity);
  if (in.Bit()) {
    v1::Resource* resource = request.mutable_resource();
    resource->set_entity_id(in.Bit() ? in.Pick(names.entities, {"", "e9"})
                                     : entity);
    // The caller, another user, or unknown.
    resource->set_created_by(in.Pick({"u0", "u1", "u0"}, {""}));
  }
  return request;
}

}  // namespace

PolicyCase DecodePolicyCase(absl::string_view bytes) {
  ByteReader in(bytes);
  PolicyCase result;
  Names names;
  DecodeCatalog(in, result.policy, names);
  DecodeEntities(in, result.policy, names);
  DecodeRoles(in, result.policy, names);
  DecodeDefaultRoles(in, result.policy, names);
  DecodeCredentials(in, result.policy, names);
  // At least one request; the rest of the input is requests.
  do {
    result.requests.push_back(
        DecodeRequest(in, static_cast<int>(result.requests.size()), names));
  } while (!in.empty() &&
           result.requests.size() < static_cast<size_t>(kMaxRequests));
  return result;
}

}  // namespace portcullis::fuzz
