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

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_LOAD_POLICY_JSON_READER_H_
