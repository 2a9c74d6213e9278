// Interning of names into dense indices, used by the compiler and by the
// name-based API. Not part of the public API.
#ifndef PORTCULLIS_ENGINE_SNAPSHOT_NAME_TABLE_H_
#define PORTCULLIS_ENGINE_SNAPSHOT_NAME_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/strings/string_view.h"
#include "engine/snapshot/huge_pages.h"

namespace portcullis::internal {

// Fixed-size loads compile to moves; a variable-size copy or compare to a
// call. Ids and catalog names are short, so the helpers below read them
// eight bytes at a time, never past either end.
inline uint64_t LoadWord64(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  return word;
}
inline uint32_t LoadWord32(const char* p) {
  uint32_t word;
  std::memcpy(&word, p, sizeof(word));
  return word;
}

// The first and the last (up to) eight bytes of `name`, which are all of its
// bytes when it has at most sixteen, as two words.
struct NameEnds {
  uint64_t first = 0;
  uint64_t last = 0;
};
inline NameEnds EndsOf(absl::string_view name) {
  const char* p = name.data();
  const size_t n = name.size();
  if (n >= 8) return {LoadWord64(p), LoadWord64(p + n - 8)};
  if (n >= 4) return {LoadWord32(p), LoadWord32(p + n - 4)};
  if (n == 0) return {};
  return {uint64_t{static_cast<unsigned char>(p[0])} << 16 |
              uint64_t{static_cast<unsigned char>(p[n / 2])} << 8 |
              static_cast<unsigned char>(p[n - 1]),
          0};
}

// A fast hash of `name` under `seed`, mixed in every bit (NameTable takes a
// slot's position from the high half, its tag from the low). Names of up to
// sixteen bytes (most ids) take no loop: their ends (EndsOf), with the seed and
// the length, are multiplied together into 128 bits whose halves are folded
// (wyhash's "mum"), and the fold once more by an odd constant; a longer name
// mixes its middle words in first. A byte-wise general-purpose hash dominated
// the name-based checks; a murmur-style finalizer cost a dozen instructions
// more a lookup, and a plain sum of multiplied words (as ActionIndex hashes a
// pair) clustered numbered ids with some final constants ("role-0" to
// "role-999" probed twice as long). Not a keyed hash: a name table only answers
// lookups (an adversary cannot insert), so a probe is never longer than the
// longest run of occupied slots, fixed when the index is built.
inline uint64_t HashName(uint64_t seed, absl::string_view name) {
  const size_t n = name.size();
  uint64_t h = (seed ^ n) * 0x9e3779b97f4a7c15ull;
  // Bytes [8, n - 8): nothing for names of up to sixteen bytes.
  for (size_t i = 8; i + 8 < n; i += 8) {
    h = (h ^ LoadWord64(name.data() + i)) * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
  }
  const NameEnds ends = EndsOf(name);
  const unsigned __int128 product =
      static_cast<unsigned __int128>(ends.first ^ h ^ 0xa0761d6478bd642full) *
      (ends.last ^ 0xe7037ed1a0b428dbull);
  const uint64_t folded =
      static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
  return folded * 0x9e3779b97f4a7c15ull;
}

// a == b, inline: `operator==` calls memcmp, which costs more than the
// compare itself on names of a few words.
inline bool NamesEqual(absl::string_view a, absl::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* p = a.data();
  const char* q = b.data();
  if (n >= 8) {
    // The first and the last word cover up to sixteen bytes, the common
    // case, with no loop; a longer name compares the words between too.
    if (ABSL_PREDICT_FALSE(n > 16)) {
      for (size_t i = 8; i + 8 < n; i += 8) {
        if (LoadWord64(p + i) != LoadWord64(q + i)) return false;
      }
    }
    return ((LoadWord64(p) ^ LoadWord64(q)) |
            (LoadWord64(p + n - 8) ^ LoadWord64(q + n - 8))) == 0;
  }
  if (n >= 4) {
    return ((LoadWord32(p) ^ LoadWord32(q)) |
            (LoadWord32(p + n - 4) ^ LoadWord32(q + n - 4))) == 0;
  }
  // Bytes 0, n / 2 and n - 1 are every byte of a name of 1 to 3 bytes.
  return n == 0 ||
         (p[0] == q[0] && p[n / 2] == q[n / 2] && p[n - 1] == q[n - 1]);
}

// Strings stored back to back in one buffer: 4 bytes of overhead per string
// instead of a std::string's 32. Large buffers are huge pages
// (HugePageVector). Append-only; thread-compatible.
class PackedStrings {
 public:
  using Chars = HugePageVector<char>;
  using Offsets = HugePageVector<uint32_t>;

  uint32_t Add(absl::string_view value) {
    chars_.insert(chars_.end(), value.begin(), value.end());
    offsets_.push_back(static_cast<uint32_t>(chars_.size()));
    return static_cast<uint32_t>(offsets_.size() - 2);
  }
  absl::string_view operator[](uint32_t index) const {
    return absl::string_view(chars_.data() + offsets_[index],
                             offsets_[index + 1] - offsets_[index]);
  }
  uint32_t size() const { return static_cast<uint32_t>(offsets_.size() - 1); }
  size_t MemoryBytes() const {
    return chars_.capacity() + offsets_.capacity() * sizeof(uint32_t);
  }
  void ShrinkToFit() {
    chars_.shrink_to_fit();
    offsets_.shrink_to_fit();
  }

  // The raw parts, for bundles (engine/bundle.h): string i is
  // chars()[offsets()[i], offsets()[i + 1]).
  absl::string_view chars() const {
    return absl::string_view(chars_.data(), chars_.size());
  }
  const Offsets& offsets() const { return offsets_; }
  // Reassembles strings from their parts. Precondition (a bundle's loader
  // checks it): offsets starts at 0, never decreases and ends at chars.size().
  static PackedStrings FromParts(Chars chars, Offsets offsets) {
    PackedStrings strings;
    strings.chars_ = std::move(chars);
    strings.offsets_ = std::move(offsets);
    return strings;
  }

 private:
  Chars chars_;
  Offsets offsets_{0};  // string i is chars_[offsets_[i], offsets_[i+1])
};

// Maps (namespace, name) pairs to dense indices 0, 1, 2, ... in insertion
// order, and back. A namespace is a small integer chosen by the caller (an
// action's namespace is its object type, so one table holds every action name).
//
// Names are stored once, back to back in one buffer. The hash index is an
// open-addressing array of 32-bit slots, linear probing, at most half full:
// a slot holds a name's index + 1 in its low bits and the top bits of the
// name's hash (a tag) in the others, so a probe compares names only when the
// tags agree (a wrong one 1 in 2^(32 - log2 capacity): 1 in 2,048 at a
// million names). An entry costs its bytes plus 4 bytes of offset and 8 to
// 16 bytes of index (4 more when the table uses several name spaces). A
// lookup hashes once and reads one slot (a second one in under half of
// them), the name's offsets and its bytes: fewer instructions and cache lines
// than a general-purpose hash set, which matters to the checks entirely by
// names (three lookups each). Lookups take `absl::string_view` and never
// allocate.
//
// Thread-compatible: concurrent const calls are safe once building is done.
// Move-only (the index refers to the storage it moves with).
class NameTable {
 public:
  static constexpr uint32_t kNotFound = ~uint32_t{0};

  NameTable();
  NameTable(NameTable&&) = default;
  NameTable& operator=(NameTable&&) = default;
  NameTable(const NameTable&) = delete;
  NameTable& operator=(const NameTable&) = delete;

  // Adds a name and returns its index. Precondition: Find(space, name) ==
  // kNotFound and size() < kNotFound.
  uint32_t Add(uint32_t space, absl::string_view name);

  // The index of `name` in `space`, or kNotFound. One hash lookup.
  uint32_t Find(uint32_t space, absl::string_view name) const {
    const uint32_t slot = slots_[Probe(space, name, HashKey(space, name))];
    return slot == 0 ? kNotFound : (slot & mask_) - 1;
  }

  absl::string_view name(uint32_t index) const {
    return storage_->names[index];
  }
  uint32_t space(uint32_t index) const { return storage_->SpaceOf(index); }
  uint32_t size() const { return storage_->names.size(); }

  // The names in index order, for bundles.
  const PackedStrings& names() const { return storage_->names; }

  // Loading in two steps, as a bundle stores names (engine/snapshot/
  // bundle_format.cc): SetNames replaces the contents with `names` (name i
  // gets index i) without indexing them, so that they can be checked first:
  // name(), names() and size() see them; Find() and space() must not be used
  // until Index() gives them their `spaces`, sizing the index once. Index()
  // returns the index of the first name that repeats an earlier one in its
  // space, after which the table must not be used, or kNotFound when every
  // name is distinct. Precondition: names.size() == spaces.size() < kNotFound.
  void SetNames(PackedStrings names);
  uint32_t Index(std::vector<uint32_t> spaces);

  // Bytes held, including the hash index.
  size_t MemoryBytes() const;

  // The mean number of slots a lookup of a name of the table reads (1 when
  // every name sits in its hash's own slot; about 1.5 for a good hash at half
  // full), for the tests that check the hash spreads real ids. Linear in the
  // index's size.
  double MeanProbe() const;

  // Releases spare capacity once building is done.
  void ShrinkToFit();

 private:
  struct Storage {
    PackedStrings names;
    // Empty while every name is in space 0 (every table but the actions'):
    // 4 bytes per name saved, and a lookup reads no space.
    std::vector<uint32_t> spaces;
    uint32_t SpaceOf(uint32_t index) const {
      return spaces.empty() ? 0 : spaces[index];
    }
  };
  static uint64_t HashKey(uint32_t space, absl::string_view name) {
    return HashName(uint64_t{space} << 32, name);
  }
  // A slot's position: the low bits of the hash's high half. Fixed shifts
  // and masks rather than the hash's top bits: a shift by a variable count
  // costs a lookup a handful of register moves.
  uint32_t PositionOf(uint64_t hash) const {
    return static_cast<uint32_t>(hash >> 32) & mask_;
  }
  // The bits of a slot above its index: those of the hash's low half, so
  // that position and tag are independent.
  uint32_t TagOf(uint64_t hash) const {
    return static_cast<uint32_t>(hash) & ~mask_;
  }
  // Whether name `index` is `name` of `space`.
  bool Holds(uint32_t index, uint32_t space, absl::string_view name) const {
    const Storage& s = *storage_;
    return s.SpaceOf(index) == space && NamesEqual(s.names[index], name);
  }
  // The position of the slot holding `name` of `space`, whose hash is
  // `hash`, or else of the empty slot where its probe sequence ends.
  uint32_t Probe(uint32_t space, absl::string_view name, uint64_t hash) const {
    const uint32_t tag = TagOf(hash);
    uint32_t position = PositionOf(hash);
    for (uint32_t slot; (slot = slots_[position]) != 0;
         position = (position + 1) & mask_) {
      if ((slot & ~mask_) == tag && Holds((slot & mask_) - 1, space, name)) {
        break;
      }
    }
    return position;
  }
  // Sizes the index for `count` names (at most half full) and inserts every
  // name. Returns the first name that repeats an earlier one in its space, or
  // kNotFound.
  uint32_t Rebuild(uint32_t count);
  // Inserts name `index`; false (and nothing inserted) when an earlier name
  // in its space is the same.
  bool Insert(uint32_t index);

  std::unique_ptr<Storage> storage_;
  // The open-addressing index: a slot is 0 (empty) or the tag | index + 1.
  // Its size is a power of two, at least twice the names (up to 2^32 slots),
  // so a lookup always reaches an empty slot, and index + 1 fits in the low
  // log2(size) bits: `mask_` masks both the position and the index.
  HugePageVector<uint32_t> slots_;
  uint32_t mask_ = 0;
};

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_SNAPSHOT_NAME_TABLE_H_
