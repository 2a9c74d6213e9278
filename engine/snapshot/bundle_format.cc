#include "engine/snapshot/bundle_format.h"

#include <sodium.h>

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
#include "engine/snapshot/snapshot_invariants.h"

// Sections are copied between memory and the file as they are.
#if !defined(ABSL_IS_LITTLE_ENDIAN)
#error "bundles are little-endian; this loader copies sections as they lie"
#endif

namespace portcullis {
namespace internal {
namespace {

// 0x89 and the line endings catch a file mangled by a text-mode transfer, as
// PNG's signature does.
constexpr char kMagic[8] = {'\x89', 'P', 'C', 'B', '\r', '\n', '\x1a', '\n'};
constexpr uint32_t kFlagKeyed = 1;
constexpr uint32_t kFlagSigned = 2;
constexpr uint32_t kKnownFlags = kFlagKeyed | kFlagSigned;
// What an Ed25519 bundle signature signs: this context, the whole header
// (whose digest covers the body) and the key id field.
constexpr absl::string_view kSignatureContext =
    absl::string_view("portcullis bundle signature v1\0", 31);
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
  template <typename T, typename Allocator>
  void Put(const std::vector<T, Allocator>& values) {
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
  ForEachScalar(t, [&](uint32_t value) { scalars.push_back(value); });
  w.Put(scalars);
  ForEachTable(t, [&](absl::string_view, const auto& table) { w.Put(table); });
  return w.sections();
}

// The first 32 header bytes (the digest follows them).
std::string HeaderPrefix(bool keyed, bool is_signed, uint64_t body_bytes,
                         uint32_t sections) {
  std::string header(kDigestedHeaderBytes, '\0');
  const uint32_t version = kBundleFormatVersion;
  const uint32_t flags =
      (keyed ? kFlagKeyed : 0) | (is_signed ? kFlagSigned : 0);
  std::memcpy(&header[0], kMagic, 8);
  std::memcpy(&header[8], &version, 4);
  std::memcpy(&header[12], &flags, 4);
  std::memcpy(&header[16], &body_bytes, 8);
  std::memcpy(&header[24], &sections, 4);
  // Bytes 28..31 are reserved and zero.
  return header;
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

// The signed message of a bundle whose header is `header` and whose
// signature block names `key_id_field` (kMaxKeyIdBytes, zero-padded).
std::string SignedMessage(absl::string_view header,
                          absl::string_view key_id_field) {
  return absl::StrCat(kSignatureContext, header, key_id_field);
}

// The key id field of a signature block: the id, zero-padded.
std::string KeyIdField(absl::string_view key_id) {
  std::string field(key_id);
  field.resize(kMaxKeyIdBytes, '\0');
  return field;
}

// OK when the signature block after the body verifies under one of `keys`
// (by its key id); checked before anything else of the bundle is read.
absl::Status VerifySignature(absl::string_view bytes, uint64_t body_bytes,
                             absl::Span<const Ed25519PublicKey> keys) {
  const absl::string_view block =
      bytes.substr(kBundleHeaderBytes + body_bytes, kBundleSignatureBytes);
  const absl::string_view key_id_field = block.substr(0, kMaxKeyIdBytes);
  const absl::string_view key_id =
      key_id_field.substr(0, key_id_field.find('\0'));
  for (const Ed25519PublicKey& key : keys) {
    if (key.kid() != key_id) continue;
    const absl::string_view signature = block.substr(kMaxKeyIdBytes);
    if (!key.Verify(
            SignedMessage(bytes.substr(0, kBundleHeaderBytes), key_id_field),
            absl::MakeConstSpan(
                reinterpret_cast<const uint8_t*>(signature.data()),
                signature.size()))) {
      return absl::DataLossError(absl::StrCat(
          "signature mismatch: the bundle was modified after it was signed, "
          "or was not signed by key ",
          internal::Quote(key_id)));
    }
    return absl::OkStatus();
  }
  std::string known;
  for (const Ed25519PublicKey& key : keys) {
    absl::StrAppend(&known, known.empty() ? "" : ", ",
                    internal::Quote(key.kid()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the bundle is signed by unknown key ",
                   internal::Quote(key_id), " (known: ", known, ")"));
}

absl::Status Inconsistent(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("inconsistent bundle: ", what));
}

// Reads sections in order, each checked for its id, element size, bounds and
// zero padding, and copies them out.
class BodyReader {
 public:
  explicit BodyReader(absl::string_view body) : rest_(body) {}

  template <typename T, typename Allocator>
  absl::Status Read(absl::string_view name, std::vector<T, Allocator>& out) {
    absl::string_view data;
    PORTCULLIS_RETURN_IF_ERROR(Next(name, sizeof(T), data));
    out.resize(data.size() / sizeof(T));
    if (!data.empty()) std::memcpy(out.data(), data.data(), data.size());
    return absl::OkStatus();
  }

  // Strings stored back to back, in sections "<table>.offsets" and
  // "<table>.chars": offsets start at 0, never decrease and end at the size
  // of the characters.
  absl::Status Read(absl::string_view table, PackedStrings& out) {
    const std::string name = absl::StrCat(table, ".offsets");
    PackedStrings::Offsets offsets;
    PackedStrings::Chars chars;
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

// Indexes a loaded name table (NameTable::Index); DataLoss naming the first
// duplicate.
absl::Status IndexNames(absl::string_view name, std::vector<uint32_t> spaces,
                        NameTable& table) {
  const uint32_t duplicate = table.Index(std::move(spaces));
  if (duplicate != NameTable::kNotFound) {
    return Inconsistent(absl::StrCat(name, "[", duplicate,
                                     "] = ", Quote(table.name(duplicate)),
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
  ForEachScalar(t, [&](uint32_t) { ++expected; });
  if (scalars.size() != expected) {
    return Inconsistent(absl::StrCat("scalars has ", scalars.size(),
                                     " entries; expected ", expected));
  }
  size_t next = 0;
  ForEachScalar(t, [&](uint32_t& value) { value = scalars[next++]; });
  absl::Status status;
  ForEachTable(t, [&](absl::string_view name, auto& table) {
    if (status.ok()) status = r.Read(name, table);
  });
  PORTCULLIS_RETURN_IF_ERROR(status);
  PORTCULLIS_RETURN_IF_ERROR(r.Finish(sections));

  if (absl::Status invariants = CheckSnapshotInvariants(t); !invariants.ok()) {
    return Inconsistent(invariants.message());
  }

  // Only actions have name spaces: their object types. Every other table's
  // names share name space 0.
  std::vector<uint32_t> action_spaces(t.slots.size());
  for (size_t slot = 0; slot < t.slots.size(); ++slot) {
    action_spaces[slot] = t.slots[slot].object_type;
  }
  ForEachTable(t, [&](absl::string_view name, auto& table) {
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

}  // namespace

absl::Status CheckBundleKey(absl::string_view key) {
  if (!key.empty() && key.size() != kBundleKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a bundle key is ", kBundleKeyBytes, " bytes; got ", key.size()));
  }
  return absl::OkStatus();
}

PolicyDigest DigestOfTables(const PolicyTables& t) {
  CountingSink counter;
  const uint32_t sections = WriteBody(t, counter);
  const std::string header =
      HeaderPrefix(false, false, counter.bytes(), sections);
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

std::string SerializeTables(const PolicyTables& t, absl::string_view key,
                            const Ed25519KeyPair* signing_key) {
  CountingSink counter;
  const uint32_t sections = WriteBody(t, counter);
  std::string out = HeaderPrefix(!key.empty(), signing_key != nullptr,
                                 counter.bytes(), sections);
  out.reserve(kBundleHeaderBytes + counter.bytes() +
              (signing_key != nullptr ? kBundleSignatureBytes : 0));
  out.append(kBundleHeaderBytes - kDigestedHeaderBytes, '\0');  // the digest
  StringSink sink(&out);
  WriteBody(t, sink);
  const absl::string_view bytes = out;
  const PolicyDigest digest = Digest(bytes.substr(0, kDigestedHeaderBytes),
                                     bytes.substr(kBundleHeaderBytes), key);
  std::memcpy(&out[kDigestedHeaderBytes], digest.bytes.data(),
              digest.bytes.size());
  if (signing_key != nullptr) {
    const std::string key_id_field = KeyIdField(signing_key->kid());
    const std::array<uint8_t, kEd25519SignatureBytes> signature =
        signing_key->Sign(
            SignedMessage(absl::string_view(out).substr(0, kBundleHeaderBytes),
                          key_id_field));
    absl::StrAppend(
        &out, key_id_field,
        absl::string_view(reinterpret_cast<const char*>(signature.data()),
                          signature.size()));
  }
  return out;
}

absl::StatusOr<BundleInfo> ReadBundleHeader(absl::string_view bytes) {
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
  info.is_signed = (flags & kFlagSigned) != 0;
  if (info.is_signed &&
      bytes.size() - kBundleHeaderBytes >=
          info.body_bytes + kBundleSignatureBytes &&
      info.body_bytes <= bytes.size()) {
    const absl::string_view field =
        bytes.substr(kBundleHeaderBytes + info.body_bytes, kMaxKeyIdBytes);
    info.key_id = std::string(field.substr(0, field.find('\0')));
  }
  return info;
}

absl::StatusOr<PolicyTables> ParseTables(
    absl::string_view bytes, absl::string_view key,
    absl::Span<const Ed25519PublicKey> verification_keys) {
  PORTCULLIS_ASSIGN_OR_RETURN(const BundleInfo info, ReadBundleHeader(bytes));
  if (info.format_version != kBundleFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported bundle format version ", info.format_version,
                     "; this build reads version ", kBundleFormatVersion));
  }
  uint32_t flags;
  uint32_t reserved;
  std::memcpy(&flags, bytes.data() + 12, 4);
  std::memcpy(&reserved, bytes.data() + 28, 4);
  if ((flags & ~kKnownFlags) != 0 || reserved != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown bundle flags 0x", absl::Hex(flags & ~kKnownFlags),
                     reserved != 0 ? " and a non-zero reserved field" : ""));
  }
  if (!info.is_signed && !verification_keys.empty()) {
    return absl::InvalidArgumentError(
        "the bundle is not signed, and verification keys are configured: "
        "refusing a bundle that cannot be authenticated");
  }
  const uint64_t signature_bytes = info.is_signed ? kBundleSignatureBytes : 0;
  const uint64_t present = bytes.size() - kBundleHeaderBytes;
  if (info.body_bytes > present ||
      present - info.body_bytes < signature_bytes) {
    return absl::DataLossError(
        absl::StrCat("truncated bundle: the header announces ", info.body_bytes,
                     " body bytes", info.is_signed ? " and a signature" : "",
                     "; ", present, " are present"));
  }
  if (present - info.body_bytes > signature_bytes) {
    return absl::DataLossError(absl::StrCat(
        "malformed bundle: ", present - info.body_bytes - signature_bytes,
        " bytes after the ", info.is_signed ? "signature" : "body"));
  }
  // Before anything else: nothing of a bundle signed by someone else is
  // read (the header's shape aside).
  if (info.is_signed && !verification_keys.empty()) {
    PORTCULLIS_RETURN_IF_ERROR(
        VerifySignature(bytes, info.body_bytes, verification_keys));
  }
  PORTCULLIS_RETURN_IF_ERROR(CheckBundleKey(key));
  if (info.keyed && key.empty()) {
    return absl::InvalidArgumentError(
        "the bundle's digest is keyed: a key is needed to verify it");
  }
  if (!info.keyed && !key.empty()) {
    return absl::InvalidArgumentError(
        "the bundle's digest is not keyed but a key was given: refusing a "
        "bundle that cannot be authenticated");
  }
  const PolicyDigest digest =
      Digest(bytes.substr(0, kDigestedHeaderBytes),
             bytes.substr(kBundleHeaderBytes, info.body_bytes), key);
  // Constant time, so that a keyed digest cannot be guessed byte by byte.
  if (sodium_memcmp(digest.bytes.data(), info.digest.bytes.data(),
                    digest.bytes.size()) != 0) {
    return absl::DataLossError(
        "digest mismatch: the bundle is corrupted or was modified after it "
        "was written");
  }
  return ReadBody(bytes.substr(kBundleHeaderBytes, info.body_bytes),
                  info.sections);
}

}  // namespace internal

std::string PolicyDigest::ToHex() const {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace portcullis
