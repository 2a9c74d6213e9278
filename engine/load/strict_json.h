// Rejects JSON that protobuf's JSON parser accepts but that does not say one
// thing to every reader. Not part of the public API; ParseJsonMessage
// (engine/policy_loader.h) calls it.
#ifndef PORTCULLIS_ENGINE_LOAD_STRICT_JSON_H_
#define PORTCULLIS_ENGINE_LOAD_STRICT_JSON_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace portcullis::internal {

// Checks `json`, a document for protobuf's JSON parser to read as a `type`,
// against the message types it fills; run before protobuf sees it. Rejected:
//  - objects and arrays nested more than `max_depth` levels (the document's
//    own object is level 1): the walk keeps its nesting on the heap, so no
//    input exhausts the stack, and what passes is bounded for protobuf;
//  - the same field twice in one object, by the same key or by both of its
//    names (`object_type` and `objectType`): protobuf keeps the last value,
//    while a reviewer or another tool may read the first. In a policy or a
//    request, that disagreement is a way to hide what it grants;
//  - an empty key `""`: protobuf reads its object into the enclosing message,
//    field by field, and a list into fields the message does not have;
//  - a list directly inside a list: protobuf flattens it into the repeated
//    field, other readers see a list of lists (no field is one);
//  - an escape RFC 8259 does not define (`"\8"`, which protobuf reads as
//    "8"), and invalid UTF-8 in a string or key, at the field path;
//  - what is not RFC 8259 JSON although protobuf takes it (bare or
//    single-quoted keys and strings, trailing commas): other parsers read
//    such a file differently or not at all; and what is not JSON at all
//    (protobuf's parser then never sees it).
// InvalidArgument `line L, column C: ...`; OK otherwise. Cost: one pass over
// `json`, memory for `max_depth` levels.
absl::Status CheckStrictJson(absl::string_view json,
                             const google::protobuf::Descriptor& type,
                             int max_depth);

}  // namespace portcullis::internal

#endif  // PORTCULLIS_ENGINE_LOAD_STRICT_JSON_H_
