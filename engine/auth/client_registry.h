// The client registry: what authenticates a client application. The policy's
// `credentials` say what a client may do (its partner, entity restriction,
// scopes and rate limit); the registry adds its secret, display name and
// timestamps, the parts of Monite's and Monta's "API project" that are not
// policy.
//
// A client secret is 128 bits from the CSPRNG in the token text form
// (token_format.h). It is returned once, by RegisterClient or RotateSecret,
// and stored only as KeyedHash(key, secret): neither the registry nor its
// Export can give it back ("it will not be visible again after its
// creation", as Monite puts it).
//
// The registry follows the policy (OnPolicy), but a reload never destroys
// a secret or token state as a side effect (a transient bad policy, say a
// half-written file, must not log every client out for good):
//   * A client that appears in the policy is *unregistered*: it exists, but
//     cannot authenticate until RegisterClient gives it a secret.
//   * A registered client that leaves the policy is *suspended*: while absent
//     it cannot authenticate and its tokens are refused, but its secret and
//     token state are kept. When it returns it is active again, with the same
//     secret, and its earlier tokens (unexpired, unrevoked) work again.
//   * A client absent for longer than the grace period
//     (ClientRegistryOptions::absent_client_grace, default 30 days) loses its
//     secret and every token issued to it so far, for good: checked whenever
//     OnPolicy runs and by RemoveLongAbsentClients (TokenService::
//     RemoveExpiredTokens calls it). It is then *removed*; if it returns it
//     is unregistered and needs a new secret.
//   * RemoveClient does the same at once, on an operator's word; Suspend-
//     Client and ResumeClient suspend a client that stays in the policy.
//
// Example:
//   ClientRegistry registry(SecretKey::Generate(), SystemClock::Instance());
//   registry.OnPolicy(*policy);
//   absl::StatusOr<std::string> secret =
//       registry.RegisterClient("monta-cp-reader", "Charge point dashboard");
//   // Show *secret to the client's owner once; it is not stored.

#ifndef PORTCULLIS_ENGINE_AUTH_CLIENT_REGISTRY_H_
#define PORTCULLIS_ENGINE_AUTH_CLIENT_REGISTRY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/clock.h"
#include "engine/auth/crypto.h"
#include "engine/snapshot/compiled_policy.h"

namespace portcullis::auth {

enum class ClientState : uint8_t {
  // In the policy, without a secret: cannot authenticate yet.
  kUnregistered,
  // In the policy, with a secret.
  kActive,
  // Registered once, no longer in the policy; its secret was destroyed
  // (RemoveClient, or absent longer than the grace period).
  kRemoved,
  // Has a secret, but may not authenticate and its tokens are refused:
  // absent from the policy (ClientInfo::absent), or suspended by an operator
  // (SuspendClient; ClientInfo::operator_suspended). The secret and token
  // state are kept.
  kSuspended,
};

// "unregistered", "active", "removed", "suspended".
absl::string_view ClientStateName(ClientState state);

// A client as the registry sees it. A plain value type.
struct ClientInfo {
  std::string client_id;
  ClientState state = ClientState::kUnregistered;
  // As given at registration; empty means "use the policy credential's name".
  std::string display_name;
  // The current registration, and the last change to the client (rotation,
  // removal, return to the policy). InfinitePast for an unregistered client
  // that never had a secret.
  absl::Time created_at = absl::InfinitePast();
  absl::Time updated_at = absl::InfinitePast();
  // The client's revocation counter: a token is valid only if it was issued
  // at this value (TokenRecord::client_revocation). RevokeTokens and
  // RemoveClient (or the grace period) add one; it never goes back, through
  // removal, registration again and Export/Import alike. It starts at a
  // random value when the registry first records the client, so tokens from
  // another registry (a store restored without the registry's export) never
  // match. 0 for a client the registry has no record of.
  uint64_t revocation = 0;
  // Suspended by SuspendClient (until ResumeClient).
  bool operator_suspended = false;
  // Registered once and absent from the current policy since absent_since
  // (InfinitePast when present).
  bool absent = false;
  absl::Time absent_since = absl::InfinitePast();
};

// Options of a ClientRegistry.
struct ClientRegistryOptions {
  // How long a registered client may be absent from the policy before its
  // secret and tokens are destroyed (it is suspended meanwhile). Enforced by
  // OnPolicy and RemoveLongAbsentClients, against the registry's clock. Zero
  // or negative: at the first of those that finds it absent;
  // InfiniteDuration: never. Default 30 days.
  absl::Duration absent_client_grace = absl::Hours(24 * 30);
};

// Why an authentication failed. The token endpoints answer every failure with
// the same error (ClientAuthenticationError), so a caller cannot tell an
// unknown client from a wrong secret; the reason is for metrics and logs.
enum class AuthFailure : uint8_t {
  kNone = 0,
  // The secret is not in the token text form (token_format.h).
  kMalformedSecret,
  // No client with this id, in the policy or the registry.
  kUnknownClient,
  // In the policy, but never given a secret (or not again since it returned).
  kUnregisteredClient,
  // Its secret was destroyed (RemoveClient, or absent past the grace
  // period) and it is not in the policy.
  kRemovedClient,
  // The client exists and has a secret; this is not it.
  kWrongSecret,
  // The right secret, but the client is suspended (absent from the policy,
  // or SuspendClient).
  kSuspendedClient,
};

// The number of AuthFailure values, for tables indexed by them.
inline constexpr size_t kAuthFailureKinds = 7;

// "none", "malformed_secret", "unknown_client", "unregistered_client",
// "removed_client", "wrong_secret", "suspended_client".
absl::string_view AuthFailureName(AuthFailure failure);

// The one error every failed client authentication gives the caller:
// Unauthenticated "invalid client credentials".
absl::Status ClientAuthenticationError();

// The result of ClientRegistry::Authenticate.
struct Authentication {
  AuthFailure failure = AuthFailure::kUnknownClient;
  // When authenticated: the client's ClientInfo::revocation, to record in
  // the tokens issued now (TokenRecord::client_revocation).
  uint64_t revocation = 0;

  bool ok() const { return failure == AuthFailure::kNone; }
};

// Client secrets and registration state, kept consistent with the policy.
// Thread-safe: every method may be called concurrently (a reader-writer lock;
// Authenticate, Find and CheckTokenClient share it). Authenticate costs one
// KeyedHash (BLAKE2b, a few hundred nanoseconds) and four hash lookups (two
// in one-element decoy tables); other lookups one or two hash lookups. Memory:
// about 170 bytes per registered client plus its strings; records are never
// dropped: suspended clients keep their secret, removed ones their token state
// (without a secret), so that their old tokens stay invalid if the client id
// returns.
class ClientRegistry {
 public:
  // `key` makes the secrets' digests and seals Export: persist it
  // (SecretKey::bytes) with the Export, or the export cannot be imported
  // after a restart. `clock`
  // dates registrations and must outlive the registry.
  ClientRegistry(SecretKey key, const Clock& clock);
  ClientRegistry(SecretKey key, const Clock& clock,
                 const ClientRegistryOptions& options);
  ClientRegistry(const ClientRegistry&) = delete;
  ClientRegistry& operator=(const ClientRegistry&) = delete;

  // Follows a new policy: registered clients that left it are suspended
  // (secret and tokens kept), suspended ones that came back are active
  // again, removed ones that came back are unregistered, new clients appear
  // unregistered; then clients absent past the grace period are removed
  // (RemoveLongAbsentClients). Idempotent. O(clients in the policy +
  // registered clients).
  void OnPolicy(const CompiledPolicy& policy);

  // Destroys the secret of every client absent from the policy for at least
  // the grace period, and invalidates every token issued to it so far, for
  // good. Returns how many clients it removed. Call it periodically
  // (TokenService::RemoveExpiredTokens does). O(registered clients).
  size_t RemoveLongAbsentClients();

  // Operator action: destroys the client's secret (wiped from memory) and
  // invalidates every token issued to it so far, for good, even if the id
  // returns to the policy later (it is then unregistered and needs a new
  // secret). Idempotent. Errors: NotFound `unknown client "<id>"` if neither
  // the policy nor the registry knows the client.
  absl::Status RemoveClient(absl::string_view client_id);

  // Operator actions: a suspended client cannot authenticate and its tokens
  // are refused, but keeps its secret and tokens; ResumeClient lifts the
  // suspension (a client absent from the policy stays suspended until it
  // returns). Both idempotent. Errors: NotFound `client "<id>" is not
  // registered` for a client without a secret.
  absl::Status SuspendClient(absl::string_view client_id);
  absl::Status ResumeClient(absl::string_view client_id);

  // Gives an unregistered client a fresh secret and returns it, in the token
  // text form; it is not stored and cannot be shown again. An empty
  // `display_name` means the policy credential's name. Errors:
  //   NotFound           `client "<id>" is not in the policy`
  //   AlreadyExists      `client "<id>" already has a secret; rotate it
  //   instead`
  absl::StatusOr<std::string> RegisterClient(absl::string_view client_id,
                                             absl::string_view display_name);

  // Replaces an active client's secret and returns the new one (once). The
  // old secret stops working at once; tokens already issued stay valid (a
  // routine rotation must not log every session out; after a leak, call
  // RevokeTokens too). Errors: NotFound `client "<id>" is not in the policy`,
  // FailedPrecondition `client "<id>" has no secret; register it first`.
  absl::StatusOr<std::string> RotateSecret(absl::string_view client_id);

  // Invalidates every token issued to the client up to now (access and
  // refresh tokens alike); tokens issued afterwards are valid. For a leaked
  // secret or a compromised client. Adds one to the client's revocation
  // counter: independent of the clock, so a token dated in the future (a
  // clock that was ahead) is revoked too. Errors: NotFound `client "<id>" is
  // not registered`.
  absl::Status RevokeTokens(absl::string_view client_id);

  // Checks a client id and secret, in time independent of the secret's
  // contents and of whether the client exists: every call with a well-formed
  // secret does the same work, whatever the client's state. The secret is
  // always hashed and compared once in constant time (crypto_verify_32),
  // against a decoy entry's random digest when there is nothing to compare
  // with; and each of the two tables (registered clients, policy clients) is
  // searched twice, the client id and a decoy, so that every call makes one
  // successful and one failed lookup in each, an unknown client as well as a
  // registered one (hash-table hits and misses differ in cost). A malformed
  // secret fails before any of that (its format says nothing about the
  // client).
  Authentication Authenticate(absl::string_view client_id,
                              absl::string_view secret) const;

  // OK if a token issued to `client_id` when its revocation counter was
  // `revocation` (TokenRecord::client_revocation) may still be used as far
  // as the client is concerned, else Unauthenticated, one of
  //   `client "<id>" is no longer in the policy` (suspended while absent)
  //   `client "<id>" is not registered`
  //   `revoked with every earlier token of client "<id>"` (the counter
  //     moved on: RevokeTokens, RemoveClient, the grace period; or the token
  //     comes from another registry)
  //   `client "<id>" is suspended` (SuspendClient)
  // Ids are quoted C-escaped. An integer compare, whatever the clock says.
  absl::Status CheckTokenClient(absl::string_view client_id,
                                uint64_t revocation) const;

  // The client, if the policy or the registry knows it; NotFound
  // `unknown client "<id>"` otherwise.
  absl::StatusOr<ClientInfo> Find(absl::string_view client_id) const;

  // Every client of the policy or the registry, sorted by client id.
  std::vector<ClientInfo> List() const;

  // Grows whenever a token that was valid may have become invalid (a client
  // suspended or removed, its tokens revoked, an Import), so that caches of
  // validated tokens can tell they must look again. Lock-free; acquire
  // ordering: a caller that sees a new value then sees the change behind it.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // The registered clients as a portcullis.auth.v1.ClientRegistrySnapshot
  // (client_registry.proto) sealed under the registry's key: a
  // SealedSnapshot holding the snapshot's bytes and a keyed MAC over them,
  // made under a subkey derived from the key. Digests only: no secret can be
  // recovered from it. Unregistered clients are not listed: they are the
  // policy's.
  absl::StatusOr<std::string> Export() const;

  // Loads an Export into this registry, which must hold no registered client
  // (FailedPrecondition otherwise). All or nothing. The MAC is verified under
  // the registry's key (in constant time) over the stored payload bytes
  // before anything in them is read: an export edited without the key (a
  // suspension lifted, a revocation counter moved back, a digest swapped) or
  // written by a registry with another key is refused. The loaded clients
  // are then reconciled with the current policy, if OnPolicy was called, as
  // OnPolicy would. Returns InvalidArgument, starting "client registry
  // import: ", for input that is not a sealed snapshot or has another format
  // version (version 1, an unkeyed checksum, is refused), whose MAC is
  // missing or does not match ("MAC mismatch: edited, corrupted or sealed
  // under another key"), that holds another kind of snapshot, or whose
  // snapshot has another version than 2 (version 1 snapshots, which dropped
  // the secrets of clients that left the policy and dated revocations by the
  // wall clock, are refused: "unsupported version 1 (expected 2): ..."),
  // carries unknown fields or breaks an invariant, listing the problems
  // (first 10) with paths, e.g.
  // "client registry import: clients[2]: secret_digest: expected 32 bytes,
  // got 31".
  absl::Status Import(absl::string_view serialized);

  // Like Import, but replaces every registered client with the export's,
  // whatever the registry holds: for replicas that share the registry's
  // state through a store (docs/replicas.md), where the export written last
  // is the truth. The export must be sealed under this registry's key (every
  // replica has the same registry key). Then version() grows, so cached
  // tokens are looked at again. Errors as Import's, never FailedPrecondition.
  absl::Status Replace(absl::string_view serialized);

 private:
  absl::Status ImportImpl(absl::string_view serialized, bool replace);
  struct Entry {
    // The zero digest: no secret.
    Digest secret;
    std::string display_name;
    absl::Time created_at;
    absl::Time updated_at;
    uint64_t revocation = 0;
    // SuspendClient; only with a secret.
    bool operator_suspended = false;
    // Not in the policy since absent_since (InfinitePast when present).
    bool absent = false;
    absl::Time absent_since = absl::InfinitePast();
  };

  // Applies policy membership to every entry, then the grace period.
  // Requires mu_ held exclusively. Returns whether any token may have become
  // invalid.
  bool ReconcileLocked(absl::Time now);
  // Removes clients absent past the grace period; returns how many.
  // Requires mu_ held exclusively.
  size_t RemoveLongAbsentLocked(absl::Time now);
  // Destroys the entry's secret and invalidates its tokens so far.
  void DestroyLocked(Entry& entry, absl::Time now);
  // SuspendClient (true) and ResumeClient (false).
  absl::Status SetOperatorSuspended(absl::string_view client_id,
                                    bool suspended);
  // A new entry for `client_id`, its counter at a random start.
  Entry& AddEntryLocked(absl::string_view client_id, absl::Time now);
  ClientInfo InfoLocked(absl::string_view client_id, const Entry* entry) const;
  absl::StatusOr<std::string> NewSecretLocked(Entry& entry);

  const SecretKey key_;
  const Clock& clock_;
  const ClientRegistryOptions options_;
  // Decoys for Authenticate (see there): one-element tables, holding
  // `decoy_key_` (random: no client has it), searched for that key when the
  // client id missed its table and for `absent_key_` (in neither) when it
  // hit. The decoy entry's secret is random: it matches no secret. Never
  // change after construction.
  const std::string decoy_key_;
  const std::string absent_key_;
  absl::flat_hash_map<std::string, Entry> decoy_entries_;
  absl::flat_hash_set<std::string> decoy_policy_;

  // std::shared_mutex rather than absl::Mutex: Debian's prebuilt Abseil is
  // not compiled with ThreadSanitizer, which then reports false races.
  mutable std::shared_mutex mu_;
  bool has_policy_ = false;                          // Guarded by mu_.
  absl::flat_hash_set<std::string> policy_clients_;  // Guarded by mu_.
  absl::flat_hash_map<std::string, Entry> entries_;  // Guarded by mu_.
  // On its own cache line: token caches read it on every hit, and must not
  // share a line with the lock that every Authenticate writes.
  alignas(64) std::atomic<uint64_t> version_{1};
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_CLIENT_REGISTRY_H_
