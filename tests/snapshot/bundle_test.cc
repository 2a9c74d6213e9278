// Bundles: round trips keep every answer and statistic; every kind of damage
// is refused with its own exact message; no bytes crash the loader.
#include "engine/snapshot/bundle.h"

#include <sodium.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/load/policy_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/check.pb.h"
#include "tests/random_policy.h"

namespace portcullis {
namespace {

using ::testing::HasSubstr;

constexpr absl::string_view kSmallPolicy = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
      actions { name: "delete" }
    }
    object_types {
      name: "entity"
      actions { name: "update" partner_only: true }
    }
  }
  roles {
    id: "r-admin"
    name: "Admin"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED }
      }
    }
  }
  roles {
    id: "r-clerk"
    name: "Clerk"
    entity_id: "e-1"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED_FOR_OWN }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-clerk" }
  entities { id: "e-2" partner_id: "p-1" default_role_id: "r-admin" }
  entities { id: "e-3" partner_id: "p-2" }
  credentials {
    client_id: "c-1"
    partner_id: "p-1"
    entity_ids: "e-1"
    scopes: "payable:read"
  }
  credentials {
    client_id: "c-2"
    partner_id: "p-2"
    scopes: "all:write"
    rate_limit { count: 10 interval_seconds: 60 }
  }
)pb";

// Section ids, as engine/snapshot/bundle_format.cc numbers them.
enum : uint32_t {
  kScalars = 1,
  kObjectTypeOffsets = 2,
  kObjectTypeChars = 3,
  kTypeBase = 4,
  kSlots = 5,
  kEntityPartner = 13,
  kEntityDefaultRole = 14,
  kRoleOffsets = 15,
  kRoleChars = 16,
  kRoleOwner = 17,
  kRoleRow = 18,
  kPermissions = 19,
  kCredentialPartner = 24,
  kCredentialScopeRow = 25,
  kCredentialRestriction = 26,
  kCredentialRateLimit = 27,
  kCredentialEntities = 32,
  kScopeRows = 33,
  kRestrictionBits = 34,
};

std::shared_ptr<const CompiledPolicy> CompileText(absl::string_view text) {
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(text);
  EXPECT_TRUE(set.ok()) << set.status();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(*set);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

std::string Serialize(const CompiledPolicy& policy,
                      const BundleOptions& options = BundleOptions()) {
  absl::StatusOr<std::string> bytes = SerializeBundle(policy, options);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *bytes;
}

template <typename T>
T Get(const std::string& bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

template <typename T>
void Set(std::string& bytes, size_t offset, T value) {
  std::memcpy(&bytes[offset], &value, sizeof(T));
}

// The offset of section `id`'s 16-byte header.
size_t SectionAt(const std::string& bytes, uint32_t id) {
  size_t at = kBundleHeaderBytes;
  while (Get<uint32_t>(bytes, at) != id) {
    const uint64_t data =
        Get<uint32_t>(bytes, at + 4) * Get<uint64_t>(bytes, at + 8);
    at += 16 + (data + 7) / 8 * 8;
  }
  return at;
}

size_t DataAt(const std::string& bytes, uint32_t id) {
  return SectionAt(bytes, id) + 16;
}

// Recomputes the digest, as someone editing an unkeyed bundle would.
// Recomputes the digest of the header and the body, which ends at `end`
// (default: the end of `bytes`; a signed bundle's signature follows it).
void Reseal(std::string& bytes, absl::string_view key = "",
            size_t end = std::string::npos) {
  if (end == std::string::npos) end = bytes.size();
  crypto_generichash_state state;
  crypto_generichash_init(&state,
                          reinterpret_cast<const unsigned char*>(key.data()),
                          key.size(), 32);
  crypto_generichash_update(
      &state, reinterpret_cast<const unsigned char*>(bytes.data()), 32);
  crypto_generichash_update(
      &state, reinterpret_cast<const unsigned char*>(bytes.data()) + 64,
      end - 64);
  crypto_generichash_final(&state, reinterpret_cast<unsigned char*>(&bytes[32]),
                           32);
}

void SetBodyBytes(std::string& bytes) {
  Set<uint64_t>(bytes, 16, bytes.size() - kBundleHeaderBytes);
}

void ExpectSameAnswers(const CompiledPolicy& a, const CompiledPolicy& b,
                       const std::vector<CheckRequestView>& requests) {
  for (const CheckRequestView& request : requests) {
    const Decision da = Check(a, request);
    const Decision db = Check(b, request);
    if (da != db) {
      ADD_FAILURE() << request.object_type << "." << request.action << " in "
                    << request.entity_id << " for " << request.client_id << "/"
                    << request.user_entity_id << "/" << request.role_id << ": "
                    << VerdictName(da.verdict) << " (" << ReasonName(da.reason)
                    << ") vs " << VerdictName(db.verdict) << " ("
                    << ReasonName(db.reason) << ")";
      return;
    }
  }
}

void ExpectSameStats(const PolicyStats& a, const PolicyStats& b) {
  EXPECT_EQ(a.object_types, b.object_types);
  EXPECT_EQ(a.actions, b.actions);
  EXPECT_EQ(a.roles, b.roles);
  EXPECT_EQ(a.distinct_permission_rows, b.distinct_permission_rows);
  EXPECT_EQ(a.entities, b.entities);
  EXPECT_EQ(a.partners, b.partners);
  EXPECT_EQ(a.credentials, b.credentials);
  EXPECT_EQ(a.distinct_scope_rows, b.distinct_scope_rows);
  EXPECT_EQ(a.memory_bytes, b.memory_bytes);
}

// Loads `set` both ways and compares everything a caller can observe.
void ExpectRoundTrip(const v1::PolicySet& set) {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled = Compile(set);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const std::string bytes = Serialize(**compiled);
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> loaded =
      ParseBundle(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_NE((*loaded)->snapshot(), (*compiled)->snapshot());
  ExpectSameStats((*compiled)->Stats(), (*loaded)->Stats());
  ExpectSameAnswers(**compiled, **loaded, testing::AllRequests(set, 200000));
  // Canonical: the loaded policy serializes to the same bytes and digest.
  EXPECT_EQ(Serialize(**loaded), bytes);
  EXPECT_EQ(DigestOf(**loaded), DigestOf(**compiled));
  absl::StatusOr<BundleInfo> info = ParseBundleHeader(bytes);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->digest, DigestOf(**compiled));
}

TEST(BundleTest, RoundTripsTheExamples) {
  for (const std::vector<std::string>& paths :
       {std::vector<std::string>{"examples/monite"},
        std::vector<std::string>{"examples/monta/policy.txtpb"}}) {
    SCOPED_TRACE(paths[0]);
    absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles(paths);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ExpectRoundTrip(loaded->policy);
  }
}

TEST(BundleTest, RoundTripsTheExampleRequests) {
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles({"examples/monite"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      Compile(loaded->policy);
  ASSERT_TRUE(compiled.ok());
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> reloaded =
      ParseBundle(Serialize(**compiled));
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  std::ifstream in("examples/monite/requests.jsonl");
  int requests = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    v1::CheckRequest request;
    ASSERT_TRUE(ParseJsonMessage(line, request).ok()) << line;
    EXPECT_EQ(Check(**compiled, ViewOf(request)),
              Check(**reloaded, ViewOf(request)))
        << line;
    ++requests;
  }
  EXPECT_GT(requests, 20);
}

TEST(BundleTest, RoundTripsRandomPolicies) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    testing::SizedPolicyOptions options;
    options.seed = seed;
    options.object_types = 1 + static_cast<int>(seed % 7);
    options.max_actions_per_type = 1 + static_cast<int>(seed % 8);
    options.entities = static_cast<int>(seed % 9);
    options.partners = 1 + static_cast<int>(seed % 3);
    options.roles = static_cast<int>(seed % 11);
    options.credentials = static_cast<int>(seed % 6);
    options.role_patterns = seed % 2 == 0 ? 3 : 0;
    ExpectRoundTrip(testing::SizedRandomPolicy(options));
  }
}

TEST(BundleTest, RoundTripsAWidePolicy) {
  // Rows of several words, restrictions over more than 64 entities.
  testing::SizedPolicyOptions options;
  options.seed = 99;
  options.object_types = 40;
  options.max_actions_per_type = 8;
  options.entities = 150;
  options.partners = 2;
  options.roles = 30;
  options.credentials = 12;
  options.max_types_per_role = 10;
  ExpectRoundTrip(testing::SizedRandomPolicy(options));
}

TEST(BundleTest, DigestDependsOnContentOnly) {
  const auto a = CompileText(kSmallPolicy);
  const auto b = CompileText(kSmallPolicy);
  EXPECT_NE(a->snapshot(), b->snapshot());
  EXPECT_EQ(DigestOf(*a), DigestOf(*b));
  EXPECT_EQ(DigestOf(*a).ToHex().size(), 64u);
  const auto c = CompileText(absl::StrCat(
      kSmallPolicy, R"pb(entities { id: "e-4" partner_id: "p-2" })pb"));
  EXPECT_NE(DigestOf(*a), DigestOf(*c));
}

TEST(BundleTest, KeyedBundles) {
  const auto policy = CompileText(kSmallPolicy);
  BundleOptions keyed;
  keyed.key = std::string(kBundleKeyBytes, 'k');
  const std::string bytes = Serialize(*policy, keyed);
  EXPECT_TRUE(ParseBundleHeader(bytes)->keyed);
  EXPECT_NE(ParseBundleHeader(bytes)->digest, DigestOf(*policy));

  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> loaded =
      ParseBundle(bytes, keyed);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(DigestOf(**loaded), DigestOf(*policy));

  struct Case {
    const char* name;
    std::string bytes;
    std::string key;
    absl::StatusCode code;
    std::string message;
  };
  BundleOptions other;
  other.key = std::string(kBundleKeyBytes, 'x');
  std::string resealed_without_key = bytes;
  Set<uint32_t>(resealed_without_key, 12, 1);
  Reseal(resealed_without_key);
  const Case cases[] = {
      {"no_key", bytes, "", absl::StatusCode::kInvalidArgument,
       "the bundle's digest is keyed: a key is needed to verify it"},
      {"unkeyed_bundle_with_key", Serialize(*policy), keyed.key,
       absl::StatusCode::kInvalidArgument,
       "the bundle's digest is not keyed but a key was given: refusing a "
       "bundle that cannot be authenticated"},
      {"wrong_key", bytes, other.key, absl::StatusCode::kDataLoss,
       "digest mismatch: the bundle is corrupted or was modified after it was "
       "written"},
      {"resealed_by_someone_without_the_key", resealed_without_key, keyed.key,
       absl::StatusCode::kDataLoss,
       "digest mismatch: the bundle is corrupted or was modified after it was "
       "written"},
      {"short_key", bytes, "short", absl::StatusCode::kInvalidArgument,
       "a bundle key is 32 bytes; got 5"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BundleOptions options;
    options.key = c.key;
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> result =
        ParseBundle(c.bytes, options);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), c.code);
    EXPECT_EQ(std::string(result.status().message()), c.message);
  }
  BundleOptions bad;
  bad.key = "short";
  EXPECT_EQ(std::string(SerializeBundle(*policy, bad).status().message()),
            "a bundle key is 32 bytes; got 5");
}

// Signed bundles: the signer holds the secret key, a service only public
// keys, which cannot forge. The signature is checked before anything else.
TEST(BundleTest, SignedBundles) {
  const auto policy = CompileText(kSmallPolicy);
  absl::StatusOr<Ed25519KeyPair> k1 = Ed25519KeyPair::Generate("k1");
  absl::StatusOr<Ed25519KeyPair> k2 = Ed25519KeyPair::Generate("k2");
  ASSERT_TRUE(k1.ok() && k2.ok());
  BundleOptions signing;
  signing.signing_key = std::make_shared<Ed25519KeyPair>(*std::move(k1));
  const std::string bytes = Serialize(*policy, signing);
  ASSERT_EQ(bytes.size(), Serialize(*policy).size() + kBundleSignatureBytes);
  const absl::StatusOr<BundleInfo> info = ParseBundleHeader(bytes);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->is_signed);
  EXPECT_EQ(info->key_id, "k1");
  EXPECT_FALSE(info->keyed);
  BundleOptions verifying;
  verifying.verification_keys = {k2->public_key(),
                                 signing.signing_key->public_key()};
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> loaded =
      ParseBundle(bytes, verifying);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(DigestOf(**loaded), DigestOf(*policy));
  // Without verification keys a signed bundle loads on its digest alone.
  EXPECT_TRUE(ParseBundle(bytes).ok());

  // Damage anywhere: the header, the body (resealed, as someone without the
  // key would), the key id, the signature.
  std::string body_edit = bytes;
  body_edit[kBundleHeaderBytes + 40] ^= 1;
  Reseal(body_edit, "", body_edit.size() - kBundleSignatureBytes);
  std::string renamed = bytes;
  renamed[bytes.size() - kBundleSignatureBytes] = 'x';  // "x1": unknown key
  std::string forged = bytes;
  forged.back() ^= 1;
  BundleOptions only_k2;
  only_k2.verification_keys = {k2->public_key()};
  const std::string signature_mismatch =
      "signature mismatch: the bundle was modified after it was signed, or "
      "was not signed by key \"k1\"";
  struct Case {
    const char* name;
    std::string bytes;
    const BundleOptions* options;
    absl::StatusCode code;
    std::string message;
  };
  const Case cases[] = {
      {"body_edited_and_resealed", body_edit, &verifying,
       absl::StatusCode::kDataLoss, signature_mismatch},
      {"signature_flipped", forged, &verifying, absl::StatusCode::kDataLoss,
       signature_mismatch},
      {"key_id_edited", renamed, &verifying, absl::StatusCode::kInvalidArgument,
       "the bundle is signed by unknown key \"x1\" (known: \"k2\", \"k1\")"},
      {"signed_by_a_key_no_longer_trusted", bytes, &only_k2,
       absl::StatusCode::kInvalidArgument,
       "the bundle is signed by unknown key \"k1\" (known: \"k2\")"},
      {"unsigned_bundle_with_verification_keys", Serialize(*policy), &verifying,
       absl::StatusCode::kInvalidArgument,
       "the bundle is not signed, and verification keys are configured: "
       "refusing a bundle that cannot be authenticated"},
      {"signature_cut_off", bytes.substr(0, bytes.size() - 1), &verifying,
       absl::StatusCode::kDataLoss,
       absl::StrCat("truncated bundle: the header announces ", info->body_bytes,
                    " body bytes and a signature; ",
                    bytes.size() - 1 - kBundleHeaderBytes, " are present")},
      {"bytes_after_the_signature", bytes + "x", &verifying,
       absl::StatusCode::kDataLoss,
       "malformed bundle: 1 bytes after the signature"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> result =
        ParseBundle(c.bytes, *c.options);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), c.code);
    EXPECT_EQ(std::string(result.status().message()), c.message);
  }

  BundleOptions both = signing;
  both.key = std::string(kBundleKeyBytes, 'k');
  EXPECT_EQ(std::string(SerializeBundle(*policy, both).status().message()),
            "a bundle is either signed or keyed, not both: the signature "
            "already authenticates it");
}

struct Corruption {
  const char* name;
  std::function<void(std::string&)> damage;
  bool reseal;  // recompute the digest afterwards, as a deliberate edit would
  absl::StatusCode code;
  std::string message;
};

class BundleCorruptionTest : public ::testing::TestWithParam<Corruption> {};

TEST_P(BundleCorruptionTest, IsRefusedWithItsMessage) {
  const Corruption& c = GetParam();
  const auto policy = CompileText(kSmallPolicy);
  std::string bytes = Serialize(*policy);
  ASSERT_TRUE(ParseBundle(bytes).ok());
  c.damage(bytes);
  if (c.reseal) Reseal(bytes);
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> loaded =
      ParseBundle(bytes);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), c.code);
  EXPECT_EQ(std::string(loaded.status().message()), c.message);
}

// kSmallPolicy's permissions section: 0 (row 0), 0 (so that offset 0 reads
// as a zero word), r-admin's word at 2 (5: read and approve allowed; two
// entries), its row at 4 (offset 2), r-clerk's word at 5 (2: read
// allowed_for_own), its row at 7 (offset 5).
const char kDigestMismatch[] =
    "digest mismatch: the bundle is corrupted or was modified after it was "
    "written";

INSTANTIATE_TEST_SUITE_P(
    Bundle, BundleCorruptionTest,
    ::testing::Values(
        // The header and the digest.
        Corruption{"shorter_than_a_header",
                   [](std::string& b) { b.resize(10); }, false,
                   absl::StatusCode::kDataLoss,
                   "truncated bundle: 10 bytes, less than the 64-byte header"},
        Corruption{"wrong_magic", [](std::string& b) { b[1] = 'X'; }, false,
                   absl::StatusCode::kInvalidArgument,
                   "not a Portcullis bundle: wrong magic number"},
        // Version 1 stored role display names and dense permission rows.
        Corruption{"old_version",
                   [](std::string& b) { Set<uint32_t>(b, 8, 1); }, false,
                   absl::StatusCode::kInvalidArgument,
                   "unsupported bundle format version 1; this build reads "
                   "version 2"},
        Corruption{"unknown_flags",
                   [](std::string& b) { Set<uint32_t>(b, 12, 4); }, false,
                   absl::StatusCode::kInvalidArgument,
                   "unknown bundle flags 0x4"},
        Corruption{"reserved_field",
                   [](std::string& b) { Set<uint32_t>(b, 28, 1); }, false,
                   absl::StatusCode::kInvalidArgument,
                   "unknown bundle flags 0x0 and a non-zero reserved field"},
        Corruption{"truncated_body",
                   [](std::string& b) { b.resize(b.size() - 1); }, false,
                   absl::StatusCode::kDataLoss,
                   "truncated bundle: the header announces 1064 body bytes; "
                   "1063 are present"},
        Corruption{"bytes_after_the_body",
                   [](std::string& b) { b.append("abc"); }, false,
                   absl::StatusCode::kDataLoss,
                   "malformed bundle: 3 bytes after the body"},
        Corruption{"flipped_body_bit",
                   [](std::string& b) { b[DataAt(b, kRoleRow)] ^= 1; }, false,
                   absl::StatusCode::kDataLoss, kDigestMismatch},
        Corruption{"flipped_digest_bit", [](std::string& b) { b[40] ^= 1; },
                   false, absl::StatusCode::kDataLoss, kDigestMismatch},
        Corruption{"edited_header_body_length",
                   [](std::string& b) {
                     b.append(8, '\0');
                     SetBodyBytes(b);
                   },
                   false, absl::StatusCode::kDataLoss, kDigestMismatch},

        // Sections, after a deliberate edit that recomputed the digest.
        Corruption{"section_count",
                   [](std::string& b) { Set<uint32_t>(b, 24, 37); }, true,
                   absl::StatusCode::kDataLoss,
                   "malformed bundle: the header announces 37 sections; format "
                   "version 2 has 34"},
        Corruption{
            "section_id",
            [](std::string& b) { Set<uint32_t>(b, SectionAt(b, kSlots), 99); },
            true, absl::StatusCode::kDataLoss,
            "malformed bundle: expected section 5 (slots), found id 99"},
        Corruption{"element_size",
                   [](std::string& b) {
                     Set<uint32_t>(b, SectionAt(b, kSlots) + 4, 4);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "malformed bundle: section 5 (slots) has 4-byte elements; "
                   "expected 8"},
        Corruption{"count_past_the_end",
                   [](std::string& b) {
                     Set<uint64_t>(b, SectionAt(b, kPermissions) + 8,
                                   uint64_t{1} << 40);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "malformed bundle: section 19 (permissions) claims "
                   "1099511627776 elements; 464 bytes remain"},
        Corruption{"missing_section",
                   [](std::string& b) {
                     b.resize(SectionAt(b, kPermissions));
                     SetBodyBytes(b);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "malformed bundle: section 19 (permissions) is missing"},
        Corruption{"bytes_after_the_last_section",
                   [](std::string& b) {
                     b.append(8, '\0');
                     SetBodyBytes(b);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "malformed bundle: 8 bytes after the last section"},
        Corruption{
            "non_zero_padding",
            [](std::string& b) { b[DataAt(b, kObjectTypeChars) + 13] = 'x'; },
            true, absl::StatusCode::kDataLoss,
            "malformed bundle: section 3 (object_types.chars) has "
            "non-zero padding"},

        // Tables that disagree with each other.
        Corruption{"offsets_decrease",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kObjectTypeOffsets) + 4, 100);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: object_types.offsets[2] = 13 is less "
                   "than the offset before it, 100"},
        Corruption{"empty_name",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kRoleOffsets) + 4, 0);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: roles[0] is empty"},
        Corruption{"duplicate_name",
                   [](std::string& b) {
                     std::memcpy(&b[DataAt(b, kRoleChars)], "r-clerk", 7);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: roles[1] = \"r-clerk\" repeats an "
                   "earlier name"},
        Corruption{
            "row_words",
            [](std::string& b) { Set<uint32_t>(b, DataAt(b, kScalars), 2); },
            true, absl::StatusCode::kDataLoss,
            "inconsistent bundle: rows of 2 and 1 words; 4 actions and 2 "
            "object types need 1 and 1"},
        Corruption{"type_base_not_increasing",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kTypeBase) + 8, 3);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: type_base[2] = 3 is not greater than "
                   "type_base[1] = 3"},
        Corruption{"type_base_end",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kTypeBase) + 8, 5);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: type_base ends at 5; expected 4"},
        Corruption{"slot_object_type",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kSlots) + 3 * 8, 0);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: slot 3 says object type 0 action 0; "
                   "type_base puts it at object type 1 action 0"},
        Corruption{
            "slot_level", [](std::string& b) { b[DataAt(b, kSlots) + 6] = 0; },
            true, absl::StatusCode::kDataLoss,
            "inconsistent bundle: slot 0 has level 0 and partner_only 0"},
        Corruption{"entity_partner",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kEntityPartner) + 4, 1);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: entity 1 says partner 1; "
                   "partner_entity_begin says 0"},
        Corruption{"default_role_out_of_range",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kEntityDefaultRole) + 8, 7);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: entity 2: default role 7 of 2"},
        Corruption{"default_role_of_another_entity",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kEntityDefaultRole) + 4, 1);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: entity 1: default role 1 is owned by "
                   "entity 0"},
        Corruption{"role_owner_out_of_range",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kRoleOwner) + 4, 3);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: role 1 is owned by entity 3 of 3"},
        Corruption{"role_row_out_of_range",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kRoleRow) + 4, 8);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: role 1: row offset 8 + 1 is past the "
                   "8 entries of permissions"},
        Corruption{"row_zero_grants",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kPermissions), 2);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: permission row 0 (entry 0) is not "
                   "zero; it must deny everything"},
        Corruption{"word_zero_not_zero",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kPermissions) + 4, 1);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: permission row 0 (entry 1) is not "
                   "zero; it must deny everything"},
        Corruption{"word_offset_out_of_range",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kPermissions) + 7 * 4, 7);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: role 1: word 0 at offset 7 is past "
                   "the 8 entries of permissions"},
        Corruption{"permission_code_3",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kPermissions) + 2 * 4, 3);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: role 0: word 0 at offset 2 holds an "
                   "unknown permission code 3"},
        Corruption{"permission_past_the_catalog",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kPermissions) + 5 * 4, 0x102);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: role 1: word 0 at offset 5 has bits "
                   "set past its 4 slots"},
        Corruption{"permission_row_count",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kScalars) + 8, 4);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: permission_row_count is 4 for 2 "
                   "roles"},
        Corruption{"credential_partner_out_of_range",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kCredentialPartner), 2);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: credential 0: partner 2 of 2"},
        Corruption{"scope_row_out_of_range",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kCredentialScopeRow) + 4, 3);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: credential 1: scope row offset 3 + 1 "
                   "words is not a row of the 3 words of scope_rows"},
        Corruption{
            "scope_row_0_not_everything",
            [](std::string& b) {
              Set<uint64_t>(b, DataAt(b, kScopeRows), 0x7);
            },
            true, absl::StatusCode::kDataLoss,
            "inconsistent bundle: scope row 0 must grant delete on every "
            "object type; object type 1 gets level 1"},
        Corruption{"restriction_out_of_range",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kCredentialRestriction), 1);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: credential 0: restriction at word 1 + "
                   "1 is past the 1 words of restriction_bits"},
        Corruption{"restriction_bits_disagree",
                   [](std::string& b) {
                     Set<uint64_t>(b, DataAt(b, kRestrictionBits), 3);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: credential 0: restriction bits do not "
                   "match the entities it lists"},
        Corruption{"restriction_without_entities",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kCredentialRestriction) + 4, 0);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: credential 1 lists 0 entities but has "
                   "a restriction"},
        Corruption{"restricted_to_another_partners_entity",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kCredentialEntities), 2);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: credential 0 lists entity 2, not one "
                   "of its partner's"},
        Corruption{"rate_limit_half_set",
                   [](std::string& b) {
                     Set<uint32_t>(b, DataAt(b, kCredentialRateLimit) + 12, 0);
                   },
                   true, absl::StatusCode::kDataLoss,
                   "inconsistent bundle: credential 1: rate limit of 10 per 0 "
                   "seconds (both or neither must be 0)"}),
    [](const ::testing::TestParamInfo<Corruption>& info) {
      return std::string(info.param.name);
    });

// Damage anywhere, resealed so that it reaches the section checks: the
// loader returns a status, and whatever it accepts answers every request.
TEST(BundleTest, RandomDamageNeverCrashes) {
  testing::SizedPolicyOptions options;
  options.seed = 7;
  options.entities = 70;
  options.roles = 12;
  const v1::PolicySet set = testing::SizedRandomPolicy(options);
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled = Compile(set);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const std::string original = Serialize(**compiled);
  const std::vector<CheckRequestView> requests =
      testing::AllRequests(set, 2000);
  std::mt19937_64 rng(1);
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = original;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = kBundleHeaderBytes + rng() % (bytes.size() - 64);
      switch (rng() % 3) {
        case 0:
          bytes[at] ^= static_cast<char>(1u << (rng() % 8));
          break;
        case 1:
          bytes[at] = static_cast<char>(rng());
          break;
        default:
          // A small integer where counts and offsets live.
          bytes[at] = static_cast<char>(rng() % 4);
          break;
      }
    }
    if (rng() % 8 == 0) {
      bytes.resize(kBundleHeaderBytes + rng() % (bytes.size() - 63));
      SetBodyBytes(bytes);
    }
    Reseal(bytes);
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> loaded =
        ParseBundle(bytes);
    if (!loaded.ok()) continue;
    ++accepted;
    for (const CheckRequestView& request : requests) Check(**loaded, request);
    (void)(*loaded)->Stats();
  }
  // Some edits are harmless (a name's character), most are caught.
  EXPECT_LT(accepted, 3000);
}

TEST(BundleTest, WritesAndReadsFiles) {
  const auto policy = CompileText(kSmallPolicy);
  const std::string dir = ::testing::TempDir();
  const std::string path = absl::StrCat(dir, "/small.bundle");
  ASSERT_TRUE(WriteBundle(*policy, path).ok());
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> loaded =
      ReadBundle(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(DigestOf(**loaded), DigestOf(*policy));
  // Replaced atomically: no temporary file is left behind.
  ASSERT_TRUE(WriteBundle(*policy, path).ok());
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (absl::StrContains(entry.path().string(), "small.bundle")) ++files;
  }
  EXPECT_EQ(files, 1);

  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> missing =
      ReadBundle(dir + "/missing.bundle");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(std::string(missing.status().message()),
            absl::StrCat(dir,
                         "/missing.bundle: cannot open: No such file or "
                         "directory"));

  BundleOptions small;
  small.max_bundle_bytes = 100;
  EXPECT_EQ(std::string(ReadBundle(path, small).status().message()),
            absl::StrCat(path, ": file is 1128 bytes; the limit is 100"));

  std::string bytes = *SerializeBundle(*policy);
  bytes[100] ^= 1;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  EXPECT_EQ(std::string(ReadBundle(path).status().message()),
            absl::StrCat(path, ": ", kDigestMismatch));
}

}  // namespace
}  // namespace portcullis
