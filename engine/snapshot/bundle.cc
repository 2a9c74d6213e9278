#include "engine/snapshot/bundle.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/common/quote.h"
#include "engine/common/status_macros.h"
#include "engine/snapshot/name_table.h"
#include "engine/snapshot/policy_tables.h"

// Sections are copied between memory and the file as they are.
#if !defined(ABSL_IS_LITTLE_ENDIAN)
#error "bundles are little-endian; this loader copies sections as they lie"
#endif

namespace portcullis {
namespace {

using internal::kNone;
using internal::NameTable;
using internal::PackedStrings;
using internal::PolicyTables;

// 0x89 and the line endings catch a file mangled by a text-mode transfer, as
// PNG's signature does.
constexpr char kMagic[8] = {'\x89', 'P', 'C', 'B', '\r', '\n', '\x1a', '\n'};
constexpr uint32_t kFlagKeyed = 1;
constexpr size_t kDigestedHeaderBytes = 32;  // the digest covers these
constexpr size_t kSectionHeaderBytes = 16;
constexpr size_t kAlign = 8;

// The body: a "scalars" section (ForEachScalar), then the tables in
// ForEachTable order (engine/snapshot/policy_tables.h), numbered from 1 in
// the order they appear: one section per vector, two per string table (its
// offsets, then its chars, named "<table>.offsets" and "<table>.chars"). Name
// tables are stored as their strings only: the name spaces are all zero
// except the actions', which are the slots' object types, so the loader
// derives them.
constexpr absl::string_view kScalarsSection = "scalars";

void InitSodium() {
  // sodium_init() picks the fastest BLAKE2b implementation for the CPU; it is
  // thread-safe and idempotent. Its only failure (no entropy source) does not
  // affect hashing, which falls back to the portable implementation.
  static const int initialized = sodium_init();
  (void)initialized;
}

// Where serialized bytes go: a string, a hash, or only a count.
class StringSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  void Append(const void* data, size_t size) {
    out_->append(static_cast<const char*>(data), size);
  }

 private:
  std::string* out_;
};

class HashSink {
 public:
  explicit HashSink(crypto_generichash_state* state) : state_(state) {}
  void Append(const void* data, size_t size) {
    if (size == 0) return;
    crypto_generichash_update(state_, static_cast<const unsigned char*>(data),
                              size);
  }

 private:
  crypto_generichash_state* state_;
};

class CountingSink {
 public:
  void Append(const void*, size_t size) { bytes_ += size; }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_ = 0;
};

template <typename Sink>
class BodyWriter {
 public:
  explicit BodyWriter(Sink& sink) : sink_(sink) {}

  template <typename T>
  void Put(const T* data, size_t count) {
    static_assert(std::is_trivially_copyable<T>::value, "copied as bytes");
    char header[kSectionHeaderBytes];
    const uint32_t id = ++sections_;
    const uint32_t element_bytes = sizeof(T);
    const uint64_t count64 = count;
    std::memcpy(header, &id, 4);
    std::memcpy(header + 4, &element_bytes, 4);
    std::memcpy(header + 8, &count64, 8);
    sink_.Append(header, sizeof(header));
    const size_t bytes = count * sizeof(T);
    sink_.Append(data, bytes);
    static constexpr char kZeros[kAlign] = {};
    if (bytes % kAlign != 0) sink_.Append(kZeros, kAlign - bytes % kAlign);
  }
  template <typename T>
  void Put(const std::vector<T>& values) {
    Put(values.data(), values.size());
  }
  void Put(absl::string_view chars) { Put(chars.data(), chars.size()); }
  void Put(const PackedStrings& strings) {
    Put(strings.offsets());
    Put(strings.chars());
  }
  void Put(const NameTable& table) { Put(table.names()); }

  uint32_t sections() const { return sections_; }

 private:
  Sink& sink_;
  uint32_t sections_ = 0;
};

// Writes every table in section order; returns the number of sections.
template <typename Sink>
uint32_t WriteBody(const PolicyTables& t, Sink& sink) {
  BodyWriter<Sink> w(sink);
  std::vector<uint32_t> scalars;
  internal::ForEachScalar(t, [&](uint32_t value) { scalars.push_back(value); });
  w.Put(scalars);
  internal::ForEachTable(
      t, [&](absl::string_view, const auto& table) { w.Put(table); });
  return w.sections();
}

// The first 32 header bytes (the digest follows them).
std::string HeaderPrefix(bool keyed, uint64_t body_bytes, uint32_t sections) {
  std::string header(kDigestedHeaderBytes, '\0');
  const uint32_t version = kBundleFormatVersion;
  const uint32_t flags = keyed ? kFlagKeyed : 0;
  std::memcpy(&header[0], kMagic, 8);
  std::memcpy(&header[8], &version, 4);
  std::memcpy(&header[12], &flags, 4);
  std::memcpy(&header[16], &body_bytes, 8);
  std::memcpy(&header[24], &sections, 4);
  // Bytes 28..31 are reserved and zero.
  return header;
}

absl::Status CheckKey(const BundleOptions& options) {
  if (!options.key.empty() && options.key.size() != kBundleKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a bundle key is ", kBundleKeyBytes, " bytes; got ",
                     options.key.size()));
  }
  return absl::OkStatus();
}

// BLAKE2b-256 of the digested header bytes and the body, keyed when `key` is
// not empty.
PolicyDigest Digest(absl::string_view header_prefix, absl::string_view body,
                    absl::string_view key) {
  InitSodium();
  crypto_generichash_state state;
  crypto_generichash_init(&state,
                          reinterpret_cast<const unsigned char*>(key.data()),
                          key.size(), 32);
  HashSink sink(&state);
  sink.Append(header_prefix.data(), header_prefix.size());
  sink.Append(body.data(), body.size());
  PolicyDigest digest;
  crypto_generichash_final(&state, digest.bytes.data(), digest.bytes.size());
  return digest;
}

absl::Status Inconsistent(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("inconsistent bundle: ", what));
}

// Reads sections in order, each checked for its id, element size, bounds and
// zero padding, and copies them out.
class BodyReader {
 public:
  explicit BodyReader(absl::string_view body) : rest_(body) {}

  template <typename T>
  absl::Status Read(absl::string_view name, std::vector<T>& out) {
    absl::string_view data;
    PORTCULLIS_RETURN_IF_ERROR(Next(name, sizeof(T), data));
    out.resize(data.size() / sizeof(T));
    if (!data.empty()) std::memcpy(out.data(), data.data(), data.size());
    return absl::OkStatus();
  }

  absl::Status Read(absl::string_view name, std::string& out) {
    absl::string_view data;
    PORTCULLIS_RETURN_IF_ERROR(Next(name, 1, data));
    // Constructed, not assigned: assign() would round the capacity up, and a
    // loaded policy's memory must be the compiled one's.
    out = std::string(data.data(), data.size());
    return absl::OkStatus();
  }

  // Strings stored back to back, in sections "<table>.offsets" and
  // "<table>.chars": offsets start at 0, never decrease and end at the size
  // of the characters.
  absl::Status Read(absl::string_view table, PackedStrings& out) {
    const std::string name = absl::StrCat(table, ".offsets");
    std::vector<uint32_t> offsets;
    std::string chars;
    PORTCULLIS_RETURN_IF_ERROR(Read(name, offsets));
    PORTCULLIS_RETURN_IF_ERROR(Read(absl::StrCat(table, ".chars"), chars));
    if (offsets.empty() || offsets[0] != 0) {
      return Inconsistent(absl::StrCat(name, " must start with 0"));
    }
    for (size_t i = 1; i < offsets.size(); ++i) {
      if (offsets[i] < offsets[i - 1]) {
        return Inconsistent(absl::StrCat(name, "[", i, "] = ", offsets[i],
                                         " is less than the offset before it, ",
                                         offsets[i - 1]));
      }
    }
    if (offsets.back() != chars.size()) {
      return Inconsistent(absl::StrCat(name, " ends at ", offsets.back(),
                                       " but there are ", chars.size(),
                                       " characters"));
    }
    out = PackedStrings::FromParts(std::move(chars), std::move(offsets));
    return absl::OkStatus();
  }

  // A name table's strings, not yet indexed (NameTable::SetNames).
  absl::Status Read(absl::string_view table, NameTable& out) {
    PackedStrings names;
    PORTCULLIS_RETURN_IF_ERROR(Read(table, names));
    out.SetNames(std::move(names));
    return absl::OkStatus();
  }

  // After the last section: nothing may follow it, and the header must have
  // announced as many sections as were read.
  absl::Status Finish(uint32_t announced) const {
    if (!rest_.empty()) {
      return absl::DataLossError(absl::StrCat(
          "malformed bundle: ", rest_.size(), " bytes after the last section"));
    }
    if (announced != sections_) {
      return absl::DataLossError(
          absl::StrCat("malformed bundle: the header announces ", announced,
                       " sections; format version ", kBundleFormatVersion,
                       " has ", sections_));
    }
    return absl::OkStatus();
  }

 private:
  // The next section, which must be number sections_ + 1, called `name`.
  absl::Status Next(absl::string_view name, uint32_t element_bytes,
                    absl::string_view& data) {
    const uint32_t id = ++sections_;
    const std::string where = absl::StrCat("section ", id, " (", name, ")");
    if (rest_.size() < kSectionHeaderBytes) {
      return absl::DataLossError(
          absl::StrCat("malformed bundle: ", where, " is missing"));
    }
    uint32_t found_id;
    uint32_t found_bytes;
    uint64_t count;
    std::memcpy(&found_id, rest_.data(), 4);
    std::memcpy(&found_bytes, rest_.data() + 4, 4);
    std::memcpy(&count, rest_.data() + 8, 8);
    rest_.remove_prefix(kSectionHeaderBytes);
    if (found_id != id) {
      return absl::DataLossError(absl::StrCat("malformed bundle: expected ",
                                              where, ", found id ", found_id));
    }
    if (found_bytes != element_bytes) {
      return absl::DataLossError(
          absl::StrCat("malformed bundle: ", where, " has ", found_bytes,
                       "-byte elements; expected ", element_bytes));
    }
    // Indices are 32-bit with kNone reserved; and no count may promise more
    // bytes than remain (so a lying count never allocates).
    if (count >= kNone || count > rest_.size() / element_bytes) {
      return absl::DataLossError(absl::StrCat("malformed bundle: ", where,
                                              " claims ", count, " elements; ",
                                              rest_.size(), " bytes remain"));
    }
    const size_t bytes = static_cast<size_t>(count) * element_bytes;
    const size_t padded = (bytes + kAlign - 1) / kAlign * kAlign;
    if (padded > rest_.size()) {
      return absl::DataLossError(
          absl::StrCat("malformed bundle: ", where, " is missing its padding"));
    }
    for (size_t i = bytes; i < padded; ++i) {
      if (rest_[i] != '\0') {
        return absl::DataLossError(
            absl::StrCat("malformed bundle: ", where, " has non-zero padding"));
      }
    }
    data = rest_.substr(0, bytes);
    rest_.remove_prefix(padded);
    return absl::OkStatus();
  }

  absl::string_view rest_;
  uint32_t sections_ = 0;  // read so far
};

// A range table (`begin[i]..begin[i+1]`): `size` ranges, starting at 0,
// never decreasing (strictly increasing when `nonempty`), ending at `end`.
absl::Status CheckRanges(absl::string_view name,
                         const std::vector<uint32_t>& begin, size_t size,
                         size_t end, bool nonempty) {
  if (begin.size() != size + 1) {
    return Inconsistent(absl::StrCat(name, " has ", begin.size(),
                                     " entries; expected ", size + 1));
  }
  if (begin[0] != 0)
    return Inconsistent(absl::StrCat(name, " must start with 0"));
  for (size_t i = 0; i < size; ++i) {
    if (begin[i + 1] < begin[i] || (nonempty && begin[i + 1] == begin[i])) {
      return Inconsistent(
          absl::StrCat(name, "[", i + 1, "] = ", begin[i + 1],
                       nonempty ? " is not greater than " : " is less than ",
                       name, "[", i, "] = ", begin[i]));
    }
  }
  if (begin[size] != end) {
    return Inconsistent(
        absl::StrCat(name, " ends at ", begin[size], "; expected ", end));
  }
  return absl::OkStatus();
}

absl::Status CheckSize(absl::string_view name, size_t size, size_t expected) {
  if (size != expected) {
    return Inconsistent(
        absl::StrCat(name, " has ", size, " entries; expected ", expected));
  }
  return absl::OkStatus();
}

absl::Status CheckNonEmptyNames(absl::string_view name,
                                const PackedStrings& strings) {
  for (uint32_t i = 0; i < strings.size(); ++i) {
    if (strings[i].empty()) {
      return Inconsistent(absl::StrCat(name, "[", i, "] is empty"));
    }
  }
  return absl::OkStatus();
}

// Rows of 2-bit fields, `words` words each: whole rows, and no bit set past
// `fields` in any row (rows are compared and deduplicated as words).
absl::Status CheckRows(absl::string_view name,
                       const std::vector<uint64_t>& rows, uint32_t words,
                       size_t fields) {
  if (rows.size() % words != 0) {
    return Inconsistent(absl::StrCat(name, " has ", rows.size(),
                                     " words, not a multiple of the row's ",
                                     words));
  }
  const size_t used_in_last = fields - (words - 1) * size_t{32};
  const uint64_t last_mask = used_in_last >= 32
                                 ? ~uint64_t{0}
                                 : (uint64_t{1} << (2 * used_in_last)) - 1;
  for (size_t row = 0; row < rows.size() / words; ++row) {
    if ((rows[row * words + words - 1] & ~last_mask) != 0) {
      return Inconsistent(absl::StrCat(
          name, " row ", row, " has bits set past its ", fields, " fields"));
    }
  }
  return absl::OkStatus();
}

// A word offset of a row: aligned to rows and inside the table.
bool RowInRange(uint32_t offset, uint32_t words, size_t table_words) {
  return offset % words == 0 && uint64_t{offset} + words <= table_words;
}

// Every invariant the evaluator, the name lookups and the binders rely on.
// The name tables may not be indexed yet (NameTable::SetNames).
absl::Status CheckTables(const PolicyTables& t) {
  const size_t types = t.object_types.size();
  const size_t slots = t.slots.size();
  const size_t partners = t.partners.size();
  const size_t entities = t.entities.size();
  const size_t roles = t.roles.size();
  const size_t credentials = t.credentials.size();
  absl::Status names;
  internal::ForEachTable(t, [&](absl::string_view name, const auto& table) {
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
      const internal::SlotInfo& info = t.slots[slot];
      if (info.object_type != type || info.action != slot - t.type_base[type]) {
        return Inconsistent(absl::StrCat(
            "slot ", slot, " says object type ", info.object_type, " action ",
            info.action, "; type_base puts it at object type ", type,
            " action ", slot - t.type_base[type]));
      }
      if (info.level < internal::kLevelRead ||
          info.level > internal::kLevelDelete || info.partner_only > 1) {
        return Inconsistent(absl::StrCat(
            "slot ", slot, " has level ", static_cast<int>(info.level),
            " and partner_only ", static_cast<int>(info.partner_only)));
      }
    }
  }
  const uint32_t row_words =
      std::max<uint32_t>(1, internal::WordsFor2BitFields(slots));
  const uint32_t scope_words =
      std::max<uint32_t>(1, internal::WordsFor2BitFields(types));
  if (t.row_words != row_words || t.scope_words != scope_words) {
    return Inconsistent(
        absl::StrCat("rows of ", t.row_words, " and ", t.scope_words,
                     " words; ", slots, " actions and ", types,
                     " object types need ", row_words, " and ", scope_words));
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
        return Inconsistent(
            absl::StrCat("entity ", e, " says partner ", t.entity_partner[e],
                         "; partner_entity_begin says ", partner));
      }
    }
  }

  // Roles.
  PORTCULLIS_RETURN_IF_ERROR(
      CheckSize("role_names", t.role_names.size(), roles));
  PORTCULLIS_RETURN_IF_ERROR(
      CheckSize("role_owner", t.role_owner.size(), roles));
  PORTCULLIS_RETURN_IF_ERROR(CheckSize("role_row", t.role_row.size(), roles));
  PORTCULLIS_RETURN_IF_ERROR(
      CheckRows("permission_rows", t.permission_rows, row_words, slots));
  for (size_t w = 0; w < t.permission_rows.size(); ++w) {
    // A field of 3 (both bits set) is no permission.
    const uint64_t word = t.permission_rows[w];
    if ((word & (word >> 1) & 0x5555555555555555u) != 0) {
      return Inconsistent(absl::StrCat("permission_rows word ", w,
                                       " holds an unknown permission code 3"));
    }
  }
  // Principals without a usable role read row 0, so it must deny everything:
  // a bundle whose row 0 grants anything would grant it to them.
  if (t.permission_rows.size() < row_words) {
    return Inconsistent(
        absl::StrCat("permission_rows holds ", t.permission_rows.size(),
                     " words; the deny-all row 0 needs ", row_words));
  }
  for (uint32_t w = 0; w < row_words; ++w) {
    if (t.permission_rows[w] != 0) {
      return Inconsistent(absl::StrCat("permission row 0 (word ", w,
                                       ") grants permissions; it must deny "
                                       "everything"));
    }
  }
  for (uint32_t role = 0; role < roles; ++role) {
    if (t.role_owner[role] != kNone && t.role_owner[role] >= entities) {
      return Inconsistent(absl::StrCat("role ", role, " is owned by entity ",
                                       t.role_owner[role], " of ", entities));
    }
    if (!RowInRange(t.role_row[role], row_words, t.permission_rows.size())) {
      return Inconsistent(
          absl::StrCat("role ", role, ": row offset ", t.role_row[role], " + ",
                       row_words, " words is not a row of the ",
                       t.permission_rows.size(), " words of permission_rows"));
    }
  }
  for (uint32_t e = 0; e < entities; ++e) {
    const uint32_t role = t.entity_default_role[e];
    if (role == kNone) continue;
    if (role >= roles) {
      return Inconsistent(
          absl::StrCat("entity ", e, ": default role ", role, " of ", roles));
    }
    if (t.role_owner[role] != kNone && t.role_owner[role] != e) {
      return Inconsistent(absl::StrCat("entity ", e, ": default role ", role,
                                       " is owned by entity ",
                                       t.role_owner[role]));
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
  if (t.scope_rows.empty()) return Inconsistent("scope_rows has no row 0");
  for (uint32_t type = 0; type < types; ++type) {
    if (internal::Get2Bits(t.scope_rows.data(), type) !=
        internal::kLevelDelete) {
      return Inconsistent(absl::StrCat(
          "scope row 0 must grant delete on every object type; object type ",
          type, " gets level ", internal::Get2Bits(t.scope_rows.data(), type)));
    }
  }
  std::vector<uint64_t> expected_bits;
  for (uint32_t c = 0; c < credentials; ++c) {
    const uint32_t partner = t.credential_partner[c];
    if (partner >= partners) {
      return Inconsistent(absl::StrCat("credential ", c, ": partner ", partner,
                                       " of ", partners));
    }
    if (!RowInRange(t.credential_scope_row[c], scope_words,
                    t.scope_rows.size())) {
      return Inconsistent(absl::StrCat(
          "credential ", c, ": scope row offset ", t.credential_scope_row[c],
          " + ", scope_words, " words is not a row of the ",
          t.scope_rows.size(), " words of scope_rows"));
    }
    const internal::RateLimitInfo limit = t.credential_rate_limit[c];
    if ((limit.count == 0) != (limit.interval_seconds == 0)) {
      return Inconsistent(absl::StrCat(
          "credential ", c, ": rate limit of ", limit.count, " per ",
          limit.interval_seconds, " seconds (both or neither must be 0)"));
    }
    const uint32_t begin = t.partner_entity_begin[partner];
    const uint32_t span = t.partner_entity_begin[partner + 1] - begin;
    const uint32_t listed_begin = t.credential_entities_begin[c];
    const uint32_t listed_end = t.credential_entities_begin[c + 1];
    const uint32_t restriction = t.credential_restriction[c];
    if ((restriction == kNone) != (listed_begin == listed_end)) {
      return Inconsistent(absl::StrCat(
          "credential ", c, " lists ", listed_end - listed_begin,
          " entities but ",
          restriction == kNone ? "has no restriction" : "has a restriction"));
    }
    if (restriction == kNone) continue;
    const uint32_t words = (span + 63) / 64;
    if (uint64_t{restriction} + words > t.restriction_bits.size()) {
      return Inconsistent(
          absl::StrCat("credential ", c, ": restriction at word ", restriction,
                       " + ", words, " is past the ", t.restriction_bits.size(),
                       " words of restriction_bits"));
    }
    expected_bits.assign(words, 0);
    for (uint32_t i = listed_begin; i < listed_end; ++i) {
      const uint32_t e = t.credential_entities[i];
      if (e < begin || e - begin >= span) {
        return Inconsistent(absl::StrCat("credential ", c, " lists entity ", e,
                                         ", not one of its partner's"));
      }
      uint64_t& word = expected_bits[(e - begin) / 64];
      const uint64_t bit = uint64_t{1} << ((e - begin) % 64);
      if ((word & bit) != 0) {
        return Inconsistent(
            absl::StrCat("credential ", c, " lists entity ", e, " twice"));
      }
      word |= bit;
    }
    if (!std::equal(expected_bits.begin(), expected_bits.end(),
                    t.restriction_bits.begin() + restriction)) {
      return Inconsistent(absl::StrCat(
          "credential ", c,
          ": restriction bits do not match the entities it lists"));
    }
  }
  return absl::OkStatus();
}

// Indexes a loaded name table (NameTable::Index); DataLoss naming the first
// duplicate.
absl::Status IndexNames(absl::string_view name, std::vector<uint32_t> spaces,
                        NameTable& table) {
  const uint32_t duplicate = table.Index(std::move(spaces));
  if (duplicate != NameTable::kNotFound) {
    return Inconsistent(absl::StrCat(
        name, "[", duplicate, "] = ", internal::Quote(table.name(duplicate)),
        " repeats an earlier name"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PolicyTables> ReadBody(absl::string_view body,
                                      uint32_t sections) {
  BodyReader r(body);
  PolicyTables t;
  std::vector<uint32_t> scalars;
  PORTCULLIS_RETURN_IF_ERROR(r.Read(kScalarsSection, scalars));
  size_t expected = 0;
  internal::ForEachScalar(t, [&](uint32_t) { ++expected; });
  if (scalars.size() != expected) {
    return Inconsistent(absl::StrCat("scalars has ", scalars.size(),
                                     " entries; expected ", expected));
  }
  size_t next = 0;
  internal::ForEachScalar(t, [&](uint32_t& value) { value = scalars[next++]; });
  absl::Status status;
  internal::ForEachTable(t, [&](absl::string_view name, auto& table) {
    if (status.ok()) status = r.Read(name, table);
  });
  PORTCULLIS_RETURN_IF_ERROR(status);
  PORTCULLIS_RETURN_IF_ERROR(r.Finish(sections));

  PORTCULLIS_RETURN_IF_ERROR(CheckTables(t));

  // Only actions have name spaces: their object types. Every other table's
  // names share name space 0.
  std::vector<uint32_t> action_spaces(t.slots.size());
  for (size_t slot = 0; slot < t.slots.size(); ++slot) {
    action_spaces[slot] = t.slots[slot].object_type;
  }
  internal::ForEachTable(t, [&](absl::string_view name, auto& table) {
    if constexpr (std::is_same_v<std::decay_t<decltype(table)>, NameTable>) {
      if (status.ok()) {
        status = IndexNames(name,
                            &table == &t.actions
                                ? std::move(action_spaces)
                                : std::vector<uint32_t>(table.size(), 0),
                            table);
      }
    }
  });
  PORTCULLIS_RETURN_IF_ERROR(status);
  return t;
}

// Header fields, checked for shape only.
absl::StatusOr<BundleInfo> ReadHeader(absl::string_view bytes) {
  if (bytes.size() < kBundleHeaderBytes) {
    return absl::DataLossError(absl::StrCat(
        "truncated bundle: ", bytes.size(), " bytes, less than the ",
        kBundleHeaderBytes, "-byte header"));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError(
        "not a Portcullis bundle: wrong magic number");
  }
  BundleInfo info;
  uint32_t flags;
  std::memcpy(&info.format_version, bytes.data() + 8, 4);
  std::memcpy(&flags, bytes.data() + 12, 4);
  std::memcpy(&info.body_bytes, bytes.data() + 16, 8);
  std::memcpy(&info.sections, bytes.data() + 24, 4);
  std::memcpy(info.digest.bytes.data(), bytes.data() + kDigestedHeaderBytes,
              info.digest.bytes.size());
  info.keyed = (flags & kFlagKeyed) != 0;
  return info;
}

}  // namespace

std::string PolicyDigest::ToHex() const {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

PolicyDigest DigestOf(const CompiledPolicy& policy) {
  const PolicyTables& t = policy.tables();
  CountingSink counter;
  const uint32_t sections = WriteBody(t, counter);
  const std::string header = HeaderPrefix(false, counter.bytes(), sections);
  InitSodium();
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 32);
  HashSink sink(&state);
  sink.Append(header.data(), header.size());
  WriteBody(t, sink);
  PolicyDigest digest;
  crypto_generichash_final(&state, digest.bytes.data(), digest.bytes.size());
  return digest;
}

absl::StatusOr<std::string> SerializeBundle(const CompiledPolicy& policy,
                                            const BundleOptions& options) {
  PORTCULLIS_RETURN_IF_ERROR(CheckKey(options));
  const PolicyTables& t = policy.tables();
  CountingSink counter;
  const uint32_t sections = WriteBody(t, counter);
  const bool keyed = !options.key.empty();
  std::string out = HeaderPrefix(keyed, counter.bytes(), sections);
  out.reserve(kBundleHeaderBytes + counter.bytes());
  out.append(kBundleHeaderBytes - kDigestedHeaderBytes, '\0');  // the digest
  StringSink sink(&out);
  WriteBody(t, sink);
  const absl::string_view bytes = out;
  const PolicyDigest digest =
      Digest(bytes.substr(0, kDigestedHeaderBytes),
             bytes.substr(kBundleHeaderBytes), options.key);
  std::memcpy(&out[kDigestedHeaderBytes], digest.bytes.data(),
              digest.bytes.size());
  return out;
}

absl::StatusOr<BundleInfo> ParseBundleHeader(absl::string_view bytes) {
  return ReadHeader(bytes);
}

absl::StatusOr<std::unique_ptr<const CompiledPolicy>> ParseBundle(
    absl::string_view bytes, const BundleOptions& options) {
  PORTCULLIS_ASSIGN_OR_RETURN(const BundleInfo info, ReadHeader(bytes));
  if (info.format_version != kBundleFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported bundle format version ", info.format_version,
                     "; this build reads version ", kBundleFormatVersion));
  }
  uint32_t flags;
  uint32_t reserved;
  std::memcpy(&flags, bytes.data() + 12, 4);
  std::memcpy(&reserved, bytes.data() + 28, 4);
  if ((flags & ~kFlagKeyed) != 0 || reserved != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown bundle flags 0x", absl::Hex(flags & ~kFlagKeyed),
                     reserved != 0 ? " and a non-zero reserved field" : ""));
  }
  const uint64_t present = bytes.size() - kBundleHeaderBytes;
  if (info.body_bytes > present) {
    return absl::DataLossError(
        absl::StrCat("truncated bundle: the header announces ", info.body_bytes,
                     " body bytes; ", present, " are present"));
  }
  if (info.body_bytes < present) {
    return absl::DataLossError(
        absl::StrCat("malformed bundle: ", present - info.body_bytes,
                     " bytes after the body"));
  }
  PORTCULLIS_RETURN_IF_ERROR(CheckKey(options));
  if (info.keyed && options.key.empty()) {
    return absl::InvalidArgumentError(
        "the bundle's digest is keyed: a key is needed to verify it");
  }
  if (!info.keyed && !options.key.empty()) {
    return absl::InvalidArgumentError(
        "the bundle's digest is not keyed but a key was given: refusing a "
        "bundle that cannot be authenticated");
  }
  const PolicyDigest digest =
      Digest(bytes.substr(0, kDigestedHeaderBytes),
             bytes.substr(kBundleHeaderBytes), options.key);
  // Constant time, so that a keyed digest cannot be guessed byte by byte.
  if (sodium_memcmp(digest.bytes.data(), info.digest.bytes.data(),
                    digest.bytes.size()) != 0) {
    return absl::DataLossError(
        "digest mismatch: the bundle is corrupted or was modified after it "
        "was written");
  }
  PORTCULLIS_ASSIGN_OR_RETURN(
      PolicyTables tables,
      ReadBody(bytes.substr(kBundleHeaderBytes), info.sections));
  return CompiledPolicy::FromTables(std::move(tables));
}

absl::Status WriteBundle(const CompiledPolicy& policy, const std::string& path,
                         const BundleOptions& options) {
  PORTCULLIS_ASSIGN_OR_RETURN(const std::string bytes,
                              SerializeBundle(policy, options));
  return WriteBundleBytes(bytes, path);
}

absl::Status WriteBundleBytes(absl::string_view bytes,
                              const std::string& path) {
  // A name no other writer in this or another process uses at the same time.
  static std::atomic<uint64_t> counter{0};
  const std::string temporary =
      absl::StrCat(path, ".tmp-", getpid(), "-", counter.fetch_add(1));
  const int fd =
      open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat(temporary, ": cannot create: ", std::strerror(errno)));
  }
  auto fail = [&](absl::string_view what) {
    const std::string reason = std::strerror(errno);
    close(fd);
    unlink(temporary.c_str());
    return absl::UnavailableError(
        absl::StrCat(temporary, ": ", what, ": ", reason));
  };
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("cannot flush");
  if (close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    unlink(temporary.c_str());
    return absl::UnavailableError(
        absl::StrCat(temporary, ": cannot close: ", reason));
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    unlink(temporary.c_str());
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot replace: ", reason));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<const CompiledPolicy>> ReadBundle(
    const std::string& path, const BundleOptions& options) {
  // read(), not mmap(): a bundle truncated in place while mapped would raise
  // SIGBUS in the loader; a copy in memory can only fail its checks.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  if (static_cast<uint64_t>(info.st_size) > options.max_bundle_bytes) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": file is ", info.st_size, " bytes; the limit is ",
                     options.max_bundle_bytes));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = read(fd, &bytes[done], bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // an error, or the file shrank: the checks say which
    done += static_cast<size_t>(n);
  }
  close(fd);
  bytes.resize(done);
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      ParseBundle(bytes, options);
  if (!policy.ok()) {
    return absl::Status(policy.status().code(),
                        absl::StrCat(path, ": ", policy.status().message()));
  }
  return policy;
}

}  // namespace portcullis
