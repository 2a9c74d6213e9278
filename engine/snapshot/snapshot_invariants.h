// The invariants of a snapshot's tables: every fact the evaluator, the name
// lookups and the binders rely on without checking (ranges that partition,
// rows inside their tables, row 0 denying all, restriction bits matching the
// entities they list, ...). The bundle loader checks them before it builds a
// policy from untrusted bytes; tests check that the compiler's output holds
// them (tests/snapshot/snapshot_invariants_test.cc). Not part of the public
// API.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_SNAPSHOT_INVARIANTS_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_SNAPSHOT_INVARIANTS_H_

#include "absl/status/status.h"
#include "engine/snapshot/policy_tables.h"

namespace portcullis::internal {

// OK when `tables` hold every invariant, else DataLoss naming the first that
// breaks and where, e.g. "type_base ends at 5; expected 4" (a bundle's loader
// prefixes "inconsistent bundle: "). Reads only the names of the name tables,
// so they need not be indexed yet (NameTable::SetNames). Costs one pass over
// the tables.
absl::Status CheckSnapshotInvariants(const PolicyTables& tables);

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_SNAPSHOT_INVARIANTS_H_
