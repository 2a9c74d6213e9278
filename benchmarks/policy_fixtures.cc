#include "benchmarks/policy_fixtures.h"

#include <cstdlib>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/load/policy_loader.h"

namespace portcullis::bench {
namespace {

constexpr int kTypes = 31;
constexpr int kTemplates = 64;
constexpr int kPartners = 10;
constexpr int kCredentials = 16;

int ActionsOf(int type) { return type == 0 ? 10 : 4; }
std::string TypeName(int type) { return absl::StrCat("object-type-", type); }
std::string ActionName(int type, int action) {
  static const char* const kNames[] = {
      "read",    "create", "update", "delete", "submit",
      "approve", "pay",    "cancel", "reopen", "create_from_mail"};
  (void)type;
  return kNames[action];
}

// Adds `role` an entry for every (type, action) of `slots` with `permission`.
void Allow(v1::Role& role, int type, int action, v1::Permission permission) {
  v1::ObjectPermissions* object = nullptr;
  for (v1::ObjectPermissions& existing :
       *role.mutable_permissions()->mutable_objects()) {
    if (existing.object_type() == TypeName(type)) object = &existing;
  }
  if (object == nullptr) {
    object = role.mutable_permissions()->add_objects();
    object->set_object_type(TypeName(type));
  }
  v1::ActionPermission* entry = object->add_actions();
  entry->set_action_name(ActionName(type, action));
  entry->set_permission(permission);
}

// The (type, action) pairs in catalog order.
std::vector<std::pair<int, int>> Slots() {
  std::vector<std::pair<int, int>> slots;
  for (int t = 0; t < kTypes; ++t) {
    for (int a = 0; a < ActionsOf(t); ++a) slots.emplace_back(t, a);
  }
  return slots;
}

// The data files are JSON objects whose values are strings or arrays of
// strings. A small strict reader for exactly that shape: protobuf's Struct
// would do, but its map crashes under ThreadSanitizer against Debian's
// uninstrumented libprotobuf.
using StringTable =
    std::vector<std::pair<std::string, std::vector<std::string>>>;

class StringTableReader {
 public:
  explicit StringTableReader(absl::string_view text) : text_(text) {}

  // name -> values (a string value is one value), in file order.
  absl::StatusOr<StringTable> Read() {
    StringTable table;
    if (!Consume('{')) return Error("expected '{'");
    if (Consume('}')) return table;
    do {
      std::string name;
      if (!String(name)) return Error("expected a string key");
      if (!Consume(':')) return Error("expected ':'");
      std::vector<std::string> values;
      if (Consume('[')) {
        if (!Consume(']')) {
          do {
            values.emplace_back();
            if (!String(values.back())) return Error("expected a string");
          } while (Consume(','));
          if (!Consume(']')) return Error("expected ']'");
        }
      } else {
        values.emplace_back();
        if (!String(values.back())) return Error("expected a string or array");
      }
      table.emplace_back(std::move(name), std::move(values));
    } while (Consume(','));
    if (!Consume('}')) return Error("expected '}'");
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing characters");
    return table;
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  // A string with no escapes but \" \\ and \/ (all that the data files use).
  bool String(std::string& out) {
    if (!Consume('"')) return false;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) return false;
        c = text_[pos_++];
        if (c != '"' && c != '\\' && c != '/') return false;
      }
      out.push_back(c);
    }
    return pos_++ < text_.size();
  }
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " at byte ", pos_));
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

absl::StatusOr<StringTable> ReadStringTable(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, size_t{64} << 20);
  if (!text.ok()) return text.status();
  absl::StatusOr<StringTable> table = StringTableReader(*text).Read();
  if (!table.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", table.status().message()));
  }
  return table;
}

void AddEntityAndCredential(v1::PolicySet& policy) {
  v1::Entity* entity = policy.add_entities();
  entity->set_id("e-1");
  entity->set_partner_id("p-1");
  v1::Credential* credential = policy.add_credentials();
  credential->set_client_id("c-all");
  credential->set_partner_id("p-1");
  credential->add_scopes("all:delete");
}

}  // namespace

v1::PolicySet SyntheticPolicy(int roles, RowShape shape) {
  v1::PolicySet policy;
  v1::Catalog* catalog = policy.mutable_catalog();
  for (int t = 0; t < kTypes; ++t) {
    v1::ObjectType* type = catalog->add_object_types();
    type->set_name(TypeName(t));
    for (int a = 0; a < ActionsOf(t); ++a) {
      v1::Action* action = type->add_actions();
      action->set_name(ActionName(t, a));
      action->set_partner_only(t == kTypes - 1 && a == 1);
    }
  }
  const std::vector<std::pair<int, int>> slots = Slots();
  std::mt19937_64 random(42);
  std::vector<v1::Role> templates(kTemplates);
  for (v1::Role& role : templates) {
    for (const auto& [type, action] : slots) {
      const uint64_t draw = random() % 100;
      if (draw < 6)
        Allow(role, type, action, v1::ALLOWED);
      else if (draw < 9)
        Allow(role, type, action, v1::ALLOWED_FOR_OWN);
      else if (draw < 10)
        Allow(role, type, action, v1::NOT_ALLOWED);
    }
  }
  policy.mutable_roles()->Reserve(roles);
  for (int r = 0; r < roles; ++r) {
    v1::Role* role = policy.add_roles();
    role->set_id(absl::StrCat("role-", r));
    role->set_name(absl::StrCat("Role ", r));
    if (shape == RowShape::kRealistic) {
      *role->mutable_permissions() = templates[r % kTemplates].permissions();
      continue;
    }
    // The role's index in binary over the first 21 slots, plus one
    // allowed_for_own slot: unique for up to 2^21 roles, ~12 entries.
    for (int bit = 0; bit < 21; ++bit) {
      if ((r >> bit) & 1)
        Allow(*role, slots[bit].first, slots[bit].second, v1::ALLOWED);
    }
    const auto& own = slots[21 + r % (static_cast<int>(slots.size()) - 21)];
    Allow(*role, own.first, own.second, v1::ALLOWED_FOR_OWN);
  }
  const int entities = std::max(1, roles / 100);
  for (int e = 0; e < entities; ++e) {
    v1::Entity* entity = policy.add_entities();
    entity->set_id(absl::StrCat("entity-", e));
    entity->set_partner_id(absl::StrCat("partner-", e % kPartners));
    entity->set_default_role_id(absl::StrCat("role-", e % roles));
  }
  const int partners = std::min(entities, kPartners);
  for (int c = 0; c < kCredentials; ++c) {
    v1::Credential* credential = policy.add_credentials();
    credential->set_client_id(absl::StrCat("client-", c));
    credential->set_partner_id(absl::StrCat("partner-", c % partners));
    credential->add_scopes(c % 4 == 0 ? "all:delete" : "all:write");
    credential->add_scopes(absl::StrCat(TypeName(c % kTypes), ":delete"));
    if (c % 3 == 0) {
      for (int e = c % partners; e < entities; e += kPartners * 2) {
        credential->add_entity_ids(absl::StrCat("entity-", e));
      }
    }
    credential->mutable_rate_limit()->set_count(1000);
    credential->mutable_rate_limit()->set_interval_seconds(600);
  }
  return policy;
}

absl::StatusOr<v1::PolicySet> GcpPolicy(const std::string& data_dir) {
  absl::StatusOr<StringTable> roles =
      ReadStringTable(data_dir + "/gcp_predefined_roles.json");
  if (!roles.ok()) return roles.status();
  v1::PolicySet policy;
  std::unordered_map<std::string, std::unordered_map<std::string, bool>>
      actions;
  std::vector<std::string> type_order;
  for (const auto& [name, permissions] : *roles) {
    v1::Role* role = policy.add_roles();
    role->set_id(name);
    role->set_name(name);
    std::unordered_map<std::string, v1::ObjectPermissions*> objects;
    for (const std::string& text : permissions) {
      const size_t dot = text.rfind('.');
      const std::string type = text.substr(0, dot);
      const std::string verb = text.substr(dot + 1);
      if (!actions.count(type)) type_order.push_back(type);
      actions[type][verb] = true;
      v1::ObjectPermissions*& object = objects[type];
      if (object == nullptr) {
        object = role->mutable_permissions()->add_objects();
        object->set_object_type(type);
      }
      v1::ActionPermission* entry = object->add_actions();
      entry->set_action_name(verb);
      entry->set_permission(v1::ALLOWED);
    }
  }
  std::sort(type_order.begin(), type_order.end());
  for (const std::string& type : type_order) {
    v1::ObjectType* object_type = policy.mutable_catalog()->add_object_types();
    object_type->set_name(type);
    std::vector<std::string> verbs;
    for (const auto& [verb, unused] : actions[type]) verbs.push_back(verb);
    std::sort(verbs.begin(), verbs.end());
    for (const std::string& verb : verbs) {
      v1::Action* action = object_type->add_actions();
      action->set_name(verb);
      action->set_level(verb == "get" || verb == "list" ? v1::READ
                        : verb == "delete"              ? v1::DELETE
                                                        : v1::WRITE);
    }
  }
  AddEntityAndCredential(policy);
  return policy;
}

absl::StatusOr<v1::PolicySet> AwsPolicy(const std::string& data_dir) {
  absl::StatusOr<StringTable> policies = ReadStringTable(
      data_dir + "/aws_managed_policies_effective_actions.json");
  if (!policies.ok()) return policies.status();
  absl::StatusOr<StringTable> levels =
      ReadStringTable(data_dir + "/aws_action_access_levels.json");
  if (!levels.ok()) return levels.status();
  v1::PolicySet policy;
  std::map<std::string, std::map<std::string, v1::ScopeLevel>> catalog;
  for (const auto& [action, level] : *levels) {
    const size_t colon = action.find(':');
    const std::string name = action.substr(colon + 1);
    const std::string& access = level.front();
    catalog[action.substr(0, colon)][name] =
        access == "Read" || access == "List" ? v1::READ
        : absl::StartsWith(name, "Delete")   ? v1::DELETE
                                             : v1::WRITE;
  }
  for (const auto& [name, actions] : *policies) {
    v1::Role* role = policy.add_roles();
    role->set_id(name);
    role->set_name(name);
    std::unordered_map<std::string, v1::ObjectPermissions*> objects;
    for (const std::string& text : actions) {
      const size_t colon = text.find(':');
      const std::string service = text.substr(0, colon);
      const std::string action = text.substr(colon + 1);
      // Actions missing from the access-level table still belong in the
      // catalog.
      catalog[service].emplace(action, v1::WRITE);
      v1::ObjectPermissions*& object = objects[service];
      if (object == nullptr) {
        object = role->mutable_permissions()->add_objects();
        object->set_object_type(service);
      }
      v1::ActionPermission* entry = object->add_actions();
      entry->set_action_name(action);
      entry->set_permission(v1::ALLOWED);
    }
  }
  for (const auto& [service, actions] : catalog) {
    v1::ObjectType* type = policy.mutable_catalog()->add_object_types();
    type->set_name(service);
    for (const auto& [name, level] : actions) {
      v1::Action* action = type->add_actions();
      action->set_name(name);
      action->set_level(level);
    }
  }
  AddEntityAndCredential(policy);
  return policy;
}

std::string DataDir() {
  if (const char* dir = std::getenv("PORTCULLIS_BENCHMARK_DATA")) return dir;
  return "benchmarks/data";  // relative to the runfiles root under bazel run
}

std::vector<std::unique_ptr<PreparedRequest>> PrepareRequests(
    const v1::PolicySet& policy, const CompiledPolicy& compiled, int count,
    uint64_t seed, bool partners) {
  std::mt19937_64 random(seed);
  auto below = [&](int n) { return static_cast<int>(random() % n); };
  std::vector<std::unique_ptr<PreparedRequest>> requests;
  while (static_cast<int>(requests.size()) < count) {
    auto r = std::make_unique<PreparedRequest>();
    v1::CheckRequest& p = r->proto;
    const v1::Entity& entity = policy.entities(below(policy.entities_size()));
    // A client of the entity's partner, when there is one.
    std::string client;
    for (int tries = 0; tries < 8 && client.empty(); ++tries) {
      const v1::Credential& c =
          policy.credentials(below(policy.credentials_size()));
      if (c.partner_id() == entity.partner_id()) client = c.client_id();
    }
    if (partners) {
      if (client.empty()) continue;
      p.mutable_principal()->mutable_partner()->set_client_id(client);
    } else {
      v1::EntityUserPrincipal* user =
          p.mutable_principal()->mutable_entity_user();
      user->set_user_id(absl::StrCat("user-", below(50)));
      user->set_entity_id(entity.id());
      const v1::Role& role = policy.roles(below(policy.roles_size()));
      user->set_role_id(role.id());
      if (below(2) == 0) user->set_client_id(client);
    }
    // An action the role lists, most of the time, so that rbac and ownership
    // are reached; otherwise any action.
    const v1::Role& role = policy.roles(below(policy.roles_size()));
    const v1::ObjectType* type = nullptr;
    std::string action;
    if (!partners && below(4) != 0 && role.permissions().objects_size() > 0) {
      const auto& object =
          role.permissions().objects(below(role.permissions().objects_size()));
      if (object.actions_size() > 0) {
        p.mutable_principal()->mutable_entity_user()->set_role_id(role.id());
        p.set_object_type(object.object_type());
        p.set_action(
            object.actions(below(object.actions_size())).action_name());
      }
    }
    if (p.object_type().empty()) {
      type = &policy.catalog().object_types(
          below(policy.catalog().object_types_size()));
      p.set_object_type(type->name());
      p.set_action(type->actions(below(type->actions_size())).name());
    }
    p.set_entity_id(below(10) == 0
                        ? policy.entities(below(policy.entities_size())).id()
                        : entity.id());
    if (below(2) == 0) {
      p.mutable_resource()->set_entity_id(p.entity_id());
      p.mutable_resource()->set_created_by(absl::StrCat("user-", below(50)));
    }
    r->view = ViewOf(p);
    r->names = {r->view.object_type,        r->view.action,
                r->view.entity_id,          r->view.has_resource,
                r->view.resource_entity_id, r->view.resource_created_by};
    absl::StatusOr<Principal> principal =
        partners
            ? compiled.BindPartner(client)
            : compiled.BindEntityUser(p.principal().entity_user().user_id(),
                                      p.principal().entity_user().entity_id(),
                                      p.principal().entity_user().role_id(),
                                      p.principal().entity_user().client_id());
    const auto action_id = compiled.FindAction(p.object_type(), p.action());
    const auto entity_id = compiled.FindEntity(p.entity_id());
    if (!principal.ok() || !action_id || !entity_id) continue;
    r->principal = *std::move(principal);
    r->action = *action_id;
    r->entity = *entity_id;
    r->has_resource = p.has_resource();
    r->resource = {*entity_id, p.resource().created_by()};
    requests.push_back(std::move(r));
  }
  return requests;
}

}  // namespace portcullis::bench
