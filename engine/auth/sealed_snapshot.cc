#include "engine/auth/sealed_snapshot.h"

#include <sodium.h>

#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/auth/crypto.h"
#include "engine/auth/sealed_snapshot.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"

namespace portcullis::internal {
namespace {

static_assert(auth::SecretKey::kSize == crypto_kdf_KEYBYTES,
              "the server key is a full-length KDF master key");

// The KDF context and subkey id of the MAC key: its own key, so that a MAC
// never equals a KeyedHash digest made under the same server key.
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "pcexport";
constexpr uint64_t kMacSubkeyId = 2;
constexpr size_t kMacBytes = 32;

// Room left under protobuf's 2 GiB limit for the envelope's own fields.
constexpr size_t kEnvelopeOverhead = 256;

void AppendLittleEndian(uint64_t value, size_t bytes, unsigned char* out) {
  for (size_t i = 0; i < bytes; ++i) out[i] = (value >> (8 * i)) & 0xff;
}

}  // namespace

std::string SealMac(const auth::SecretKey& key, uint32_t format_version,
                    absl::string_view payload_type, absl::string_view payload) {
  (void)auth::InitializeCrypto();
  std::array<unsigned char, crypto_generichash_KEYBYTES> subkey;
  // Fails only for out-of-range lengths, fixed here.
  (void)crypto_kdf_derive_from_key(subkey.data(), subkey.size(), kMacSubkeyId,
                                   kKdfContext, key.bytes().data());
  crypto_generichash_state state;
  (void)crypto_generichash_init(&state, subkey.data(), subkey.size(),
                                kMacBytes);
  sodium_memzero(subkey.data(), subkey.size());
  unsigned char header[12];
  AppendLittleEndian(format_version, 4, header);
  AppendLittleEndian(payload_type.size(), 8, header + 4);
  (void)crypto_generichash_update(&state, header, sizeof(header));
  (void)crypto_generichash_update(
      &state, reinterpret_cast<const unsigned char*>(payload_type.data()),
      payload_type.size());
  (void)crypto_generichash_update(
      &state, reinterpret_cast<const unsigned char*>(payload.data()),
      payload.size());
  std::string mac(kMacBytes, '\0');
  (void)crypto_generichash_final(
      &state, reinterpret_cast<unsigned char*>(mac.data()), mac.size());
  sodium_memzero(&state, sizeof(state));
  return mac;
}

absl::StatusOr<std::string> SealSnapshot(
    const google::protobuf::Message& snapshot, const auth::SecretKey& key,
    absl::string_view what) {
  if (snapshot.ByteSizeLong() >
      static_cast<size_t>(INT_MAX) - kEnvelopeOverhead) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": the snapshot exceeds protobuf's 2 GiB limit"));
  }
  auth::v1::SealedSnapshot sealed;
  sealed.set_format_version(kSealFormatVersion);
  sealed.set_payload_type(snapshot.GetDescriptor()->full_name());
  if (!snapshot.SerializeToString(sealed.mutable_payload())) {
    return absl::InternalError(absl::StrCat(what, ": serialization failed"));
  }
  sealed.set_mac(SealMac(key, kSealFormatVersion, sealed.payload_type(),
                         sealed.payload()));
  std::string serialized;
  if (!sealed.SerializeToString(&serialized)) {
    return absl::InternalError(absl::StrCat(what, ": serialization failed"));
  }
  return serialized;
}

absl::Status UnsealSnapshot(absl::string_view serialized,
                            const auth::SecretKey& key,
                            absl::string_view prefix,
                            google::protobuf::Message& snapshot) {
  auto error = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, parts...));
  };
  auth::v1::SealedSnapshot sealed;
  if (serialized.size() > static_cast<size_t>(INT_MAX) ||
      !sealed.ParseFromArray(serialized.data(),
                             static_cast<int>(serialized.size()))) {
    return error("not a serialized SealedSnapshot");
  }
  if (sealed.format_version() == 1) {
    return error(
        "unsupported format version 1 (expected 2): version 1 exports carry "
        "an unkeyed checksum that anyone can recompute, so nothing shows "
        "they were not edited");
  }
  if (sealed.format_version() != kSealFormatVersion) {
    return error("unsupported format version ", sealed.format_version(),
                 " (expected ", kSealFormatVersion, ")");
  }
  if (HasUnknownFields(sealed)) {
    return error("unknown fields in the seal (written by a newer version?)");
  }
  if (sealed.mac().empty()) return error("MAC is missing (truncated?)");
  if (sealed.mac().size() != kMacBytes) {
    return error("MAC: expected ", kMacBytes, " bytes, got ",
                 sealed.mac().size());
  }
  const std::string expected = SealMac(key, sealed.format_version(),
                                       sealed.payload_type(), sealed.payload());
  if (crypto_verify_32(
          reinterpret_cast<const unsigned char*>(expected.data()),
          reinterpret_cast<const unsigned char*>(sealed.mac().data())) != 0) {
    return error("MAC mismatch: edited, corrupted or sealed under another key");
  }
  const std::string& type = snapshot.GetDescriptor()->full_name();
  if (sealed.payload_type() != type) {
    return error("holds a ", absl::CHexEscape(sealed.payload_type()),
                 ", not a ", type);
  }
  // The bytes the MAC covers, parsed as they are.
  if (!snapshot.ParseFromString(sealed.payload())) {
    return error("payload is not a serialized ",
                 snapshot.GetDescriptor()->name());
  }
  return absl::OkStatus();
}

bool HasUnknownFields(const google::protobuf::Message& message) {
  return !message.GetReflection()->GetUnknownFields(message).empty();
}

}  // namespace portcullis::internal
