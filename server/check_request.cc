#include "server/check_request.h"

#include <simdjson.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace portcullis::server {
namespace {

absl::Status Invalid(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

// Visits every key of `object` once, refusing repeated and unknown keys.
// `visit(key, value)` handles the known ones; `known` lists them.
template <typename Visit>
absl::Status ForEachField(simdjson::dom::object object, const std::string& path,
                          std::initializer_list<absl::string_view> known,
                          Visit visit) {
  std::set<std::string, std::less<>> seen;
  for (simdjson::dom::key_value_pair field : object) {
    const absl::string_view key(field.key.data(), field.key.size());
    const std::string where = path.empty()
                                  ? absl::CEscape(key)
                                  : absl::StrCat(path, ".", absl::CEscape(key));
    bool is_known = false;
    for (absl::string_view k : known) is_known = is_known || k == key;
    if (!is_known) return Invalid(where, "unknown field");
    if (!seen.insert(std::string(key)).second) {
      return Invalid(where, "appears more than once");
    }
    if (absl::Status s = visit(key, field.value, where); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status String(simdjson::dom::element value, const std::string& where,
                    bool non_empty, std::string& out) {
  std::string_view text;
  if (value.get_string().get(text)) return Invalid(where, "expected a string");
  if (non_empty && text.empty()) return Invalid(where, "must not be empty");
  out.assign(text.data(), text.size());
  return absl::OkStatus();
}

absl::StatusOr<CheckItem> ParseItem(simdjson::dom::element element,
                                    const std::string& path) {
  simdjson::dom::object object;
  if (element.get_object().get(object)) {
    return Invalid(path, "expected an object");
  }
  CheckItem item;
  bool resource_entity = false;
  absl::Status status = ForEachField(
      object, path, {"object_type", "action", "entity_id", "resource"},
      [&](absl::string_view key, simdjson::dom::element value,
          const std::string& where) -> absl::Status {
        if (key == "object_type") {
          return String(value, where, true, item.object_type);
        }
        if (key == "action") return String(value, where, true, item.action);
        if (key == "entity_id") {
          return String(value, where, true, item.entity_id);
        }
        simdjson::dom::object resource;
        if (value.get_object().get(resource)) {
          return Invalid(where, "expected an object");
        }
        item.has_resource = true;
        return ForEachField(
            resource, where, {"created_by", "entity_id"},
            [&](absl::string_view rkey, simdjson::dom::element rvalue,
                const std::string& rwhere) -> absl::Status {
              if (rkey == "created_by") {
                return String(rvalue, rwhere, false, item.resource_created_by);
              }
              resource_entity = true;
              return String(rvalue, rwhere, true, item.resource_entity_id);
            });
      });
  if (!status.ok()) return status;
  for (const auto& [name, value] :
       {std::pair<absl::string_view, const std::string*>{"object_type",
                                                         &item.object_type},
        {"action", &item.action},
        {"entity_id", &item.entity_id}}) {
    if (value->empty())
      return Invalid(absl::StrCat(path, ".", name), "missing");
  }
  if (item.has_resource && !resource_entity) {
    item.resource_entity_id = item.entity_id;
  }
  return item;
}

}  // namespace

absl::StatusOr<std::vector<CheckItem>> ParseCheckBatch(absl::string_view body,
                                                       size_t max_items) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(body.data(), body.size());
  simdjson::dom::element root;
  if (parser.parse(padded).get(root)) {
    return absl::InvalidArgumentError("malformed JSON");
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    return absl::InvalidArgumentError("body: expected an object");
  }
  std::vector<CheckItem> items;
  bool have_requests = false;
  absl::Status status = ForEachField(
      object, "", {"requests"},
      [&](absl::string_view, simdjson::dom::element value,
          const std::string& where) -> absl::Status {
        have_requests = true;
        simdjson::dom::array array;
        if (value.get_array().get(array)) {
          return Invalid(where, "expected an array");
        }
        if (array.size() == 0) return Invalid(where, "must not be empty");
        if (array.size() > max_items) {
          return Invalid(where,
                         absl::StrCat("more than ", max_items, " requests"));
        }
        items.reserve(array.size());
        size_t index = 0;
        for (simdjson::dom::element element : array) {
          absl::StatusOr<CheckItem> item =
              ParseItem(element, absl::StrCat(where, "[", index++, "]"));
          if (!item.ok()) return item.status();
          items.push_back(std::move(*item));
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (!have_requests) return Invalid("requests", "missing");
  return items;
}

}  // namespace portcullis::server
