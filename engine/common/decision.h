// The answer of a check: a verdict and the reason for it.
#ifndef PORTCULLIS_ENGINE_COMMON_DECISION_H_
#define PORTCULLIS_ENGINE_COMMON_DECISION_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace portcullis {

enum class Verdict : uint8_t {
  // The zero value: a default-constructed Decision denies.
  kNotAllowed = 0,
  kAllowed = 1,
  // Allowed only on the user's own objects: the service must restrict the
  // operation (a list, a create) to objects the user created.
  kAllowedForOwn = 2,
};

// Why a decision was reached: the rule that decided (docs/design.md's decision
// procedure), kGranted when every rule passed, or the failure that made the
// request undecidable (which always denies).
enum class Reason : uint8_t {
  kGranted = 0,
  kTenant,
  kScope,
  kPartnerOnly,
  kRbac,
  kOwnership,
  kUnknownPrincipal,   // no such credential (client id)
  kUnknownObjectType,  // not in the catalog
  kUnknownAction,      // not an action of the object type
  kUnknownEntity,      // the request's entity or the user's entity
  kUnknownRole,        // the user's role does not exist
  kStaleSnapshot,      // an id or principal bound to another snapshot
  kInvalidRequest,     // malformed: no principal, empty names, bad ids
  kNoPolicy,           // a store that has no policy yet
  // New reasons go above this line, and kReasonCount below names the last.
};

// How many reasons there are. Every place that packs a Reason into bits
// static_asserts that they fit (grep kReasonCount).
inline constexpr uint32_t kReasonCount =
    static_cast<uint32_t>(Reason::kNoPolicy) + 1;
// How many verdicts there are, likewise.
inline constexpr uint32_t kVerdictCount =
    static_cast<uint32_t>(Verdict::kAllowedForOwn) + 1;

struct Decision {
  Verdict verdict = Verdict::kNotAllowed;
  Reason reason = Reason::kInvalidRequest;

  bool allowed() const { return verdict == Verdict::kAllowed; }
  friend bool operator==(Decision a, Decision b) {
    return a.verdict == b.verdict && a.reason == b.reason;
  }
  friend bool operator!=(Decision a, Decision b) { return !(a == b); }
};

// "allowed", "not_allowed", "allowed_for_own".
absl::string_view VerdictName(Verdict verdict);

// "granted", "tenant", "scope", "partner_only", "rbac", "ownership",
// "unknown_principal", ... (the names of the answer format).
absl::string_view ReasonName(Reason reason);

}  // namespace portcullis

#endif  // PORTCULLIS_ENGINE_COMMON_DECISION_H_
