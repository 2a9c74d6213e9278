// The fast JSON reader of policy documents: simdjson's On Demand API straight
// into the PolicySet proto, with no intermediate tree. Not part of the public
// API; ParsePolicyJson and LoadPolicyFiles (policy_loader.h) call it.
//
// It only ever accepts: a document it reads completely is one the strict
// reader (internal::CheckStrictJson, then protobuf's JSON parser, in
// ParseJsonMessage) accepts too, and it reads the same PolicySet. Anything
// else (a syntax error, a duplicate, empty or unknown key, an escaped key,
// nesting past the limit, a value of another type than its field's, an enum
// or number in a spelling protobuf tolerates but this reader does not take
// (an enum by number, a number in quotes)) returns false, and the caller
// gives the document to the strict reader, which accepts it or explains the
// error (its field path, bad value, line and column). So the messages are the
// strict reader's by construction, and tests/load/policy_json_differential_test
// checks the acceptance half against the strict reader over the test corpus,
// the fuzz seeds and random and mutated policies.
#ifndef PORTCULLIS_ENGINE_LOAD_POLICY_JSON_READER_H_
#define PORTCULLIS_ENGINE_LOAD_POLICY_JSON_READER_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/policy.pb.h"

namespace portcullis::internal {

// Bytes simdjson may read past a document's end: a buffer handed to
// ReadPolicyJson without a copy holds at least this many more bytes than the
// document (their value does not matter).
inline constexpr size_t kJsonPadding = 64;

// Reads the policy document `json` into `policy`, which is empty and may live
// on an arena (the loader's: one allocation per block, not per message and
// string, and one free). `capacity` is how many bytes may be read from
// json.data(): when it is at least json.size() + kJsonPadding the document is
// read in place, otherwise it is copied once into a padded buffer.
// `max_depth` is LoadOptions::max_depth (the document's own object is level
// 1). False: the document is not one this reader takes (see the file
// comment) and `policy` holds part of it; the strict reader decides. Cost:
// one pass of simdjson over the document (its structural index: 4 bytes per
// JSON token, freed on return), then the messages and strings of the result;
// thread-compatible (each call has its own parser).
bool ReadPolicyJson(absl::string_view json, size_t capacity, int max_depth,
                    v1::PolicySet& policy);

// A policy document read in two passes, so that its roles are never held
// together: pass 1 (ReadRest) reads everything but the roles, pass 2 (NextRole)
// reads the roles one at a time, each from its own bytes of the same buffer.
// It only ever accepts, like ReadPolicyJson: a document whose passes all
// succeed is one the strict reader accepts, with the same PolicySet (the
// roles in order); anything else (the document's object not found by the
// split, a "roles" value that is not an array of objects, a role or the rest
// the reader does not take) is refused, and the caller reads the document
// whole (ReadPolicyJson or the strict reader), which accepts it or gives the
// error.
//
// The split finds the top-level "roles" array and its elements with a
// byte scan that follows JSON's strings and brackets; simdjson then checks
// each role's bytes as a complete JSON object and the rest of the document
// as a complete document (with `"roles": []` in place of the array), and the
// scan checks what lies between the roles (whitespace and one comma). Cost:
// one scan of the roles array (8 bytes per role kept: where each ends),
// a copy of the rest of the document for pass 1, and per role a simdjson
// pass over its bytes; peak memory beyond `json` is the rest's copy and
// PolicySet and one role's index. Thread-compatible.
class PolicyJsonStream {
 public:
  // Null when the document's top level is not an object with a "roles" array
  // of objects as the split reads it (not an error: the caller reads the
  // document whole). `json` must stay valid while the stream is used, with
  // `capacity` bytes readable from json.data() (at least json.size() +
  // kJsonPadding: no role is copied). `max_depth` is
  // LoadOptions::max_depth.
  static std::unique_ptr<PolicyJsonStream> Open(absl::string_view json,
                                                size_t capacity, int max_depth);

  // Pass 1: everything but the roles into `rest`, which is empty. False: not
  // taken.
  bool ReadRest(v1::PolicySet& rest);

  enum class Next { kRole, kEnd, kRefused };
  // Pass 2: reads the next role into `role`, which is empty.
  Next NextRole(v1::Role& role);

  ~PolicyJsonStream();

 private:
  PolicyJsonStream(absl::string_view json, size_t capacity, int max_depth);

  absl::string_view json_;
  size_t capacity_;
  int max_depth_;
  size_t roles_begin_ = 0;        // of the "roles" value: its '['
  size_t roles_end_ = 0;          // just past its ']'
  std::vector<size_t> role_end_;  // just past each role's '}'
  size_t next_ = 0;               // index in role_end_ of the next role
  struct Parser;
  std::unique_ptr<Parser> parser_;
};

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_LOAD_POLICY_JSON_READER_H_
