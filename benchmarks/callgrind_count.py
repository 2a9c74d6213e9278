#!/usr/bin/env python3
"""Instructions per iteration of Google Benchmark benchmarks, under callgrind.

Called by benchmarks/callgrind.sh with already-built binaries; python3 stdlib only.

For each benchmark of each binary whose name matches --filter:

  1. Pilot: run it under callgrind with PORTCULLIS_BENCHMARK_ITERATIONS=1 and =9 to
     estimate its cost per iteration (unless --iterations fixes the counts).
  2. Measure: run it at n = 10^k, 5·10^k and 9·10^k iterations, k chosen so that
     the largest and smallest runs differ by about --instructions instructions.
  3. Instructions per iteration = (Ir(9·10^k) - Ir(10^k)) / (iterations difference),
     taking the iteration counts from the benchmark's own JSON (total over threads).
     The two half-slopes (10^k → 5·10^k and 5·10^k → 9·10^k) should agree; their
     spread is recorded as "nonlinearity" and a warning printed above 2 %.

Why the counts share their number of digits: the benchmark's name carries
"/iterations:N", and Google Benchmark matches --benchmark_filter against every
registered name with std::regex, whose cost grows with the name's length
(about 12,000 instructions per extra digit for the self-test binary). Counts with
the same number of digits give names of the same length, so that cost cancels.
What remains is printing the measured times, which varies by a few hundred
instructions between runs: negligible against --instructions.

Writes <out>/callgrind.json ({name: instructions per iteration}) and
<out>/callgrind_details.json.
"""

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys

ITERATIONS_ENV = "PORTCULLIS_BENCHMARK_ITERATIONS"
# Name components Google Benchmark 1.7.1 places after "iterations:N" (see
# BenchmarkName::str(): function/args/min_time/min_warmup_time/iterations/
# repeats/time_type/threads).
AFTER_ITERATIONS = re.compile(r"^(repeats:|process_time|real_time|manual_time|threads:)")
NONLINEARITY_WARNING = 0.02
MAX_EXPONENT = 5  # at most 900,000 iterations


def die(message):
    print(f"callgrind.sh: {message}", file=sys.stderr)
    sys.exit(1)


def regex_escape(text):
    """Escapes `text` for Google Benchmark's filter (std::regex, extended syntax)."""
    return "".join("\\" + c if c in "\\.^$|?*+()[]{}" else c for c in text)


def exact_filter(name):
    """A --benchmark_filter matching only `name` once it carries /iterations:N."""
    parts = [p for p in name.split("/") if not re.fullmatch(r"iterations:\d+", p)]
    split = len(parts)
    for i, part in enumerate(parts[1:], start=1):
        if AFTER_ITERATIONS.match(part):
            split = i
            break
    before = regex_escape("/".join(parts[:split]))
    after = "".join("/" + regex_escape(p) for p in parts[split:])
    return f"^{before}/iterations:[0-9]+{after}$"


def list_benchmarks(binary, name_filter):
    env = dict(os.environ)
    env.pop(ITERATIONS_ENV, None)
    result = subprocess.run(
        [binary, "--benchmark_list_tests=true", f"--benchmark_filter={name_filter}"],
        env=env, capture_output=True, text=True)
    if result.returncode != 0:
        die(f"{binary} --benchmark_list_tests failed:\n{result.stderr}")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


class Runner:
    """Runs one benchmark under callgrind and returns (iterations, instructions)."""

    def __init__(self, work_dir):
        self.work_dir = work_dir
        self.count = 0
        self.commands = []

    def run(self, binary, name, iterations):
        self.count += 1
        stem = os.path.join(self.work_dir, f"run{self.count:04d}")
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={stem}.callgrind",
            binary, f"--benchmark_filter={exact_filter(name)}",
            "--benchmark_repetitions=1", f"--benchmark_out={stem}.json",
            "--benchmark_out_format=json",
        ]
        env = dict(os.environ)
        env[ITERATIONS_ENV] = str(iterations)
        self.commands.append(f"{ITERATIONS_ENV}={iterations} " +
                             " ".join(shell_quote(c) for c in command))
        with open(stem + ".log", "w") as log:
            result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                                    stderr=log)
        if result.returncode != 0:
            die(f"{name}: valgrind run failed (exit {result.returncode}); see {stem}.log")
        try:
            with open(stem + ".json") as f:
                runs = json.load(f).get("benchmarks", [])
        except (OSError, ValueError):
            runs = []
        if len(runs) != 1:
            die(f"{name}: expected exactly one benchmark run with {ITERATIONS_ENV}="
                f"{iterations}, got {len(runs)}. Does its registration end with "
                "->Apply(portcullis::internal::FixedIterationsFromEnv)? "
                f"(see benchmarks/fixed_iterations.h; log: {stem}.log)")
        run = runs[0]
        if run.get("error_occurred"):
            die(f"{name}: the benchmark reported an error: {run.get('error_message')}")
        if not re.search(f"/iterations:{iterations}(/|$)", run["run_name"]):
            die(f"{name}: ran as {run['run_name']}, not with {iterations} iterations")
        with open(stem + ".callgrind") as f:
            match = re.search(r"^summary:\s*(\d+)", f.read(), re.M)
        if not match:
            die(f"{name}: no 'summary:' line in {stem}.callgrind")
        return int(run["iterations"]), int(match.group(1))


def shell_quote(text):
    return text if re.fullmatch(r"[\w@%+=:,./-]+", text) else "'" + text.replace("'", "'\\''") + "'"


def choose_counts(runner, binary, name, target_instructions):
    """Pilot at 1 and 9 iterations; returns (counts, pilot estimate per iteration)."""
    it1, ir1 = runner.run(binary, name, 1)
    it9, ir9 = runner.run(binary, name, 9)
    estimate = (ir9 - ir1) / (it9 - it1)
    if estimate <= 0:
        exponent = MAX_EXPONENT
    else:
        # 8·10^k iterations between the smallest and largest run.
        exponent = math.ceil(math.log10(max(target_instructions / (8 * estimate), 1)))
        exponent = min(max(exponent, 0), MAX_EXPONENT)
    base = 10 ** exponent
    return [base, 5 * base, 9 * base], estimate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--filter", required=True)
    parser.add_argument("--iterations", help="comma-separated fixed counts")
    parser.add_argument("--instructions", type=int, default=10_000_000)
    parser.add_argument("--invocation", default="")
    parser.add_argument("--git-commit", default="unknown")
    parser.add_argument("--git-dirty", default="false")
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()

    fixed = None
    if args.iterations:
        try:
            fixed = sorted({int(x) for x in args.iterations.split(",")})
        except ValueError:
            die(f"--iterations must be comma-separated integers, not {args.iterations!r}")
        if len(fixed) < 2 or fixed[0] <= 0:
            die("--iterations needs at least two different positive counts")
        if len({len(str(n)) for n in fixed}) != 1:
            print("callgrind.sh: warning: --iterations counts with different numbers of "
                  "digits add the cost of matching a longer name to the result",
                  file=sys.stderr)
    if args.instructions <= 0:
        die("--instructions must be positive")

    logs = os.path.join(args.out, "logs", "callgrind")
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    runner = Runner(logs)
    valgrind_version = subprocess.run(["valgrind", "--version"], capture_output=True,
                                      text=True).stdout.strip()

    per_iteration = {}
    details = {}
    for binary in args.binaries:
        target = os.path.basename(binary)
        names = list_benchmarks(binary, args.filter)
        if not names:
            print(f"callgrind.sh: //benchmarks:{target}: no benchmark matches "
                  f"{args.filter!r}", file=sys.stderr)
        for name in names:
            first_command = len(runner.commands)
            estimate = None
            if fixed:
                counts = fixed
            else:
                counts, estimate = choose_counts(runner, binary, name, args.instructions)
            points = [runner.run(binary, name, n) for n in counts]
            (it_lo, ir_lo), (it_hi, ir_hi) = points[0], points[-1]
            slope = (ir_hi - ir_lo) / (it_hi - it_lo)
            slopes = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(points, points[1:])]
            nonlinearity = ((max(slopes) - min(slopes)) / abs(slope)) if slope else 0.0
            per_iteration[name] = round(slope, 2)
            details[name] = {
                "target": f"//benchmarks:{target}",
                "iterations": [p[0] for p in points],
                "instructions": [p[1] for p in points],
                "instructions_per_iteration": slope,
                "segment_slopes": slopes,
                "nonlinearity": nonlinearity,
                "pilot_estimate": estimate,
                "commands": runner.commands[first_command:],
            }
            warn = nonlinearity > NONLINEARITY_WARNING
            print(f"callgrind.sh: {name}: {slope:,.2f} instructions/iteration "
                  f"(iterations {', '.join(str(p[0]) for p in points)}; "
                  f"nonlinearity {nonlinearity:.2%})" + ("  WARNING: not linear" if warn else ""),
                  file=sys.stderr)

    with open(os.path.join(args.out, "callgrind.json"), "w") as f:
        json.dump(dict(sorted(per_iteration.items())), f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "callgrind_details.json"), "w") as f:
        json.dump({
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "git_commit": args.git_commit,
            "git_dirty": args.git_dirty == "true",
            "valgrind": valgrind_version,
            "invocation": args.invocation,
            "filter": args.filter,
            "method": "instructions per iteration = (Ir(n_max) - Ir(n_min)) / "
                      "(iterations(n_max) - iterations(n_min)), Ir = callgrind's total "
                      "instruction count with PORTCULLIS_BENCHMARK_ITERATIONS=n",
            "benchmarks": dict(sorted(details.items())),
        }, f, indent=2)
        f.write("\n")
    print(f"callgrind.sh: wrote {os.path.join(args.out, 'callgrind.json')} "
          f"({len(per_iteration)} benchmarks)", file=sys.stderr)


if __name__ == "__main__":
    main()
