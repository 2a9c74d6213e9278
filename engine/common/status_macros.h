// Early-return helpers for absl::Status and absl::StatusOr (Debian's Abseil
// 20220623 predates absl/status/status_macros.h).
#ifndef PORTCULLIS_ENGINE_COMMON_STATUS_MACROS_H_
#define PORTCULLIS_ENGINE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define PORTCULLIS_RETURN_IF_ERROR(expr)                     \
  do {                                                       \
    const ::absl::Status portcullis_status_ = (expr);        \
    if (!portcullis_status_.ok()) return portcullis_status_; \
  } while (false)

#define PORTCULLIS_STATUS_CONCAT_INNER_(a, b) a##b
#define PORTCULLIS_STATUS_CONCAT_(a, b) PORTCULLIS_STATUS_CONCAT_INNER_(a, b)

// `PORTCULLIS_ASSIGN_OR_RETURN(auto x, MakeX());` assigns the value of an
// absl::StatusOr or returns its error from the enclosing function.
#define PORTCULLIS_ASSIGN_OR_RETURN(lhs, expr) \
  PORTCULLIS_ASSIGN_OR_RETURN_IMPL_(           \
      PORTCULLIS_STATUS_CONCAT_(portcullis_statusor_, __LINE__), lhs, expr)

#define PORTCULLIS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                      \
  if (!statusor.ok()) return std::move(statusor).status();     \
  lhs = *std::move(statusor)

#endif  // PORTCULLIS_ENGINE_COMMON_STATUS_MACROS_H_
