// The body of POST /v1/check (docs/server.md):
//   {"requests":[{"object_type":"charge-points","action":"read",
//                 "entity_id":"team-north",
//                 "resource":{"created_by":"u-anna","entity_id":"team-north"}},
//                ...]}
// `requests` is required (1..max items); in each item `object_type`, `action`
// and `entity_id` are required non-empty strings and `resource` an optional
// object whose `created_by` and `entity_id` (default: the item's) are
// optional strings. Parsed with simdjson's DOM, every key visited: an unknown
// key, a repeated key, a wrong type or a missing field is an error naming
// its path, e.g. `requests[3].resource.created_by: expected a string`.
#ifndef PORTCULLIS_SERVER_CHECK_REQUEST_H_
#define PORTCULLIS_SERVER_CHECK_REQUEST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace portcullis::server {

struct CheckItem {
  std::string object_type;
  std::string action;
  std::string entity_id;
  bool has_resource = false;
  std::string resource_entity_id;
  std::string resource_created_by;
};

// InvalidArgument `<path>: <problem>` (never quoting values) for anything
// but the shape above, or more than `max_items` requests.
absl::StatusOr<std::vector<CheckItem>> ParseCheckBatch(absl::string_view body,
                                                       size_t max_items);

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_CHECK_REQUEST_H_
