#include "engine/common/scope.h"

#include <algorithm>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/common/names.h"
#include "engine/common/quote.h"

namespace portcullis {
namespace {

constexpr absl::string_view kExpectedLevels = "expected read, write or delete";

std::optional<ScopeLevel> LevelFromName(absl::string_view name) {
  if (name == "read") return ScopeLevel::kRead;
  if (name == "write") return ScopeLevel::kWrite;
  if (name == "delete") return ScopeLevel::kDelete;
  return std::nullopt;
}

// Parses one scope whose first character is at `offset` in the text being
// parsed; returns the problem without the scope's name, which the callers add.
absl::StatusOr<Scope> ParseOne(absl::string_view text, size_t offset) {
  if (text.empty()) {
    return absl::InvalidArgumentError(
        "is empty; expected <object-type>:<level>");
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || (c >= '\t' && c <= '\r')) {
      return absl::InvalidArgumentError(
          absl::StrCat("has stray whitespace at position ", offset + i,
                       "; expected <object-type>:<level>"));
    }
  }
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    if (text == "all") {
      Scope scope;
      scope.all = true;
      scope.bare = true;
      scope.level = ScopeLevel::kDelete;
      return scope;
    }
    return absl::InvalidArgumentError(
        "has no level; expected <object-type>:<level> or all");
  }
  const absl::string_view type = text.substr(0, colon);
  const absl::string_view level = text.substr(colon + 1);
  if (type.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("has an empty object type at position ", offset,
                     "; expected <object-type>:<level>"));
  }
  if (const size_t bad = internal::FindInvalidNameChar(type);
      bad != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "has an invalid character ", internal::DescribeChar(type[bad]),
        " at position ", offset + bad,
        "; an object type is letters, digits and _ - . /"));
  }
  if (level.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "has a second ':' at position ", offset + colon + 1 + level.find(':'),
        "; expected <object-type>:<level>"));
  }
  if (level.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("has an empty level at position ", offset + colon + 1,
                     "; ", kExpectedLevels));
  }
  const std::optional<ScopeLevel> parsed = LevelFromName(level);
  if (!parsed.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "has unknown level ", internal::Quote(level), " at position ",
        offset + colon + 1, "; ", kExpectedLevels));
  }
  Scope scope;
  scope.all = type == "all";
  if (!scope.all) scope.object_type = std::string(type);
  scope.level = *parsed;
  return scope;
}

}  // namespace

absl::string_view ScopeLevelName(ScopeLevel level) {
  switch (level) {
    case ScopeLevel::kRead:
      return "read";
    case ScopeLevel::kWrite:
      return "write";
    case ScopeLevel::kDelete:
      return "delete";
  }
  return "read";
}

std::string Scope::ToString() const {
  if (bare) return "all";
  return absl::StrCat(all ? "all" : object_type, ":", ScopeLevelName(level));
}

std::string RedundantScopeWarning(const Scope& scope, const Scope& earlier,
                                  absl::string_view earlier_description) {
  return absl::StrCat(
      "repeats object type \"", scope.all ? "all" : scope.object_type, "\" of ",
      earlier_description, "; the highest level (",
      ScopeLevelName(std::max(scope.level, earlier.level)), ") applies");
}

absl::StatusOr<Scope> ParseScope(absl::string_view text) {
  absl::StatusOr<Scope> scope = ParseOne(text, 0);
  if (!scope.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scope ", internal::Quote(text), " ", scope.status().message()));
  }
  return scope;
}

absl::StatusOr<std::vector<Scope>> ParseScopeList(
    absl::string_view text, std::vector<std::string>* warnings) {
  return ParseScopeList(
      text, [](absl::string_view) { return true; }, warnings);
}

absl::StatusOr<std::vector<Scope>> ParseScopeList(
    absl::string_view text,
    absl::FunctionRef<bool(absl::string_view)> is_object_type,
    std::vector<std::string>* warnings) {
  if (text.empty()) {
    return absl::InvalidArgumentError(
        "scope list is empty; expected scopes like \"payable:read\" separated "
        "by single spaces");
  }
  std::vector<Scope> scopes;
  size_t start = 0;
  for (int number = 1;; ++number) {
    const size_t end = std::min(text.find(' ', start), text.size());
    const absl::string_view item = text.substr(start, end - start);
    if (item.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "scope ", number, " at position ", start,
          " is empty: stray whitespace; separate scopes with single spaces"));
    }
    if (const size_t comma = item.find_first_of(",;");
        comma != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "scope ", number, " ", internal::Quote(item), " at position ", start,
          " has separator '", item.substr(comma, 1), "' at position ",
          start + comma, "; separate scopes with single spaces"));
    }
    absl::StatusOr<Scope> scope = ParseOne(item, start);
    if (!scope.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("scope ", number, " ", internal::Quote(item),
                       " at position ", start, " ", scope.status().message()));
    }
    if (!scope->all && !is_object_type(scope->object_type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "scope ", number, " \"", item, "\" at position ", start,
          " names unknown object type \"", scope->object_type, "\""));
    }
    for (size_t i = 0; i < scopes.size(); ++i) {
      if (warnings != nullptr && scopes[i].SameTarget(*scope)) {
        warnings->push_back(absl::StrCat(
            "scope ", number, " \"", item, "\" at position ", start, " ",
            RedundantScopeWarning(*scope, scopes[i],
                                  absl::StrCat("scope ", i + 1, " \"",
                                               scopes[i].ToString(), "\""))));
        break;
      }
    }
    scopes.push_back(*std::move(scope));
    if (end == text.size()) break;
    start = end + 1;
    if (start == text.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("scope list has stray whitespace at position ", end,
                       "; separate scopes with single spaces"));
    }
  }
  return scopes;
}

}  // namespace portcullis
