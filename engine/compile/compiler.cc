#include "engine/compile/compiler.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "engine/common/names.h"
#include "engine/common/quote.h"
#include "engine/common/scope.h"

namespace portcullis {
namespace {

using internal::kNone;
using internal::NameTable;
using internal::PolicyTables;

// How a value appears in a message: quoted, escaped, and cut at 80 bytes so a
// megabyte-long name does not make a megabyte-long error.
std::string Quote(absl::string_view value) {
  return internal::QuoteShortened(value, 80);
}

// Rows of `words` words (scope rows of 2-bit fields, rows of permission word
// offsets) stored back to back in one vector and deduplicated: a row is stored
// once however many roles (or credentials) share it.
template <typename Word>
class RowSet {
 public:
  RowSet(std::vector<Word>* rows, uint32_t words)
      : rows_(rows), index_(0, Hash{rows, words}, Eq{rows, words}) {}

  // The word offset of `row` in the vector, appending it if it is new.
  uint32_t Intern(absl::Span<const Word> row) {
    const auto it = index_.find(row);
    if (it != index_.end()) return *it;
    const uint32_t offset = static_cast<uint32_t>(rows_->size());
    rows_->insert(rows_->end(), row.begin(), row.end());
    index_.insert(offset);
    return offset;
  }

  // Distinct rows stored.
  uint32_t size() const { return static_cast<uint32_t>(index_.size()); }

 private:
  struct Hash {
    using is_transparent = void;
    const std::vector<Word>* rows;
    uint32_t words;
    size_t operator()(absl::Span<const Word> row) const {
      return absl::Hash<absl::Span<const Word>>{}(row);
    }
    size_t operator()(uint32_t offset) const {
      return (*this)(absl::MakeConstSpan(rows->data() + offset, words));
    }
  };
  struct Eq {
    using is_transparent = void;
    const std::vector<Word>* rows;
    uint32_t words;
    absl::Span<const Word> Row(uint32_t offset) const {
      return absl::MakeConstSpan(rows->data() + offset, words);
    }
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t a, absl::Span<const Word> b) const {
      return Row(a) == b;
    }
    bool operator()(absl::Span<const Word> a, uint32_t b) const {
      return a == Row(b);
    }
  };

  std::vector<Word>* rows_;
  absl::flat_hash_set<uint32_t, Hash, Eq> index_;
};

// Distinct 64-bit words stored once in PolicyTables::permissions (as two
// 32-bit halves), by offset. Most of a role's words are zero (a role grants
// something in few 32-slot stretches), and offset 0 reads as zero, so zero
// is answered without a lookup.
class WordSet {
 public:
  explicit WordSet(std::vector<uint32_t>* permissions)
      : permissions_(permissions) {}

  // The offset of `word`, appending it if it is new.
  uint32_t Intern(uint64_t word) {
    if (word == 0) return 0;
    const auto [it, added] =
        offsets_.try_emplace(word, static_cast<uint32_t>(permissions_->size()));
    if (added) {
      permissions_->push_back(static_cast<uint32_t>(word));
      permissions_->push_back(static_cast<uint32_t>(word >> 32));
    }
    return it->second;
  }

 private:
  std::vector<uint32_t>* permissions_;
  absl::flat_hash_map<uint64_t, uint32_t> offsets_;
};

// One pass over a PolicySet that validates it and, when it is valid, leaves the
// compiled tables behind. Errors are collected, never thrown; processing goes
// on after an error so that one run reports every problem.
class PolicyCompiler {
 public:
  PolicyCompiler(const v1::PolicySet& policy, const CompileOptions& options)
      : policy_(policy), options_(options) {}

  void Run() {
    if (!CheckCounts()) return;
    CompileCatalog();
    InternEntities();
    InternRoles();
    ResolveEntityDefaultRoles();
    CompileRoleRows();
    CompileCredentials();
    tables_.ShrinkToFit();
  }

  // Run() with the roles read from `roles` one at a time, each interned and
  // compiled before the next is read, rather than from the policy's own
  // (empty) roles. Stops at the first error or refused role and returns
  // false: only a policy with no error at all is compiled this way, so the
  // tables are Run()'s (same roles, rows and ids in the same order: a role's
  // row never depends on the entities' default roles, which are resolved
  // after the last role instead of before the first row) and no error order
  // or error limit has to be reproduced.
  bool RunStreamed(RoleStream& roles) {
    if (!policy_.roles().empty() || !CheckCounts()) return false;
    CompileCatalog();
    InternEntities();
    if (ErrorCount() != 0) return false;
    RoleRows rows(tables_);
    const v1::Role* role = nullptr;
    for (int i = 0;; ++i) {
      switch (roles.Read(role)) {
        case RoleStream::Next::kRole:
          break;
        case RoleStream::Next::kEnd:
          tables_.permission_row_count = rows.rows.size();
          ResolveEntityDefaultRoles();
          CompileCredentials();
          tables_.ShrinkToFit();
          return ErrorCount() == 0;
        case RoleStream::Next::kRefused:
          return false;
      }
      if (static_cast<size_t>(i) >= options_.max_roles) return false;
      if (!InternRole(i, *role)) return false;
      CompileRoleRow(static_cast<uint32_t>(role_input_.size() - 1), i, *role,
                     rows);
      if (ErrorCount() != 0) return false;
    }
  }

  // The errors in field order: catalog, roles, entities, credentials, each by
  // element index (the compiler visits them in a different order: entities
  // must be known before roles are checked, and roles before entities'
  // default roles). Only the first max_errors are kept.
  ValidationReport TakeReport() {
    std::stable_sort(
        errors_.begin(), errors_.end(),
        [](const KeyedError& a, const KeyedError& b) { return a.key < b.key; });
    ValidationReport report;
    report.warnings = std::move(warnings_);
    report.more_errors = dropped_errors_;
    for (KeyedError& error : errors_) {
      if (report.errors.size() < options_.max_errors) {
        report.errors.push_back(std::move(error.error));
      } else {
        ++report.more_errors;
      }
    }
    return report;
  }
  PolicyTables TakeTables() { return std::move(tables_); }

 private:
  // A problem that does not stop the policy compiling (ValidationReport).
  // Bounded like errors; past max_errors, dropped.
  void Warn(std::string path, std::string message) {
    if (warnings_.size() < options_.max_errors) {
      warnings_.push_back({std::move(path), std::move(message)});
    }
  }

  void Error(std::string path, std::string message) {
    // Errors are kept up to a bound well past max_errors so that sorting
    // them into field order still shows the first ones; past it, counted.
    if (errors_.size() >= std::max<size_t>(options_.max_errors, 10000)) {
      ++dropped_errors_;
      return;
    }
    const FieldKey key = KeyOf(path);
    errors_.push_back({key, {std::move(path), std::move(message)}});
  }

  // (section, element index): the position of a path's element in the policy.
  using FieldKey = std::pair<int, uint64_t>;
  static FieldKey KeyOf(absl::string_view path) {
    static constexpr absl::string_view kSections[] = {
        "catalog.object_types", "roles", "entities", "credentials"};
    for (int section = 0; section < 4; ++section) {
      const absl::string_view prefix = kSections[section];
      if (!absl::StartsWith(path, prefix)) continue;
      absl::string_view rest = path.substr(prefix.size());
      uint64_t index = 0;  // the collection itself sorts before its elements
      if (absl::ConsumePrefix(&rest, "[")) {
        const size_t close = rest.find(']');
        if (close != absl::string_view::npos &&
            absl::SimpleAtoi(rest.substr(0, close), &index)) {
          ++index;
        }
      }
      return {section, index};
    }
    return {4, 0};
  }

  // Limits on counts are checked before anything else: past them, the rest of
  // the work would only produce a flood of follow-on errors (and cost).
  bool CheckCounts() {
    bool ok = true;
    auto check = [&](absl::string_view path, size_t count, size_t limit,
                     absl::string_view what) {
      if (count > limit) {
        Error(std::string(path),
              absl::StrCat(count, " ", what, "; the limit is ", limit));
        ok = false;
      }
    };
    const auto& types = policy_.catalog().object_types();
    check("catalog.object_types", types.size(), options_.max_object_types,
          "object types");
    size_t actions = 0;
    for (const v1::ObjectType& type : types) actions += type.actions_size();
    check("catalog.object_types", actions, options_.max_actions,
          "actions in the catalog");
    check("roles", policy_.roles_size(), options_.max_roles, "roles");
    check("entities", policy_.entities_size(), options_.max_entities,
          "entities");
    check("credentials", policy_.credentials_size(), options_.max_credentials,
          "credentials");
    // Dense indices are 32-bit; kNone is reserved.
    check("catalog.object_types", actions, kNone - 1, "actions in the catalog");
    return ok;
  }

  // A field path, built only when an error needs it: compiling a million
  // roles must not build millions of strings for errors that never happen.
  using PathFn = absl::FunctionRef<std::string()>;

  bool CheckLength(PathFn path, absl::string_view value) {
    if (value.size() > options_.max_name_bytes) {
      Error(path(), absl::StrCat(Quote(value), " is ", value.size(),
                                 " bytes long; the limit is ",
                                 options_.max_name_bytes));
      return false;
    }
    return true;
  }

  // Catalog names: object types and actions.
  bool CheckCatalogName(PathFn path, absl::string_view name) {
    if (name.empty()) {
      Error(path(), "must not be empty");
      return false;
    }
    if (!CheckLength(path, name)) return false;
    if (const size_t bad = internal::FindInvalidNameChar(name);
        bad != absl::string_view::npos) {
      Error(path(), absl::StrCat("invalid character ",
                                 internal::DescribeChar(name[bad]),
                                 " at position ", bad, " in ", Quote(name),
                                 "; names are letters, digits and _ - . /"));
      return false;
    }
    return true;
  }

  // Ids of roles, entities, partners and clients: any text without control
  // characters.
  bool CheckId(PathFn path, absl::string_view id) {
    if (id.empty()) {
      Error(path(), "must not be empty");
      return false;
    }
    if (!CheckLength(path, id)) return false;
    for (size_t i = 0; i < id.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(id[i]);
      if (c < 0x20 || c == 0x7f) {
        Error(path(),
              absl::StrCat("control character ", internal::DescribeChar(id[i]),
                           " at position ", i, " in ", Quote(id)));
        return false;
      }
    }
    return true;
  }

  void CompileCatalog() {
    const auto& types = policy_.catalog().object_types();
    std::vector<int> first_type_at;  // by type id: index in `types`
    tables_.type_base.push_back(0);
    for (int i = 0; i < types.size(); ++i) {
      const v1::ObjectType& type = types[i];
      const std::string path = absl::StrCat("catalog.object_types[", i, "]");
      bool add = CheckCatalogName([&] { return path + ".name"; }, type.name());
      if (add && type.name() == "all") {
        Error(path + ".name",
              "\"all\" is reserved: in a scope it means every object type");
        add = false;
      }
      if (add) {
        const uint32_t previous = tables_.object_types.Find(0, type.name());
        if (previous != NameTable::kNotFound) {
          Error(path + ".name",
                absl::StrCat("duplicate object type ", Quote(type.name()),
                             " (first at catalog.object_types[",
                             first_type_at[previous], "])"));
          add = false;
        }
      }
      if (type.actions().empty()) {
        Error(path + ".actions",
              absl::StrCat("object type ", Quote(type.name()),
                           " has no actions"));
      } else if (static_cast<size_t>(type.actions_size()) >
                 ActionsPerObjectTypeLimit()) {
        Error(path + ".actions",
              absl::StrCat(type.actions_size(), " actions; the limit is ",
                           ActionsPerObjectTypeLimit()));
        add = false;
      }
      const uint32_t type_id =
          add ? tables_.object_types.Add(0, type.name()) : kNone;
      if (add) first_type_at.push_back(i);
      CompileActions(type, path, type_id);
      if (add) {
        tables_.type_base.push_back(
            static_cast<uint32_t>(tables_.slots.size()));
      }
    }
    tables_.row_words = std::max<uint32_t>(
        1, internal::WordsFor2BitFields(tables_.slots.size()));
    tables_.scope_words = std::max<uint32_t>(
        1, internal::WordsFor2BitFields(tables_.object_types.size()));
  }

  // Validates the actions of one object type and, when `type_id` is not kNone,
  // gives each a slot.
  void CompileActions(const v1::ObjectType& type, const std::string& type_path,
                      uint32_t type_id) {
    const uint32_t first_slot = static_cast<uint32_t>(tables_.slots.size());
    for (int j = 0; j < type.actions_size(); ++j) {
      const v1::Action& action = type.actions(j);
      const std::string path = absl::StrCat(type_path, ".actions[", j, "]");
      bool add =
          CheckCatalogName([&] { return path + ".name"; }, action.name());
      if (add && type_id != kNone) {
        const uint32_t previous = tables_.actions.Find(type_id, action.name());
        if (previous != NameTable::kNotFound) {
          Error(path + ".name",
                absl::StrCat("duplicate action ", Quote(action.name()),
                             " for object type ", Quote(type.name()),
                             " (first at ", type_path, ".actions[",
                             tables_.slots[previous].action, "])"));
          add = false;
        }
      }
      uint32_t level = internal::kLevelNone;
      switch (action.level()) {
        case v1::SCOPE_LEVEL_UNSPECIFIED:
          level = action.name() == "read"     ? internal::kLevelRead
                  : action.name() == "delete" ? internal::kLevelDelete
                                              : internal::kLevelWrite;
          break;
        case v1::READ:
          level = internal::kLevelRead;
          break;
        case v1::WRITE:
          level = internal::kLevelWrite;
          break;
        case v1::DELETE:
          level = internal::kLevelDelete;
          break;
        case v1::ScopeLevel_INT_MIN_SENTINEL_DO_NOT_USE_:
        case v1::ScopeLevel_INT_MAX_SENTINEL_DO_NOT_USE_:
          break;
      }
      if (level == internal::kLevelNone) {
        Error(path + ".level",
              absl::StrCat("unknown level ", static_cast<int>(action.level()),
                           "; expected read, write or delete"));
        add = false;
      }
      if (add && type_id != kNone) {
        tables_.actions.Add(type_id, action.name());
        // The position in the input, so that a later duplicate can name it;
        // replaced by the dense action index below.
        tables_.slots.push_back({type_id, static_cast<uint16_t>(j),
                                 static_cast<uint8_t>(level),
                                 static_cast<uint8_t>(action.partner_only())});
      }
    }
    for (uint32_t slot = first_slot; slot < tables_.slots.size(); ++slot) {
      tables_.slots[slot].action = static_cast<uint16_t>(slot - first_slot);
    }
  }

  // Entities are numbered partner by partner (partners in order of first
  // appearance), so a partner's entities form one range.
  void InternEntities() {
    const auto& entities = policy_.entities();
    std::vector<std::vector<int>> by_partner;
    // Entity id -> index of its first occurrence, for duplicates to name.
    absl::flat_hash_map<absl::string_view, int> first_at;
    for (int i = 0; i < entities.size(); ++i) {
      const v1::Entity& entity = entities[i];
      const std::string path = absl::StrCat("entities[", i, "]");
      bool add = CheckId([&] { return path + ".id"; }, entity.id());
      if (add) {
        const auto first = first_at.try_emplace(entity.id(), i).first;
        if (first->second != i) {
          Error(path + ".id",
                absl::StrCat("duplicate entity ", Quote(entity.id()),
                             " (first at entities[", first->second, "])"));
          add = false;
        }
      }
      if (!CheckId([&] { return path + ".partner_id"; }, entity.partner_id())) {
        add = false;
      }
      if (!add) {
        // Its error is reported; references to it are not errors of their own.
        rejected_entities_.insert(entity.id());
        rejected_partners_.insert(entity.partner_id());
        continue;
      }
      uint32_t partner = tables_.partners.Find(0, entity.partner_id());
      if (partner == NameTable::kNotFound) {
        partner = tables_.partners.Add(0, entity.partner_id());
        by_partner.emplace_back();
      }
      by_partner[partner].push_back(i);
    }
    entity_input_.clear();
    for (uint32_t partner = 0; partner < by_partner.size(); ++partner) {
      tables_.partner_entity_begin.push_back(
          static_cast<uint32_t>(tables_.entities.size()));
      for (int i : by_partner[partner]) {
        tables_.entities.Add(0, entities[i].id());
        tables_.entity_partner.push_back(partner);
        entity_input_.push_back(i);
      }
    }
    tables_.partner_entity_begin.push_back(
        static_cast<uint32_t>(tables_.entities.size()));
    tables_.entity_default_role.assign(tables_.entities.size(), kNone);
  }

  void InternRoles() {
    const auto& roles = policy_.roles();
    for (int i = 0; i < roles.size(); ++i) InternRole(i, roles[i]);
  }

  // Interns roles[i]: its id, name and owner. False when it is rejected,
  // with its error.
  bool InternRole(int i, const v1::Role& role) {
    {
      const std::string path = absl::StrCat("roles[", i, "]");
      bool add = true;
      if (role.name().empty()) {
        Error(path + ".name", "must not be empty");
        add = false;
      } else if (!CheckLength([&] { return path + ".name"; }, role.name())) {
        add = false;
      }
      // A role without an id is identified by its name.
      const bool named_by_id = !role.id().empty();
      auto id_path = [&] { return path + (named_by_id ? ".id" : ".name"); };
      const std::string& id = named_by_id ? role.id() : role.name();
      if (named_by_id && !CheckId(id_path, id)) add = false;
      if (add) {
        const uint32_t previous = tables_.roles.Find(0, id);
        if (previous != NameTable::kNotFound) {
          Error(id_path(),
                absl::StrCat(
                    "duplicate role id ", Quote(id),
                    named_by_id
                        ? ""
                        : " (a role without id is identified by its name)",
                    " (first at roles[", role_input_[previous], "])"));
          add = false;
        }
      }
      uint32_t owner = kNone;
      if (!role.entity_id().empty()) {
        owner = tables_.entities.Find(0, role.entity_id());
        if (owner == NameTable::kNotFound) {
          ErrorUnlessRejected(
              rejected_entities_.contains(role.entity_id()),
              path + ".entity_id",
              absl::StrCat("unknown entity ", Quote(role.entity_id())));
          add = false;
        }
      }
      if (!add) {
        // Its error is reported; references to it are not errors of their own
        // (a role whose name is too long is not also an unknown role).
        rejected_roles_.insert(id);
        return false;
      }
      tables_.roles.Add(0, id);
      tables_.role_owner.push_back(owner);
      role_input_.push_back(i);
    }
    return true;
  }

  void ResolveEntityDefaultRoles() {
    for (uint32_t entity = 0; entity < tables_.entities.size(); ++entity) {
      const v1::Entity& input = policy_.entities(entity_input_[entity]);
      if (input.default_role_id().empty()) continue;
      auto path = [&] {
        return absl::StrCat("entities[", entity_input_[entity],
                            "].default_role_id");
      };
      const uint32_t role = tables_.roles.Find(0, input.default_role_id());
      if (role == NameTable::kNotFound) {
        ErrorUnlessRejected(
            rejected_roles_.contains(input.default_role_id()), path(),
            absl::StrCat("unknown role ", Quote(input.default_role_id())));
        continue;
      }
      const uint32_t owner = tables_.role_owner[role];
      if (owner != kNone && owner != entity) {
        Error(path(), absl::StrCat("role ", Quote(input.default_role_id()),
                                   " is owned by entity ",
                                   Quote(tables_.entities.name(owner)),
                                   ", not ", Quote(input.id())));
        continue;
      }
      tables_.entity_default_role[entity] = role;
    }
  }

  // What compiling permission rows carries from one role to the next.
  struct RoleRows {
    explicit RoleRows(PolicyTables& tables)
        : set_by_role(tables.slots.size(), 0),
          set_at(tables.slots.size()),
          set_to(tables.slots.size()),
          row(tables.row_words),
          row_ids(tables.row_words),
          words(&tables.permissions),
          rows(&tables.permissions, tables.row_words) {
      // Row 0 (all offset 0) denies everything: principals without a usable
      // role read it, so that a check never branches on whether there is a
      // role. Offset 0 read as a word is its first two zeros.
      rows.Intern(row_ids);
      if (tables.permissions.size() < 2) tables.permissions.push_back(0);
    }
    // Per slot, the role that last set it (1-based, 0 = none) and where, so
    // that a conflicting repeat names the first place without clearing the
    // arrays between roles.
    std::vector<uint32_t> set_by_role;
    std::vector<std::pair<int, int>> set_at;
    std::vector<uint32_t> set_to;
    std::vector<uint64_t> row;
    std::vector<uint32_t> row_ids;
    WordSet words;
    RowSet<uint32_t> rows;
    bool rows_over_limit = false;
  };

  void CompileRoleRows() {
    RoleRows rows(tables_);
    tables_.role_row.reserve(role_input_.size());
    for (uint32_t role = 0; role < role_input_.size(); ++role) {
      const int i = role_input_[role];
      CompileRoleRow(role, i, policy_.roles(i), rows);
    }
    tables_.permission_row_count = rows.rows.size();
  }

  // The permission row of `input`, roles[i], the `role`th role interned.
  // Inlined into both callers: as a function of its own, gcc no longer
  // inlines the action lookups into it (5% more instructions to compile).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void CompileRoleRow(uint32_t role, int i,
                                                   const v1::Role& input,
                                                   RoleRows& state) {
    std::vector<uint32_t>& set_by_role = state.set_by_role;
    std::vector<std::pair<int, int>>& set_at = state.set_at;
    std::vector<uint32_t>& set_to = state.set_to;
    std::vector<uint64_t>& row = state.row;
    std::vector<uint32_t>& row_ids = state.row_ids;
    WordSet& words = state.words;
    RowSet<uint32_t>& rows = state.rows;
    bool& rows_over_limit = state.rows_over_limit;
    {
      std::fill(row.begin(), row.end(), 0);
      const auto& objects = input.permissions().objects();
      for (int k = 0; k < objects.size(); ++k) {
        const v1::ObjectPermissions& object = objects[k];
        auto object_path = [&] {
          return absl::StrCat("roles[", i, "].permissions.objects[", k, "]");
        };
        const uint32_t type =
            tables_.object_types.Find(0, object.object_type());
        if (type == NameTable::kNotFound) {
          Error(object_path() + ".object_type",
                absl::StrCat("unknown object type ",
                             Quote(object.object_type())));
          continue;
        }
        for (int m = 0; m < object.actions_size(); ++m) {
          const v1::ActionPermission& action = object.actions(m);
          auto path = [&] {
            return absl::StrCat(object_path(), ".actions[", m, "]");
          };
          const uint32_t slot =
              tables_.actions.Find(type, action.action_name());
          if (slot == NameTable::kNotFound) {
            Error(
                path() + ".action_name",
                absl::StrCat("unknown action ", Quote(action.action_name()),
                             " for object type ", Quote(object.object_type())));
            continue;
          }
          uint32_t code = kNone;
          switch (action.permission()) {
            case v1::PERMISSION_UNSPECIFIED:
              Error(path() + ".permission",
                    "must be set: allowed, not_allowed or allowed_for_own");
              continue;
            case v1::NOT_ALLOWED:
              code = internal::kPermNotAllowed;
              break;
            case v1::ALLOWED:
              code = internal::kPermAllowed;
              break;
            case v1::ALLOWED_FOR_OWN:
              code = internal::kPermAllowedForOwn;
              break;
            case v1::Permission_INT_MIN_SENTINEL_DO_NOT_USE_:
            case v1::Permission_INT_MAX_SENTINEL_DO_NOT_USE_:
              break;
          }
          if (code == kNone) {
            Error(path() + ".permission",
                  absl::StrCat(
                      "unknown permission ",
                      static_cast<int>(action.permission()),
                      "; expected allowed, not_allowed or allowed_for_own"));
            continue;
          }
          if (set_by_role[slot] == role + 1) {
            if (set_to[slot] != code) {
              Error(path(), absl::StrCat(
                                "action ",
                                Quote(absl::StrCat(object.object_type(), ".",
                                                   action.action_name())),
                                " is listed twice with different permissions (",
                                PermissionName(set_to[slot]), " at roles[", i,
                                "].permissions.objects[", set_at[slot].first,
                                "].actions[", set_at[slot].second, "], ",
                                PermissionName(code), " here)"));
            }
            continue;
          }
          set_by_role[slot] = role + 1;
          set_at[slot] = {k, m};
          set_to[slot] = code;
          internal::Set2Bits(row.data(), slot, code);
        }
      }
      if (rows_over_limit) return;
      for (uint32_t w = 0; w < tables_.row_words; ++w) {
        row_ids[w] = words.Intern(row[w]);
      }
      // The row's new words were appended just before it (if it is new).
      tables_.role_row.push_back(rows.Intern(row_ids));
      if (tables_.permissions.size() * sizeof(uint32_t) >
          TableLimit(options_.max_permission_row_bytes, sizeof(uint32_t))) {
        Error("roles",
              absl::StrCat("distinct permission rows need more than ",
                           TableLimit(options_.max_permission_row_bytes,
                                      sizeof(uint32_t)),
                           " bytes (the limit) by roles[", i, "]"));
        rows_over_limit = true;
      }
    }
  }

  static absl::string_view PermissionName(uint32_t code) {
    return code == internal::kPermAllowed         ? "allowed"
           : code == internal::kPermAllowedForOwn ? "allowed_for_own"
                                                  : "not_allowed";
  }

  void CompileCredentials() {
    const uint32_t type_count = tables_.object_types.size();
    RowSet<uint64_t> rows(&tables_.scope_rows, tables_.scope_words);
    // Row 0: DELETE (and so everything) on every object type, for principals
    // that no credential restricts.
    std::vector<uint64_t> row(tables_.scope_words, 0);
    for (uint32_t type = 0; type < type_count; ++type) {
      internal::Set2Bits(row.data(), type, internal::kLevelDelete);
    }
    rows.Intern(row);

    std::vector<int> first_at;
    bool tables_over_limit = false;
    tables_.credential_scopes_begin.push_back(0);
    tables_.credential_entities_begin.push_back(0);
    const auto& credentials = policy_.credentials();
    for (int i = 0; i < credentials.size(); ++i) {
      const v1::Credential& credential = credentials[i];
      const std::string path = absl::StrCat("credentials[", i, "]");
      const size_t errors_before = ErrorCount();
      if (CheckId([&] { return path + ".client_id"; },
                  credential.client_id())) {
        const uint32_t previous =
            tables_.credentials.Find(0, credential.client_id());
        if (previous != NameTable::kNotFound) {
          Error(path + ".client_id", absl::StrCat("duplicate client id ",
                                                  Quote(credential.client_id()),
                                                  " (first at credentials[",
                                                  first_at[previous], "])"));
        }
      }
      CheckLength([&] { return path + ".name"; }, credential.name());
      uint32_t partner = kNone;
      if (CheckId([&] { return path + ".partner_id"; },
                  credential.partner_id())) {
        partner = tables_.partners.Find(0, credential.partner_id());
        if (partner == NameTable::kNotFound) {
          ErrorUnlessRejected(
              rejected_partners_.contains(credential.partner_id()),

              path + ".partner_id",
              absl::StrCat("unknown partner ", Quote(credential.partner_id()),
                           ": no entity belongs to it"));
          partner = kNone;
        }
      }
      const std::vector<uint32_t> entities =
          CredentialEntities(credential, path, partner);
      std::fill(row.begin(), row.end(), 0);
      FoldScopes(credential, path, row);
      if (credential.has_rate_limit()) {
        if (credential.rate_limit().count() == 0) {
          Error(path + ".rate_limit.count", "must be positive");
        }
        if (credential.rate_limit().interval_seconds() == 0) {
          Error(path + ".rate_limit.interval_seconds", "must be positive");
        }
      }
      if (ErrorCount() != errors_before || tables_over_limit) continue;

      // Both limits are checked before the credential is added: past one,
      // the rest are only validated.
      const size_t restriction_words =
          entities.empty() ? 0
                           : (tables_.partner_entity_begin[partner + 1] -
                              tables_.partner_entity_begin[partner] + 63) /
                                 64;
      if ((tables_.restriction_bits.size() + restriction_words) *
              sizeof(uint64_t) >
          TableLimit(options_.max_restriction_bytes)) {
        Error("credentials",
              absl::StrCat("entity restrictions need more than ",
                           TableLimit(options_.max_restriction_bytes),
                           " bytes (the limit) by credentials[", i, "]"));
        tables_over_limit = true;
        continue;
      }
      const uint32_t scope_row = rows.Intern(row);
      if (tables_.scope_rows.size() * sizeof(uint64_t) >
          TableLimit(options_.max_scope_row_bytes)) {
        Error("credentials",
              absl::StrCat("distinct scope rows need more than ",
                           TableLimit(options_.max_scope_row_bytes),
                           " bytes (the limit) by credentials[", i, "]"));
        tables_over_limit = true;
        continue;
      }

      tables_.credentials.Add(0, credential.client_id());
      first_at.push_back(i);
      tables_.credential_names.Add(credential.name());
      tables_.credential_partner.push_back(partner);
      tables_.credential_scope_row.push_back(scope_row);
      tables_.credential_rate_limit.push_back(
          {credential.rate_limit().count(),
           credential.rate_limit().interval_seconds()});
      for (const std::string& scope : credential.scopes()) {
        tables_.credential_scopes.Add(scope);
      }
      tables_.credential_scopes_begin.push_back(
          tables_.credential_scopes.size());
      tables_.credential_entities.insert(tables_.credential_entities.end(),
                                         entities.begin(), entities.end());
      tables_.credential_entities_begin.push_back(
          static_cast<uint32_t>(tables_.credential_entities.size()));
      if (entities.empty()) {
        tables_.credential_restriction.push_back(kNone);
        continue;
      }
      const uint32_t begin = tables_.partner_entity_begin[partner];
      const uint32_t span = tables_.partner_entity_begin[partner + 1] - begin;
      const uint32_t offset =
          static_cast<uint32_t>(tables_.restriction_bits.size());
      tables_.restriction_bits.resize(offset + (span + 63) / 64, 0);
      for (uint32_t entity : entities) {
        const uint32_t bit = entity - begin;
        tables_.restriction_bits[offset + bit / 64] |= uint64_t{1}
                                                       << (bit % 64);
      }
      tables_.credential_restriction.push_back(offset);
    }
  }

  // An action's index within its object type is 16 bits (SlotInfo::action).
  size_t ActionsPerObjectTypeLimit() const {
    return std::min<size_t>(options_.max_actions_per_object_type,
                            std::numeric_limits<uint16_t>::max());
  }

  // Rows and restrictions are found by 32-bit word offsets (kNone reserved),
  // so no option can let a table grow past them.
  // `option`, capped where 32-bit offsets into a table of `element_bytes`
  // elements would overflow.
  static size_t TableLimit(size_t option,
                           size_t element_bytes = sizeof(uint64_t)) {
    return std::min(option, size_t{kNone} * element_bytes);
  }

  // Errors recorded, dropped past the cap, or not repeated (below): an
  // element is only built when this did not grow while it was checked.
  size_t ErrorCount() const {
    return errors_.size() + dropped_errors_ + unrepeated_errors_;
  }

  // An error about a reference to an element that was itself rejected is
  // not reported again (a role whose name is too long is not also an unknown
  // role where an entity names it), but it still counts: the element holding
  // the reference is not built.
  void ErrorUnlessRejected(bool rejected, std::string path,
                           std::string message) {
    if (rejected) {
      ++unrepeated_errors_;
      return;
    }
    Error(std::move(path), std::move(message));
  }

  // The dense ids of a credential's entity restriction (empty: unrestricted).
  std::vector<uint32_t> CredentialEntities(const v1::Credential& credential,
                                           const std::string& path,
                                           uint32_t partner) {
    std::vector<uint32_t> entities;
    absl::flat_hash_set<uint32_t> listed;
    for (int j = 0; j < credential.entity_ids_size(); ++j) {
      const std::string& id = credential.entity_ids(j);
      const std::string entity_path =
          absl::StrCat(path, ".entity_ids[", j, "]");
      const uint32_t entity = tables_.entities.Find(0, id);
      if (entity == NameTable::kNotFound) {
        ErrorUnlessRejected(rejected_entities_.contains(id), entity_path,
                            absl::StrCat("unknown entity ", Quote(id)));
        continue;
      }
      if (partner != kNone && tables_.entity_partner[entity] != partner) {
        Error(entity_path,
              absl::StrCat(
                  "entity ", Quote(id), " belongs to partner ",
                  Quote(tables_.partners.name(tables_.entity_partner[entity])),
                  ", not ", Quote(credential.partner_id())));
        continue;
      }
      if (!listed.insert(entity).second) {
        Error(entity_path, absl::StrCat("duplicate entity ", Quote(id)));
        continue;
      }
      entities.push_back(entity);
    }
    return entities;
  }

  // Parses a credential's scopes into `row`: a 2-bit level per object type,
  // the highest of the type's own scope and `all`.
  void FoldScopes(const v1::Credential& credential, const std::string& path,
                  std::vector<uint64_t>& row) {
    if (credential.scopes().empty()) {
      Error(path + ".scopes", "a credential needs at least one scope");
      return;
    }
    if (static_cast<size_t>(credential.scopes_size()) >
        options_.max_scopes_per_credential) {
      Error(path + ".scopes",
            absl::StrCat(credential.scopes_size(), " scopes; the limit is ",
                         options_.max_scopes_per_credential));
      return;
    }
    const uint32_t type_count = tables_.object_types.size();
    std::vector<Scope> parsed;
    std::vector<int> parsed_at;
    uint32_t all_level = internal::kLevelNone;
    for (int j = 0; j < credential.scopes_size(); ++j) {
      const std::string scope_path = absl::StrCat(path, ".scopes[", j, "]");
      absl::StatusOr<Scope> scope = ParseScope(credential.scopes(j));
      if (!scope.ok()) {
        Error(scope_path, std::string(scope.status().message()));
        continue;
      }
      uint32_t type = kNone;
      if (!scope->all) {
        type = tables_.object_types.Find(0, scope->object_type);
        if (type == NameTable::kNotFound) {
          Error(scope_path,
                absl::StrCat("unknown object type ", Quote(scope->object_type),
                             " in scope ", Quote(credential.scopes(j))));
          continue;
        }
      }
      // Redundant, not wrong: the highest level applies (the fold below).
      for (size_t p = 0; p < parsed.size(); ++p) {
        if (parsed[p].SameTarget(*scope)) {
          Warn(scope_path,
               absl::StrCat(
                   "scope ", Quote(credential.scopes(j)), " ",
                   RedundantScopeWarning(
                       *scope, parsed[p],
                       absl::StrCat(Quote(parsed[p].ToString()), " at ", path,
                                    ".scopes[", parsed_at[p], "]"))));
          break;
        }
      }
      parsed.push_back(*scope);
      parsed_at.push_back(j);
      const uint32_t level = static_cast<uint32_t>(scope->level);
      if (scope->all) {
        all_level = std::max(all_level, level);
      } else {
        internal::Set2Bits(
            row.data(), type,
            std::max(level, internal::Get2Bits(row.data(), type)));
      }
    }
    if (all_level == internal::kLevelNone) return;
    for (uint32_t type = 0; type < type_count; ++type) {
      internal::Set2Bits(
          row.data(), type,
          std::max(all_level, internal::Get2Bits(row.data(), type)));
    }
  }

  const v1::PolicySet& policy_;
  const CompileOptions& options_;
  struct KeyedError {
    FieldKey key;
    PolicyError error;
  };
  std::vector<KeyedError> errors_;
  size_t dropped_errors_ = 0;
  size_t unrepeated_errors_ = 0;       // ErrorUnlessRejected's
  std::vector<PolicyError> warnings_;  // in the order found
  PolicyTables tables_;
  std::vector<int> entity_input_;  // dense entity -> index in policy.entities
  std::vector<int> role_input_;    // dense role -> index in policy.roles
  // Ids of roles and entities refused with an error of their own, and the
  // partners of those entities: a reference to one is left unresolved without
  // a second, false "unknown" error (the policy is invalid either way).
  absl::flat_hash_set<std::string> rejected_roles_;
  absl::flat_hash_set<std::string> rejected_entities_;
  absl::flat_hash_set<std::string> rejected_partners_;
};

}  // namespace

std::string PolicyError::ToString() const {
  return absl::StrCat(path, ": ", message);
}

ValidationReport Validate(const v1::PolicySet& policy,
                          const CompileOptions& options) {
  PolicyCompiler compiler(policy, options);
  compiler.Run();
  return compiler.TakeReport();
}

absl::StatusOr<std::unique_ptr<const CompiledPolicy>> Compile(
    const v1::PolicySet& policy, const CompileOptions& options,
    std::vector<PolicyError>* warnings) {
  PolicyCompiler compiler(policy, options);
  compiler.Run();
  ValidationReport report = compiler.TakeReport();
  if (warnings != nullptr) *warnings = std::move(report.warnings);
  if (!report.ok()) {
    std::string message = absl::StrJoin(
        report.errors, "\n", [](std::string* out, const PolicyError& error) {
          absl::StrAppend(out, error.ToString());
        });
    if (report.more_errors > 0) {
      absl::StrAppend(&message, "\n(and ", report.more_errors, " more errors)");
    }
    return absl::InvalidArgumentError(message);
  }
  return CompiledPolicy::FromTables(compiler.TakeTables());
}

std::optional<std::unique_ptr<const CompiledPolicy>> CompileStreamed(
    const v1::PolicySet& rest, RoleStream& roles, const CompileOptions& options,
    std::vector<PolicyError>* warnings) {
  PolicyCompiler compiler(rest, options);
  if (!compiler.RunStreamed(roles)) return std::nullopt;
  ValidationReport report = compiler.TakeReport();
  if (warnings != nullptr) *warnings = std::move(report.warnings);
  return CompiledPolicy::FromTables(compiler.TakeTables());
}

}  // namespace portcullis
