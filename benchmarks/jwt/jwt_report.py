#!/usr/bin/env python3
"""Writes the "JWT introspection" section of BENCHMARKS.md from Google Benchmark
JSON (benchmarks/jwt/run_jwt_bench.sh runs it): benchmarks/plots/jwt.json (the
medians), benchmarks/plots/jwt.md (the section, which benchmarks/report.py
keeps) and the section in BENCHMARKS.md.

usage: jwt_report.py RESULTS.json COMMAND
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks_md import fmt_ns, ns_per_unit, replace_section  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADING = "## JWT introspection beside opaque tokens"

# (what, tokens, opaque benchmark, JWT benchmark)
ROWS = [
    ("cached", 1, "BM_Introspect/token/1", "BM_IntrospectJwt/cached/1"),
    ("cached", 100, "BM_Introspect/token/100", "BM_IntrospectJwt/cached/100"),
    ("cached", 10000, "BM_Introspect/token/10000", "BM_IntrospectJwt/cached/10000"),
    ("from the Authorization header", 100, "BM_Introspect/header/100",
     "BM_IntrospectJwt/header/100"),
    ("first use on a thread (every call misses)", 100, "BM_Introspect/slow_path/100",
     "BM_IntrospectJwt/first/100"),
]


def main():
    results_path, command = sys.argv[1], sys.argv[2]
    with open(results_path) as f:
        results = json.load(f)
    medians = {b["run_name"]: b["cpu_time"] * ns_per_unit(b) for b in results["benchmarks"]
               if b.get("aggregate_name") == "median"}
    missing = [name for row in ROWS for name in row[2:] if name not in medians]
    if missing:
        sys.exit(f"jwt_report.py: no median for {', '.join(missing)}")
    context = results["context"]
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    lines = [HEADING, "",
             "<!-- Written by benchmarks/jwt/run_jwt_bench.sh (jwt_report.py); "
             "benchmarks/report.py keeps this section. -->", "",
             f"Measured {context.get('date', '?')} at commit `{commit}`, "
             f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, "
             f"load average {' '.join(f'{x:.2f}' for x in context.get('load_avg', []))}; "
             "median of the repetitions, CPU time per introspection:", "",
             "```", command, "```", "",
             "| what | tokens | opaque | JWT | JWT / opaque |",
             "| --- | ---: | ---: | ---: | ---: |"]
    table = []
    for what, tokens, opaque, jwt in ROWS:
        o, j = medians[opaque], medians[jwt]
        table.append({"what": what, "tokens": tokens, "opaque_ns": o, "jwt_ns": j})
        lines.append(f"| {what} | {tokens:,} | {fmt_ns(o)} | {fmt_ns(j)} | {j / o:.1f}× |")
    lines += ["",
              "A cached JWT costs the opaque hit plus the SipHash of its signature segment "
              "and a comparison of its signed part (a hit must see the very text that was "
              "verified); the first use on a thread verifies the Ed25519 signature. "
              "[docs/jwt.md](docs/jwt.md) has the design.", ""]
    section = "\n".join(lines) + "\n"
    plots = os.path.join(ROOT, "benchmarks", "plots")
    with open(os.path.join(plots, "jwt.json"), "w") as f:
        json.dump({"commit": commit, "command": command, "rows": table}, f, indent=1)
    with open(os.path.join(plots, "jwt.md"), "w") as f:
        f.write(section)
    replace_section(os.path.join(ROOT, "BENCHMARKS.md"), HEADING, section,
                    before="## HTTP")
    for row in table:
        print(f"{row['what']:45} {row['tokens']:>6}  opaque {fmt_ns(row['opaque_ns']):>9}"
              f"  JWT {fmt_ns(row['jwt_ns']):>9}")



if __name__ == "__main__":
    main()
