// The bundle fuzzer's seeds that are whole bundles (corpus/bundle/*.bundle)
// load with this build: a format version bump or layout change that left them
// behind would turn every seed into an input refused at the header, and the
// fuzzer would start from nothing without anyone noticing. Regenerate them
// with tests/fuzz/make_bundle_seeds.sh.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engine/snapshot/bundle.h"
#include "engine/snapshot/compiled_policy.h"
#include "gtest/gtest.h"

namespace portcullis {
namespace {

constexpr char kCorpus[] = "tests/fuzz/corpus/bundle";

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

TEST(BundleCorpusTest, WholeBundleSeedsLoadWithTheCurrentFormat) {
  int seeds = 0;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(kCorpus, error)) {
    const std::string name = entry.path().filename().string();
    if (!absl::EndsWith(name, ".bundle")) continue;
    SCOPED_TRACE(name);
    ++seeds;
    const std::string bytes = ReadFile(entry.path());
    const absl::StatusOr<BundleInfo> header = ParseBundleHeader(bytes);
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->format_version, kBundleFormatVersion)
        << "run tests/fuzz/make_bundle_seeds.sh";
    EXPECT_FALSE(header->keyed);
    const absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy =
        ParseBundle(bytes);
    EXPECT_TRUE(policy.ok())
        << policy.status() << "; run tests/fuzz/make_bundle_seeds.sh";
  }
  ASSERT_FALSE(error) << kCorpus << ": " << error.message();
  // monite.bundle and monta.bundle.
  EXPECT_GE(seeds, 2);
}

// `truncated` is what its name says: a prefix of a seed that loads.
TEST(BundleCorpusTest, TruncatedSeedIsAPrefixOfMonite) {
  const std::string truncated = ReadFile(std::string(kCorpus) + "/truncated");
  const std::string monite = ReadFile(std::string(kCorpus) + "/monite.bundle");
  ASSERT_GE(truncated.size(), kBundleHeaderBytes);
  ASSERT_LT(truncated.size(), monite.size());
  EXPECT_TRUE(absl::StartsWith(monite, truncated))
      << "run tests/fuzz/make_bundle_seeds.sh";
  EXPECT_FALSE(ParseBundle(truncated).ok());
}

}  // namespace
}  // namespace portcullis
