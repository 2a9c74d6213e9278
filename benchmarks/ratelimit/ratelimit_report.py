#!/usr/bin/env python3
"""Writes the "Rate limits across replicas" section of BENCHMARKS.md from
Google Benchmark JSON (benchmarks/ratelimit/run_ratelimit_bench.sh runs it):
benchmarks/plots/ratelimit.md (the section, which benchmarks/report.py keeps)
and the section in BENCHMARKS.md.

usage: ratelimit_report.py RESULTS.json COMMAND
"""
import os
import json
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks_md import fmt_ns, ns_per_unit, replace_section  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADING = "## Rate limits across replicas"

# (what, benchmark without its threads suffix)
ROWS = [
    ("local mode: CheckRate on the replica's cell, no Redis", "BM_LocalRateLimit"),
    ("redis, no front (lease 1): a round trip per check",
     "BM_DistributedRateLimit/lease:1/real_time"),
    ("redis, leases of 10 (1% of a 1,000 limit)", "BM_DistributedRateLimit/lease:10/real_time"),
    ("redis, leases of 100 (the default max_lease)",
     "BM_DistributedRateLimit/lease:100/real_time"),
    ("redis, leases of 65,536: the front's own cost",
     "BM_DistributedRateLimit/lease:65536/real_time"),
]


def main():
    results_path, command = sys.argv[1], sys.argv[2]
    with open(results_path) as f:
        results = json.load(f)
    medians = {b["run_name"]: b for b in results["benchmarks"]
               if b.get("aggregate_name") == "median"}
    context = results["context"]
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    lines = [HEADING, "",
             "<!-- Written by benchmarks/ratelimit/run_ratelimit_bench.sh "
             "(ratelimit_report.py); benchmarks/report.py keeps this section. -->", "",
             f"Measured {context.get('date', '?')} at commit `{commit}`, "
             f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, "
             f"load average {' '.join(f'{x:.2f}' for x in context.get('load_avg', []))}; "
             "median of the repetitions, per rate-limit check (every check admitted), "
             "against a redis-server on loopback started by the benchmark "
             "([docs/replicas.md](docs/replicas.md#rate-limits-across-replicas)):", "",
             "```", command, "```", "",
             "| what | threads | CPU time | real time | Redis round trips |",
             "| --- | ---: | ---: | ---: | ---: |"]
    missing = []
    for what, name in ROWS:
        for threads in (1, 2):
            run = name if name == "BM_LocalRateLimit" else f"{name}/threads:{threads}"
            if name == "BM_LocalRateLimit" and threads == 2:
                continue
            b = medians.get(run)
            if b is None:
                missing.append(run)
                continue
            trips = b.get("round_trips", 0.0)
            lines.append(f"| {what} | {threads} | {fmt_ns(b['cpu_time'] * ns_per_unit(b))} | "
                         f"{fmt_ns(b['real_time'] * ns_per_unit(b))} | {trips:.4g} |")
    if missing:
        sys.exit(f"ratelimit_report.py: no median for {', '.join(missing)}")
    lines += ["",
              "CPU time is the checking thread's own: a round trip's wait for Redis is real "
              "time, which on this shared 2-core machine is dominated by the other processes "
              "(the load average above) and by redis-server sharing the cores. The front "
              "serves a check with one compare-and-swap on the client's cell; the lease "
              "size trades round trips against the bound each replica may admit ahead of "
              "Redis (lease - 1).", ""]
    section = "\n".join(lines) + "\n"
    plots = os.path.join(ROOT, "benchmarks", "plots")
    with open(os.path.join(plots, "ratelimit.md"), "w") as f:
        f.write(section)
    replace_section(os.path.join(ROOT, "BENCHMARKS.md"), HEADING, section,
                    before="## Machine")
    print(section)



if __name__ == "__main__":
    main()
