#include "engine/live/manifest.h"

#include <sodium.h>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/common/quote.h"

namespace portcullis {
namespace {

std::string Hex(const std::array<uint8_t, 32>& bytes) {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

bool ParseHexDigest(absl::string_view hex, std::array<uint8_t, 32>& out) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return true;
}

}  // namespace

absl::StatusOr<std::vector<ManifestEntry>> ParseManifest(
    absl::string_view manifest_path, absl::string_view content) {
  const size_t slash = manifest_path.rfind('/');
  const absl::string_view dir = slash == absl::string_view::npos
                                    ? absl::string_view()
                                    : manifest_path.substr(0, slash + 1);
  std::vector<ManifestEntry> entries;
  absl::flat_hash_set<std::string> seen;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");
    const absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(manifest_path, ": line ", line_number, ": ", why));
    };
    // `<64 hex digits><space><space or '*'><path>`, as sha256sum prints.
    ManifestEntry entry;
    if (line.size() < 67 || !ParseHexDigest(line.substr(0, 64), entry.sha256) ||
        line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) {
      return error(
          "expected \"<sha256 in 64 hex digits>  <path>\", as sha256sum "
          "prints");
    }
    const absl::string_view path = line.substr(66);
    if (path.empty() || path[0] == '/') {
      return error(absl::StrCat("path ", internal::Quote(path),
                                " must be relative to the manifest"));
    }
    for (absl::string_view part : absl::StrSplit(path, '/')) {
      if (part == ".." || part.empty()) {
        return error(
            absl::StrCat("path ", internal::Quote(path),
                         " must not have an empty or \"..\" component"));
      }
    }
    if (!seen.insert(std::string(path)).second) {
      return error(absl::StrCat(internal::Quote(path), " is listed twice"));
    }
    entry.path = absl::StrCat(dir, path);
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::Status VerifyManifestEntry(const ManifestEntry& entry,
                                 absl::string_view content) {
  std::array<uint8_t, 32> actual;
  crypto_hash_sha256(actual.data(),
                     reinterpret_cast<const unsigned char*>(content.data()),
                     content.size());
  if (actual == entry.sha256) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      entry.path, ": its SHA-256 is ", Hex(actual), ", the manifest lists ",
      Hex(entry.sha256),
      "; the file set is incomplete or being written, so nothing is "
      "published"));
}

}  // namespace portcullis
