// `portcullis compile FILE... -o BUNDLE`: validates and compiles a policy and
// writes it as a compiled bundle (engine/bundle.h) that services load fast.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/auth/jwt.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"
#include "tools/cli/policy_files.h"

namespace portcullis::cli {
namespace {

constexpr absl::string_view kHelp =
    R"(Usage: portcullis compile FILE... -o BUNDLE [--signing-key KEY | --key-file KEY]

Loads and compiles the policy (FILEs as for `portcullis validate`) and writes it
to BUNDLE as a compiled bundle: magic, format version, a BLAKE2b-256 digest and
the compiled tables, which `check`, `diff` and services load without compiling.
Nothing is written when the policy is invalid.

  -o, --output BUNDLE  the bundle to write (its name must end in .bundle)
  --signing-key KEY    an Ed25519 key file (a private JWK, as `portcullis keygen`
                       writes): the bundle is signed, and a service that holds
                       the public key loads only bundles it signed
  --key-file KEY       a file of exactly 32 secret bytes: the digest is keyed, so
                       the bundle cannot be altered and re-digested without the
                       key, and reading it needs the same key (every reader
                       then holds the key that forges: prefer --signing-key)
  --max-file-bytes N   largest policy file read, in bytes (default 1 GiB)

Prints `BUNDLE: N bytes, digest HEX` on success, and `, signed by key ID` when
signed.

Exit codes:
  0  the bundle was written
  1  the policy is invalid (errors as `portcullis validate` prints them)
  2  usage error, or a file cannot be read or written
)";

constexpr FlagSpec kFlags[] = {
    {"output", FlagKind::kValue, 'o'},
    {"key-file", FlagKind::kValue},
    {"signing-key", FlagKind::kValue},
    kMaxFileBytesFlag,
};

int RunCompile(const ParsedArgs& args) {
  if (args.positional().empty()) {
    return UsageError("compile", "no policy files given");
  }
  if (!args.Has("output"))
    return UsageError("compile", "-o BUNDLE is required");
  const std::string& output = args.Value("output");
  if (!IsBundlePath(output)) {
    return UsageError("compile",
                      absl::StrCat("the bundle's name must end in .bundle: \"",
                                   output, "\""));
  }
  BundleOptions options;
  if (args.Has("key-file")) {
    absl::StatusOr<std::string> key =
        ReadFileToString(args.Value("key-file"), kBundleKeyBytes);
    if (!key.ok()) {
      PrintError("compile", key.status().message());
      return kExitUsage;
    }
    if (key->size() != kBundleKeyBytes) {
      PrintError("compile",
                 absl::StrCat(args.Value("key-file"), ": a key is ",
                              kBundleKeyBytes, " bytes, not ", key->size()));
      return kExitUsage;
    }
    options.key = *std::move(key);
  }
  if (args.Has("signing-key")) {
    absl::StatusOr<Ed25519KeyPair> key =
        auth::LoadKeyPairFile(args.Value("signing-key"));
    if (!key.ok()) {
      PrintError("compile", key.status().message());
      return kExitUsage;
    }
    if (!options.key.empty()) {
      return UsageError("compile",
                        "--signing-key and --key-file exclude each other: a "
                        "signed bundle needs no keyed digest");
    }
    options.signing_key = std::make_shared<Ed25519KeyPair>(*std::move(key));
  }
  const PolicyFiles loaded = LoadPolicy("compile", args.positional(), args);
  if (loaded.exit_code != kExitOk) return loaded.exit_code;
  absl::StatusOr<std::string> bundle = SerializeBundle(*loaded.policy, options);
  if (!bundle.ok()) {
    PrintError("compile", bundle.status().message());
    return kExitFailed;
  }
  const absl::Status written = WriteBundleBytes(*bundle, output);
  if (!written.ok()) {
    PrintError("compile", written.message());
    return kExitUsage;
  }
  absl::StatusOr<BundleInfo> info = ParseBundleHeader(*bundle);
  PrintOut(absl::StrCat(
      output, ": ", bundle->size(), " bytes, digest ",
      info.ok() ? info->digest.ToHex() : "unknown",
      options.signing_key != nullptr
          ? absl::StrCat(", signed by key ", options.signing_key->kid())
          : "",
      "\n"));
  return kExitOk;
}

}  // namespace

const Command kCompileCommand = {
    "compile",   "Compile a policy into a bundle file.", kHelp, kFlags,
    &RunCompile,
};

}  // namespace portcullis::cli
