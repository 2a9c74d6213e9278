// The flat tables a compiled policy consists of (docs/design.md, "Flat
// layout"). Built by the compiler, read by the evaluator, written and read by
// bundles. Not part of the public API.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_POLICY_TABLES_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_POLICY_TABLES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/snapshot/huge_pages.h"
#include "engine/snapshot/name_table.h"

namespace portcullis::internal {

inline constexpr uint32_t kNone = ~uint32_t{0};

// 2-bit permission codes in a role's row. Zero denies, so a zeroed row is a
// role that may do nothing.
inline constexpr uint32_t kPermNotAllowed = 0;
inline constexpr uint32_t kPermAllowed = 1;
inline constexpr uint32_t kPermAllowedForOwn = 2;

// 2-bit scope levels in a credential's row; zero grants nothing.
inline constexpr uint32_t kLevelNone = 0;
inline constexpr uint32_t kLevelRead = 1;
inline constexpr uint32_t kLevelWrite = 2;
inline constexpr uint32_t kLevelDelete = 3;

// 32 two-bit fields per 64-bit word.
inline constexpr uint32_t kFieldsPerWord = 32;
inline uint32_t WordsFor2BitFields(size_t fields) {
  return static_cast<uint32_t>((fields + kFieldsPerWord - 1) / kFieldsPerWord);
}
inline uint32_t Get2Bits(const uint64_t* row, uint32_t field) {
  return static_cast<uint32_t>(row[field / kFieldsPerWord] >>
                               (2 * (field % kFieldsPerWord))) &
         3u;
}
inline void Set2Bits(uint64_t* row, uint32_t field, uint32_t value) {
  const uint32_t shift = 2 * (field % kFieldsPerWord);
  uint64_t& word = row[field / kFieldsPerWord];
  word = (word & ~(uint64_t{3} << shift)) | (uint64_t{value} << shift);
}
// The names of the 2-bit codes, as explanations and diffs print them.
inline absl::string_view PermissionName(uint32_t code) {
  switch (code) {
    case kPermAllowed:
      return "allowed";
    case kPermAllowedForOwn:
      return "allowed_for_own";
    default:
      return "not_allowed";
  }
}
inline absl::string_view LevelName(uint32_t level) {
  switch (level) {
    case kLevelRead:
      return "read";
    case kLevelWrite:
      return "write";
    case kLevelDelete:
      return "delete";
    default:
      return "none";
  }
}

inline bool GetBit(const uint64_t* bits, uint32_t index) {
  return (bits[index / 64] >> (index % 64)) & 1u;
}

// One (object type, action) pair. `slot = type_base[object_type] + action`.
struct SlotInfo {
  uint32_t object_type;
  uint16_t action;       // index within the object type
  uint8_t level;         // kLevelRead..kLevelDelete
  uint8_t partner_only;  // 0 or 1
};
static_assert(sizeof(SlotInfo) == 8, "one slot is one 8-byte read");

struct RateLimitInfo {
  uint32_t count = 0;  // 0: no limit
  uint32_t interval_seconds = 0;
};

// Raw views of what a check reads, gathered into one cache line so that the
// hot path does no vector bookkeeping. Filled by CompiledPolicy from its
// (immutable) tables.
struct HotTables {
  const SlotInfo* slots = nullptr;
  const uint64_t* scope_rows = nullptr;
  const uint32_t* permissions = nullptr;
  // The credentials' restriction bitsets (PolicyTables::restriction_bits,
  // same offsets), then enough all-ones words for the largest partner's
  // range: a principal without a restriction points at those, so the tenant
  // rule reads a bit whatever the principal, without a branch.
  const uint64_t* tenant_bits = nullptr;
  // 64-bit, as the words compared with them: one compare with memory.
  uint64_t slot_count = 0;
  uint64_t entity_count = 0;
  uint32_t snapshot = 0;
  // `snapshot` << 32: an id read as one word (IdAccess::Word) XOR this is
  // its index when the id is this snapshot's, and at least 2^32 otherwise,
  // so one compare with a count checks both its tag and its bounds.
  uint64_t snapshot_word = 0;
};

struct PolicyTables {
  // Catalog. `actions` is indexed by slot; an action's name space is its type.
  NameTable object_types;
  NameTable actions;
  std::vector<uint32_t> type_base;  // size object_types + 1
  std::vector<SlotInfo> slots;

  // Partners and entities. Entities are numbered partner by partner, so a
  // partner's entities are the range [partner_entity_begin[p],
  // partner_entity_begin[p + 1]) and a restriction is a bitset over that range.
  NameTable partners;
  std::vector<uint32_t> partner_entity_begin;  // size partners + 1
  NameTable entities;
  std::vector<uint32_t> entity_partner;
  std::vector<uint32_t> entity_default_role;  // kNone: no default role

  // Roles. A role's permissions are a row of `row_words` 64-bit words of
  // 2-bit codes (32 slots a word), stored as word offsets: `permissions`
  // holds rows of `row_words` 32-bit offsets, each naming the 64-bit word at
  // that offset in `permissions` itself (two 32-bit halves, little-endian).
  // Each distinct word and each distinct row is stored once, and a new row's
  // new words are stored just before it, so that on all-distinct roles a
  // row and its own words share a cache line and a page. `role_row` is the
  // offset of a role's row. The row at offset 0 is all zeros, and offset 0
  // read as a word is zero: principals without a usable role read that row,
  // and deny. Read a permission with PermissionOf. (A role's display name is
  // not kept: nothing reads it.)
  NameTable roles;  // role ids
  // Huge pages when large (HugePageVector): a check entirely by names reads
  // them at random by role.
  HugePageVector<uint32_t> role_owner;  // entity, or kNone for a global role
  HugePageVector<uint32_t> role_row;
  uint32_t row_words = 0;             // words (word offsets) per permission row
  uint32_t permission_row_count = 0;  // distinct rows, row 0 included
  std::vector<uint32_t> permissions;

  // Credentials. Scope rows (a 2-bit level per object type, `all` folded in)
  // are deduplicated like permission rows; row 0 grants DELETE on everything
  // and serves principals without a credential.
  NameTable credentials;  // client ids
  PackedStrings credential_names;
  std::vector<uint32_t> credential_partner;
  std::vector<uint32_t> credential_scope_row;
  std::vector<uint32_t> credential_restriction;  // word offset, or kNone
  std::vector<RateLimitInfo> credential_rate_limit;
  std::vector<uint32_t> credential_scopes_begin;  // size credentials + 1
  PackedStrings credential_scopes;  // canonical scope strings, as written
  std::vector<uint32_t> credential_entities_begin;  // size credentials + 1
  std::vector<uint32_t> credential_entities;        // restriction, as listed
  uint32_t scope_words = 0;                         // words per scope row
  std::vector<uint64_t> scope_rows;
  std::vector<uint64_t> restriction_bits;

  // Bytes held by every table.
  size_t MemoryBytes() const;
  // Releases spare capacity once building is done.
  void ShrinkToFit();
};

// The permission of the role whose row is at `role_row` on `slot`: two
// dependent reads, the word's offset, then the word, whatever the policy's
// size. Every read of a permission goes through these (the check and with
// it the explanation, policy diffs), so that the row layout is known here,
// in the compiler that writes it and in the snapshot invariants that check
// it.
inline uint32_t PermissionOf(const uint32_t* permissions, uint32_t role_row,
                             uint32_t slot) {
  uint64_t word;
  std::memcpy(&word,
              permissions + permissions[role_row + slot / kFieldsPerWord],
              sizeof(word));
  return static_cast<uint32_t>(word >> (2 * (slot % kFieldsPerWord))) & 3u;
}
inline uint32_t PermissionOf(const HotTables& h, uint32_t role_row,
                             uint32_t slot) {
  return PermissionOf(h.permissions, role_row, slot);
}
inline uint32_t PermissionOf(const PolicyTables& t, uint32_t role_row,
                             uint32_t slot) {
  return PermissionOf(t.permissions.data(), role_row, slot);
}

// Every table of PolicyTables, described once: calls `f(name, table)` for
// each, in the order bundles store them, `tables` being a PolicyTables or a
// const one. Adding a table is one line here: the bundle format (a section
// per vector, an offsets and a chars section per string table, numbered in
// this order: engine/snapshot/bundle_format.cc), memory accounting and
// shrinking follow. The name is the one bundles and their errors give it.
template <typename Tables, typename F>
void ForEachTable(Tables& t, F&& f) {
  static_assert(std::is_same_v<std::remove_const_t<Tables>, PolicyTables>,
                "visits a PolicyTables");
  f("object_types", t.object_types);
  f("type_base", t.type_base);
  f("slots", t.slots);
  f("actions", t.actions);
  f("partners", t.partners);
  f("partner_entity_begin", t.partner_entity_begin);
  f("entities", t.entities);
  f("entity_partner", t.entity_partner);
  f("entity_default_role", t.entity_default_role);
  f("roles", t.roles);
  f("role_owner", t.role_owner);
  f("role_row", t.role_row);
  f("permissions", t.permissions);
  f("credentials", t.credentials);
  f("credential_names", t.credential_names);
  f("credential_partner", t.credential_partner);
  f("credential_scope_row", t.credential_scope_row);
  f("credential_restriction", t.credential_restriction);
  f("credential_rate_limit", t.credential_rate_limit);
  f("credential_scopes_begin", t.credential_scopes_begin);
  f("credential_scopes", t.credential_scopes);
  f("credential_entities_begin", t.credential_entities_begin);
  f("credential_entities", t.credential_entities);
  f("scope_rows", t.scope_rows);
  f("restriction_bits", t.restriction_bits);
}

// Bytes one table of ForEachTable holds (MemoryBytes sums them).
template <typename T, typename Allocator>
size_t TableBytes(const std::vector<T, Allocator>& v) {
  return v.capacity() * sizeof(T);
}
template <typename Table>
size_t TableBytes(const Table& table) {
  return table.MemoryBytes();
}

// The scalars of PolicyTables, in the order of a bundle's "scalars" section:
// calls `f(scalar)` for each.
template <typename Tables, typename F>
void ForEachScalar(Tables& t, F&& f) {
  static_assert(std::is_same_v<std::remove_const_t<Tables>, PolicyTables>,
                "visits a PolicyTables");
  f(t.row_words);
  f(t.scope_words);
  f(t.permission_row_count);
}

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_POLICY_TABLES_H_
