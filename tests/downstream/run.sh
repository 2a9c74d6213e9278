#!/usr/bin/env bash
# Builds and runs tests/downstream, a workspace that uses Portcullis as an
# external repository (local_repository at ../..), the way docs/downstream.md
# tells a downstream project to. Runs with an output base of its own, so it
# never disturbs the main workspace's server, and shuts that server down at the
# end. Prints "downstream: PASS" or "downstream: FAIL (...)"; exits non-zero on
# failure.
set -uo pipefail
cd "$(dirname "$0")"

# One output base per checkout (kept between runs, so later runs are
# incremental).
key=$(pwd | md5sum | cut -c1-12)
output_base="${XDG_CACHE_HOME:-$HOME/.cache}/portcullis-downstream/${key}"
mkdir -p "$output_base"
bazel_() { bazel --output_base="$output_base" "$@"; }
trap 'bazel_ shutdown >/dev/null 2>&1 || true' EXIT

# No bazel-* convenience symlinks: they would land inside the Portcullis tree
# that this workspace reads as @portcullis. No sandbox traces (Debian's
# /etc/bazel/bazelrc turns them on).
flags=(--symlink_prefix=/ --nosandbox_debug)
if [[ ${CI:-} == true ]]; then flags+=(--color=no --curses=no); fi

if ! bazel_ build "${flags[@]}" //...; then
  echo "downstream: FAIL (build)"
  exit 1
fi
if ! bazel_ run "${flags[@]}" //:consumer; then
  echo "downstream: FAIL (run: see the consumer's output above)"
  exit 1
fi
echo "downstream: PASS"
