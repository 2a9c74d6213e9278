// The route table of the proxy-authorization endpoints: (method, path
// template) -> (object type, action, where the entity comes from).
#ifndef PORTCULLIS_SERVER_ROUTES_H_
#define PORTCULLIS_SERVER_ROUTES_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/config.h"

namespace portcullis::server {

struct RouteMatch {
  const RouteSettings* route = nullptr;
  // The `{name}` segments' values, raw (not percent-decoded), in order.
  std::vector<std::pair<std::string, std::string>> params;

  // The parameter's value; empty if absent.
  absl::string_view Param(absl::string_view name) const;
};

class RouteTable {
 public:
  explicit RouteTable(std::vector<RouteSettings> routes);

  // The first route matching `method` and `path` (the query, from '?', is
  // ignored). A path that is not absolute, or that holds an empty, "." or
  // ".." segment, matches nothing: the upstream might read it otherwise.
  std::optional<RouteMatch> Match(absl::string_view method,
                                  absl::string_view path) const;

 private:
  struct Compiled {
    RouteSettings settings;
    // Literal segments, or the parameter's name with is_param.
    std::vector<std::pair<std::string, bool>> segments;
  };
  std::vector<Compiled> routes_;
};

}  // namespace portcullis::server

#endif  // PORTCULLIS_SERVER_ROUTES_H_
