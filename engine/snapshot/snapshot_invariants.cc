#include "engine/snapshot/snapshot_invariants.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/common/status_macros.h"
#include "engine/snapshot/name_table.h"

namespace portcullis::internal {
namespace {

absl::Status Broken(absl::string_view what) {
  return absl::DataLossError(what);
}

// A range table (`begin[i]..begin[i+1]`): `size` ranges, starting at 0,
// never decreasing (strictly increasing when `nonempty`), ending at `end`.
absl::Status CheckRanges(absl::string_view name,
                         const std::vector<uint32_t>& begin, size_t size,
                         size_t end, bool nonempty) {
  if (begin.size() != size + 1) {
    return Broken(absl::StrCat(name, " has ", begin.size(),
                               " entries; expected ", size + 1));
  }
  if (begin[0] != 0) return Broken(absl::StrCat(name, " must start with 0"));
  for (size_t i = 0; i < size; ++i) {
    if (begin[i + 1] < begin[i] || (nonempty && begin[i + 1] == begin[i])) {
      return Broken(
          absl::StrCat(name, "[", i + 1, "] = ", begin[i + 1],
                       nonempty ? " is not greater than " : " is less than ",
                       name, "[", i, "] = ", begin[i]));
    }
  }
  if (begin[size] != end) {
    return Broken(
        absl::StrCat(name, " ends at ", begin[size], "; expected ", end));
  }
  return absl::OkStatus();
}

absl::Status CheckSize(absl::string_view name, size_t size, size_t expected) {
  if (size != expected) {
    return Broken(
        absl::StrCat(name, " has ", size, " entries; expected ", expected));
  }
  return absl::OkStatus();
}

absl::Status CheckNonEmptyNames(absl::string_view name,
                                const PackedStrings& strings) {
  for (uint32_t i = 0; i < strings.size(); ++i) {
    if (strings[i].empty()) {
      return Broken(absl::StrCat(name, "[", i, "] is empty"));
    }
  }
  return absl::OkStatus();
}

// The bits of the last word of a row of `words` words that hold one of its
// `fields` 2-bit fields.
uint64_t LastWordMask(size_t fields, uint32_t words) {
  const size_t used_in_last = fields - (words - 1) * size_t{kFieldsPerWord};
  return used_in_last >= kFieldsPerWord
             ? ~uint64_t{0}
             : (uint64_t{1} << (2 * used_in_last)) - 1;
}

// Rows of 2-bit fields, `words` words each: whole rows, and no bit set past
// `fields` in any row (rows are compared and deduplicated as words).
absl::Status CheckRows(absl::string_view name,
                       const std::vector<uint64_t>& rows, uint32_t words,
                       size_t fields) {
  if (rows.size() % words != 0) {
    return Broken(absl::StrCat(name, " has ", rows.size(),
                               " words, not a multiple of the row's ", words));
  }
  const uint64_t last_mask = LastWordMask(fields, words);
  for (size_t row = 0; row < rows.size() / words; ++row) {
    if ((rows[row * words + words - 1] & ~last_mask) != 0) {
      return Broken(absl::StrCat(name, " row ", row, " has bits set past its ",
                                 fields, " fields"));
    }
  }
  return absl::OkStatus();
}

// PolicyTables::permissions: row 0 at offset 0, all zeros (offset 0 read as
// a word is zero, so it denies everything); every role's row inside the
// table, and every word its row names inside it too, with no code 3 and no
// bit set past the last slot. A bundle's offsets are untrusted: the check
// reads the words they name without a bounds check. What no role's row
// names is never read.
absl::Status CheckPermissions(const PolicyTables& t, uint32_t words,
                              size_t slots) {
  const std::vector<uint32_t>& data = t.permissions;
  const size_t row_0 = std::max<size_t>(words, 2);
  if (data.size() < row_0) {
    return Broken(absl::StrCat("permissions holds ", data.size(),
                               " entries; the deny-all row 0 needs ", row_0));
  }
  for (size_t i = 0; i < row_0; ++i) {
    if (data[i] != 0) {
      return Broken(absl::StrCat("permission row 0 (entry ", i,
                                 ") is not zero; it must deny everything"));
    }
  }
  if (t.permission_row_count == 0 ||
      t.permission_row_count > size_t{t.roles.size()} + 1) {
    return Broken(absl::StrCat("permission_row_count is ",
                               t.permission_row_count, " for ", t.roles.size(),
                               " roles"));
  }
  const uint64_t last_mask = LastWordMask(slots, words);
  for (uint32_t role = 0; role < t.role_row.size(); ++role) {
    const uint32_t row = t.role_row[role];
    if (uint64_t{row} + words > data.size()) {
      return Broken(absl::StrCat("role ", role, ": row offset ", row, " + ",
                                 words, " is past the ", data.size(),
                                 " entries of permissions"));
    }
    for (uint32_t w = 0; w < words; ++w) {
      const uint32_t at = data[row + w];
      if (uint64_t{at} + 2 > data.size()) {
        return Broken(absl::StrCat("role ", role, ": word ", w, " at offset ",
                                   at, " is past the ", data.size(),
                                   " entries of permissions"));
      }
      const uint64_t word = uint64_t{data[at + 1]} << 32 | data[at];
      // A field of 3 (both bits set) is no permission.
      if ((word & (word >> 1) & 0x5555555555555555u) != 0) {
        return Broken(absl::StrCat("role ", role, ": word ", w, " at offset ",
                                   at, " holds an unknown permission code 3"));
      }
      if (w == words - 1 && (word & ~last_mask) != 0) {
        return Broken(absl::StrCat("role ", role, ": word ", w, " at offset ",
                                   at, " has bits set past its ", slots,
                                   " slots"));
      }
    }
  }
  return absl::OkStatus();
}

// A word offset of a row: aligned to rows and inside the table.
bool RowInRange(uint32_t offset, uint32_t words, size_t table_words) {
  return offset % words == 0 && uint64_t{offset} + words <= table_words;
}

}  // namespace

absl::Status CheckSnapshotInvariants(const PolicyTables& t) {
  const size_t types = t.object_types.size();
  const size_t slots = t.slots.size();
  const size_t partners = t.partners.size();
  const size_t entities = t.entities.size();
  const size_t roles = t.roles.size();
  const size_t credentials = t.credentials.size();
  absl::Status names;
  ForEachTable(t, [&](absl::string_view name, const auto& table) {
    if constexpr (std::is_same_v<std::decay_t<decltype(table)>, NameTable>) {
      if (names.ok()) names = CheckNonEmptyNames(name, table.names());
    }
  });
  PORTCULLIS_RETURN_IF_ERROR(names);

  // Catalog.
  PORTCULLIS_RETURN_IF_ERROR(
      CheckRanges("type_base", t.type_base, types, slots, /*nonempty=*/true));
  PORTCULLIS_RETURN_IF_ERROR(CheckSize("actions", t.actions.size(), slots));
  for (uint32_t type = 0; type < types; ++type) {
    for (uint32_t slot = t.type_base[type]; slot < t.type_base[type + 1];
         ++slot) {
      const SlotInfo& info = t.slots[slot];
      if (info.object_type != type || info.action != slot - t.type_base[type]) {
        return Broken(absl::StrCat("slot ", slot, " says object type ",
                                   info.object_type, " action ", info.action,
                                   "; type_base puts it at object type ", type,
                                   " action ", slot - t.type_base[type]));
      }
      if (info.level < kLevelRead || info.level > kLevelDelete ||
          info.partner_only > 1) {
        return Broken(absl::StrCat(
            "slot ", slot, " has level ", static_cast<int>(info.level),
            " and partner_only ", static_cast<int>(info.partner_only)));
      }
    }
  }
  const uint32_t row_words = std::max<uint32_t>(1, WordsFor2BitFields(slots));
  const uint32_t scope_words = std::max<uint32_t>(1, WordsFor2BitFields(types));
  if (t.row_words != row_words || t.scope_words != scope_words) {
    return Broken(absl::StrCat("rows of ", t.row_words, " and ", t.scope_words,
                               " words; ", slots, " actions and ", types,
                               " object types need ", row_words, " and ",
                               scope_words));
  }

  // Partners and entities.
  PORTCULLIS_RETURN_IF_ERROR(CheckRanges("partner_entity_begin",
                                         t.partner_entity_begin, partners,
                                         entities, /*nonempty=*/true));
  PORTCULLIS_RETURN_IF_ERROR(
      CheckSize("entity_partner", t.entity_partner.size(), entities));
  PORTCULLIS_RETURN_IF_ERROR(
      CheckSize("entity_default_role", t.entity_default_role.size(), entities));
  for (uint32_t partner = 0; partner < partners; ++partner) {
    for (uint32_t e = t.partner_entity_begin[partner];
         e < t.partner_entity_begin[partner + 1]; ++e) {
      if (t.entity_partner[e] != partner) {
        return Broken(absl::StrCat("entity ", e, " says partner ",
                                   t.entity_partner[e],
                                   "; partner_entity_begin says ", partner));
      }
    }
  }

  // Roles.
  PORTCULLIS_RETURN_IF_ERROR(
      CheckSize("role_owner", t.role_owner.size(), roles));
  PORTCULLIS_RETURN_IF_ERROR(CheckSize("role_row", t.role_row.size(), roles));
  PORTCULLIS_RETURN_IF_ERROR(CheckPermissions(t, row_words, slots));
  for (uint32_t role = 0; role < roles; ++role) {
    if (t.role_owner[role] != kNone && t.role_owner[role] >= entities) {
      return Broken(absl::StrCat("role ", role, " is owned by entity ",
                                 t.role_owner[role], " of ", entities));
    }
  }
  for (uint32_t e = 0; e < entities; ++e) {
    const uint32_t role = t.entity_default_role[e];
    if (role == kNone) continue;
    if (role >= roles) {
      return Broken(
          absl::StrCat("entity ", e, ": default role ", role, " of ", roles));
    }
    if (t.role_owner[role] != kNone && t.role_owner[role] != e) {
      return Broken(absl::StrCat("entity ", e, ": default role ", role,
                                 " is owned by entity ", t.role_owner[role]));
    }
  }

  // Credentials.
  for (const auto& [name, size] :
       {std::pair<absl::string_view, size_t>{"credential_names",
                                             t.credential_names.size()},
        {"credential_partner", t.credential_partner.size()},
        {"credential_scope_row", t.credential_scope_row.size()},
        {"credential_restriction", t.credential_restriction.size()},
        {"credential_rate_limit", t.credential_rate_limit.size()}}) {
    PORTCULLIS_RETURN_IF_ERROR(CheckSize(name, size, credentials));
  }
  PORTCULLIS_RETURN_IF_ERROR(
      CheckRanges("credential_scopes_begin", t.credential_scopes_begin,
                  credentials, t.credential_scopes.size(), /*nonempty=*/false));
  PORTCULLIS_RETURN_IF_ERROR(CheckRanges(
      "credential_entities_begin", t.credential_entities_begin, credentials,
      t.credential_entities.size(), /*nonempty=*/false));
  PORTCULLIS_RETURN_IF_ERROR(
      CheckRows("scope_rows", t.scope_rows, scope_words, types));
  // Row 0 serves principals without a credential: DELETE on everything.
  if (t.scope_rows.empty()) return Broken("scope_rows has no row 0");
  for (uint32_t type = 0; type < types; ++type) {
    if (Get2Bits(t.scope_rows.data(), type) != kLevelDelete) {
      return Broken(absl::StrCat(
          "scope row 0 must grant delete on every object type; object type ",
          type, " gets level ", Get2Bits(t.scope_rows.data(), type)));
    }
  }
  std::vector<uint64_t> expected_bits;
  for (uint32_t c = 0; c < credentials; ++c) {
    const uint32_t partner = t.credential_partner[c];
    if (partner >= partners) {
      return Broken(absl::StrCat("credential ", c, ": partner ", partner,
                                 " of ", partners));
    }
    if (!RowInRange(t.credential_scope_row[c], scope_words,
                    t.scope_rows.size())) {
      return Broken(absl::StrCat("credential ", c, ": scope row offset ",
                                 t.credential_scope_row[c], " + ", scope_words,
                                 " words is not a row of the ",
                                 t.scope_rows.size(), " words of scope_rows"));
    }
    const RateLimitInfo limit = t.credential_rate_limit[c];
    if ((limit.count == 0) != (limit.interval_seconds == 0)) {
      return Broken(absl::StrCat("credential ", c, ": rate limit of ",
                                 limit.count, " per ", limit.interval_seconds,
                                 " seconds (both or neither must be 0)"));
    }
    const uint32_t begin = t.partner_entity_begin[partner];
    const uint32_t span = t.partner_entity_begin[partner + 1] - begin;
    const uint32_t listed_begin = t.credential_entities_begin[c];
    const uint32_t listed_end = t.credential_entities_begin[c + 1];
    const uint32_t restriction = t.credential_restriction[c];
    if ((restriction == kNone) != (listed_begin == listed_end)) {
      return Broken(absl::StrCat(
          "credential ", c, " lists ", listed_end - listed_begin,
          " entities but ",
          restriction == kNone ? "has no restriction" : "has a restriction"));
    }
    if (restriction == kNone) continue;
    const uint32_t words = (span + 63) / 64;
    if (uint64_t{restriction} + words > t.restriction_bits.size()) {
      return Broken(absl::StrCat("credential ", c, ": restriction at word ",
                                 restriction, " + ", words, " is past the ",
                                 t.restriction_bits.size(),
                                 " words of restriction_bits"));
    }
    expected_bits.assign(words, 0);
    for (uint32_t i = listed_begin; i < listed_end; ++i) {
      const uint32_t e = t.credential_entities[i];
      if (e < begin || e - begin >= span) {
        return Broken(absl::StrCat("credential ", c, " lists entity ", e,
                                   ", not one of its partner's"));
      }
      uint64_t& word = expected_bits[(e - begin) / 64];
      const uint64_t bit = uint64_t{1} << ((e - begin) % 64);
      if ((word & bit) != 0) {
        return Broken(
            absl::StrCat("credential ", c, " lists entity ", e, " twice"));
      }
      word |= bit;
    }
    if (!std::equal(expected_bits.begin(), expected_bits.end(),
                    t.restriction_bits.begin() + restriction)) {
      return Broken(absl::StrCat(
          "credential ", c,
          ": restriction bits do not match the entities it lists"));
    }
  }
  return absl::OkStatus();
}

}  // namespace portcullis::internal
