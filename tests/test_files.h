// Files for tests that watch or load them: a fresh directory per test and a
// plain (non-atomic) write.
#ifndef PORTCULLIS_TESTS_TEST_FILES_H_
#define PORTCULLIS_TESTS_TEST_FILES_H_

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace portcullis::test_files {

// An empty directory named after the running test, under the test's
// temporary directory.
inline std::string TestDir() {
  const std::string dir = absl::StrCat(
      ::testing::TempDir(), "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Writes `content` to `path` in place (truncate, write), as an editor does.
inline void WriteFile(const std::string& path, absl::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace portcullis::test_files

#endif  // PORTCULLIS_TESTS_TEST_FILES_H_
