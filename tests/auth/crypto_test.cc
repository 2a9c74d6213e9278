#include "engine/auth/crypto.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash_testing.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"

namespace portcullis::auth {
namespace {

std::vector<uint8_t> Sequence(size_t size, uint8_t first) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(first + i);
  return bytes;
}

std::string Hex(const Digest& digest) {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.bytes().data()), Digest::kSize));
}

SecretKey KeyFrom(const std::vector<uint8_t>& bytes) {
  absl::StatusOr<SecretKey> key = SecretKey::FromBytes(bytes);
  EXPECT_TRUE(key.ok()) << key.status();
  return *std::move(key);
}

TEST(InitializeCryptoTest, IdempotentAndThreadSafe) {
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(8);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&results, i] { results[i] = InitializeCrypto(); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& result : results) EXPECT_TRUE(result.ok()) << result;
  EXPECT_TRUE(InitializeCrypto().ok());
}

TEST(RandomBytesTest, FillsBuffersOfEverySize) {
  for (size_t size : {0, 1, 16, 32, 1000}) {
    SCOPED_TRACE(size);
    std::vector<uint8_t> a(size, 0);
    std::vector<uint8_t> b(size, 0);
    RandomBytes(absl::MakeSpan(a));
    RandomBytes(absl::MakeSpan(b));
    if (size >= 16) {
      // 2^-128 odds of a false failure.
      EXPECT_NE(a, std::vector<uint8_t>(size, 0));
      EXPECT_NE(a, b);
    }
  }
}

TEST(ConstantTimeEqualsTest, Cases) {
  const std::vector<uint8_t> base = Sequence(32, 1);
  std::vector<uint8_t> first_differs = base;
  first_differs.front() ^= 1;
  std::vector<uint8_t> last_differs = base;
  last_differs.back() ^= 0x80;
  const std::vector<uint8_t> prefix(base.begin(), base.end() - 1);
  const std::vector<uint8_t> empty;
  struct Case {
    const char* name;
    const std::vector<uint8_t>& a;
    const std::vector<uint8_t>& b;
    bool equal;
  };
  const Case cases[] = {
      {"same bytes", base, base, true},
      {"first byte differs", base, first_differs, false},
      {"last byte differs", base, last_differs, false},
      {"prefix", base, prefix, false},
      {"both empty", empty, empty, true},
      {"one empty", base, empty, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(ConstantTimeEquals(c.a, c.b), c.equal);
    EXPECT_EQ(ConstantTimeEquals(c.b, c.a), c.equal);
  }
}

TEST(DigestTest, FromBytesRejectsWrongLengths) {
  struct Case {
    size_t size;
    const char* message;
  };
  const Case cases[] = {
      {0, "digest: expected 32 bytes, got 0"},
      {16, "digest: expected 32 bytes, got 16"},
      {31, "digest: expected 32 bytes, got 31"},
      {33, "digest: expected 32 bytes, got 33"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.size);
    absl::StatusOr<Digest> digest = Digest::FromBytes(Sequence(c.size, 0));
    EXPECT_EQ(digest.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(digest.status().message(), c.message);
  }
}

TEST(DigestTest, FromBytesKeepsTheBytes) {
  const std::vector<uint8_t> bytes = Sequence(32, 7);
  absl::StatusOr<Digest> digest = Digest::FromBytes(bytes);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(
      std::vector<uint8_t>(digest->bytes().begin(), digest->bytes().end()),
      bytes);
  EXPECT_FALSE(digest->IsZero());
}

TEST(DigestTest, DefaultIsZero) {
  EXPECT_TRUE(Digest().IsZero());
  EXPECT_EQ(Digest(), Digest(std::array<uint8_t, Digest::kSize>{}));
}

TEST(DigestTest, EqualityLooksAtEveryByte) {
  std::array<uint8_t, Digest::kSize> bytes{};
  for (size_t i = 0; i < Digest::kSize; ++i) {
    SCOPED_TRACE(i);
    std::array<uint8_t, Digest::kSize> other{};
    other[i] = 1;
    EXPECT_NE(Digest(bytes), Digest(other));
    EXPECT_FALSE(Digest(bytes) == Digest(other));
    EXPECT_FALSE(Digest(other).IsZero());
    // The high bit too: a sign or a byte-wise subtraction cannot hide it.
    other[i] = 0x80;
    EXPECT_NE(Digest(bytes), Digest(other));
    EXPECT_TRUE(Digest(other) == Digest(other));
  }
}

TEST(DigestTest, ImplementsAbslHashCorrectly) {
  std::vector<Digest> digests;
  for (uint8_t i = 0; i < 8; ++i) {
    std::array<uint8_t, Digest::kSize> bytes{};
    bytes[i * 4] = static_cast<uint8_t>(i + 1);
    digests.push_back(Digest(bytes));
  }
  digests.push_back(Digest());
  EXPECT_TRUE(absl::VerifyTypeImplementsAbslHashCorrectly(digests));
}

TEST(DigestTest, KeysAFlatHashMap) {
  const SecretKey key = SecretKey::Generate();
  absl::flat_hash_map<Digest, int> map;
  for (int i = 0; i < 1000; ++i) {
    const std::array<uint8_t, 4> data = {static_cast<uint8_t>(i),
                                         static_cast<uint8_t>(i >> 8), 0, 0};
    map[KeyedHash(key, data)] = i;
  }
  ASSERT_EQ(map.size(), 1000u);
  const std::array<uint8_t, 4> data = {0x2a, 0x01, 0, 0};
  EXPECT_EQ(map.at(KeyedHash(key, data)), 0x12a);
}

TEST(SecretKeyTest, FromBytesErrors) {
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    const char* message;
  };
  const Case cases[] = {
      {"empty", {}, "secret key: expected 32 bytes, got 0"},
      {"short", Sequence(31, 1), "secret key: expected 32 bytes, got 31"},
      {"long", Sequence(64, 1), "secret key: expected 32 bytes, got 64"},
      {"all zero", std::vector<uint8_t>(32, 0),
       "secret key: all bytes are zero"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<SecretKey> key = SecretKey::FromBytes(c.bytes);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(key.status().message(), c.message);
  }
}

TEST(SecretKeyTest, FromBytesKeepsTheBytes) {
  const std::vector<uint8_t> bytes = Sequence(32, 100);
  const SecretKey key = KeyFrom(bytes);
  EXPECT_EQ(std::vector<uint8_t>(key.bytes().begin(), key.bytes().end()),
            bytes);
}

TEST(SecretKeyTest, GeneratedKeysDiffer) {
  const SecretKey a = SecretKey::Generate();
  const SecretKey b = SecretKey::Generate();
  EXPECT_EQ(a.bytes().size(), SecretKey::kSize);
  EXPECT_FALSE(ConstantTimeEquals(a.bytes(), b.bytes()));
}

TEST(SecretKeyTest, MovingWipesTheSource) {
  const std::vector<uint8_t> bytes = Sequence(32, 1);
  const std::vector<uint8_t> zeros(32, 0);
  SecretKey source = KeyFrom(bytes);
  SecretKey moved(std::move(source));
  // The wipe is the documented state of a moved-from key.
  EXPECT_TRUE(ConstantTimeEquals(source.bytes(), zeros));  // NOLINT
  EXPECT_TRUE(ConstantTimeEquals(moved.bytes(), bytes));

  SecretKey assigned = SecretKey::Generate();
  assigned = std::move(moved);
  EXPECT_TRUE(ConstantTimeEquals(moved.bytes(), zeros));  // NOLINT
  EXPECT_TRUE(ConstantTimeEquals(assigned.bytes(), bytes));
}

// Known answers from an independent implementation (Python's
// hashlib.blake2b(data, key=key, digest_size=32)): pins the algorithm, so
// digests stored by one release still match in the next.
TEST(KeyedHashTest, KnownAnswers) {
  struct Case {
    const char* name;
    std::vector<uint8_t> key;
    std::vector<uint8_t> data;
    const char* hex;
  };
  const Case cases[] = {
      {"token-sized input", Sequence(32, 0), Sequence(16, 0),
       "ce33db4739a80e3f3c29403576152dfec9bd8c3ba0d1a4c2a65a2cbdbfaa67f0"},
      {"empty input",
       Sequence(32, 0),
       {},
       "4e51e7a913fc80137da52880fecca175bf81e117d5c68126dc2774033517ea0d"},
      {"two blocks", Sequence(32, 100), Sequence(200, 0),
       "9621b6937054909921e471f396832d8fc81979630ed27d384cfcb7055cc052d7"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Hex(KeyedHash(KeyFrom(c.key), c.data)), c.hex);
  }
}

TEST(KeyedHashTest, DeterministicPerKeyAndInput) {
  const SecretKey key = SecretKey::Generate();
  const std::vector<uint8_t> data = Sequence(16, 9);
  EXPECT_EQ(KeyedHash(key, data), KeyedHash(key, data));
}

TEST(KeyedHashTest, EveryInputBitMatters) {
  const SecretKey key = SecretKey::Generate();
  const std::vector<uint8_t> data = Sequence(16, 0);
  const Digest base = KeyedHash(key, data);
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    SCOPED_TRACE(bit);
    std::vector<uint8_t> flipped = data;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(KeyedHash(key, flipped), base);
  }
}

TEST(KeyedHashTest, KeysSeparateDigests) {
  const std::vector<uint8_t> data = Sequence(16, 0);
  const SecretKey a = SecretKey::Generate();
  const SecretKey b = SecretKey::Generate();
  EXPECT_NE(KeyedHash(a, data), KeyedHash(b, data));

  // Keys one bit apart are unrelated too.
  std::vector<uint8_t> key_bytes = Sequence(32, 1);
  const SecretKey c = KeyFrom(key_bytes);
  key_bytes[31] ^= 1;
  const SecretKey d = KeyFrom(key_bytes);
  EXPECT_NE(KeyedHash(c, data), KeyedHash(d, data));
}

// BlockPrf is AES-128 (FIPS 197) with its input XORed back in: the
// standard's own examples, Appendix B and C.1, as 16-byte hex strings.
TEST(BlockPrfTest, IsAes128XorInput) {
  if (!BlockPrf::Supported()) GTEST_SKIP() << "no AES instructions";
  struct Case {
    const char* name;
    const char* key;
    const char* plaintext;
    const char* ciphertext;
  };
  const Case cases[] = {
      {"FIPS 197 Appendix B", "2b7e151628aed2a6abf7158809cf4f3c",
       "3243f6a8885a308d313198a2e0370734", "3925841d02dc09fbdc118597196a0b32"},
      {"FIPS 197 Appendix C.1", "000102030405060708090a0b0c0d0e0f",
       "00112233445566778899aabbccddeeff", "69c4e0d86a7b0430d8cdb78070b4c55a"},
  };
  auto block = [](const char* hex) {
    const std::string bytes = absl::HexStringToBytes(hex);
    std::array<uint8_t, BlockPrf::kKeySize> out;
    std::memcpy(out.data(), bytes.data(), out.size());
    return out;
  };
  auto word = [](const std::array<uint8_t, 16>& bytes, size_t offset) {
    uint64_t value = 0;
    for (size_t i = 0; i < 8; ++i) {
      value |= uint64_t{bytes[offset + i]} << (8 * i);
    }
    return value;
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<const BlockPrf> prf = BlockPrf::FromKey(block(c.key));
    ASSERT_NE(prf, nullptr);
    const std::array<uint8_t, 16> plaintext = block(c.plaintext);
    std::array<uint8_t, 16> expected = block(c.ciphertext);
    for (size_t i = 0; i < expected.size(); ++i) expected[i] ^= plaintext[i];
    const std::array<uint64_t, 2> out = prf->Evaluate(plaintext);
    EXPECT_EQ(out[0], word(expected, 0));
    EXPECT_EQ(out[1], word(expected, 8));
  }
}

TEST(BlockPrfTest, FreshKeysDiffer) {
  if (!BlockPrf::Supported()) GTEST_SKIP() << "no AES instructions";
  std::unique_ptr<const BlockPrf> a = BlockPrf::Create();
  std::unique_ptr<const BlockPrf> b = BlockPrf::Create();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::array<uint8_t, 16> zero{};
  EXPECT_NE(a->Evaluate(zero), b->Evaluate(zero));
  // A keyed function, not the identity or a constant.
  std::array<uint8_t, 16> one{};
  one[0] = 1;
  EXPECT_NE(a->Evaluate(zero), a->Evaluate(one));
  EXPECT_EQ(a->Evaluate(one), a->Evaluate(one));
}

}  // namespace
}  // namespace portcullis::auth
