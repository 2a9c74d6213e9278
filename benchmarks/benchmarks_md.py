"""BENCHMARKS.md's sections written by the scripts that measure outside the
Google Benchmark suite (benchmarks/jwt, benchmarks/http, benchmarks/ratelimit):
each replaces its own section in place, so that the figures appear at once;
benchmarks/report.py keeps the same text (plots/<name>.md) when it rewrites
the file."""

import os


def replace_section(path, heading, section, before="## Machine"):
    """Replaces the section that starts at the line `heading` (up to the next
    "## " heading) with `section`; without one, puts `section` before the line
    `before`, or at the end."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    start = text.find("\n" + heading + "\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start + 1] + section + (text[end + 1:] if end >= 0 else "")
    else:
        at = text.find("\n" + before + "\n")
        text = (text[:at + 1] + section + text[at + 1:]) if at >= 0 else text + "\n" + section
    with open(path, "w") as f:
        f.write(text)


def fmt_ns(ns):
    """A duration in nanoseconds, to three significant digits and its unit."""
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns:.3g} ns"


def ns_per_unit(benchmark):
    """Nanoseconds per unit of a Google Benchmark JSON entry's times."""
    return {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[benchmark.get("time_unit", "ns")]
