#include "server/routes.h"

#include "absl/strings/str_split.h"

namespace portcullis::server {

absl::string_view RouteMatch::Param(absl::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return {};
}

RouteTable::RouteTable(std::vector<RouteSettings> routes) {
  for (RouteSettings& route : routes) {
    Compiled compiled;
    for (absl::string_view segment :
         absl::StrSplit(absl::string_view(route.path).substr(1), '/')) {
      const bool param = segment.size() >= 2 && segment.front() == '{' &&
                         segment.back() == '}';
      compiled.segments.emplace_back(
          std::string(param ? segment.substr(1, segment.size() - 2) : segment),
          param);
    }
    compiled.settings = std::move(route);
    routes_.push_back(std::move(compiled));
  }
}

std::optional<RouteMatch> RouteTable::Match(absl::string_view method,
                                            absl::string_view path) const {
  size_t query = path.find('?');
  if (query != absl::string_view::npos) path = path.substr(0, query);
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::vector<absl::string_view> segments = absl::StrSplit(path.substr(1), '/');
  for (size_t i = 0; i < segments.size(); ++i) {
    const absl::string_view s = segments[i];
    // An empty segment is allowed only as the whole path "/" .
    if ((s.empty() && segments.size() > 1) || s == "." || s == "..") {
      return std::nullopt;
    }
  }
  for (const Compiled& route : routes_) {
    if (route.settings.method != "*" && route.settings.method != method) {
      continue;
    }
    if (route.segments.size() != segments.size()) continue;
    RouteMatch match;
    match.route = &route.settings;
    bool ok = true;
    for (size_t i = 0; i < segments.size() && ok; ++i) {
      const auto& [text, is_param] = route.segments[i];
      if (is_param) {
        ok = !segments[i].empty();
        match.params.emplace_back(text, std::string(segments[i]));
      } else {
        ok = text == segments[i];
      }
    }
    if (ok) return match;
  }
  return std::nullopt;
}

}  // namespace portcullis::server
