#include "engine/common/decision.h"

namespace portcullis {

absl::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kNotAllowed:
      return "not_allowed";
    case Verdict::kAllowed:
      return "allowed";
    case Verdict::kAllowedForOwn:
      return "allowed_for_own";
  }
  return "not_allowed";
}

absl::string_view ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kGranted:
      return "granted";
    case Reason::kTenant:
      return "tenant";
    case Reason::kScope:
      return "scope";
    case Reason::kPartnerOnly:
      return "partner_only";
    case Reason::kRbac:
      return "rbac";
    case Reason::kOwnership:
      return "ownership";
    case Reason::kUnknownPrincipal:
      return "unknown_principal";
    case Reason::kUnknownObjectType:
      return "unknown_object_type";
    case Reason::kUnknownAction:
      return "unknown_action";
    case Reason::kUnknownEntity:
      return "unknown_entity";
    case Reason::kUnknownRole:
      return "unknown_role";
    case Reason::kStaleSnapshot:
      return "stale_snapshot";
    case Reason::kInvalidRequest:
      return "invalid_request";
    case Reason::kNoPolicy:
      return "no_policy";
  }
  return "invalid_request";
}

}  // namespace portcullis
