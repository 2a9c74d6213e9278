// Fuzzes token text and Authorization headers (engine/auth/token_format.h)
// and introspection (engine/auth/token_service.h): any text must parse or be
// refused, never crash; ParseToken and DecodeToken agree; a parsed token
// prints back as its lowercase text; and introspection accepts nothing but
// the one token the service issued.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/client_registry.h"
#include "engine/auth/clock.h"
#include "engine/auth/crypto.h"
#include "engine/auth/token_format.h"
#include "engine/auth/token_service.h"
#include "engine/auth/token_store.h"
#include "engine/auth/user_directory.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "tests/fuzz/fuzz_check.h"

namespace portcullis::auth {
namespace {

constexpr char kPolicy[] = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
    }
  }
  entities { id: "e-1" partner_id: "p-1" }
  credentials { client_id: "c-1" partner_id: "p-1" scopes: "all:read" }
)pb";

// A service that has issued exactly one access token, built once.
struct Service {
  ManualClock clock{absl::FromUnixSeconds(1'700'000'000)};
  ClientRegistry clients{SecretKey::Generate(), clock};
  InMemoryTokenStore tokens;
  InMemoryUserDirectory users;
  std::unique_ptr<TokenService> service;
  std::string access_token;

  Service() {
    absl::StatusOr<v1::PolicySet> set = ParsePolicyText(kPolicy);
    PORTCULLIS_FUZZ_CHECK(set.ok(), "the fixture policy parses");
    absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
        Compile(*set);
    PORTCULLIS_FUZZ_CHECK(policy.ok(), "the fixture policy compiles");
    absl::StatusOr<std::unique_ptr<TokenService>> created =
        TokenService::Create(TokenServiceOptions(), SecretKey::Generate(),
                             clients, tokens, users, clock);
    PORTCULLIS_FUZZ_CHECK(created.ok(), "the service starts");
    service = *std::move(created);
    PORTCULLIS_FUZZ_CHECK(service
                              ->SetPolicy(std::shared_ptr<const CompiledPolicy>(
                                  std::move(*policy)))
                              .ok(),
                          "the service takes the policy");
    absl::StatusOr<std::string> secret = clients.RegisterClient("c-1", "One");
    PORTCULLIS_FUZZ_CHECK(secret.ok(), "the client registers");
    absl::StatusOr<IssuedTokens> issued =
        service->IssueToken({"client_credentials", "c-1", *secret, ""});
    PORTCULLIS_FUZZ_CHECK(issued.ok(), "a token is issued");
    access_token = issued->access_token;
  }
};

const Service& GetService() {
  static const Service* service = new Service();
  return *service;
}

void CheckToken(absl::string_view text) {
  const absl::StatusOr<TokenBytes> parsed = ParseToken(text);
  std::array<uint8_t, TokenBytes::kSize> decoded;
  PORTCULLIS_FUZZ_CHECK(DecodeToken(text, decoded) == parsed.ok(),
                        "DecodeToken and ParseToken agree");
  if (!parsed.ok()) return;
  PORTCULLIS_FUZZ_CHECK(FormatToken(*parsed) == absl::AsciiStrToLower(text),
                        "a token prints back as its lowercase text");
}

}  // namespace
}  // namespace portcullis::auth

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace portcullis::auth;  // NOLINT: a fuzz entry point
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  CheckToken(text);
  const absl::StatusOr<absl::string_view> header = ParseBearerHeader(text);
  if (header.ok()) CheckToken(*header);

  const Service& s = GetService();
  const bool is_issued_token = absl::AsciiStrToLower(text) == s.access_token;
  PORTCULLIS_FUZZ_CHECK(s.service->Introspect(text).ok() == is_issued_token,
                        "only the issued token introspects");
  const bool is_issued_header =
      header.ok() && absl::AsciiStrToLower(*header) == s.access_token;
  PORTCULLIS_FUZZ_CHECK(
      s.service->IntrospectHeader(text).ok() == is_issued_header,
      "only a header with the issued token introspects");
  return 0;
}
