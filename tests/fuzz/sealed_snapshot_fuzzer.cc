// Fuzzes the import of sealed auth exports (engine/auth/sealed_snapshot.h's
// UnsealSnapshot, through TokenStore::Import and ClientRegistry::Import, their
// only callers). The first byte picks the importer (bit 0: the client
// registry, else the token store; bit 1: the registry follows a policy first);
// the rest is a snapshot payload. Each input is tried
//   - as it is: refused with the importer's `... import: ` InvalidArgument, or
//     loaded (a seed may be a real export under the fuzz key);
//   - sealed under the fuzz key (the MAC computed as sealed_snapshot.proto
//     specifies, as an attacker holding the key could): refused for what the
//     payload says, never for its seal, or loaded; a loaded payload exports
//     back to the same records and imports again into an empty store;
//   - sealed under another key, as the other kind of snapshot, and sealed
//     then one bit flipped: always refused, with the exact seal message.
// Nothing may crash, hang or leak; a store or registry that refused an input
// stays empty.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/client_registry.pb.h"
#include "engine/auth/clock.h"
#include "engine/auth/crypto.h"
#include "engine/auth/sealed_snapshot.pb.h"
#include "engine/auth/token_store.h"
#include "engine/auth/token_store.pb.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_check.h"

namespace portcullis::auth {
namespace {

constexpr char kTokenPrefix[] = "token store import: ";
constexpr char kRegistryPrefix[] = "client registry import: ";
constexpr char kMacMismatch[] =
    "MAC mismatch: edited, corrupted or sealed under another key";

// The clients a registry following a policy knows.
constexpr char kPolicy[] = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
    }
  }
  entities { id: "e-1" partner_id: "p-1" }
  credentials { client_id: "c-1" partner_id: "p-1" scopes: "all:read" }
  credentials { client_id: "c-2" partner_id: "p-1" scopes: "all:read" }
)pb";

SecretKey KeyOf(uint8_t first) {
  std::array<uint8_t, SecretKey::kSize> bytes;
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<uint8_t>(first + i);
  }
  absl::StatusOr<SecretKey> key = SecretKey::FromBytes(bytes);
  PORTCULLIS_FUZZ_CHECK(key.ok(), key.status().ToString());
  return *std::move(key);
}

// The fuzz key (seeds are sealed under it) and another one.
const SecretKey& FuzzKey() {
  static const SecretKey* key = new SecretKey(KeyOf(1));
  return *key;
}
const SecretKey& OtherKey() {
  static const SecretKey* key = new SecretKey(KeyOf(101));
  return *key;
}

const CompiledPolicy& Policy() {
  static const CompiledPolicy* policy = [] {
    absl::StatusOr<portcullis::v1::PolicySet> set = ParsePolicyText(kPolicy);
    PORTCULLIS_FUZZ_CHECK(set.ok(), set.status().ToString());
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
        Compile(*set);
    PORTCULLIS_FUZZ_CHECK(compiled.ok(), compiled.status().ToString());
    return compiled->release();
  }();
  return *policy;
}

// sealed_snapshot.proto's MAC, written here from its comment: keyed
// BLAKE2b-256 under crypto_kdf subkey 2 of context "pcexport" over the
// format version (4 bytes LE), the payload type's length (8 bytes LE), the
// payload type and the payload.
std::string Mac(const SecretKey& key, uint32_t format_version,
                absl::string_view type, absl::string_view payload) {
  std::array<unsigned char, crypto_generichash_KEYBYTES> subkey;
  PORTCULLIS_FUZZ_CHECK(
      crypto_kdf_derive_from_key(subkey.data(), subkey.size(), 2, "pcexport",
                                 key.bytes().data()) == 0,
      "crypto_kdf_derive_from_key");
  unsigned char header[12];
  for (size_t i = 0; i < 4; ++i) header[i] = (format_version >> (8 * i));
  for (size_t i = 0; i < 8; ++i) {
    header[4 + i] =
        static_cast<unsigned char>(uint64_t{type.size()} >> (8 * i));
  }
  crypto_generichash_state state;
  crypto_generichash_init(&state, subkey.data(), subkey.size(), 32);
  crypto_generichash_update(&state, header, sizeof(header));
  crypto_generichash_update(
      &state, reinterpret_cast<const unsigned char*>(type.data()), type.size());
  crypto_generichash_update(
      &state, reinterpret_cast<const unsigned char*>(payload.data()),
      payload.size());
  std::string mac(32, '\0');
  crypto_generichash_final(&state, reinterpret_cast<unsigned char*>(&mac[0]),
                           mac.size());
  return mac;
}

std::string Seal(absl::string_view payload, absl::string_view type,
                 const SecretKey& key) {
  v1::SealedSnapshot sealed;
  sealed.set_format_version(2);
  sealed.set_payload_type(std::string(type));
  sealed.set_payload(std::string(payload));
  sealed.set_mac(Mac(key, 2, type, payload));
  return sealed.SerializeAsString();
}

// The payload of an export (which must be a SealedSnapshot whose MAC is the
// one Mac() computes: the fuzzer's seal and the engine's agree).
std::string PayloadOf(const std::string& exported, const SecretKey& key) {
  v1::SealedSnapshot sealed;
  PORTCULLIS_FUZZ_CHECK(sealed.ParseFromString(exported),
                        "an export is a SealedSnapshot");
  PORTCULLIS_FUZZ_CHECK(sealed.format_version() == 2, "export format 2");
  PORTCULLIS_FUZZ_CHECK(
      sealed.mac() == Mac(key, 2, sealed.payload_type(), sealed.payload()),
      "an export's MAC is sealed_snapshot.proto's construction");
  return sealed.payload();
}

// Records in a canonical order, so that two snapshots compare by content.
v1::TokenStoreSnapshot Canonical(v1::TokenStoreSnapshot snapshot) {
  auto* tokens = snapshot.mutable_tokens();
  std::sort(tokens->begin(), tokens->end(),
            [](const v1::TokenRecord& a, const v1::TokenRecord& b) {
              return a.digest() < b.digest();
            });
  auto* families = snapshot.mutable_revoked_families();
  std::sort(families->begin(), families->end());
  auto* users = snapshot.mutable_user_revocations();
  std::sort(users->begin(), users->end(),
            [](const v1::UserRevocation& a, const v1::UserRevocation& b) {
              return a.user_id() < b.user_id();
            });
  return snapshot;
}
v1::ClientRegistrySnapshot Canonical(v1::ClientRegistrySnapshot snapshot) {
  auto* clients = snapshot.mutable_clients();
  std::sort(clients->begin(), clients->end(),
            [](const v1::ClientRecord& a, const v1::ClientRecord& b) {
              return a.client_id() < b.client_id();
            });
  return snapshot;
}

template <typename Snapshot>
void ExpectSameRecords(absl::string_view a, absl::string_view b,
                       absl::string_view what) {
  Snapshot first;
  Snapshot second;
  PORTCULLIS_FUZZ_CHECK(first.ParseFromArray(a.data(), a.size()) &&
                            second.ParseFromArray(b.data(), b.size()),
                        "snapshots parse");
  const Snapshot canonical_first = Canonical(first);
  const Snapshot canonical_second = Canonical(second);
  PORTCULLIS_FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(
                            canonical_first, canonical_second),
                        absl::StrCat(what, ":\n", canonical_first.DebugString(),
                                     "vs\n", canonical_second.DebugString()));
}

// A token store payload without the revoked families no token belongs to,
// which a store does not keep (nor would RevokeFamily have kept them).
std::string WithoutEmptyFamilies(absl::string_view payload) {
  v1::TokenStoreSnapshot snapshot;
  PORTCULLIS_FUZZ_CHECK(snapshot.ParseFromArray(payload.data(), payload.size()),
                        "a loaded payload parses");
  auto* families = snapshot.mutable_revoked_families();
  families->erase(std::remove_if(families->begin(), families->end(),
                                 [&](uint64_t family) {
                                   return std::none_of(
                                       snapshot.tokens().begin(),
                                       snapshot.tokens().end(),
                                       [&](const v1::TokenRecord& token) {
                                         return token.family_id() == family;
                                       });
                                 }),
                  families->end());
  return snapshot.SerializeAsString();
}

void ExpectRefused(const absl::Status& status, absl::string_view prefix,
                   absl::string_view what) {
  PORTCULLIS_FUZZ_CHECK(absl::IsInvalidArgument(status) &&
                            absl::StartsWith(status.message(), prefix),
                        absl::StrCat(what, ": ", status.ToString()));
}

// One importer: a fresh token store, or a fresh registry (following the
// policy or not), each a new one per import.
class Importer {
 public:
  Importer(bool registry, bool with_policy)
      : registry_(registry), with_policy_(with_policy) {}

  absl::string_view prefix() const {
    return registry_ ? kRegistryPrefix : kTokenPrefix;
  }
  absl::string_view type() const {
    return registry_ ? "portcullis.auth.v1.ClientRegistrySnapshot"
                     : "portcullis.auth.v1.TokenStoreSnapshot";
  }
  absl::string_view other_type() const {
    return registry_ ? "portcullis.auth.v1.TokenStoreSnapshot"
                     : "portcullis.auth.v1.ClientRegistrySnapshot";
  }

  // Imports `serialized` under `key` into a fresh importer; on success sets
  // `exported` to its export under the fuzz key. A refusal leaves it empty.
  absl::Status Import(absl::string_view serialized, const SecretKey& key,
                      std::string* exported) const {
    if (registry_) {
      // The registry seals under its own key.
      ClientRegistry registry(KeyOf(key.bytes()[0]), clock_);
      if (with_policy_) registry.OnPolicy(Policy());
      const absl::Status status = registry.Import(serialized);
      absl::StatusOr<std::string> out = registry.Export();
      PORTCULLIS_FUZZ_CHECK(out.ok(), out.status().ToString());
      if (!status.ok()) {
        v1::ClientRegistrySnapshot empty;
        PORTCULLIS_FUZZ_CHECK(
            empty.ParseFromString(PayloadOf(*out, key)) &&
                empty.clients_size() == 0,
            "a registry that refused an import holds no client");
        return status;
      }
      if (exported != nullptr) *exported = *std::move(out);
      return status;
    }
    InMemoryTokenStore store;
    const absl::Status status = store.Import(serialized, key);
    if (!status.ok()) {
      PORTCULLIS_FUZZ_CHECK(store.size() == 0,
                            "a store that refused an import holds no token");
      return status;
    }
    absl::StatusOr<std::string> out = store.Export(FuzzKey());
    PORTCULLIS_FUZZ_CHECK(out.ok(), out.status().ToString());
    if (exported != nullptr) *exported = *std::move(out);
    return status;
  }

  // A payload that loaded: its export holds the same records (unless a
  // policy reconciled them), and imports again to the same export.
  void CheckLoaded(absl::string_view payload,
                   const std::string& exported) const {
    const std::string exported_payload = PayloadOf(exported, FuzzKey());
    if (registry_ && !with_policy_) {
      ExpectSameRecords<v1::ClientRegistrySnapshot>(
          payload, exported_payload, "the export holds what was imported");
    } else if (!registry_) {
      ExpectSameRecords<v1::TokenStoreSnapshot>(
          WithoutEmptyFamilies(payload), exported_payload,
          "the export holds what was imported");
    }
    std::string again;
    const absl::Status reimported = Import(exported, FuzzKey(), &again);
    PORTCULLIS_FUZZ_CHECK(
        reimported.ok(),
        absl::StrCat("an export imports again: ", reimported.ToString()));
    const std::string again_payload = PayloadOf(again, FuzzKey());
    if (registry_) {
      ExpectSameRecords<v1::ClientRegistrySnapshot>(
          exported_payload, again_payload, "export, import, export");
    } else {
      ExpectSameRecords<v1::TokenStoreSnapshot>(exported_payload, again_payload,
                                                "export, import, export");
    }
  }

 private:
  bool registry_;
  bool with_policy_;
  ManualClock clock_{absl::FromUnixSeconds(1'700'000'000)};
};

void Fuzz(uint8_t flags, absl::string_view payload) {
  const Importer importer((flags & 1) != 0, (flags & 2) != 0);

  // As it is.
  std::string exported;
  absl::Status status = importer.Import(payload, FuzzKey(), &exported);
  if (!status.ok()) ExpectRefused(status, importer.prefix(), "raw input");

  // Sealed under the fuzz key: only the payload can be at fault.
  const std::string sealed = Seal(payload, importer.type(), FuzzKey());
  exported.clear();
  status = importer.Import(sealed, FuzzKey(), &exported);
  if (status.ok()) {
    importer.CheckLoaded(payload, exported);
  } else {
    ExpectRefused(status, importer.prefix(), "sealed payload");
    for (const absl::string_view seal_error :
         {"not a serialized SealedSnapshot", "unsupported format version",
          "unknown fields in the seal", "MAC", "holds a "}) {
      PORTCULLIS_FUZZ_CHECK(
          !absl::StartsWith(status.message(),
                            absl::StrCat(importer.prefix(), seal_error)),
          absl::StrCat("a good seal is not the problem: ", status.ToString()));
    }
  }

  // Sealed under another key.
  status = importer.Import(sealed, OtherKey(), nullptr);
  PORTCULLIS_FUZZ_CHECK(
      status.message() == absl::StrCat(importer.prefix(), kMacMismatch),
      absl::StrCat("another key: ", status.ToString()));

  // The other kind of snapshot, sealed under the right key.
  status = importer.Import(Seal(payload, importer.other_type(), FuzzKey()),
                           FuzzKey(), nullptr);
  PORTCULLIS_FUZZ_CHECK(
      status.message() == absl::StrCat(importer.prefix(), "holds a ",
                                       importer.other_type(), ", not a ",
                                       importer.type()),
      absl::StrCat("the other kind: ", status.ToString()));

  // One bit of the sealed bytes flipped, at a place the payload picks.
  uint64_t hash = 1469598103934665603u;  // FNV-1a
  for (const char c : payload)
    hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211u;
  std::string flipped = sealed;
  flipped[hash % flipped.size()] ^= static_cast<char>(1 << ((hash >> 32) % 8));
  status = importer.Import(flipped, FuzzKey(), nullptr);
  ExpectRefused(status, importer.prefix(), "a flipped bit");
}

}  // namespace
}  // namespace portcullis::auth

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  portcullis::auth::Fuzz(
      data[0],
      absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
