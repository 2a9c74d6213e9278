// Fuzzes bundle loading (engine/bundle.h): any bytes must load or be refused
// with a message, never crash. Each input is tried as it is and re-sealed
// (its unkeyed digest recomputed), so that mutations reach the section and
// invariant checks behind the digest, as an attacker who can write an
// unkeyed bundle could. A bundle that loads must answer checks without a
// fault and serialize back to a bundle that loads the same.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/evaluate/evaluator.h"
#include "engine/snapshot/bundle.h"
#include "engine/snapshot/compiled_policy.h"
#include "tests/fuzz/fuzz_check.h"

namespace portcullis {
namespace {

// The unkeyed digest covers header bytes [0, 32) and the body, and is stored at
// [32, 64) (engine/snapshot/bundle_format.cc).
void Reseal(std::string& bytes) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 32);
  crypto_generichash_update(
      &state, reinterpret_cast<const unsigned char*>(bytes.data()), 32);
  crypto_generichash_update(
      &state,
      reinterpret_cast<const unsigned char*>(bytes.data()) + kBundleHeaderBytes,
      bytes.size() - kBundleHeaderBytes);
  crypto_generichash_final(&state, reinterpret_cast<unsigned char*>(&bytes[32]),
                           32);
}

// Binds every (few) principal, action and entity of a loaded policy and
// checks them: a bundle that passed validation must be safe to evaluate.
void Exercise(const CompiledPolicy& policy) {
  const internal::PolicyTables& t = policy.tables();
  const uint32_t slots = std::min<uint32_t>(t.slots.size(), 16);
  const uint32_t entities = std::min<uint32_t>(t.entities.size(), 8);
  for (uint32_t c = 0; c < std::min<uint32_t>(t.credentials.size(), 4); ++c) {
    absl::StatusOr<Principal> partner =
        policy.BindPartner(t.credentials.name(c));
    PORTCULLIS_FUZZ_CHECK(partner.ok(), "a credential of the policy binds");
    for (uint32_t s = 0; s < slots; ++s) {
      const auto action = policy.FindAction(
          t.object_types.name(t.slots[s].object_type), t.actions.name(s));
      PORTCULLIS_FUZZ_CHECK(action.has_value(), "an action of the policy");
      for (uint32_t e = 0; e < entities; ++e) {
        const auto entity = policy.FindEntity(t.entities.name(e));
        PORTCULLIS_FUZZ_CHECK(entity.has_value(), "an entity of the policy");
        const Decision d = Check(policy, *partner, *action, *entity);
        PORTCULLIS_FUZZ_CHECK(
            Explain(policy, *partner, *action, *entity).decision == d,
            "Explain agrees with Check");
      }
    }
  }
  for (uint32_t e = 0; e < entities; ++e) {
    for (uint32_t r = 0; r < std::min<uint32_t>(t.roles.size(), 4); ++r) {
      absl::StatusOr<Principal> user =
          policy.BindEntityUser("u", t.entities.name(e), t.roles.name(r), "");
      PORTCULLIS_FUZZ_CHECK(user.ok(), "an entity and role of the policy bind");
      const auto entity = policy.FindEntity(t.entities.name(e));
      const ResourceRef resource{*entity, "u"};
      for (uint32_t s = 0; s < slots; ++s) {
        const auto action = policy.FindAction(
            t.object_types.name(t.slots[s].object_type), t.actions.name(s));
        Check(policy, *user, *action, *entity, &resource);
      }
    }
  }
  absl::StatusOr<std::string> again = SerializeBundle(policy);
  PORTCULLIS_FUZZ_CHECK(again.ok(), "a loaded bundle serializes");
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> reloaded =
      ParseBundle(*again);
  PORTCULLIS_FUZZ_CHECK(reloaded.ok(), "a re-serialized bundle loads");
  PORTCULLIS_FUZZ_CHECK(
      (*reloaded)->Stats().memory_bytes == policy.Stats().memory_bytes,
      "a re-serialized bundle is the same policy");
}

void Load(absl::string_view bytes) {
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
      ParseBundle(bytes);
  if (!policy.ok()) {
    PORTCULLIS_FUZZ_CHECK(!policy.status().message().empty(),
                          "a refusal says why");
    return;
  }
  Exercise(**policy);
}

}  // namespace
}  // namespace portcullis

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  portcullis::Load(bytes);
  if (size >= portcullis::kBundleHeaderBytes) {
    std::string resealed(bytes);
    portcullis::Reseal(resealed);
    portcullis::Load(resealed);
  }
  return 0;
}
