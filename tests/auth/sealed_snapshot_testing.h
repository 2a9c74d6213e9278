// Sealing auth exports (engine/auth/sealed_snapshot.proto) independently of
// the library, so that the tests pin the format: hand-written snapshots are
// sealed as Export seals them, and exports are opened and tampered with as
// someone who can write the file (but may not hold the key) would.
#ifndef PORTCULLIS_TESTS_AUTH_SEALED_SNAPSHOT_TESTING_H_
#define PORTCULLIS_TESTS_AUTH_SEALED_SNAPSHOT_TESTING_H_

#include <sodium.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "engine/auth/crypto.h"
#include "engine/auth/sealed_snapshot.pb.h"
#include "gtest/gtest.h"

namespace portcullis::auth::testing {

// The MAC of sealed_snapshot.proto, spelled out: keyed BLAKE2b-256 under
// crypto_kdf subkey 2 of context "pcexport" of `key`, over format_version
// (4 bytes LE), the type's length (8 bytes LE), the type and the payload.
inline std::string SealMacForTest(const SecretKey& key, uint32_t format_version,
                                  absl::string_view payload_type,
                                  absl::string_view payload) {
  unsigned char subkey[32];
  crypto_kdf_derive_from_key(subkey, sizeof(subkey), 2, "pcexport",
                             key.bytes().data());
  std::string message;
  for (int i = 0; i < 4; ++i) {
    message.push_back(static_cast<char>((format_version >> (8 * i)) & 0xff));
  }
  const uint64_t type_length = payload_type.size();
  for (int i = 0; i < 8; ++i) {
    message.push_back(static_cast<char>((type_length >> (8 * i)) & 0xff));
  }
  message.append(payload_type.data(), payload_type.size());
  message.append(payload.data(), payload.size());
  std::string mac(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(mac.data()), mac.size(),
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), subkey, sizeof(subkey));
  return mac;
}

// `payload` sealed under `key` as a snapshot of `payload_type`.
inline std::string SealPayload(const SecretKey& key,
                               absl::string_view payload_type,
                               std::string payload,
                               uint32_t format_version = 2) {
  v1::SealedSnapshot sealed;
  sealed.set_format_version(format_version);
  sealed.set_payload_type(std::string(payload_type));
  sealed.set_mac(SealMacForTest(key, format_version, payload_type, payload));
  sealed.set_payload(std::move(payload));
  return sealed.SerializeAsString();
}

// A snapshot message sealed as Export seals it.
template <typename Snapshot>
std::string Seal(const Snapshot& snapshot, const SecretKey& key) {
  return SealPayload(key, Snapshot::descriptor()->full_name(),
                     snapshot.SerializeAsString());
}

// The envelope of an export; fails the test if it is not one.
inline v1::SealedSnapshot OpenSeal(absl::string_view exported) {
  v1::SealedSnapshot sealed;
  EXPECT_TRUE(sealed.ParseFromArray(exported.data(),
                                    static_cast<int>(exported.size())));
  return sealed;
}

// Unkeyed BLAKE2b-256: what anyone can compute, and what format 1 exports
// were checksummed with.
inline std::string UnkeyedChecksum(absl::string_view bytes) {
  std::string checksum(crypto_generichash_BYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(checksum.data()),
                     checksum.size(),
                     reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size(), nullptr, 0);
  return checksum;
}

}  // namespace portcullis::auth::testing

#endif  // PORTCULLIS_TESTS_AUTH_SEALED_SNAPSHOT_TESTING_H_
