// A stand-in for libFuzzer's main that replays saved inputs: every file under
// the paths given on the command line (a file, or a directory walked
// recursively, in name order) is passed once to LLVMFuzzerTestOneInput. Linked
// with a fuzz target, it makes a plain test of the target's seed corpus and
// crash regressions that any compiler and sanitizer can build (the libFuzzer
// binary needs clang). Dotfiles are skipped, so an otherwise empty regression
// directory can be kept in git. Fails when a path is missing or when no input
// was found at all: a regression test that runs nothing must not pass.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool IsHidden(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

// Appends the inputs `path` stands for; false when it does not exist.
bool CollectInputs(const std::filesystem::path& path,
                   std::vector<std::filesystem::path>& inputs) {
  std::error_code error;
  if (std::filesystem::is_regular_file(path, error)) {
    inputs.push_back(path);
    return true;
  }
  if (!std::filesystem::is_directory(path, error)) return false;
  std::vector<std::filesystem::path> found;
  for (auto it = std::filesystem::recursive_directory_iterator(
           path, std::filesystem::directory_options::follow_directory_symlink,
           error);
       !error && it != std::filesystem::recursive_directory_iterator();
       it.increment(error)) {
    if (IsHidden(it->path())) {
      if (it->is_directory(error)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(error)) found.push_back(it->path());
  }
  if (error) return false;
  std::sort(found.begin(), found.end());
  inputs.insert(inputs.end(), found.begin(), found.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!CollectInputs(argv[i], inputs)) {
      std::fprintf(stderr, "regression: cannot read %s\n", argv[i]);
      return 1;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "regression: no inputs found\n");
    return 1;
  }
  for (const std::filesystem::path& input : inputs) {
    std::ifstream in(input, std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "regression: cannot read %s\n", input.c_str());
      return 1;
    }
    // Printed before the run, so that a crash names its input.
    std::fprintf(stderr, "regression: %s (%zu bytes)\n", input.c_str(),
                 data.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()),
                           data.size());
  }
  std::fprintf(stderr, "regression: %zu inputs passed\n", inputs.size());
  return 0;
}
