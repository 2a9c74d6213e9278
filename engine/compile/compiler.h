// Compiles a PolicySet (proto/policy.proto) into an immutable CompiledPolicy:
// validates everything, interns every name to a dense id, and flattens roles
// and scopes into deduplicated 2-bit rows.
//
// Example:
//   portcullis::v1::PolicySet set = ...;  // policy_loader.h reads files
//   absl::StatusOr<std::unique_ptr<const portcullis::CompiledPolicy>> policy =
//       portcullis::Compile(set, portcullis::CompileOptions());
//   if (!policy.ok()) {
//     std::cerr << policy.status().message();  // one "path: problem" per line
//   }
#ifndef PORTCULLIS_ENGINE_COMPILE_COMPILER_H_
#define PORTCULLIS_ENGINE_COMPILE_COMPILER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/snapshot/compiled_policy.h"
#include "proto/policy.pb.h"

namespace portcullis {

// Limits and switches of compilation. The defaults are strict and hold a large
// real deployment (a million roles); raise a limit deliberately. Each limit is
// inclusive: a policy may have exactly `max_roles` roles.
struct CompileOptions {
  // Errors reported in full before the rest are only counted. Default 100.
  size_t max_errors = 100;
  // Object types in the catalog. Default 65,536.
  size_t max_object_types = 65536;
  // Actions of one object type. Default 1,024; never more than 65,535 (an
  // action's index within its type is 16 bits), whatever the value here.
  size_t max_actions_per_object_type = 1024;
  // (object type, action) pairs in the catalog; a permission row holds 2 bits
  // for each. Default 262,144.
  size_t max_actions = 262144;
  // Roles. Default 4,194,304.
  size_t max_roles = 4194304;
  // Entities. Default 4,194,304.
  size_t max_entities = 4194304;
  // Credentials. Default 1,048,576.
  size_t max_credentials = 1048576;
  // Scopes listed by one credential. Default 1,024.
  size_t max_scopes_per_credential = 1024;
  // Bytes in any one name or id. Default 256.
  size_t max_name_bytes = 256;
  // Bytes of the deduplicated permission rows (a 4-byte word offset per 32
  // catalog actions for each distinct role) and of the distinct 8-byte words
  // of 2-bit permissions they name. Default 1 GiB, capped at 16 GiB, since
  // rows and words are found by 32-bit offsets into 4-byte entries. The two
  // other table limits are capped at 32 GiB (32-bit offsets into 8-byte
  // words).
  size_t max_permission_row_bytes = size_t{1} << 30;
  // Bytes of the deduplicated scope rows (2 bits per object type for each
  // distinct set of credential scopes). Default 1 GiB.
  size_t max_scope_row_bytes = size_t{1} << 30;
  // Bytes of the credentials' entity restrictions (a bit per entity of its
  // partner for each restricted credential). Default 1 GiB.
  size_t max_restriction_bytes = size_t{1} << 30;
};

// One problem found in a policy: `path` names the field
// (`roles[3].permissions.objects[1].actions[0].action_name`), `message` the
// problem and the bad value (`unknown action "approve" for object type
// "receivable"`).
struct PolicyError {
  std::string path;
  std::string message;

  // "path: message".
  std::string ToString() const;
};

// Every problem in `policy`, in the order of the policy's fields (catalog,
// roles, entities, credentials, each by index), at most `options.max_errors`
// of them (the count of the rest is in `more_errors`).
// Empty when the policy compiles.
//
// Warnings are problems that do not stop the policy compiling but that an
// author should tidy up (a credential naming one object type in two scopes:
// the highest level applies), at most `options.max_errors` of them. Compile
// does not report them; `portcullis validate` prints them (and fails on them
// with --strict).
struct ValidationReport {
  std::vector<PolicyError> errors;
  size_t more_errors = 0;
  std::vector<PolicyError> warnings;
  bool ok() const { return errors.empty(); }
};
ValidationReport Validate(const v1::PolicySet& policy,
                          const CompileOptions& options = CompileOptions());

// Compiles a policy. On any problem returns InvalidArgument whose message is
// one line per problem, each `path: message` (ValidationReport's errors, in
// order), then `(and N more errors)` when there were more than
// options.max_errors. `warnings`, when given, receives ValidationReport's
// warnings (whether or not the policy compiles).
absl::StatusOr<std::unique_ptr<const CompiledPolicy>> Compile(
    const v1::PolicySet& policy,
    const CompileOptions& options = CompileOptions(),
    std::vector<PolicyError>* warnings = nullptr);

// The roles of a policy read one at a time, for CompileStreamed: a policy of a
// million roles need never be held whole as a PolicySet.
class RoleStream {
 public:
  enum class Next {
    kRole,     // the next role is in the message Read was given
    kEnd,      // no more roles
    kRefused,  // the source cannot say (its text is not one this stream
               // takes whole); the caller compiles the policy another way
  };
  virtual ~RoleStream() = default;
  // Reads the next role; on kRole `role` points at it until the next Read.
  virtual Next Read(const v1::Role*& role) = 0;
};

// Compile() of `rest` with its roles, in order, from `roles` (rest's own
// roles must be empty), each role validated and compiled before the next is
// read: the same CompiledPolicy (equal tables, byte-identical bundles) and
// warnings as Compile() of the whole PolicySet. Nullopt when `roles` refuses
// one, or when the policy has any error: the caller then compiles the whole
// PolicySet with Compile(), which reports the errors in its order and
// within its limits (this only ever takes what compiles). Peak memory is the
// tables, `rest` and one role.
std::optional<std::unique_ptr<const CompiledPolicy>> CompileStreamed(
    const v1::PolicySet& rest, RoleStream& roles,
    const CompileOptions& options = CompileOptions(),
    std::vector<PolicyError>* warnings = nullptr);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_COMPILE_COMPILER_H_
