#include "engine/auth/sealed_snapshot.h"

#include <sodium.h>

#include "google/protobuf/unknown_field_set.h"

namespace portcullis::internal {

std::string SnapshotChecksum(absl::string_view unsealed) {
  std::string checksum(crypto_generichash_BYTES, '\0');
  // Fails only for out-of-range output or key lengths, fixed here.
  (void)crypto_generichash(
      reinterpret_cast<unsigned char*>(checksum.data()), checksum.size(),
      reinterpret_cast<const unsigned char*>(unsealed.data()), unsealed.size(),
      nullptr, 0);
  return checksum;
}

bool HasUnknownFields(const google::protobuf::Message& message) {
  return !message.GetReflection()->GetUnknownFields(message).empty();
}

}  // namespace portcullis::internal
