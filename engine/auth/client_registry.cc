#include "engine/auth/client_registry.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/auth/client_registry.pb.h"
#include "engine/auth/crypto.h"
#include "engine/auth/sealed_snapshot.h"
#include "engine/auth/token_format.h"
#include "engine/common/quote.h"
#include "engine/common/status_macros.h"
#include "engine/snapshot/policy_tables.h"
#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"

namespace portcullis::auth {
namespace {

static_assert(static_cast<size_t>(AuthFailure::kSuspendedClient) + 1 ==
                  kAuthFailureKinds,
              "kAuthFailureKinds counts every AuthFailure");

// Version 1 dropped the secret of a client that left the policy; its
// snapshots cannot say which clients were merely absent.
constexpr uint32_t kSnapshotVersion = 2;
constexpr absl::string_view kImportPrefix = "client registry import: ";

// A digest that no secret has: 32 random bytes (a collision with a real
// secret's digest has probability 2^-256).
Digest RandomDigest() {
  std::array<uint8_t, Digest::kSize> bytes;
  RandomBytes(absl::MakeSpan(bytes));
  return Digest(bytes);
}

// A random 16-character hex string: a decoy table key that no client id has
// (as likely as guessing a 64-bit secret), of a client id's usual length.
std::string RandomKey() {
  std::array<uint8_t, 8> bytes;
  RandomBytes(absl::MakeSpan(bytes));
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Makes the compiler treat `found` as used: a lookup whose result would
// otherwise be dead must still run. A bool, which every compiler can put in
// a register.
void KeepLookup(bool found) { asm volatile("" : : "r"(found) : "memory"); }

// Dates a change to `entry` at `now`, but never before its last change (and
// so never before its creation): a registry whose clock is behind an
// imported record's times, or steps back, must still export what it can
// import again (Import refuses updated_at < created_at).
template <typename Entry>
void Touch(Entry& entry, absl::Time now) {
  entry.updated_at = std::max(entry.updated_at, now);
}

using internal::HasUnknownFields;
using internal::ProblemList;

}  // namespace

absl::string_view ClientStateName(ClientState state) {
  switch (state) {
    case ClientState::kUnregistered:
      return "unregistered";
    case ClientState::kActive:
      return "active";
    case ClientState::kRemoved:
      return "removed";
    case ClientState::kSuspended:
      return "suspended";
  }
  return "unknown";
}

absl::string_view AuthFailureName(AuthFailure failure) {
  switch (failure) {
    case AuthFailure::kNone:
      return "none";
    case AuthFailure::kMalformedSecret:
      return "malformed_secret";
    case AuthFailure::kUnknownClient:
      return "unknown_client";
    case AuthFailure::kUnregisteredClient:
      return "unregistered_client";
    case AuthFailure::kRemovedClient:
      return "removed_client";
    case AuthFailure::kWrongSecret:
      return "wrong_secret";
    case AuthFailure::kSuspendedClient:
      return "suspended_client";
  }
  return "unknown";
}

absl::Status ClientAuthenticationError() {
  return absl::UnauthenticatedError("invalid client credentials");
}

ClientRegistry::ClientRegistry(SecretKey key, const Clock& clock)
    : ClientRegistry(std::move(key), clock, ClientRegistryOptions()) {}

ClientRegistry::ClientRegistry(SecretKey key, const Clock& clock,
                               const ClientRegistryOptions& options)
    : key_(std::move(key)),
      clock_(clock),
      options_(options),
      decoy_key_(RandomKey()),
      absent_key_(RandomKey()) {
  Entry& decoy = decoy_entries_[decoy_key_];
  decoy.secret = RandomDigest();
  decoy_policy_.insert(decoy_key_);
}

void ClientRegistry::DestroyLocked(Entry& entry, absl::Time now) {
  // Digest's bytes are plain memory: overwrite them rather than leave the
  // old digest to a later allocation.
  sodium_memzero(&entry.secret, sizeof(entry.secret));
  entry.secret = Digest();
  entry.operator_suspended = false;
  Touch(entry, now);
  // Every token issued so far is invalid for good, whatever its date.
  ++entry.revocation;
}

ClientRegistry::Entry& ClientRegistry::AddEntryLocked(
    absl::string_view client_id, absl::Time now) {
  Entry& entry = entries_[client_id];
  entry.created_at = now;
  entry.updated_at = now;
  // Random in [1, 2^62]: far from wrapping, and unlike any other registry's.
  uint64_t start = 0;
  RandomBytes(
      absl::MakeSpan(reinterpret_cast<uint8_t*>(&start), sizeof(start)));
  entry.revocation = (start >> 2) + 1;
  return entry;
}

size_t ClientRegistry::RemoveLongAbsentLocked(absl::Time now) {
  size_t removed = 0;
  for (auto& [client_id, entry] : entries_) {
    if (!entry.absent || entry.secret.IsZero()) continue;
    if (now - entry.absent_since < options_.absent_client_grace) continue;
    DestroyLocked(entry, now);
    ++removed;
  }
  return removed;
}

bool ClientRegistry::ReconcileLocked(absl::Time now) {
  if (!has_policy_) return false;
  bool invalidated = false;
  for (auto& [client_id, entry] : entries_) {
    const bool in_policy = policy_clients_.contains(client_id);
    if (!in_policy && !entry.absent) {
      // Suspended, not removed: the secret and the tokens are kept, in case
      // the policy that dropped the client was a mistake.
      entry.absent = true;
      entry.absent_since = now;
      Touch(entry, now);
      invalidated = true;
    } else if (in_policy && entry.absent) {
      entry.absent = false;
      entry.absent_since = absl::InfinitePast();
      Touch(entry, now);
    }
  }
  return RemoveLongAbsentLocked(now) > 0 || invalidated;
}

void ClientRegistry::OnPolicy(const CompiledPolicy& policy) {
  const internal::PolicyTables& tables = policy.tables();
  absl::flat_hash_set<std::string> clients;
  clients.reserve(tables.credentials.size());
  for (uint32_t i = 0; i < tables.credentials.size(); ++i) {
    clients.emplace(tables.credentials.name(i));
  }
  const absl::Time now = clock_.Now();
  std::unique_lock<std::shared_mutex> lock(mu_);
  has_policy_ = true;
  policy_clients_ = std::move(clients);
  if (ReconcileLocked(now)) version_.fetch_add(1, std::memory_order_acq_rel);
}

size_t ClientRegistry::RemoveLongAbsentClients() {
  const absl::Time now = clock_.Now();
  std::unique_lock<std::shared_mutex> lock(mu_);
  const size_t removed = RemoveLongAbsentLocked(now);
  if (removed > 0) version_.fetch_add(1, std::memory_order_acq_rel);
  return removed;
}

absl::Status ClientRegistry::RemoveClient(absl::string_view client_id) {
  const absl::Time now = clock_.Now();
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = entries_.find(client_id);
  if (it == entries_.end()) {
    if (!policy_clients_.contains(client_id)) {
      return absl::NotFoundError(
          absl::StrCat("unknown client ", internal::Quote(client_id)));
    }
    // Never registered: nothing to destroy, but the record keeps the
    // removal (and the token state) should the client be registered later.
    AddEntryLocked(client_id, now);
    it = entries_.find(client_id);
  }
  DestroyLocked(it->second, now);
  it->second.absent = !policy_clients_.contains(client_id);
  if (it->second.absent && it->second.absent_since == absl::InfinitePast()) {
    it->second.absent_since = now;
  }
  version_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

absl::Status ClientRegistry::SuspendClient(absl::string_view client_id) {
  return SetOperatorSuspended(client_id, true);
}

absl::Status ClientRegistry::ResumeClient(absl::string_view client_id) {
  return SetOperatorSuspended(client_id, false);
}

absl::Status ClientRegistry::SetOperatorSuspended(absl::string_view client_id,
                                                  bool suspended) {
  const absl::Time now = clock_.Now();
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = entries_.find(client_id);
  if (it == entries_.end() || it->second.secret.IsZero()) {
    return absl::NotFoundError(absl::StrCat(
        "client ", internal::Quote(client_id), " is not registered"));
  }
  if (it->second.operator_suspended != suspended) {
    it->second.operator_suspended = suspended;
    Touch(it->second, now);
    // Only a suspension can invalidate a token.
    if (suspended) version_.fetch_add(1, std::memory_order_acq_rel);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ClientRegistry::NewSecretLocked(Entry& entry) {
  const TokenBytes secret = GenerateToken();
  entry.secret = KeyedHash(key_, secret.bytes());
  return FormatToken(secret);
}

absl::StatusOr<std::string> ClientRegistry::RegisterClient(
    absl::string_view client_id, absl::string_view display_name) {
  const absl::Time now = clock_.Now();
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!policy_clients_.contains(client_id)) {
    return absl::NotFoundError(absl::StrCat(
        "client ", internal::Quote(client_id), " is not in the policy"));
  }
  auto it = entries_.find(client_id);
  Entry& entry =
      it == entries_.end() ? AddEntryLocked(client_id, now) : it->second;
  if (!entry.secret.IsZero()) {
    return absl::AlreadyExistsError(
        absl::StrCat("client ", internal::Quote(client_id),
                     " already has a secret; rotate it instead"));
  }
  entry.display_name = std::string(display_name);
  entry.created_at = now;
  entry.updated_at = now;
  // A client registered again after a removal keeps its counter, so its
  // tokens from before the removal stay invalid.
  entry.operator_suspended = false;
  entry.absent = false;
  entry.absent_since = absl::InfinitePast();
  return NewSecretLocked(entry);
}

absl::StatusOr<std::string> ClientRegistry::RotateSecret(
    absl::string_view client_id) {
  const absl::Time now = clock_.Now();
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!policy_clients_.contains(client_id)) {
    return absl::NotFoundError(absl::StrCat(
        "client ", internal::Quote(client_id), " is not in the policy"));
  }
  auto it = entries_.find(client_id);
  if (it == entries_.end() || it->second.secret.IsZero()) {
    return absl::FailedPreconditionError(
        absl::StrCat("client ", internal::Quote(client_id),
                     " has no secret; register it first"));
  }
  Touch(it->second, now);
  return NewSecretLocked(it->second);
}

absl::Status ClientRegistry::RevokeTokens(absl::string_view client_id) {
  const absl::Time now = clock_.Now();
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = entries_.find(client_id);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "client ", internal::Quote(client_id), " is not registered"));
  }
  Entry& entry = it->second;
  ++entry.revocation;
  Touch(entry, now);
  version_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

Authentication ClientRegistry::Authenticate(absl::string_view client_id,
                                            absl::string_view secret) const {
  Authentication result;
  // The format says nothing about the stored secret, so failing fast here
  // leaks nothing.
  absl::StatusOr<TokenBytes> presented = ParseToken(secret);
  if (!presented.ok()) {
    result.failure = AuthFailure::kMalformedSecret;
    return result;
  }
  const Digest digest = KeyedHash(key_, presented->bytes());
  std::shared_lock<std::shared_mutex> lock(mu_);
  // One hit and one miss in each table, whatever the client: the decoy
  // lookup hits exactly when the real one missed.
  const auto it = entries_.find(client_id);
  const bool known = it != entries_.end();
  const auto decoy = decoy_entries_.find(known ? absent_key_ : decoy_key_);
  KeepLookup(decoy != decoy_entries_.end());
  const bool in_policy = policy_clients_.contains(client_id);
  const bool decoy_in_policy =
      decoy_policy_.contains(in_policy ? absent_key_ : decoy_key_);
  KeepLookup(decoy_in_policy);
  // The decoy entry (a random secret, no flags) stands in for a client
  // without a record, so the same fields are read and compared.
  const Entry& compared = known ? it->second : decoy->second;
  const Entry* entry = known ? &it->second : nullptr;
  const bool has_secret = !compared.secret.IsZero() && known;
  // Always one constant-time comparison (crypto_verify_32).
  const bool matches = (digest == compared.secret) && has_secret;
  const bool usable = has_secret && in_policy && !compared.absent &&
                      !compared.operator_suspended;
  if (matches && usable) {
    result.failure = AuthFailure::kNone;
    result.revocation = entry->revocation;
  } else if (matches) {
    result.failure = AuthFailure::kSuspendedClient;
  } else if (has_secret) {
    result.failure = AuthFailure::kWrongSecret;
  } else if (entry != nullptr && !in_policy) {
    result.failure = AuthFailure::kRemovedClient;
  } else if (in_policy) {
    result.failure = AuthFailure::kUnregisteredClient;
  } else {
    result.failure = AuthFailure::kUnknownClient;
  }
  return result;
}

absl::Status ClientRegistry::CheckTokenClient(absl::string_view client_id,
                                              uint64_t revocation) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const auto it = entries_.find(client_id);
  if (!policy_clients_.contains(client_id) ||
      (it != entries_.end() && it->second.absent)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client ", internal::Quote(client_id), " is no longer in the policy"));
  }
  if (it == entries_.end()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client ", internal::Quote(client_id), " is not registered"));
  }
  const Entry& entry = it->second;
  if (revocation != entry.revocation) {
    return absl::UnauthenticatedError(
        absl::StrCat("revoked with every earlier token of client ",
                     internal::Quote(client_id)));
  }
  if (entry.secret.IsZero()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client ", internal::Quote(client_id), " is not registered"));
  }
  if (entry.operator_suspended) {
    return absl::UnauthenticatedError(
        absl::StrCat("client ", internal::Quote(client_id), " is suspended"));
  }
  return absl::OkStatus();
}

ClientInfo ClientRegistry::InfoLocked(absl::string_view client_id,
                                      const Entry* entry) const {
  ClientInfo info;
  info.client_id = std::string(client_id);
  if (entry == nullptr) return info;  // Unregistered, never had a secret.
  if (entry->secret.IsZero()) {
    info.state =
        entry->absent ? ClientState::kRemoved : ClientState::kUnregistered;
  } else {
    info.state = entry->absent || entry->operator_suspended
                     ? ClientState::kSuspended
                     : ClientState::kActive;
  }
  info.operator_suspended = entry->operator_suspended;
  info.absent = entry->absent;
  info.absent_since = entry->absent_since;
  info.display_name = entry->display_name;
  info.created_at = entry->created_at;
  info.updated_at = entry->updated_at;
  info.revocation = entry->revocation;
  return info;
}

absl::StatusOr<ClientInfo> ClientRegistry::Find(
    absl::string_view client_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const auto it = entries_.find(client_id);
  if (it == entries_.end()) {
    if (!policy_clients_.contains(client_id)) {
      return absl::NotFoundError(
          absl::StrCat("unknown client ", internal::Quote(client_id)));
    }
    return InfoLocked(client_id, nullptr);
  }
  return InfoLocked(client_id, &it->second);
}

std::vector<ClientInfo> ClientRegistry::List() const {
  std::vector<ClientInfo> clients;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    clients.reserve(entries_.size() + policy_clients_.size());
    for (const auto& [client_id, entry] : entries_) {
      clients.push_back(InfoLocked(client_id, &entry));
    }
    for (const std::string& client_id : policy_clients_) {
      if (!entries_.contains(client_id)) {
        clients.push_back(InfoLocked(client_id, nullptr));
      }
    }
  }
  std::sort(clients.begin(), clients.end(),
            [](const ClientInfo& a, const ClientInfo& b) {
              return a.client_id < b.client_id;
            });
  return clients;
}

absl::StatusOr<std::string> ClientRegistry::Export() const {
  v1::ClientRegistrySnapshot snapshot;
  snapshot.set_version(kSnapshotVersion);
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    std::vector<const std::pair<const std::string, Entry>*> sorted;
    sorted.reserve(entries_.size());
    for (const auto& item : entries_) sorted.push_back(&item);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* item : sorted) {
      const Entry& entry = item->second;
      v1::ClientRecord& record = *snapshot.add_clients();
      record.set_client_id(item->first);
      record.set_display_name(entry.display_name);
      if (!entry.secret.IsZero()) {
        record.set_secret_digest(entry.secret.bytes().data(),
                                 entry.secret.bytes().size());
      }
      record.set_created_at_unix_nanos(absl::ToUnixNanos(entry.created_at));
      record.set_updated_at_unix_nanos(absl::ToUnixNanos(entry.updated_at));
      record.set_revocation(entry.revocation);
      record.set_operator_suspended(entry.operator_suspended);
      record.set_absent(entry.absent);
      if (entry.absent) {
        record.set_absent_since_unix_nanos(
            absl::ToUnixNanos(entry.absent_since));
      }
    }
  }
  return internal::SealSnapshot(snapshot, key_, "client registry export");
}

absl::Status ClientRegistry::Import(absl::string_view serialized) {
  return ImportImpl(serialized, /*replace=*/false);
}

absl::Status ClientRegistry::Replace(absl::string_view serialized) {
  return ImportImpl(serialized, /*replace=*/true);
}

absl::Status ClientRegistry::ImportImpl(absl::string_view serialized,
                                        bool replace) {
  v1::ClientRegistrySnapshot snapshot;
  PORTCULLIS_RETURN_IF_ERROR(internal::UnsealSnapshot(
      serialized, key_, kImportPrefix, kSnapshotVersion, snapshot,
      "version 1 dropped the secrets of clients that left the policy and "
      "dated token revocations by the wall clock; it cannot be converted: "
      "register the clients again"));

  ProblemList problems;
  if (HasUnknownFields(snapshot)) {
    problems.Add("unknown fields (written by a newer version?)");
  }
  absl::flat_hash_map<std::string, Entry> entries;
  absl::flat_hash_map<std::string, int> first_index;
  for (int i = 0; i < snapshot.clients_size(); ++i) {
    const v1::ClientRecord& record = snapshot.clients(i);
    const std::string path = absl::StrCat("clients[", i, "]: ");
    bool ok = true;
    auto problem = [&](std::string message) {
      problems.Add(absl::StrCat(path, message));
      ok = false;
    };
    if (!record.GetReflection()->GetUnknownFields(record).empty()) {
      problem("unknown fields");
    }
    if (record.client_id().empty()) problem("client_id is empty");
    Entry entry;
    if (!record.secret_digest().empty()) {
      absl::StatusOr<Digest> digest = Digest::FromBytes(absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(record.secret_digest().data()),
          record.secret_digest().size()));
      if (!digest.ok()) {
        problem(absl::StrCat("secret_digest: ", digest.status().message()));
      } else if (digest->IsZero()) {
        problem("secret_digest is all zero");
      } else {
        entry.secret = *digest;
      }
    }
    entry.display_name = record.display_name();
    entry.created_at = absl::FromUnixNanos(record.created_at_unix_nanos());
    entry.updated_at = absl::FromUnixNanos(record.updated_at_unix_nanos());
    entry.revocation = record.revocation();
    if (entry.revocation == 0) problem("revocation is 0");
    entry.operator_suspended = record.operator_suspended();
    entry.absent = record.absent();
    if (entry.absent) {
      entry.absent_since =
          absl::FromUnixNanos(record.absent_since_unix_nanos());
    } else if (record.absent_since_unix_nanos() != 0) {
      problem("absent_since is set for a client that is not absent");
    }
    if (entry.updated_at < entry.created_at) {
      problem("updated_at is before created_at");
    }
    if (entry.operator_suspended && record.secret_digest().empty()) {
      problem("a suspended client has a secret");
    }
    if (!ok) continue;
    auto [it, inserted] = first_index.try_emplace(record.client_id(), i);
    if (!inserted) {
      problem(
          absl::StrCat("duplicate client_id (also clients[", it->second, "])"));
      continue;
    }
    entries.emplace(record.client_id(), std::move(entry));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kImportPrefix, problems.Join()));
  }

  const absl::Time now = clock_.Now();
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!replace && !entries_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kImportPrefix, "the registry is not empty"));
  }
  entries_ = std::move(entries);
  ReconcileLocked(now);
  version_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

}  // namespace portcullis::auth
