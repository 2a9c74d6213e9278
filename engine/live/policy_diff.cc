#include "engine/live/policy_diff.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/common/quote.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis {
namespace {

using internal::kNone;
using internal::NameTable;
using internal::PolicyTables;
using Kind = PolicyChange::Kind;

constexpr absl::string_view kAbsent = "(absent)";

using internal::Quote;

uint32_t Find(const NameTable& table, uint32_t space, absl::string_view name) {
  const uint32_t index = table.Find(space, name);
  return index == NameTable::kNotFound ? kNone : index;
}

// A name present in either policy, with its index on each side (kNone when
// absent there).
struct Pair {
  absl::string_view name;
  uint32_t before;
  uint32_t after;
};

// Every name of `before` and `after`'s tables (space 0): one lookup per name.
// Unsorted: the changes are sorted once, at the end.
std::vector<Pair> PairNames(const NameTable& before, const NameTable& after) {
  std::vector<Pair> pairs;
  pairs.reserve(std::max(before.size(), after.size()));
  std::vector<bool> matched(after.size(), false);
  for (uint32_t i = 0; i < before.size(); ++i) {
    const uint32_t in_after = Find(after, 0, before.name(i));
    if (in_after != kNone) matched[in_after] = true;
    pairs.push_back({before.name(i), i, in_after});
  }
  for (uint32_t i = 0; i < after.size(); ++i) {
    if (!matched[i]) pairs.push_back({after.name(i), kNone, i});
  }
  return pairs;
}

// An (object type, action) present in either policy.
struct SlotPair {
  absl::string_view type;
  absl::string_view action;
  uint32_t before;
  uint32_t after;
};

class Differ {
 public:
  Differ(const CompiledPolicy& before, const CompiledPolicy& after)
      : b_(before.tables()), a_(after.tables()) {}

  PolicyDiff Run() {
    Catalog();
    Roles();
    Entities();
    Credentials();
    Sort();
    return std::move(diff_);
  }

 private:
  void Add(Kind kind, absl::string_view subject, absl::string_view object_type,
           absl::string_view action, std::string before, std::string after) {
    diff_.changes.push_back({kind, std::string(subject),
                             std::string(object_type), std::string(action),
                             std::move(before), std::move(after)});
  }

  static std::string ActionText(const PolicyTables& t, uint32_t slot) {
    return absl::StrCat("level ", internal::LevelName(t.slots[slot].level),
                        ", partner_only ",
                        t.slots[slot].partner_only ? "true" : "false");
  }

  void Catalog() {
    types_ = PairNames(b_.object_types, a_.object_types);
    for (const Pair& type : types_) {
      if (type.before == kNone) {
        Add(Kind::kObjectTypeAdded, type.name, "", "", "", "");
      } else if (type.after == kNone) {
        Add(Kind::kObjectTypeRemoved, type.name, "", "", "", "");
      }
      if (type.before != kNone) {
        for (uint32_t s = b_.type_base[type.before];
             s < b_.type_base[type.before + 1]; ++s) {
          const uint32_t in_after =
              type.after == kNone
                  ? kNone
                  : Find(a_.actions, type.after, b_.actions.name(s));
          slots_.push_back({type.name, b_.actions.name(s), s, in_after});
        }
      }
      if (type.after != kNone) {
        for (uint32_t s = a_.type_base[type.after];
             s < a_.type_base[type.after + 1]; ++s) {
          if (type.before == kNone ||
              Find(b_.actions, type.before, a_.actions.name(s)) == kNone) {
            slots_.push_back({type.name, a_.actions.name(s), kNone, s});
          }
        }
      }
    }
    for (const SlotPair& slot : slots_) {
      if (slot.before == kNone) {
        Add(Kind::kActionAdded, slot.type, slot.type, slot.action, "",
            ActionText(a_, slot.after));
        continue;
      }
      if (slot.after == kNone) {
        Add(Kind::kActionRemoved, slot.type, slot.type, slot.action,
            ActionText(b_, slot.before), "");
        continue;
      }
      const internal::SlotInfo& was = b_.slots[slot.before];
      const internal::SlotInfo& is = a_.slots[slot.after];
      if (was.level != is.level) {
        Add(Kind::kActionLevel, slot.type, slot.type, slot.action,
            std::string(internal::LevelName(was.level)),
            std::string(internal::LevelName(is.level)));
      }
      if (was.partner_only != is.partner_only) {
        Add(Kind::kActionPartnerOnly, slot.type, slot.type, slot.action,
            was.partner_only ? "true" : "false",
            is.partner_only ? "true" : "false");
      }
    }
  }

  static std::string OwnerText(const PolicyTables& t, uint32_t owner) {
    return owner == kNone
               ? "(global)"
               : absl::StrCat("entity ", Quote(t.entities.name(owner)));
  }

  // The union slots (indices into slots_) where two permission rows differ;
  // kNone for a role that does not exist on that side. Computed once per pair
  // of distinct rows: roles share rows.
  const std::vector<uint32_t>& RowDifference(uint32_t before_row,
                                             uint32_t after_row) {
    auto [it, inserted] = row_differences_.try_emplace({before_row, after_row});
    if (!inserted) return it->second;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      const SlotPair& slot = slots_[i];
      const uint32_t was =
          before_row == kNone || slot.before == kNone
              ? internal::kPermNotAllowed
              : internal::PermissionOf(b_, before_row, slot.before);
      const uint32_t is =
          after_row == kNone || slot.after == kNone
              ? internal::kPermNotAllowed
              : internal::PermissionOf(a_, after_row, slot.after);
      if (was != is) it->second.push_back(i);
    }
    return it->second;
  }

  void Roles() {
    for (const Pair& role : PairNames(b_.roles, a_.roles)) {
      if (role.before == kNone) {
        Add(Kind::kRoleAdded, role.name, "", "", "",
            OwnerText(a_, a_.role_owner[role.after]));
      } else if (role.after == kNone) {
        Add(Kind::kRoleRemoved, role.name, "", "",
            OwnerText(b_, b_.role_owner[role.before]), "");
      } else {
        std::string was = OwnerText(b_, b_.role_owner[role.before]);
        std::string is = OwnerText(a_, a_.role_owner[role.after]);
        if (was != is) {
          Add(Kind::kRoleOwner, role.name, "", "", std::move(was),
              std::move(is));
        }
      }
      const uint32_t before_row =
          role.before == kNone ? kNone : b_.role_row[role.before];
      const uint32_t after_row =
          role.after == kNone ? kNone : a_.role_row[role.after];
      for (uint32_t i : RowDifference(before_row, after_row)) {
        const SlotPair& slot = slots_[i];
        auto text = [](const PolicyTables& t, uint32_t row, uint32_t s) {
          if (row == kNone || s == kNone) return std::string(kAbsent);
          return std::string(
              internal::PermissionName(internal::PermissionOf(t, row, s)));
        };
        Add(Kind::kRolePermission, role.name, slot.type, slot.action,
            text(b_, before_row, slot.before), text(a_, after_row, slot.after));
      }
    }
  }

  static std::string DefaultRoleText(const PolicyTables& t, uint32_t entity) {
    const uint32_t role = t.entity_default_role[entity];
    return role == kNone ? "(none)" : Quote(t.roles.name(role));
  }

  static std::string EntityText(const PolicyTables& t, uint32_t entity) {
    return absl::StrCat("partner ",
                        Quote(t.partners.name(t.entity_partner[entity])),
                        ", default role ", DefaultRoleText(t, entity));
  }

  void Entities() {
    for (const Pair& entity : PairNames(b_.entities, a_.entities)) {
      if (entity.before == kNone) {
        Add(Kind::kEntityAdded, entity.name, "", "", "",
            EntityText(a_, entity.after));
        continue;
      }
      if (entity.after == kNone) {
        Add(Kind::kEntityRemoved, entity.name, "", "",
            EntityText(b_, entity.before), "");
        continue;
      }
      const absl::string_view was =
          b_.partners.name(b_.entity_partner[entity.before]);
      const absl::string_view is =
          a_.partners.name(a_.entity_partner[entity.after]);
      if (was != is) {
        Add(Kind::kEntityPartner, entity.name, "", "", Quote(was), Quote(is));
      }
      std::string was_role = DefaultRoleText(b_, entity.before);
      std::string is_role = DefaultRoleText(a_, entity.after);
      if (was_role != is_role) {
        Add(Kind::kEntityDefaultRole, entity.name, "", "", std::move(was_role),
            std::move(is_role));
      }
    }
  }

  // A credential's entity restriction as text; "(all entities)" when none.
  static std::string RestrictionText(const PolicyTables& t, uint32_t c) {
    if (c == kNone) return "(all entities)";
    std::vector<std::string> names;
    for (uint32_t i = t.credential_entities_begin[c];
         i < t.credential_entities_begin[c + 1]; ++i) {
      names.push_back(Quote(t.entities.name(t.credential_entities[i])));
    }
    if (names.empty()) return "(all entities)";
    std::sort(names.begin(), names.end());
    return absl::StrJoin(names, ", ");
  }

  static std::string RateLimitText(const PolicyTables& t, uint32_t c) {
    if (c == kNone || t.credential_rate_limit[c].count == 0) return "(none)";
    return absl::StrCat(t.credential_rate_limit[c].count, " per ",
                        t.credential_rate_limit[c].interval_seconds, " s");
  }

  void Credentials() {
    for (const Pair& c : PairNames(b_.credentials, a_.credentials)) {
      if (c.before == kNone) {
        Add(Kind::kCredentialAdded, c.name, "", "", "",
            absl::StrCat("partner ", Quote(a_.partners.name(
                                         a_.credential_partner[c.after]))));
      } else if (c.after == kNone) {
        Add(Kind::kCredentialRemoved, c.name, "", "",
            absl::StrCat("partner ", Quote(b_.partners.name(
                                         b_.credential_partner[c.before]))),
            "");
      } else {
        const absl::string_view was =
            b_.partners.name(b_.credential_partner[c.before]);
        const absl::string_view is =
            a_.partners.name(a_.credential_partner[c.after]);
        if (was != is) {
          Add(Kind::kCredentialPartner, c.name, "", "", Quote(was), Quote(is));
        }
      }
      // An absent credential counts as unrestricted and unlimited, so that
      // an added or removed one lists only the restriction and limit it has.
      std::string was = RestrictionText(b_, c.before);
      std::string is = RestrictionText(a_, c.after);
      if (was != is) {
        Add(Kind::kCredentialRestriction, c.name, "", "", std::move(was),
            std::move(is));
      }
      was = RateLimitText(b_, c.before);
      is = RateLimitText(a_, c.after);
      if (was != is) {
        Add(Kind::kCredentialRateLimit, c.name, "", "", std::move(was),
            std::move(is));
      }
      for (const Pair& type : types_) {
        auto level = [](const PolicyTables& t, uint32_t credential,
                        uint32_t type_index) -> uint32_t {
          if (credential == kNone || type_index == kNone) {
            return internal::kLevelNone;
          }
          return internal::Get2Bits(
              t.scope_rows.data() + t.credential_scope_row[credential],
              type_index);
        };
        const uint32_t was_level = level(b_, c.before, type.before);
        const uint32_t is_level = level(a_, c.after, type.after);
        if (was_level == is_level) continue;
        auto text = [&](uint32_t credential, uint32_t type_index,
                        uint32_t value) {
          return credential == kNone || type_index == kNone
                     ? std::string(kAbsent)
                     : std::string(internal::LevelName(value));
        };
        Add(Kind::kCredentialScope, c.name, type.name, "",
            text(c.before, type.before, was_level),
            text(c.after, type.after, is_level));
      }
    }
  }

  static int Group(Kind kind) {
    switch (kind) {
      case Kind::kObjectTypeAdded:
      case Kind::kObjectTypeRemoved:
      case Kind::kActionAdded:
      case Kind::kActionRemoved:
      case Kind::kActionLevel:
      case Kind::kActionPartnerOnly:
        return 0;
      case Kind::kRoleAdded:
      case Kind::kRoleRemoved:
      case Kind::kRoleOwner:
      case Kind::kRolePermission:
        return 1;
      case Kind::kEntityAdded:
      case Kind::kEntityRemoved:
      case Kind::kEntityPartner:
      case Kind::kEntityDefaultRole:
        return 2;
      case Kind::kCredentialAdded:
      case Kind::kCredentialRemoved:
      case Kind::kCredentialPartner:
      case Kind::kCredentialScope:
      case Kind::kCredentialRestriction:
      case Kind::kCredentialRateLimit:
        return 3;
    }
    return 4;
  }

  // Within a subject: its addition or removal, then its attributes, then its
  // actions, permissions or scopes.
  static int Rank(Kind kind) {
    switch (kind) {
      case Kind::kObjectTypeAdded:
      case Kind::kObjectTypeRemoved:
      case Kind::kRoleAdded:
      case Kind::kRoleRemoved:
      case Kind::kEntityAdded:
      case Kind::kEntityRemoved:
      case Kind::kCredentialAdded:
      case Kind::kCredentialRemoved:
        return 0;
      case Kind::kRoleOwner:
      case Kind::kEntityPartner:
      case Kind::kEntityDefaultRole:
      case Kind::kCredentialPartner:
      case Kind::kCredentialRestriction:
      case Kind::kCredentialRateLimit:
        return 1;
      case Kind::kActionAdded:
      case Kind::kActionRemoved:
      case Kind::kActionLevel:
      case Kind::kActionPartnerOnly:
      case Kind::kRolePermission:
      case Kind::kCredentialScope:
        return 2;
    }
    return 3;
  }

  void Sort() {
    auto key = [](const PolicyChange& c) {
      return std::make_tuple(Group(c.kind), std::cref(c.subject), Rank(c.kind),
                             std::cref(c.object_type), std::cref(c.action),
                             static_cast<int>(c.kind));
    };
    std::stable_sort(diff_.changes.begin(), diff_.changes.end(),
                     [&](const PolicyChange& x, const PolicyChange& y) {
                       return key(x) < key(y);
                     });
  }

  const PolicyTables& b_;
  const PolicyTables& a_;
  std::vector<Pair> types_;
  std::vector<SlotPair> slots_;
  absl::flat_hash_map<std::pair<uint32_t, uint32_t>, std::vector<uint32_t>>
      row_differences_;
  PolicyDiff diff_;
};

}  // namespace

std::string PolicyChange::ToText() const {
  const std::string role = absl::StrCat("role ", Quote(subject));
  const std::string entity = absl::StrCat("entity ", Quote(subject));
  const std::string credential = absl::StrCat("credential ", Quote(subject));
  const std::string action_name =
      absl::StrCat("action ", object_type, ".", action);
  auto changed = [&](absl::string_view what, absl::string_view attribute) {
    return absl::StrCat("~ ", what, ": ", attribute,
                        attribute.empty() ? "" : " ", before, " -> ", after);
  };
  switch (kind) {
    case Kind::kObjectTypeAdded:
      return absl::StrCat("+ object type ", Quote(subject));
    case Kind::kObjectTypeRemoved:
      return absl::StrCat("- object type ", Quote(subject));
    case Kind::kActionAdded:
      return absl::StrCat("+ ", action_name, ": ", after);
    case Kind::kActionRemoved:
      return absl::StrCat("- ", action_name, ": ", before);
    case Kind::kActionLevel:
      return changed(action_name, "level");
    case Kind::kActionPartnerOnly:
      return changed(action_name, "partner_only");
    case Kind::kRoleAdded:
      return absl::StrCat("+ ", role, ": owner ", after);
    case Kind::kRoleRemoved:
      return absl::StrCat("- ", role, ": owner ", before);
    case Kind::kRoleOwner:
      return changed(role, "owner");
    case Kind::kRolePermission:
      return changed(role, absl::StrCat(object_type, ".", action, ":"));
    case Kind::kEntityAdded:
      return absl::StrCat("+ ", entity, ": ", after);
    case Kind::kEntityRemoved:
      return absl::StrCat("- ", entity, ": ", before);
    case Kind::kEntityPartner:
      return changed(entity, "partner");
    case Kind::kEntityDefaultRole:
      return changed(entity, "default role");
    case Kind::kCredentialAdded:
      return absl::StrCat("+ ", credential, ": ", after);
    case Kind::kCredentialRemoved:
      return absl::StrCat("- ", credential, ": ", before);
    case Kind::kCredentialPartner:
      return changed(credential, "partner");
    case Kind::kCredentialScope:
      return changed(credential, absl::StrCat("scope ", object_type, ":"));
    case Kind::kCredentialRestriction:
      return changed(credential, "entities");
    case Kind::kCredentialRateLimit:
      return changed(credential, "rate limit");
  }
  return "";
}

bool operator==(const PolicyChange& a, const PolicyChange& b) {
  return a.kind == b.kind && a.subject == b.subject &&
         a.object_type == b.object_type && a.action == b.action &&
         a.before == b.before && a.after == b.after;
}

std::string PolicyDiff::ToText() const {
  std::string text;
  for (const PolicyChange& change : changes) {
    absl::StrAppend(&text, change.ToText(), "\n");
  }
  return text;
}

PolicyDiff DiffPolicies(const CompiledPolicy& before,
                        const CompiledPolicy& after) {
  return Differ(before, after).Run();
}

RemovalCounts CountRemovals(const CompiledPolicy& before,
                            const CompiledPolicy& after) {
  auto count = [](const NameTable& b, const NameTable& a) {
    RemovalCounts::Count result;
    result.before = b.size();
    for (uint32_t i = 0; i < b.size(); ++i) {
      if (Find(a, 0, b.name(i)) == kNone) ++result.removed;
    }
    return result;
  };
  const PolicyTables& b = before.tables();
  const PolicyTables& a = after.tables();
  RemovalCounts counts;
  counts.roles = count(b.roles, a.roles);
  counts.entities = count(b.entities, a.entities);
  counts.credentials = count(b.credentials, a.credentials);
  return counts;
}

}  // namespace portcullis
