// Fuzzes the JSON policy parser and, through it, the compiler: any input must
// parse or be rejected, exactly as the strict reader alone (the strict checker
// and protobuf's JSON parser, ParseJsonMessage) parses or rejects it: the same
// PolicySet, the same message (the fast reader, policy_json_reader.h, only
// ever accepts what the strict reader accepts, as the strict reader reads it);
// any parsed policy must compile or be rejected with its validation report; a
// compiled policy must answer every request as the reference evaluator does.
// The two-pass compile of one JSON document (json_policy_compiler.h) only
// ever compiles what the loader and Compile compile, to the same bundle.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/compile/compiler.h"
#include "engine/compile/json_policy_compiler.h"
#include "engine/load/policy_json_reader.h"
#include "engine/load/policy_loader.h"
#include "engine/snapshot/bundle.h"
#include "proto/policy.pb.h"
#include "tests/fuzz/decision_properties.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  portcullis::fuzz::SilenceProtobufLogs();
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<portcullis::v1::PolicySet> policy =
      portcullis::ParsePolicyJson(json);
  portcullis::v1::PolicySet strict;
  const absl::Status strict_status = portcullis::ParseJsonMessage(json, strict);
  PORTCULLIS_FUZZ_CHECK(
      policy.status() == strict_status,
      absl::StrCat("loader: ", policy.status().ToString(),
                   "; strict reader: ", strict_status.ToString()));
  portcullis::v1::PolicySet fast;
  if (portcullis::internal::ReadPolicyJson(
          json, json.size(), portcullis::kDefaultMaxNestingDepth, fast)) {
    PORTCULLIS_FUZZ_CHECK(strict_status.ok(),
                          absl::StrCat("the fast reader accepted what the "
                                       "strict reader refuses: ",
                                       strict_status.ToString()));
    PORTCULLIS_FUZZ_CHECK(
        fast.SerializeAsString() == strict.SerializeAsString(),
        absl::StrCat("the fast reader read ", fast.ShortDebugString(),
                     "; the strict reader ", strict.ShortDebugString()));
  }
  std::string padded(json);
  padded.reserve(json.size() + portcullis::internal::kJsonPadding);
  const std::optional<std::unique_ptr<const portcullis::CompiledPolicy>>
      streamed = portcullis::CompileJsonStreamed(
          padded, padded.capacity(), portcullis::LoadOptions(),
          portcullis::CompileOptions(), nullptr);
  if (streamed) {
    PORTCULLIS_FUZZ_CHECK(policy.ok(),
                          absl::StrCat("compiled in two passes what the "
                                       "loader refuses: ",
                                       policy.status().ToString()));
    const absl::StatusOr<std::unique_ptr<const portcullis::CompiledPolicy>>
        compiled = portcullis::Compile(*policy);
    PORTCULLIS_FUZZ_CHECK(compiled.ok(),
                          absl::StrCat("compiled in two passes what Compile "
                                       "refuses: ",
                                       compiled.status().ToString()));
    PORTCULLIS_FUZZ_CHECK(
        *portcullis::SerializeBundle(**streamed) ==
            *portcullis::SerializeBundle(**compiled),
        "the two-pass compile's bundle differs from Compile's");
  }
  if (!policy.ok()) {
    PORTCULLIS_FUZZ_CHECK(
        absl::StartsWith(policy.status().message(), "invalid JSON: "),
        policy.status().ToString());
    return 0;
  }
  portcullis::fuzz::CheckFormatRoundTrip(*policy);
  portcullis::fuzz::CheckPolicyProperties(*policy, /*max_requests=*/64);
  return 0;
}
