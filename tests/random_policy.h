// Seeded generators of valid random policies and of requests against them:
// small policies that exercise every feature (RandomPolicy, RandomRequest) for
// differential tests, and policies of exact sizes (SizedRandomPolicy,
// AllRequests) for round trips, diffs and benchmarks. The same seed gives the
// same output on every platform (absl's BitGen is not used: its sequence may
// change).
#ifndef PORTCULLIS_TESTS_RANDOM_POLICY_H_
#define PORTCULLIS_TESTS_RANDOM_POLICY_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/evaluate/evaluator.h"
#include "proto/check.pb.h"
#include "proto/policy.pb.h"

namespace portcullis::testing {

struct RandomPolicyOptions {
  int max_object_types = 5;
  int max_actions_per_type = 5;
  int max_partners = 3;
  int max_entities = 6;
  int max_roles = 8;
  int max_credentials = 4;
};

// A policy that compiles: names are unique, references resolve, scopes do not
// conflict. Exercises every feature: explicit and default levels, partner-only
// actions, custom roles, roles identified by name, repeated object entries,
// restricted credentials, `all` scopes, entities without a default role.
v1::PolicySet RandomPolicy(std::mt19937_64& random,
                           const RandomPolicyOptions& options = {});

// A request against `policy`: mostly names that exist, sometimes unknown or
// empty ones, with and without a resource.
v1::CheckRequest RandomRequest(const v1::PolicySet& policy,
                               std::mt19937_64& random);

// Options of SizedRandomPolicy: exact sizes, for round trips, diffs and
// benchmarks at scale.
struct SizedPolicyOptions {
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
v1::PolicySet SizedRandomPolicy(const SizedPolicyOptions& options);

// Every request worth asking of `policy` by names: each credential as a
// partner, each (entity, role or default, client or none) as an entity user,
// each action of the catalog, in each entity, without a resource and with the
// user's own and another's resource; `max_requests` of them spread evenly
// when there are more. The views point into `policy`, which must outlive
// them.
std::vector<CheckRequestView> AllRequests(const v1::PolicySet& policy,
                                          size_t max_requests);

// `json` with one random change: a byte erased, inserted or replaced (by one
// of JSON's structural bytes, digits, letters of its literals, control and
// non-ASCII bytes), a stretch of it copied elsewhere (duplicate keys and
// members), or its end cut off. For differential tests of JSON readers.
std::string MutatedJson(const std::string& json, std::mt19937_64& random);

}  // namespace portcullis::testing

#endif  // PORTCULLIS_TESTS_RANDOM_POLICY_H_
