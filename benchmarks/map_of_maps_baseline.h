// The baseline the engine is measured against: the decision procedure as a
// hand-written middleware implements it, with nested hash maps keyed by
// strings. Same answers as the engine (tests/map_of_maps_baseline_test.cc
// checks it against the reference evaluator), none of the flattening.
#ifndef PORTCULLIS_BENCHMARKS_MAP_OF_MAPS_BASELINE_H_
#define PORTCULLIS_BENCHMARKS_MAP_OF_MAPS_BASELINE_H_

#include <string>
#include <unordered_map>
#include <unordered_set>

#include "engine/common/decision.h"
#include "proto/check.pb.h"
#include "proto/policy.pb.h"

namespace portcullis::baseline {

// Immutable after Build(); thread-compatible.
class MapOfMapsPolicy {
 public:
  // Precondition: `policy` compiles.
  static MapOfMapsPolicy Build(const v1::PolicySet& policy);

  Decision Check(const v1::CheckRequest& request) const;

 private:
  struct Action {
    int level;
    bool partner_only;
  };
  struct Credential {
    std::string partner;
    std::unordered_set<std::string> entities;  // empty: unrestricted
    std::unordered_map<std::string, int> levels;
    int all_level = 0;
  };
  struct Entity {
    std::string partner;
    std::string default_role;
  };
  struct Role {
    std::string owner;
    std::unordered_map<std::string,
                       std::unordered_map<std::string, v1::Permission>>
        permissions;
  };
  std::unordered_map<std::string, std::unordered_map<std::string, Action>>
      catalog_;
  std::unordered_map<std::string, Role> roles_;
  std::unordered_map<std::string, Entity> entities_;
  std::unordered_map<std::string, Credential> credentials_;
};

}  // namespace portcullis::baseline

#endif  // PORTCULLIS_BENCHMARKS_MAP_OF_MAPS_BASELINE_H_
