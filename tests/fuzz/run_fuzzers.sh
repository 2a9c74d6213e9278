#!/usr/bin/env bash
# Runs the libFuzzer targets for a bounded time each and fails if any crashes.
#
#   tests/fuzz/run_fuzzers.sh [--seconds N] [--seed S] [--max-len B] [target...]
#
# Targets are the rules tagged "fuzz_target" (see tests/fuzz/fuzz.bzl), named
# by label (//tests/fuzz:scope_fuzzer) or short name (scope); default: all of
# them. Each runs for N seconds (default 30) from its seed corpus
# (<package>/corpus/<name>), its saved crashes (<package>/regressions/<name>)
# and the corpus grown by earlier runs (fuzz-out/<name>/corpus, not in git),
# with its dictionary (<package>/dicts/<name>.dict) when there is one. Prints
# the executions per target from libFuzzer's final stats. --seed S fixes
# libFuzzer's random seed, so that a run from a fresh clone (no grown corpus)
# tries the same inputs in the same order on every machine: CI uses it and
# stays reproducible; without it each run explores new ground. --max-len B caps
# an input at B bytes (default 262144, 256 KiB: libFuzzer's own default, 4,096
# bytes or the largest seed, is too small for the deep nesting that once
# overflowed the stack, 100,000 levels; the seeds named deep_nesting hold
# 20,000 levels in 120 KB). A crash, timeout,
# leak or out-of-memory input is minimized and copied into
# <package>/regressions/<name>/, where the target's regression test replays it
# on every `bazel test //...`: fix the engine, then commit the file with the fix.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=30
seed=""
max_len=262144
requested=()
while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --seconds=*) seconds=${1#--seconds=}; shift ;;
    --seed) seed=${2:?--seed needs a value}; shift 2 ;;
    --seed=*) seed=${1#--seed=}; shift ;;
    --max-len) max_len=${2:?--max-len needs a value}; shift 2 ;;
    --max-len=*) max_len=${1#--max-len=}; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run_fuzzers: unknown option $1" >&2; exit 2 ;;
    *) requested+=("$1"); shift ;;
  esac
done
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "run_fuzzers: --seconds needs a positive integer, not '$seconds'" >&2
  exit 2
fi
if ! [[ $max_len =~ ^[1-9][0-9]*$ ]]; then
  echo "run_fuzzers: --max-len needs a positive integer, not '$max_len'" >&2
  exit 2
fi
if [[ -n $seed ]] && ! [[ $seed =~ ^[1-9][0-9]*$ ]]; then
  echo "run_fuzzers: --seed needs a positive integer, not '$seed'" >&2
  exit 2
fi

mapfile -t all < <(bazel query --noshow_progress 'attr(tags, "\bfuzz_target\b", //...)' 2>/dev/null)
if ((${#all[@]} == 0)); then
  echo "run_fuzzers: no fuzz targets found (bazel query failed?)" >&2
  exit 1
fi

labels=()
if ((${#requested[@]} == 0)); then
  labels=("${all[@]}")
else
  for want in "${requested[@]}"; do
    match=""
    for label in "${all[@]}"; do
      if [[ $want == "$label" || $want == "${label##*:}" || ${want}_fuzzer == "${label##*:}" ]]; then
        match=$label
      fi
    done
    if [[ -z $match ]]; then
      echo "run_fuzzers: unknown target '$want'; targets: ${all[*]}" >&2
      exit 2
    fi
    labels+=("$match")
  done
fi

echo "run_fuzzers: building ${labels[*]} with --config=fuzz (clang-14)"
if ! bazel build --config=fuzz "${labels[@]}"; then
  echo "run_fuzzers: build failed" >&2
  exit 1
fi
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)

# A leak in the engine is a failure; UBSan stops at the first report (the
# binaries are built with -fno-sanitize-recover=all).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
summary=()
for label in "${labels[@]}"; do
  package=${label#//}
  package=${package%%:*}
  binary_name=${label##*:}
  name=${binary_name%_fuzzer}
  work=fuzz-out/$name
  mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
  rm -rf "$work/artifacts/"* "$work/tmp/"*
  inputs=("$work/corpus")
  for dir in "$package/corpus/$name" "$package/regressions/$name"; do
    if [[ -d $dir ]]; then inputs+=("$dir"); fi
  done
  flags=(
    -max_total_time="$seconds"
    -max_len="$max_len"
    -print_final_stats=1
    -timeout=10
    -rss_limit_mb=2560
    -artifact_prefix="$work/artifacts/"
  )
  if [[ -n $seed ]]; then flags+=(-seed="$seed"); fi
  if [[ -f $package/dicts/$name.dict ]]; then
    flags+=(-dict="$package/dicts/$name.dict")
  fi

  echo "=== fuzz $name (${seconds}s${seed:+, seed $seed})"
  # Targets that write files (policy_files) do it under TMPDIR.
  TMPDIR=$PWD/$work/tmp "$bin/$package/$binary_name" "${flags[@]}" "${inputs[@]}" \
    >"$work/log" 2>&1
  status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  executions=${executions:-unknown}
  if ((status == 0)); then
    summary+=("$(printf '%-20s %12s executions in %ss' "$name" "$executions" "$seconds")")
    echo "$name: ${executions} executions, no crash"
    continue
  fi

  failed+=("$name")
  summary+=("$(printf '%-20s %12s executions, CRASHED' "$name" "$executions")")
  echo "$name: libFuzzer exited with status $status; its report:"
  # The first report (a violated property's message or a sanitizer's error,
  # head kept: a property's message can be long), then the log's end (stack).
  grep -m1 -A30 -E 'property violated|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$work/log"
  echo "[...]"
  tail -25 "$work/log"
  mkdir -p "$package/regressions/$name"
  shopt -s nullglob
  for artifact in "$work/artifacts/"*; do
    kind=$(basename "$artifact")
    kind=${kind%%-*}
    minimized=$work/artifacts/minimized-$(basename "$artifact")
    # Keeps the original if minimization cannot reproduce it (a timeout that
    # was a fluke of load, say).
    if ! "$bin/$package/$binary_name" -minimize_crash=1 -max_total_time=60 \
      -timeout=10 -exact_artifact_path="$minimized" "$artifact" \
      >"$work/minimize.log" 2>&1 || [[ ! -s $minimized ]]; then
      cp "$artifact" "$minimized"
    fi
    target=$package/regressions/$name/$kind-$(sha1sum "$minimized" | cut -c1-16)
    cp "$minimized" "$target"
    echo "$name: saved $target ($(wc -c <"$target") bytes); its regression test now fails until the engine is fixed"
    # A CI machine's checkout is thrown away: the log must carry the input.
    if (($(wc -c <"$target") <= 16384)); then
      echo "$name: the input in base64 (base64 -d >$target):"
      base64 "$target"
    fi
  done
  shopt -u nullglob
done

echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "run_fuzzers: crashes in ${failed[*]}"
  exit 1
fi
echo "run_fuzzers: ${#labels[@]} targets, no crash"
