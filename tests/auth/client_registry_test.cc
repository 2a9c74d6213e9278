#include "engine/auth/client_registry.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/client_registry.pb.h"
#include "engine/auth/clock.h"
#include "engine/auth/crypto.h"
#include "engine/auth/sealed_snapshot.pb.h"
#include "engine/auth/token_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "tests/auth/sealed_snapshot_testing.h"
#include "tests/auth/service_fixture.h"

namespace portcullis::auth {
namespace {

using testing::CompileText;
using testing::Describe;
using testing::kPolicy;
using testing::kStart;

// kPolicy without c-app.
constexpr char kWithoutApp[] = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
    }
  }
  entities { id: "e-1" partner_id: "p-1" }
  entities { id: "e-9" partner_id: "p-9" }
  credentials { client_id: "c-backend" partner_id: "p-1" scopes: "all:delete" }
  credentials { client_id: "c-other" partner_id: "p-9" scopes: "all:read" }
)pb";

class ClientRegistryTest : public ::testing::Test {
 protected:
  ClientRegistryTest() : registry_(SecretKey::Generate(), clock_) {
    registry_.OnPolicy(*policy_);
  }

  std::string Register(absl::string_view client_id,
                       absl::string_view name = "") {
    absl::StatusOr<std::string> secret =
        registry_.RegisterClient(client_id, name);
    EXPECT_TRUE(secret.ok()) << secret.status();
    return secret.ok() ? *secret : "";
  }

  // The client's revocation counter: what its tokens issued now carry.
  uint64_t Counter(absl::string_view client_id) {
    absl::StatusOr<ClientInfo> info = registry_.Find(client_id);
    return info.ok() ? info->revocation : 0;
  }

  AuthFailure Failure(absl::string_view client_id, absl::string_view secret) {
    return registry_.Authenticate(client_id, secret).failure;
  }

  ManualClock clock_{kStart};
  std::shared_ptr<const CompiledPolicy> policy_ = CompileText(kPolicy);
  ClientRegistry registry_;
};

TEST_F(ClientRegistryTest, RegisterReturnsASecretThatAuthenticates) {
  const std::string secret = Register("c-backend", "Backend service");
  // The token text form: 128 bits from the CSPRNG.
  EXPECT_TRUE(ParseToken(secret).ok()) << secret;
  const Authentication result = registry_.Authenticate("c-backend", secret);
  EXPECT_TRUE(result.ok());
  EXPECT_NE(result.revocation, 0u);
  EXPECT_EQ(result.revocation, registry_.Find("c-backend")->revocation);
  // Hex digits in either case, as for tokens.
  EXPECT_TRUE(
      registry_.Authenticate("c-backend", absl::AsciiStrToUpper(secret)).ok());

  absl::StatusOr<ClientInfo> info = registry_.Find("c-backend");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state, ClientState::kActive);
  EXPECT_EQ(info->display_name, "Backend service");
  EXPECT_EQ(info->created_at, kStart);
  EXPECT_EQ(info->updated_at, kStart);
}

TEST_F(ClientRegistryTest, SecretsDifferPerClientAndAreNotInterchangeable) {
  const std::string backend = Register("c-backend");
  const std::string app = Register("c-app");
  EXPECT_NE(backend, app);
  EXPECT_EQ(Failure("c-backend", app), AuthFailure::kWrongSecret);
  EXPECT_EQ(Failure("c-app", backend), AuthFailure::kWrongSecret);
}

TEST_F(ClientRegistryTest, AuthenticationFailuresByReason) {
  const std::string secret = Register("c-backend");
  std::string wrong = secret;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  struct Case {
    const char* name;
    const char* client_id;
    std::string secret;
    AuthFailure failure;
  };
  const Case cases[] = {
      {"right secret", "c-backend", secret, AuthFailure::kNone},
      {"one digit off", "c-backend", wrong, AuthFailure::kWrongSecret},
      {"unknown client", "c-nobody", secret, AuthFailure::kUnknownClient},
      {"empty client id", "", secret, AuthFailure::kUnknownClient},
      {"in the policy, never registered", "c-app", secret,
       AuthFailure::kUnregisteredClient},
      {"malformed secret", "c-backend", "hunter2",
       AuthFailure::kMalformedSecret},
      {"empty secret", "c-backend", "", AuthFailure::kMalformedSecret},
      {"secret with its scheme", "c-backend", "Bearer " + secret,
       AuthFailure::kMalformedSecret},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(AuthFailureName(Failure(c.client_id, c.secret)),
              AuthFailureName(c.failure));
  }
  // What every caller sees, whatever the reason.
  EXPECT_EQ(Describe(ClientAuthenticationError()),
            "UNAUTHENTICATED: invalid client credentials");
}

TEST_F(ClientRegistryTest, RegistrationErrors) {
  Register("c-backend");
  EXPECT_EQ(Describe(registry_.RegisterClient("c-backend", "").status()),
            "ALREADY_EXISTS: client \"c-backend\" already has a secret; rotate "
            "it instead");
  EXPECT_EQ(Describe(registry_.RegisterClient("c-nobody", "").status()),
            "NOT_FOUND: client \"c-nobody\" is not in the policy");
  EXPECT_EQ(Describe(registry_.RegisterClient("c-\n", "").status()),
            "NOT_FOUND: client \"c-\\n\" is not in the policy");
  ClientRegistry no_policy(SecretKey::Generate(), clock_);
  EXPECT_EQ(Describe(no_policy.RegisterClient("c-backend", "").status()),
            "NOT_FOUND: client \"c-backend\" is not in the policy");
}

TEST_F(ClientRegistryTest, RotationReplacesTheSecret) {
  const std::string old_secret = Register("c-backend");
  const uint64_t issued = Counter("c-backend");
  clock_.Advance(absl::Minutes(5));
  absl::StatusOr<std::string> new_secret = registry_.RotateSecret("c-backend");
  ASSERT_TRUE(new_secret.ok()) << new_secret.status();
  EXPECT_NE(*new_secret, old_secret);
  EXPECT_EQ(Failure("c-backend", old_secret), AuthFailure::kWrongSecret);
  EXPECT_EQ(Failure("c-backend", *new_secret), AuthFailure::kNone);

  absl::StatusOr<ClientInfo> info = registry_.Find("c-backend");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->created_at, kStart);
  EXPECT_EQ(info->updated_at, kStart + absl::Minutes(5));
  // Tokens issued before a routine rotation stay valid.
  EXPECT_EQ(Counter("c-backend"), issued);
  EXPECT_TRUE(registry_.CheckTokenClient("c-backend", issued).ok());

  EXPECT_EQ(Describe(registry_.RotateSecret("c-app").status()),
            "FAILED_PRECONDITION: client \"c-app\" has no secret; register it "
            "first");
  EXPECT_EQ(Describe(registry_.RotateSecret("c-nobody").status()),
            "NOT_FOUND: client \"c-nobody\" is not in the policy");
}

TEST_F(ClientRegistryTest, RevokeTokensInvalidatesEarlierTokensOnly) {
  Register("c-backend");
  const uint64_t before = Counter("c-backend");
  const uint64_t version = registry_.version();
  ASSERT_TRUE(registry_.RevokeTokens("c-backend").ok());
  EXPECT_GT(registry_.version(), version);
  EXPECT_EQ(Counter("c-backend"), before + 1);
  EXPECT_EQ(Describe(registry_.CheckTokenClient("c-backend", before)),
            "UNAUTHENTICATED: revoked with every earlier token of client "
            "\"c-backend\"");
  EXPECT_TRUE(registry_.CheckTokenClient("c-backend", before + 1).ok());
  EXPECT_EQ(Describe(registry_.RevokeTokens("c-app")),
            "NOT_FOUND: client \"c-app\" is not registered");
}

// Revocation compares counters, not times: a token issued while the clock
// was an hour ahead is revoked when the clock is back (issue 14).
TEST_F(ClientRegistryTest, RevocationIgnoresTheClock) {
  const std::string secret = Register("c-backend");
  clock_.Advance(absl::Hours(1));
  const Authentication issued_ahead =
      registry_.Authenticate("c-backend", secret);
  ASSERT_TRUE(issued_ahead.ok());
  clock_.Advance(-absl::Hours(1));  // corrected
  ASSERT_TRUE(registry_.RevokeTokens("c-backend").ok());
  EXPECT_FALSE(
      registry_.CheckTokenClient("c-backend", issued_ahead.revocation).ok());
}

TEST_F(ClientRegistryTest, CheckTokenClientStates) {
  Register("c-backend");
  EXPECT_TRUE(
      registry_.CheckTokenClient("c-backend", Counter("c-backend")).ok());
  // Another counter: not this registry's token, or revoked.
  EXPECT_EQ(Describe(registry_.CheckTokenClient("c-backend",
                                                Counter("c-backend") + 1)),
            "UNAUTHENTICATED: revoked with every earlier token of client "
            "\"c-backend\"");
  EXPECT_EQ(Describe(registry_.CheckTokenClient("c-app", 1)),
            "UNAUTHENTICATED: client \"c-app\" is not registered");
  EXPECT_EQ(Describe(registry_.CheckTokenClient("c-nobody", 1)),
            "UNAUTHENTICATED: client \"c-nobody\" is no longer in the policy");
  // Counters start at random: two registries never share one.
  ClientRegistry other(SecretKey::Generate(), clock_);
  other.OnPolicy(*policy_);
  ASSERT_TRUE(other.RegisterClient("c-backend", "").ok());
  EXPECT_NE(other.Find("c-backend")->revocation, Counter("c-backend"));
}

// A registered client that leaves the policy is suspended, not destroyed: a
// reload never destroys a secret as a side effect (issue 14: a half-written
// policy file logged every client out for good). Back in the policy, the same
// secret works again.
TEST_F(ClientRegistryTest, LeavingThePolicySuspendsAndReturningResumes) {
  const std::string app_secret = Register("c-app");
  Register("c-backend");
  const uint64_t app_tokens = Counter("c-app");
  const uint64_t backend_tokens = Counter("c-backend");
  const uint64_t version = registry_.version();
  clock_.Advance(absl::Minutes(1));
  registry_.OnPolicy(*CompileText(kWithoutApp));
  EXPECT_GT(registry_.version(), version);

  absl::StatusOr<ClientInfo> absent = registry_.Find("c-app");
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(ClientStateName(absent->state), "suspended");
  EXPECT_TRUE(absent->absent);
  EXPECT_FALSE(absent->operator_suspended);
  EXPECT_EQ(absent->absent_since, kStart + absl::Minutes(1));
  EXPECT_EQ(absent->updated_at, kStart + absl::Minutes(1));
  EXPECT_EQ(Failure("c-app", app_secret), AuthFailure::kSuspendedClient);
  EXPECT_EQ(Describe(registry_.CheckTokenClient("c-app", app_tokens)),
            "UNAUTHENTICATED: client \"c-app\" is no longer in the policy");
  EXPECT_EQ(Describe(registry_.RegisterClient("c-app", "").status()),
            "NOT_FOUND: client \"c-app\" is not in the policy");
  // Other clients are untouched; reloading the same policy changes nothing.
  EXPECT_TRUE(registry_.CheckTokenClient("c-backend", backend_tokens).ok());
  const uint64_t after_removal = registry_.version();
  clock_.Advance(absl::Minutes(1));
  registry_.OnPolicy(*CompileText(kWithoutApp));
  EXPECT_EQ(registry_.version(), after_removal);
  EXPECT_EQ(registry_.Find("c-app")->absent_since, kStart + absl::Minutes(1));

  // Back in the policy: active again, with the same secret and tokens.
  registry_.OnPolicy(*policy_);
  EXPECT_EQ(registry_.Find("c-app")->state, ClientState::kActive);
  EXPECT_FALSE(registry_.Find("c-app")->absent);
  EXPECT_EQ(Failure("c-app", app_secret), AuthFailure::kNone);
  EXPECT_TRUE(registry_.CheckTokenClient("c-app", app_tokens).ok());
  EXPECT_EQ(registry_.Find("c-app")->created_at, kStart);
}

// The secret of an absent client is destroyed only after the grace period,
// by OnPolicy or by the periodic RemoveLongAbsentClients; then it is removed
// for good, and back in the policy it is unregistered.
TEST_F(ClientRegistryTest, AbsentPastTheGracePeriodIsRemoved) {
  ClientRegistryOptions options;
  options.absent_client_grace = absl::Hours(24);
  ClientRegistry registry(SecretKey::Generate(), clock_, options);
  registry.OnPolicy(*policy_);
  const std::string secret = *registry.RegisterClient("c-app", "");
  const uint64_t tokens = registry.Find("c-app")->revocation;
  registry.OnPolicy(*CompileText(kWithoutApp));
  clock_.Advance(absl::Hours(24) - absl::Nanoseconds(1));
  EXPECT_EQ(registry.RemoveLongAbsentClients(), 0u);
  registry.OnPolicy(*CompileText(kWithoutApp));
  EXPECT_EQ(registry.Find("c-app")->state, ClientState::kSuspended);
  clock_.Advance(absl::Nanoseconds(1));
  const uint64_t version = registry.version();
  EXPECT_EQ(registry.RemoveLongAbsentClients(), 1u);
  EXPECT_GT(registry.version(), version);
  EXPECT_EQ(registry.Find("c-app")->state, ClientState::kRemoved);
  EXPECT_EQ(registry.Authenticate("c-app", secret).failure,
            AuthFailure::kRemovedClient);
  EXPECT_EQ(registry.RemoveLongAbsentClients(), 0u);

  registry.OnPolicy(*policy_);
  EXPECT_EQ(registry.Find("c-app")->state, ClientState::kUnregistered);
  EXPECT_EQ(registry.Authenticate("c-app", secret).failure,
            AuthFailure::kUnregisteredClient);
  EXPECT_FALSE(registry.CheckTokenClient("c-app", tokens).ok());

  // OnPolicy enforces the grace period too; the default is 30 days.
  ClientRegistry defaults(SecretKey::Generate(), clock_);
  defaults.OnPolicy(*policy_);
  (void)*defaults.RegisterClient("c-app", "");
  defaults.OnPolicy(*CompileText(kWithoutApp));
  clock_.Advance(absl::Hours(24 * 30) - absl::Nanoseconds(1));
  defaults.OnPolicy(*CompileText(kWithoutApp));
  EXPECT_EQ(defaults.Find("c-app")->state, ClientState::kSuspended);
  clock_.Advance(absl::Nanoseconds(1));
  defaults.OnPolicy(*CompileText(kWithoutApp));
  EXPECT_EQ(defaults.Find("c-app")->state, ClientState::kRemoved);
}

// RemoveClient destroys the secret and every earlier token for good, even if
// the client stays in (or returns to) the policy.
TEST_F(ClientRegistryTest, RemoveClientDestroysTheSecretAndEveryEarlierToken) {
  const std::string secret = Register("c-app");
  const uint64_t tokens = Counter("c-app");
  const uint64_t version = registry_.version();
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(registry_.RemoveClient("c-app").ok());
  EXPECT_GT(registry_.version(), version);
  EXPECT_EQ(registry_.Find("c-app")->state, ClientState::kUnregistered);
  EXPECT_EQ(Failure("c-app", secret), AuthFailure::kUnregisteredClient);
  EXPECT_FALSE(registry_.CheckTokenClient("c-app", tokens).ok());
  EXPECT_TRUE(registry_.RemoveClient("c-app").ok());  // idempotent

  // Removed while absent: removed; back in the policy: unregistered.
  registry_.OnPolicy(*CompileText(kWithoutApp));
  EXPECT_EQ(registry_.Find("c-app")->state, ClientState::kRemoved);
  registry_.OnPolicy(*policy_);
  const std::string new_secret = Register("c-app");
  EXPECT_EQ(Failure("c-app", secret), AuthFailure::kWrongSecret);
  EXPECT_EQ(Failure("c-app", new_secret), AuthFailure::kNone);
  EXPECT_FALSE(registry_.CheckTokenClient("c-app", tokens).ok());

  // A client of the policy never registered can be removed (nothing to
  // destroy); one nobody knows cannot.
  EXPECT_TRUE(registry_.RemoveClient("c-other").ok());
  EXPECT_EQ(Describe(registry_.RemoveClient("c-nobody")),
            "NOT_FOUND: unknown client \"c-nobody\"");
}

// The counter survives removal and registration again, and the clock plays
// no part: a removal and return within one clock tick (or after the clock
// stepped back) still leaves the old tokens invalid.
TEST_F(ClientRegistryTest, RemovalSurvivesRegistrationAgain) {
  Register("c-app");
  const uint64_t tokens = Counter("c-app");
  ASSERT_TRUE(registry_.RemoveClient("c-app").ok());
  clock_.Advance(-absl::Hours(1));
  Register("c-app");
  EXPECT_EQ(Counter("c-app"), tokens + 1);
  EXPECT_EQ(Describe(registry_.CheckTokenClient("c-app", tokens)),
            "UNAUTHENTICATED: revoked with every earlier token of client "
            "\"c-app\"");
  EXPECT_TRUE(registry_.CheckTokenClient("c-app", tokens + 1).ok());
}

// An operator's suspension: refused while suspended, everything kept.
TEST_F(ClientRegistryTest, SuspendAndResumeClient) {
  const std::string secret = Register("c-app");
  const uint64_t version = registry_.version();
  ASSERT_TRUE(registry_.SuspendClient("c-app").ok());
  EXPECT_GT(registry_.version(), version);
  EXPECT_EQ(registry_.Find("c-app")->state, ClientState::kSuspended);
  EXPECT_TRUE(registry_.Find("c-app")->operator_suspended);
  EXPECT_EQ(Failure("c-app", secret), AuthFailure::kSuspendedClient);
  EXPECT_EQ(Describe(registry_.CheckTokenClient("c-app", Counter("c-app"))),
            "UNAUTHENTICATED: client \"c-app\" is suspended");
  EXPECT_TRUE(registry_.SuspendClient("c-app").ok());  // idempotent
  ASSERT_TRUE(registry_.ResumeClient("c-app").ok());
  EXPECT_EQ(registry_.Find("c-app")->state, ClientState::kActive);
  EXPECT_EQ(Failure("c-app", secret), AuthFailure::kNone);
  EXPECT_TRUE(registry_.CheckTokenClient("c-app", Counter("c-app")).ok());

  // Resumed while absent: suspended until it returns.
  ASSERT_TRUE(registry_.SuspendClient("c-app").ok());
  registry_.OnPolicy(*CompileText(kWithoutApp));
  ASSERT_TRUE(registry_.ResumeClient("c-app").ok());
  EXPECT_EQ(registry_.Find("c-app")->state, ClientState::kSuspended);
  registry_.OnPolicy(*policy_);
  EXPECT_EQ(Failure("c-app", secret), AuthFailure::kNone);

  EXPECT_EQ(Describe(registry_.SuspendClient("c-other")),
            "NOT_FOUND: client \"c-other\" is not registered");
  EXPECT_EQ(Describe(registry_.ResumeClient("c-nobody")),
            "NOT_FOUND: client \"c-nobody\" is not registered");
}

TEST_F(ClientRegistryTest, FindAndList) {
  Register("c-backend", "Backend");
  EXPECT_EQ(Describe(registry_.Find("c-nobody").status()),
            "NOT_FOUND: unknown client \"c-nobody\"");
  absl::StatusOr<ClientInfo> app = registry_.Find("c-app");
  ASSERT_TRUE(app.ok());
  EXPECT_EQ(app->state, ClientState::kUnregistered);
  EXPECT_EQ(app->created_at, absl::InfinitePast());

  registry_.OnPolicy(*CompileText(kWithoutApp));  // c-app never registered
  std::vector<std::string> listed;
  for (const ClientInfo& info : registry_.List()) {
    listed.push_back(info.client_id + ":" +
                     std::string(ClientStateName(info.state)));
  }
  EXPECT_EQ(listed, (std::vector<std::string>{"c-backend:active",
                                              "c-other:unregistered"}));
}

// A registry whose key bytes are known, as a service that persists them.
struct KeyedRegistry {
  explicit KeyedRegistry(const Clock& clock)
      : key_bytes(KeyBytes()),
        registry(*SecretKey::FromBytes(key_bytes), clock) {}
  static std::vector<uint8_t> KeyBytes() {
    const SecretKey key = SecretKey::Generate();
    return std::vector<uint8_t>(key.bytes().begin(), key.bytes().end());
  }
  std::vector<uint8_t> key_bytes;
  ClientRegistry registry;
};

TEST_F(ClientRegistryTest, ExportHoldsDigestsOnlyAndImportRestores) {
  KeyedRegistry before(clock_);
  before.registry.OnPolicy(*policy_);
  const std::string backend =
      *before.registry.RegisterClient("c-backend", "Backend");
  ASSERT_TRUE(before.registry.RegisterClient("c-app", "").ok());
  clock_.Advance(absl::Seconds(1));
  before.registry.OnPolicy(*CompileText(kWithoutApp));  // c-app suspended
  absl::StatusOr<std::string> exported = before.registry.Export();
  ASSERT_TRUE(exported.ok()) << exported.status();
  // Neither the text nor the bytes of the secret appear.
  EXPECT_FALSE(absl::StrContains(*exported, backend));
  absl::StatusOr<TokenBytes> bytes = ParseToken(backend);
  ASSERT_TRUE(bytes.ok());
  EXPECT_FALSE(absl::StrContains(
      *exported,
      absl::string_view(reinterpret_cast<const char*>(bytes->bytes().data()),
                        bytes->bytes().size())));
  // Equal registries export equal bytes.
  EXPECT_EQ(*before.registry.Export(), *exported);
  v1::ClientRegistrySnapshot snapshot;
  ASSERT_TRUE(snapshot.ParseFromString(testing::OpenSeal(*exported).payload()));
  ASSERT_EQ(snapshot.clients_size(), 2);
  EXPECT_EQ(snapshot.version(), 2u);
  EXPECT_EQ(snapshot.clients(0).client_id(), "c-app");
  EXPECT_TRUE(snapshot.clients(0).absent());
  EXPECT_EQ(snapshot.clients(0).absent_since_unix_nanos(),
            absl::ToUnixNanos(kStart + absl::Seconds(1)));
  EXPECT_EQ(snapshot.clients(0).secret_digest().size(), 32u);
  EXPECT_EQ(snapshot.clients(1).client_id(), "c-backend");
  EXPECT_EQ(snapshot.clients(1).secret_digest().size(), 32u);

  // A restarted process: the same key, the policy loaded first.
  ClientRegistry after(*SecretKey::FromBytes(before.key_bytes), clock_);
  after.OnPolicy(*CompileText(kWithoutApp));
  ASSERT_TRUE(after.Import(*exported).ok());
  EXPECT_TRUE(after.Authenticate("c-backend", backend).ok());
  EXPECT_EQ(after.Find("c-app")->state, ClientState::kSuspended);
  EXPECT_EQ(after.Find("c-backend")->display_name, "Backend");
  EXPECT_EQ(*after.Export(), *exported);
  EXPECT_EQ(Describe(after.Import(*exported)),
            "FAILED_PRECONDITION: client registry import: the registry is not "
            "empty");

  // Another key: the export is refused, since its MAC is made under a key
  // derived from the registry's (and its digests would match nothing).
  ClientRegistry other_key(SecretKey::Generate(), clock_);
  other_key.OnPolicy(*policy_);
  EXPECT_EQ(Describe(other_key.Import(*exported)),
            "INVALID_ARGUMENT: client registry import: MAC mismatch: edited, "
            "corrupted or sealed under another key");
  EXPECT_EQ(other_key.Find("c-backend")->state, ClientState::kUnregistered);
  // Imported into a registry whose policy lists c-app again: it is back,
  // active; one whose policy lacks c-backend suspends it.
  ClientRegistry returned(*SecretKey::FromBytes(before.key_bytes), clock_);
  returned.OnPolicy(*policy_);
  ASSERT_TRUE(returned.Import(*exported).ok());
  EXPECT_EQ(returned.Find("c-app")->state, ClientState::kActive);
  EXPECT_TRUE(returned.Authenticate("c-backend", backend).ok());
  ClientRegistry without_backend(*SecretKey::FromBytes(before.key_bytes),
                                 clock_);
  without_backend.OnPolicy(*CompileText(R"pb(
    catalog {
      object_types {
        name: "payable"
        actions { name: "read" }
      }
    }
    entities { id: "e-1" partner_id: "p-1" }
    credentials { client_id: "c-app" partner_id: "p-1" scopes: "all:read" }
  )pb"));
  const uint64_t version = without_backend.version();
  ASSERT_TRUE(without_backend.Import(*exported).ok());
  EXPECT_GT(without_backend.version(), version);
  EXPECT_EQ(without_backend.Authenticate("c-backend", backend).failure,
            AuthFailure::kSuspendedClient);
}

// The key of the registries ImportErrors and ImportRejectsTampering import
// into, known to the test so that it can seal snapshots as Export would.
const SecretKey& ImportKey() {
  static const SecretKey* const key = new SecretKey(SecretKey::Generate());
  return *key;
}

SecretKey CopyOfImportKey() {
  return *SecretKey::FromBytes(ImportKey().bytes());
}

// A snapshot sealed under ImportKey(), computed independently of the library.
std::string Seal(const v1::ClientRegistrySnapshot& snapshot) {
  return testing::Seal(snapshot, ImportKey());
}

v1::ClientRecord ValidRecord(const std::string& client_id) {
  v1::ClientRecord record;
  record.set_client_id(client_id);
  record.set_secret_digest(std::string(32, '\x07'));
  record.set_created_at_unix_nanos(absl::ToUnixNanos(kStart));
  record.set_updated_at_unix_nanos(absl::ToUnixNanos(kStart));
  record.set_revocation(1);
  return record;
}

TEST_F(ClientRegistryTest, ImportErrors) {
  auto snapshot_with = [](auto mutate) {
    v1::ClientRegistrySnapshot snapshot;
    snapshot.set_version(2);
    *snapshot.add_clients() = ValidRecord("c-backend");
    mutate(snapshot);
    return Seal(snapshot);
  };
  v1::SealedSnapshot corrupted_seal =
      testing::OpenSeal(snapshot_with([](auto&) {}));
  corrupted_seal.mutable_payload()->at(corrupted_seal.payload().size() / 2) ^=
      0x01;
  const std::string corrupted = corrupted_seal.SerializeAsString();
  v1::SealedSnapshot no_mac = corrupted_seal;
  no_mac.clear_mac();
  struct Case {
    const char* name;
    std::string serialized;
    const char* message;
  };
  const Case cases[] = {
      {"not a protobuf", "\xff\xff\xff", "not a serialized SealedSnapshot"},
      {"empty", "", "unsupported format version 0 (expected 2)"},
      {"newer version", snapshot_with([](auto& s) { s.set_version(3); }),
       "unsupported version 3 (expected 2)"},
      {"older version", snapshot_with([](auto& s) { s.set_version(1); }),
       "unsupported version 1 (expected 2): version 1 dropped the secrets of "
       "clients that left the policy and dated token revocations by the wall "
       "clock; it cannot be converted: register the clients again"},
      {"no MAC", no_mac.SerializeAsString(), "MAC is missing (truncated?)"},
      {"corrupted", corrupted,
       "MAC mismatch: edited, corrupted or sealed under another key"},
      {"sealed under another key",
       testing::Seal(v1::ClientRegistrySnapshot(), SecretKey::Generate()),
       "MAC mismatch: edited, corrupted or sealed under another key"},
      {"a token store's export",
       testing::SealPayload(ImportKey(),
                            "portcullis.auth.v1.TokenStoreSnapshot", ""),
       "holds a portcullis.auth.v1.TokenStoreSnapshot, not a "
       "portcullis.auth.v1.ClientRegistrySnapshot"},
      {"empty client id",
       snapshot_with([](auto& s) { s.mutable_clients(0)->clear_client_id(); }),
       "clients[0]: client_id is empty"},
      {"short digest", snapshot_with([](auto& s) {
         s.mutable_clients(0)->set_secret_digest(std::string(31, 'x'));
       }),
       "clients[0]: secret_digest: digest: expected 32 bytes, got 31"},
      {"zero digest", snapshot_with([](auto& s) {
         s.mutable_clients(0)->set_secret_digest(std::string(32, '\0'));
       }),
       "clients[0]: secret_digest is all zero"},
      {"suspended without a secret", snapshot_with([](auto& s) {
         s.mutable_clients(0)->clear_secret_digest();
         s.mutable_clients(0)->set_operator_suspended(true);
       }),
       "clients[0]: a suspended client has a secret"},
      {"absent_since without absent", snapshot_with([](auto& s) {
         s.mutable_clients(0)->set_absent_since_unix_nanos(1);
       }),
       "clients[0]: absent_since is set for a client that is not absent"},
      {"updated before created", snapshot_with([](auto& s) {
         s.mutable_clients(0)->set_updated_at_unix_nanos(
             absl::ToUnixNanos(kStart) - 1);
       }),
       "clients[0]: updated_at is before created_at"},
      {"duplicate", snapshot_with([](auto& s) {
         *s.add_clients() = ValidRecord("c-backend");
       }),
       "clients[1]: duplicate client_id (also clients[0])"},
      {"every problem listed", snapshot_with([](auto& s) {
         *s.add_clients() = ValidRecord("");
         s.mutable_clients(1)->clear_secret_digest();
         s.mutable_clients(1)->set_operator_suspended(true);
       }),
       "clients[1]: client_id is empty; clients[1]: a suspended client has a "
       "secret"},
      {"zero revocation counter",
       snapshot_with([](auto& s) { s.mutable_clients(0)->set_revocation(0); }),
       "clients[0]: revocation is 0"},
      {"unknown field", snapshot_with([](auto& s) {
         s.GetReflection()->MutableUnknownFields(&s)->AddVarint(99, 1);
       }),
       "unknown fields (written by a newer version?)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ClientRegistry registry(CopyOfImportKey(), clock_);
    const absl::Status status = registry.Import(c.serialized);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(),
              std::string("client registry import: ") + c.message);
    EXPECT_TRUE(registry.List().empty());
  }
  ClientRegistry registry(CopyOfImportKey(), clock_);
  EXPECT_TRUE(registry.Import(snapshot_with([](auto&) {})).ok());
}

// Whoever can write a registry's export but does not hold its key cannot
// lift a suspension, move a revocation counter back (reviving revoked tokens)
// or swap a secret's digest: each edit is refused whether the MAC is left
// alone or replaced by an unkeyed checksum. Sealed with the key, the same
// edits import (the last check), so the MAC is what refuses them.
TEST_F(ClientRegistryTest, ImportRejectsTampering) {
  v1::ClientRegistrySnapshot snapshot;
  snapshot.set_version(2);
  *snapshot.add_clients() = ValidRecord("c-backend");
  v1::ClientRecord& removed = *snapshot.add_clients() = ValidRecord("c-gone");
  removed.clear_secret_digest();
  removed.set_absent(true);
  removed.set_absent_since_unix_nanos(absl::ToUnixNanos(kStart));
  removed.set_revocation(5);
  *snapshot.add_clients() = ValidRecord("c-held");
  snapshot.mutable_clients(2)->set_operator_suspended(true);
  const std::string exported = Seal(snapshot);
  const v1::SealedSnapshot sealed = testing::OpenSeal(exported);
  struct Edit {
    const char* name;
    void (*apply)(v1::ClientRegistrySnapshot& s);
  };
  const Edit edits[] = {
      {"lift a suspension",
       [](v1::ClientRegistrySnapshot& s) {
         s.mutable_clients(2)->set_operator_suspended(false);
       }},
      {"move the revocation counter back",
       [](v1::ClientRegistrySnapshot& s) {
         s.mutable_clients(1)->set_revocation(4);
       }},
      {"give a removed client a secret",
       [](v1::ClientRegistrySnapshot& s) {
         s.mutable_clients(1)->set_secret_digest(s.clients(0).secret_digest());
       }},
      {"rename",
       [](v1::ClientRegistrySnapshot& s) {
         s.mutable_clients(0)->set_display_name("Trusted");
       }},
  };
  for (const Edit& edit : edits) {
    SCOPED_TRACE(edit.name);
    v1::ClientRegistrySnapshot changed = snapshot;
    edit.apply(changed);
    v1::SealedSnapshot same_mac = sealed;
    same_mac.set_payload(changed.SerializeAsString());
    v1::SealedSnapshot unkeyed = same_mac;
    unkeyed.set_mac(testing::UnkeyedChecksum(unkeyed.payload()));
    for (const v1::SealedSnapshot& input : {same_mac, unkeyed}) {
      ClientRegistry registry(CopyOfImportKey(), clock_);
      EXPECT_EQ(Describe(registry.Import(input.SerializeAsString())),
                "INVALID_ARGUMENT: client registry import: MAC mismatch: "
                "edited, corrupted or sealed under another key");
      EXPECT_TRUE(registry.List().empty());
    }
    ClientRegistry registry(CopyOfImportKey(), clock_);
    EXPECT_TRUE(registry.Import(Seal(changed)).ok());
  }
}

// A registry whose clock is behind the records it imported (another host's
// clock, or a clock stepped back) reconciles them without dating a change
// before the client's creation, so its own export imports again. Found by
// tests/fuzz/sealed_snapshot_fuzzer (regressions/sealed_snapshot/
// crash-75f44606ec7b88d1).
TEST_F(ClientRegistryTest, ReconcilingNeverDatesAChangeBeforeCreation) {
  v1::ClientRegistrySnapshot snapshot;
  snapshot.set_version(2);
  v1::ClientRecord& later = *snapshot.add_clients() = ValidRecord("c-app");
  const int64_t an_hour_ahead = absl::ToUnixNanos(kStart + absl::Hours(1));
  later.set_created_at_unix_nanos(an_hour_ahead);
  later.set_updated_at_unix_nanos(an_hour_ahead);
  ClientRegistry registry(CopyOfImportKey(), clock_);  // the clock: kStart
  registry.OnPolicy(*CompileText(kWithoutApp));        // c-app is absent
  ASSERT_TRUE(registry.Import(Seal(snapshot)).ok());
  ASSERT_EQ(registry.Find("c-app")->state, ClientState::kSuspended);
  EXPECT_EQ(registry.Find("c-app")->updated_at, kStart + absl::Hours(1));
  absl::StatusOr<std::string> exported = registry.Export();
  ASSERT_TRUE(exported.ok()) << exported.status();
  ClientRegistry again(CopyOfImportKey(), clock_);
  EXPECT_TRUE(again.Import(*exported).ok()) << again.Import(*exported);
}

// Authentications race with rotations and policy reloads: each sees the
// secret before or after, never a torn state.
TEST_F(ClientRegistryTest, ConcurrentAuthenticateRotateAndReload) {
  std::string first = Register("c-backend");
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::atomic<int> authenticated{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 300 && !stop.load(); ++i) {
        const Authentication a = registry_.Authenticate("c-backend", first);
        if (a.ok()) authenticated.fetch_add(1);
        (void)registry_.CheckTokenClient("c-backend", 1);
        (void)registry_.Find("c-app");
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(registry_.RotateSecret("c-backend").ok());
    registry_.OnPolicy(i % 2 == 0 ? *policy_ : *CompileText(kPolicy));
  }
  stop.store(true);
  for (std::thread& thread : threads) thread.join();
  // The first secret was rotated away at some point: later checks fail.
  EXPECT_EQ(Failure("c-backend", first), AuthFailure::kWrongSecret);
}

}  // namespace
}  // namespace portcullis::auth
