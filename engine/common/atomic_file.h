// Whole-file I/O for files that readers watch while writers replace them
// (bundles, and the live stage's files): a write is atomic, a read is bounded.
// Not part of the public API.
#ifndef PORTCULLIS_ENGINE_COMMON_ATOMIC_FILE_H_
#define PORTCULLIS_ENGINE_COMMON_ATOMIC_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace portcullis::internal {

// Writes `bytes` to `path` atomically: to a temporary file in the same
// directory (`<path>.tmp-<pid>-<n>`, a name no other writer uses at the same
// time), flushed to disk, then renamed over `path`, so that a reader sees the
// old file or the new one, never a part. Unavailable naming the file and the
// step that failed (`cannot create`, `cannot write`, `cannot flush`, `cannot
// close`, `cannot replace`) and the system's reason; the temporary file is
// removed on failure.
absl::Status WriteFileAtomically(absl::string_view bytes,
                                 const std::string& path);

// Reads the whole regular file at `path`, at most `max_bytes` of it. Errors:
// NotFound `<path>: cannot open: <reason>`, InvalidArgument `<path>: not a
// regular file` or `<path>: file is <n> bytes; the limit is <max_bytes>`.
// Uses read(), not mmap(): a file truncated while mapped would raise SIGBUS;
// a file that shrinks while read gives the bytes that were read.
absl::StatusOr<std::string> ReadFileUpTo(const std::string& path,
                                         size_t max_bytes);

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_COMMON_ATOMIC_FILE_H_
