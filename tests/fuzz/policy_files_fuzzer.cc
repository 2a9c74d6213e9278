// Fuzzes the file loader (LoadPolicyFiles) and PolicySources::Locate. The
// input is one or more policy files separated by a line "----"; a file whose
// first non-blank character is '{' is written as .json, any other as .txtpb.
// Loading the files one by one and loading their directory must give the same
// merged policy; every validation error must be traced back to the file and
// index that hold the element it names.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "proto/policy.pb.h"
#include "tests/fuzz/decision_properties.h"
#include "tests/fuzz/fuzz_check.h"

namespace portcullis::fuzz {
namespace {

// More files only repeat what two or three show, at the cost of file I/O.
constexpr size_t kMaxFiles = 8;

// A directory of this process's own, removed at exit.
const std::filesystem::path& ScratchDirectory() {
  static const std::filesystem::path* const directory = [] {
    const char* base = std::getenv("TEST_TMPDIR");
    if (base == nullptr) base = std::getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(base != nullptr ? base : "/tmp", "/policy_files.XXXXXX");
    PORTCULLIS_FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr, pattern);
    auto* path = new std::filesystem::path(pattern);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(ScratchDirectory(), ignored);
    });
    return path;
  }();
  return *directory;
}

// The element of `policy` that an error path's collection prefix and index
// name, serialized; empty when there is none.
std::string Element(const v1::PolicySet& policy, absl::string_view prefix,
                    uint32_t index) {
  const auto at = [index](const auto& repeated) {
    return index < static_cast<uint32_t>(repeated.size())
               ? repeated[static_cast<int>(index)].SerializeAsString()
               : std::string();
  };
  if (prefix == "catalog.object_types[") {
    return at(policy.catalog().object_types());
  }
  if (prefix == "roles[") return at(policy.roles());
  if (prefix == "entities[") return at(policy.entities());
  return at(policy.credentials());
}

// Checks that Locate() sends `path`, an error path in the merged policy, to
// the file and index holding the same element.
void CheckLocate(const LoadedPolicy& loaded,
                 const std::vector<v1::PolicySet>& parts,
                 const std::vector<std::string>& files,
                 const std::string& path) {
  const std::string located = loaded.sources.Locate(path);
  for (absl::string_view prefix :
       {"catalog.object_types[", "roles[", "entities[", "credentials["}) {
    if (!absl::StartsWith(path, prefix)) continue;
    const size_t close = path.find(']');
    uint32_t index = 0;
    if (close == std::string::npos ||
        !absl::SimpleAtoi(absl::string_view(path).substr(prefix.size(),
                                                         close - prefix.size()),
                          &index)) {
      return;
    }
    const std::string element = Element(loaded.policy, prefix, index);
    for (size_t f = 0; f < files.size(); ++f) {
      const std::string head = absl::StrCat(files[f], ":", prefix);
      if (!absl::StartsWith(located, head)) continue;
      const absl::string_view rest =
          absl::string_view(located).substr(head.size());
      const size_t local_close = rest.find(']');
      uint32_t local = 0;
      PORTCULLIS_FUZZ_CHECK(
          local_close != absl::string_view::npos &&
              absl::SimpleAtoi(rest.substr(0, local_close), &local) &&
              rest.substr(local_close) == absl::string_view(path).substr(close),
          absl::StrCat(path, " located as ", located));
      PORTCULLIS_FUZZ_CHECK(Element(parts[f], prefix, local) == element,
                            absl::StrCat(path, " located as ", located,
                                         ", which holds another element"));
      return;
    }
    PORTCULLIS_FUZZ_CHECK(element.empty(),
                          absl::StrCat(path, " located as ", located));
    return;
  }
}

void Run(absl::string_view input) {
  std::vector<absl::string_view> contents = absl::StrSplit(input, "\n----\n");
  if (contents.size() > kMaxFiles) return;
  const std::filesystem::path& directory = ScratchDirectory();
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(directory, error)) {
    std::filesystem::remove(entry.path(), error);
  }

  std::vector<std::string> files;
  for (size_t i = 0; i < contents.size(); ++i) {
    const size_t first = contents[i].find_first_not_of(" \t\r\n");
    const bool json =
        first != absl::string_view::npos && contents[i][first] == '{';
    files.push_back(
        (directory / absl::StrCat("p", i, json ? ".json" : ".txtpb")).string());
    std::ofstream out(files.back(), std::ios::binary);
    out.write(contents[i].data(),
              static_cast<std::streamsize>(contents[i].size()));
    PORTCULLIS_FUZZ_CHECK(out.good(), files.back());
  }

  const absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles(files);
  const absl::StatusOr<LoadedPolicy> from_directory =
      LoadPolicyFiles({directory.string()});
  PORTCULLIS_FUZZ_CHECK(loaded.ok() == from_directory.ok(),
                        absl::StrCat(loaded.status().ToString(), " vs ",
                                     from_directory.status().ToString()));
  if (!loaded.ok()) {
    bool names_a_file = false;
    for (const std::string& file : files) {
      names_a_file |= absl::StartsWith(loaded.status().message(), file + ": ");
    }
    PORTCULLIS_FUZZ_CHECK(names_a_file, loaded.status().ToString());
    return;
  }
  PORTCULLIS_FUZZ_CHECK(loaded->policy.SerializeAsString() ==
                            from_directory->policy.SerializeAsString(),
                        "the directory merged differently");
  PORTCULLIS_FUZZ_CHECK(loaded->sources.files() == files,
                        "the sources lost a file");

  std::vector<v1::PolicySet> parts;
  for (size_t i = 0; i < contents.size(); ++i) {
    absl::StatusOr<v1::PolicySet> part = absl::EndsWith(files[i], ".json")
                                             ? ParsePolicyJson(contents[i])
                                             : ParsePolicyText(contents[i]);
    PORTCULLIS_FUZZ_CHECK(part.ok(), part.status().ToString());
    parts.push_back(*std::move(part));
  }
  const ValidationReport report = Validate(loaded->policy);
  for (const PolicyError& error : report.errors) {
    CheckLocate(*loaded, parts, files, error.path);
  }
  // Paths no validation error has: out of range, malformed, arbitrary.
  for (const std::string& path :
       {std::string("roles[4294967296].name"), std::string("roles["),
        std::string("entities[-1]"), std::string("credentials[99]"),
        std::string(input.substr(0, input.find('\n')))}) {
    CheckLocate(*loaded, parts, files, path);
  }
  if (report.ok()) CheckPolicyProperties(loaded->policy, /*max_requests=*/16);
}

}  // namespace
}  // namespace portcullis::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  portcullis::fuzz::SilenceProtobufLogs();
  portcullis::fuzz::Run(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
