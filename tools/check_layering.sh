#!/usr/bin/env bash
# Checks that the engine's stages depend only on earlier stages
# (docs/design.md, "Repository layout"):
#
#   common → load → snapshot → compile → evaluate → live → auth
#
# Bazel visibility already refuses a backwards dependency at build time; this
# check also catches a visibility list widened by mistake. For every stage it
# asks `bazel query` for the stage's dependencies inside //engine and fails,
# naming the edge, if one lies in a later stage or in the façade package.
set -euo pipefail
cd "$(dirname "$0")/.."

stages=(common load snapshot compile evaluate live auth)
failed=0
for i in "${!stages[@]}"; do
  stage=${stages[$i]}
  later=("//engine:*")
  for ((j = i + 1; j < ${#stages[@]}; j++)); do later+=("//engine/${stages[$j]}:*"); done
  forbidden=$(IFS=+; echo "${later[*]}" | sed 's/+/ + /g')
  # The targets of later stages that this stage reaches, through any path.
  if ! hits=$(bazel query --noshow_progress \
    "kind(rule, deps(//engine/$stage:*)) intersect ($forbidden)" 2>/tmp/check_layering.$$); then
    cat /tmp/check_layering.$$ >&2
    rm -f /tmp/check_layering.$$
    echo "check_layering: bazel query failed for engine/$stage" >&2
    exit 2
  fi
  rm -f /tmp/check_layering.$$
  if [[ -n $hits ]]; then
    echo "check_layering: engine/$stage depends on a later stage:" >&2
    while read -r target; do
      path=$(bazel query --noshow_progress "somepath(//engine/$stage:*, $target)" 2>/dev/null | tr '\n' ' ')
      echo "  $target (via: $path)" >&2
    done <<<"$hits"
    failed=1
  fi
done
if ((failed)); then exit 1; fi
echo "check_layering: ${#stages[@]} stages, every dependency points to an earlier stage"
