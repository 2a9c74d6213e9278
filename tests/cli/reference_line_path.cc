#include "tests/cli/reference_line_path.h"

#include <cstdint>

#include "engine/common/json_string.h"
#include "engine/evaluate/evaluator.h"

namespace portcullis::cli::reference {
namespace {

using internal::AppendJsonString;
using PrincipalKind = CheckRequestView::PrincipalKind;

// A cursor over one line for the strict path. Every method returns false as
// soon as the input leaves the accepted subset; callers give up on the line.
class StrictReader {
 public:
  explicit StrictReader(absl::string_view line)
      : p_(line.data()), end_(line.data() + line.size()) {}

  void SkipSpace() {
    while (p_ < end_ &&
           (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) {
      ++p_;
    }
  }

  bool Consume(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  bool AtEnd() {
    SkipSpace();
    return p_ == end_;
  }

  // A string of printable ASCII without escapes, viewed in place. Anything
  // else needs unescaping or UTF-8 validation: protobuf's job.
  bool String(absl::string_view& out) {
    if (!Consume('"')) return false;
    const char* start = p_;
    while (p_ < end_) {
      const uint8_t c = static_cast<uint8_t>(*p_);
      if (c == '"') {
        out = absl::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c < 0x20 || c >= 0x7F || c == '\\') return false;
      ++p_;
    }
    return false;
  }

  // An object; `member(key)` reads the value of each member.
  template <typename MemberFn>
  bool Object(MemberFn&& member) {
    if (!Consume('{')) return false;
    if (Consume('}')) return true;
    do {
      absl::string_view key;
      if (!String(key) || !Consume(':') || !member(key)) return false;
    } while (Consume(','));
    return Consume('}');
  }

 private:
  const char* p_;
  const char* end_;
};

// Reads a string member into `out` unless it was already read: a repeated key
// is left to protobuf, whose rules for it are its own.
bool StringOnce(StrictReader& reader, uint32_t bit, uint32_t& seen,
                absl::string_view& out) {
  if ((seen & bit) != 0) return false;
  seen |= bit;
  return reader.String(out);
}

bool ReadPrincipal(StrictReader& reader, CheckRequestView& view) {
  bool has_kind = false;  // a oneof: a second member is protobuf's to reject
  return reader.Object([&](absl::string_view key) {
    if (has_kind) return false;
    has_kind = true;
    uint32_t seen = 0;
    if (key == "partner") {
      view.principal_kind = PrincipalKind::kPartner;
      return reader.Object([&](absl::string_view field) {
        return field == "client_id" &&
               StringOnce(reader, 1, seen, view.client_id);
      });
    }
    if (key == "entity_user") {
      view.principal_kind = PrincipalKind::kEntityUser;
      return reader.Object([&](absl::string_view field) {
        if (field == "user_id") {
          return StringOnce(reader, 1, seen, view.user_id);
        }
        if (field == "entity_id") {
          return StringOnce(reader, 2, seen, view.user_entity_id);
        }
        if (field == "role_id") {
          return StringOnce(reader, 4, seen, view.role_id);
        }
        if (field == "client_id") {
          return StringOnce(reader, 8, seen, view.client_id);
        }
        return false;
      });
    }
    return false;
  });
}

bool ReadResource(StrictReader& reader, CheckRequestView& view) {
  view.has_resource = true;
  uint32_t seen = 0;
  return reader.Object([&](absl::string_view field) {
    if (field == "entity_id") {
      return StringOnce(reader, 1, seen, view.resource_entity_id);
    }
    if (field == "created_by") {
      return StringOnce(reader, 2, seen, view.resource_created_by);
    }
    return false;
  });
}

}  // namespace

std::optional<RequestLine> ParseRequestFast(absl::string_view line) {
  StrictReader reader(line);
  RequestLine request;
  CheckRequestView& view = request.view;
  uint32_t seen = 0;
  const bool ok = reader.Object([&](absl::string_view key) {
    if (key == "id") return StringOnce(reader, 1, seen, request.id);
    if (key == "object_type") {
      return StringOnce(reader, 2, seen, view.object_type);
    }
    if (key == "action") return StringOnce(reader, 4, seen, view.action);
    if (key == "entity_id") return StringOnce(reader, 8, seen, view.entity_id);
    if (key == "principal") {
      if ((seen & 16) != 0) return false;
      seen |= 16;
      return ReadPrincipal(reader, view);
    }
    if (key == "resource") {
      if ((seen & 32) != 0) return false;
      seen |= 32;
      return ReadResource(reader, view);
    }
    return false;
  });
  if (!ok || !reader.AtEnd()) return std::nullopt;
  return request;
}

void AppendAnswer(absl::string_view id, Decision decision, std::string& out) {
  out.append("{\"id\": ");
  AppendJsonString(id, out);
  out.append(", \"decision\": \"");
  out.append(VerdictName(decision.verdict).data(),
             VerdictName(decision.verdict).size());
  out.append("\", \"reason\": \"");
  out.append(ReasonName(decision.reason).data(),
             ReasonName(decision.reason).size());
  out.append("\"}\n");
}

}  // namespace portcullis::cli::reference
