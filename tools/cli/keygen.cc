// `portcullis keygen --kid ID -o KEY`: a new Ed25519 key for signing bundles
// (`portcullis compile --signing-key`) or JWT access tokens.
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/auth/jwt.h"
#include "engine/common/atomic_file.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"

namespace portcullis::cli {
namespace {

constexpr absl::string_view kHelp =
    R"(Usage: portcullis keygen --kid ID -o KEY [--public PUBLIC]

Makes a new Ed25519 key from libsodium's CSPRNG and writes it to KEY as a
private JWK (RFC 8037), readable by its owner only (mode 0600); an existing
file is never overwritten. The public key, a public JWK that verifiers hold,
goes to PUBLIC (default: KEY.pub). The key id (1 to 128 printable characters)
names the key in signatures, so that verifiers can know several keys while
one replaces another.

  --kid ID             the key id
  -o, --output KEY     the private key file to create
  --public PUBLIC      the public key file to create (default KEY.pub)

Prints the public key file's path and its JWK thumbprint (RFC 7638).

Exit codes:
  0  both files were written
  2  usage error, or a file exists or cannot be written
)";

constexpr FlagSpec kFlags[] = {
    {"kid", FlagKind::kValue},
    {"output", FlagKind::kValue, 'o'},
    {"public", FlagKind::kValue},
};

int RunKeygen(const ParsedArgs& args) {
  if (!args.positional().empty()) {
    return UsageError("keygen", "takes no arguments besides its flags");
  }
  if (!args.Has("kid")) return UsageError("keygen", "--kid ID is required");
  if (!args.Has("output")) return UsageError("keygen", "-o KEY is required");
  const std::string& output = args.Value("output");
  const std::string public_path =
      args.Has("public") ? args.Value("public") : output + ".pub";
  absl::StatusOr<Ed25519KeyPair> key =
      Ed25519KeyPair::Generate(args.Value("kid"));
  if (!key.ok()) return UsageError("keygen", key.status().message());
  if (const absl::Status saved = auth::SaveKeyPairFile(*key, output);
      !saved.ok()) {
    PrintError("keygen", saved.message());
    return kExitUsage;
  }
  const absl::Status written = internal::WriteFileAtomically(
      absl::StrCat(auth::PublicKeyToJwk(key->public_key()), "\n"), public_path);
  if (!written.ok()) {
    PrintError("keygen", written.message());
    return kExitUsage;
  }
  PrintOut(absl::StrCat(output, ": private key \"", key->kid(), "\"\n",
                        public_path, ": public key, thumbprint ",
                        auth::JwkThumbprint(key->public_key()), "\n"));
  return kExitOk;
}

}  // namespace

const Command kKeygenCommand = {
    "keygen",   "Make an Ed25519 key pair for signing bundles or tokens.",
    kHelp,      kFlags,
    &RunKeygen,
};

}  // namespace portcullis::cli
