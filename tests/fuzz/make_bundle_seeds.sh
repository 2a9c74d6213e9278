#!/usr/bin/env bash
# Regenerates the bundle fuzzer's seeds (tests/fuzz/corpus/bundle/) from the
# example policies with the current bundle format:
#   monite.bundle  examples/monite, compiled
#   monta.bundle   examples/monta/policy.txtpb, compiled
#   truncated      the first 100 bytes of monite.bundle
# Run it after a format change (//tests/fuzz:bundle_corpus_test fails until
# the seeds load again) or a change of the examples, then commit the seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."

corpus=tests/fuzz/corpus/bundle
bazel build //tools:portcullis
tool=$(bazel info bazel-bin 2>/dev/null)/tools/portcullis
"$tool" compile examples/monite -o "$corpus/monite.bundle"
"$tool" compile examples/monta/policy.txtpb -o "$corpus/monta.bundle"
head -c 100 "$corpus/monite.bundle" >"$corpus/truncated"
