// Policies and requests for the benchmarks: synthetic policies of any size
// (realistic: few distinct permission rows; distinct: every role its own row)
// and the real Google Cloud and AWS role tables in benchmarks/data/.
#ifndef PORTCULLIS_BENCHMARKS_POLICY_FIXTURES_H_
#define PORTCULLIS_BENCHMARKS_POLICY_FIXTURES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/evaluate/evaluator.h"
#include "engine/snapshot/compiled_policy.h"
#include "proto/check.pb.h"
#include "proto/policy.pb.h"

namespace portcullis::bench {

enum class RowShape {
  kRealistic,  // roles drawn from 64 permission templates: rows repeat
  kDistinct,   // every role's row differs from every other's
};

// A Monite-sized catalog (31 object types, 130 actions, one partner-only),
// `roles` global roles of about 12 entries each, one entity per 100 roles over
// 10 partners, and 16 credentials (scoped, some entity-restricted).
v1::PolicySet SyntheticPolicy(int roles, RowShape shape);

// Google Cloud's 2,461 predefined roles: object type = `service.resource`,
// action = the verb (get/list -> read, delete -> delete, otherwise write).
absl::StatusOr<v1::PolicySet> GcpPolicy(const std::string& data_dir);
// AWS's 1,641 managed policies: object type = the service, action = the API
// action, level from its access level (Read/List -> read, otherwise write,
// Delete* -> delete).
absl::StatusOr<v1::PolicySet> AwsPolicy(const std::string& data_dir);

// Where benchmarks/data is when run with `bazel run` (from the runfiles).
std::string DataDir();

// One request, in every form a benchmark feeds an evaluator.
struct PreparedRequest {
  v1::CheckRequest proto;  // names (reference and map-of-maps baselines)
  CheckRequestView view;   // all names (engine), views into `proto`
  RequestNames names;      // the request's names, with `principal` bound
  Principal principal;     // ids (engine)
  ActionId action;
  EntityId entity;
  bool has_resource = false;
  ResourceRef resource;  // views into `proto`
};

// `count` entity-user requests against `policy` (mostly in the user's own
// entity, half with a resource, half through a client credential), prepared
// against `compiled`. Deterministic for a given seed. Requests whose names do
// not resolve are skipped, so every one can be checked by ids.
std::vector<std::unique_ptr<PreparedRequest>> PrepareRequests(
    const v1::PolicySet& policy, const CompiledPolicy& compiled, int count,
    uint64_t seed, bool partners = false);

}  // namespace portcullis::bench

#endif  // PORTCULLIS_BENCHMARKS_POLICY_FIXTURES_H_
