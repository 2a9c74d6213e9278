// Portcullis: an embeddable authorization engine. This header brings in the
// whole public API: load (policy_loader.h), compile (compiler.h), check
// (evaluator.h).
//
// Example:
//   absl::StatusOr<portcullis::LoadedPolicy> loaded =
//       portcullis::LoadPolicyFiles({"examples/monite"});
//   absl::StatusOr<std::unique_ptr<const portcullis::CompiledPolicy>> policy =
//       portcullis::Compile(loaded->policy);
//   absl::StatusOr<portcullis::Principal> user =
//       (*policy)->BindEntityUser("u-7", "e-acme-gmbh", "", "");
//   std::optional<portcullis::ActionId> read =
//       (*policy)->FindAction("payable", "read");
//   std::optional<portcullis::EntityId> entity =
//       (*policy)->FindEntity("e-acme-gmbh");
//   portcullis::Decision decision =
//       portcullis::Check(**policy, *user, *read, *entity);
#ifndef PORTCULLIS_ENGINE_PORTCULLIS_H_
#define PORTCULLIS_ENGINE_PORTCULLIS_H_

#include "engine/common/decision.h"           // IWYU pragma: export
#include "engine/common/scope.h"              // IWYU pragma: export
#include "engine/compile/compiler.h"          // IWYU pragma: export
#include "engine/evaluate/evaluator.h"        // IWYU pragma: export
#include "engine/load/policy_loader.h"        // IWYU pragma: export
#include "engine/snapshot/compiled_policy.h"  // IWYU pragma: export

#endif  // PORTCULLIS_ENGINE_PORTCULLIS_H_
