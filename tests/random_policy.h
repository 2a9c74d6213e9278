// Valid random policies of any size, for round-trip tests, diffs and
// benchmarks. Deterministic for a given seed.
#ifndef PORTCULLIS_TESTS_RANDOM_POLICY_H_
#define PORTCULLIS_TESTS_RANDOM_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/evaluator.h"
#include "proto/policy.pb.h"

namespace portcullis::testing {

struct RandomPolicyOptions {
  uint64_t seed = 1;
  int object_types = 5;
  int max_actions_per_type = 4;
  int partners = 2;
  int entities = 6;
  int roles = 8;
  // Roles draw their permissions from this many patterns (so rows
  // deduplicate); 0: every role has its own random permissions.
  int role_patterns = 0;
  // Object types a role (or pattern) lists permissions for, at most.
  int max_types_per_role = 3;
  int credentials = 5;
};

// A policy that compiles: unique names, default roles global or owned by
// their entity, credential restrictions within the credential's partner.
v1::PolicySet RandomPolicy(const RandomPolicyOptions& options);

// Every request worth asking of `policy` by names: each credential as a
// partner, each (entity, role or default, client or none) as an entity user,
// each action of the catalog, in each entity, without a resource and with the
// user's own and another's resource; `max_requests` of them spread evenly
// when there are more. The views point into `policy`, which must outlive
// them.
std::vector<CheckRequestView> AllRequests(const v1::PolicySet& policy,
                                          size_t max_requests);

}  // namespace portcullis::testing

#endif  // PORTCULLIS_TESTS_RANDOM_POLICY_H_
