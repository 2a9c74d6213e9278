// Seeded generators of valid random policies and of requests against them, for
// differential tests and benchmarks. The same seed gives the same output on
// every platform (absl's BitGen is not used: its sequence may change).
#ifndef PORTCULLIS_TESTS_RANDOM_POLICY_H_
#define PORTCULLIS_TESTS_RANDOM_POLICY_H_

#include <cstdint>
#include <random>

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

}  // namespace portcullis::testing

#endif  // PORTCULLIS_TESTS_RANDOM_POLICY_H_
