#include "engine/common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace portcullis::internal {

absl::Status WriteFileAtomically(absl::string_view bytes,
                                 const std::string& path) {
  // A name no other writer in this or another process uses at the same time.
  static std::atomic<uint64_t> counter{0};
  const std::string temporary =
      absl::StrCat(path, ".tmp-", getpid(), "-", counter.fetch_add(1));
  const int fd =
      open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat(temporary, ": cannot create: ", std::strerror(errno)));
  }
  auto fail = [&](absl::string_view what) {
    const std::string reason = std::strerror(errno);
    close(fd);
    unlink(temporary.c_str());
    return absl::UnavailableError(
        absl::StrCat(temporary, ": ", what, ": ", reason));
  };
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("cannot flush");
  if (close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    unlink(temporary.c_str());
    return absl::UnavailableError(
        absl::StrCat(temporary, ": cannot close: ", reason));
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    unlink(temporary.c_str());
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot replace: ", reason));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileUpTo(const std::string& path,
                                         size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  if (static_cast<uint64_t>(info.st_size) > max_bytes) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": file is ", info.st_size, " bytes; the limit is ", max_bytes));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = read(fd, &bytes[done], bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // an error, or the file shrank: the caller's checks
    done += static_cast<size_t>(n);
  }
  close(fd);
  bytes.resize(done);
  return bytes;
}

}  // namespace portcullis::internal
