#!/usr/bin/env python3
"""Turns a benchmark results directory into BENCHMARKS.md and plots.

Reads what benchmarks/run_all.sh and benchmarks/callgrind.sh wrote (Google Benchmark
JSON per binary, machine.json, callgrind.json, callgrind_details.json) and writes
BENCHMARKS.md at the repository root and benchmarks/plots/*.svg and *.png (with
gnuplot). Every figure in the output comes from those files; the only numbers
typed here are the budget limits below, copied from docs/design.md.

Benchmark names follow `BM_<Family>/<variant>/<arg>[/<arg>...]` plus Google
Benchmark's own suffixes (`/real_time`, `/threads:N`, ...): see
benchmarks/README.md. Python 3 standard library only.
"""

import argparse
import glob
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

# --------------------------------------------------------------------------------------
# Configuration.

# In each family, the first of these variants that is present is the baseline: its
# table gains a column "CPU ÷ <baseline>" (variant time / baseline time, same
# arguments and threads).
BASELINE_VARIANTS = ["ids", "flat_array"]


@dataclass
class Budget:
    what: str  # the row of docs/design.md's "Performance budget"
    pattern: str  # regular expression over benchmark names (run_name)
    metric: str  # "cpu_time", "real_time", "growth" or a user counter's name
    limit: Optional[float]  # None: reported, not judged
    unit: str  # "ns", "us", "ms", "s" for times; anything for counters
    # When set, each matched benchmark's figure minus that of the same family's
    # benchmark with this variant and the same arguments (an overhead).
    minus_variant: Optional[str] = None
    # When set, each matched benchmark's figure divided by that of the same
    # family's benchmark with this variant and the same arguments (a ratio, "×").
    over_variant: Optional[str] = None
    source: str = "docs/design.md"  # where the budget comes from


# docs/design.md's "Performance budget", then the budgets the issues set for the
# parts they specify. Where several benchmarks match, the worst (largest) figure
# is compared. "growth": for each series of a family (same variant), time at the
# largest argument ÷ time at the smallest; the largest ratio.
BUDGETS = [
    Budget("check by ids, hot cache", r"^BM_Check/ids/\d+$", "cpu_time", 3, "ns"),
    Budget("check by names", r"^BM_Check/names/\d+$", "cpu_time", 30, "ns"),
    Budget("check by names, 1,000 roles", r"^BM_Check/names/1000$", "cpu_time", 15, "ns"),
    Budget("check by ids: instructions", r"^BM_Check/ids/1000$", "instructions", 40,
           "instructions"),
    Budget("check by names: instructions", r"^BM_Check/names/1000$", "instructions", 200,
           "instructions"),
    Budget("check entirely by names (principal too) over check by names",
           r"^BM_Check/all_names/\d+$", "cpu_time", 2, "×", over_variant="names"),
    Budget("token → principal → decision", r"^BM_TokenCheck/[^/]+/\d+$", "cpu_time", 100, "ns"),
    Budget("cost growth, 10 → 1,000,000 roles (check by ids)", r"^BM_Check/ids/\d+$",
           "growth", None, "×"),
    Budget("compile 1,000,000 roles: time", r"^BM_Compile/[^/]+/(1000000|1048576)$",
           "real_time", 2, "s"),
    Budget("compile 1,000,000 roles: bytes per role before dedup",
           r"^BM_Compile/[^/]+/(1000000|1048576)$", "bytes_per_role", 64, "bytes"),
    Budget("full five-rule check by ids", r"^BM_FullCheck/ids/\d+$", "cpu_time", 3, "ns",
           source="scopes issue (docs/design.md's check by ids)"),
    Budget("full five-rule check by names", r"^BM_FullCheck/names/\d+$", "cpu_time", 30,
           "ns", source="scopes issue (docs/design.md's check by names)"),
    Budget("check through the store, overhead over a raw snapshot",
           r"^BM_StoreCheck/(store|store_guard|store_live_principal)$", "cpu_time", 1, "ns",
           minus_variant="raw", source="live policy issue"),
    Budget("introspect a token", r"^BM_Introspect/(token|header|lent)/\d+$", "cpu_time", 60, "ns",
           source="auth issue"),
    Budget("introspect + full check", r"^BM_TokenCheck/(full|lent_full)/\d+$", "cpu_time", 100, "ns",
           source="auth issue"),
    Budget("`portcullis check`, one request line (parse, check by names, answer)",
           r"^BM_CliCheck/answer_line/\d+$", "cpu_time", 300, "ns",
           source="performance issue (18)"),
]

# The per-request cost of each layer, at one size, in one bar chart: (label,
# benchmark name). Missing benchmarks are left out.
LAYERS = [
    ("check by ids", "BM_FullCheck/ids/1000"),
    ("check by names", "BM_FullCheck/names/1000"),
    ("introspect", "BM_Introspect/token/1000"),
    ("token → decision (ids)", "BM_TokenCheck/full/1000"),
    ("token → decision (names)", "BM_TokenCheckByNames/names/1000"),
    ("map-of-maps baseline (names)", "BM_Check/map_of_maps/1000"),
]

# Axis label for a family's first argument (default: DEFAULT_ARG_LABEL). A named
# argument (->ArgName("roles"), giving "BM_X/v/roles:1000") labels itself.
DEFAULT_ARG_LABEL = "roles"
ARG_LABELS = {"BM_Lookup": "entries", "BM_Build": "entries",
              "BM_Introspect": "tokens", "BM_TokenCheck": "tokens",
              "BM_TokenCheckByNames": "tokens"}

# User counters plotted against the first argument (memory per role and the like).
PLOTTED_COUNTERS = re.compile(r"bytes")

# --------------------------------------------------------------------------------------

# Keys of a Google Benchmark 1.7.1 JSON run that are not user counters.
KNOWN_KEYS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type",
    "repetitions", "repetition_index", "threads", "aggregate_name", "aggregate_unit",
    "iterations", "real_time", "cpu_time", "time_unit", "bytes_per_second",
    "items_per_second", "label", "error_occurred", "error_message", "big_o", "rms",
    "complexity", "skipped", "skip_message",
}
# Name components that are Google Benchmark options rather than arguments.
OPTION_KEYS = {"threads", "iterations", "repeats", "min_time", "min_warmup_time"}
OPTION_FLAGS = {"real_time", "manual_time", "process_time"}
TIME_UNITS_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
NOT_BENCHMARK_OUTPUT = {"machine.json", "callgrind.json", "callgrind_details.json"}


@dataclass
class Result:
    """The median (or only) figures of one benchmark instance."""

    name: str  # run_name, e.g. "BM_Lookup/flat_array/1000/real_time/threads:2"
    binary: str
    family: str  # "BM_Lookup"
    variant: str  # "flat_array" ("" when the name has none)
    args: Tuple[str, ...]  # ("1000",) or ("roles:1000",)
    flags: Tuple[str, ...]  # ("real_time",) ...
    threads: int
    threads_in_name: bool
    order: Tuple[int, int]  # (family_index, per_family_instance_index) in its file
    real_ns: Optional[float] = None
    cpu_ns: Optional[float] = None
    time_unit: str = "ns"
    items_per_second: Optional[float] = None
    bytes_per_second: Optional[float] = None
    counters: Dict[str, float] = field(default_factory=dict)
    cv_cpu: Optional[float] = None
    repetitions: int = 1
    how: str = "median"  # "median", "single run", "median of runs"
    error: Optional[str] = None

    @property
    def x(self) -> Optional[float]:
        """The first argument as a number (named or not), or None."""
        for arg in self.args:
            value = arg.split(":", 1)[-1]
            try:
                return float(value)
            except ValueError:
                continue
        return None

    @property
    def arg_label(self) -> str:
        for arg in self.args:
            if ":" in arg:
                return arg.split(":", 1)[0]
        return ARG_LABELS.get(self.family, DEFAULT_ARG_LABEL)

    def metric(self, metric: str) -> Optional[float]:
        if metric == "cpu_time":
            return self.cpu_ns
        if metric == "real_time":
            return self.real_ns
        if metric == "items_per_second":
            return self.items_per_second
        return self.counters.get(metric)


def warn(message: str) -> None:
    print(f"report.py: {message}", file=sys.stderr)


def die(message: str) -> None:
    print(f"report.py: {message}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------------------
# Reading.


def parse_name(name: str):
    """Splits "BM_F/variant/arg.../options" into (family, variant, args, flags, threads)."""
    parts = name.split("/")
    family, variant_parts, args, flags, threads = parts[0], [], [], [], None
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if sep and key in OPTION_KEYS:
            if key == "threads":
                threads = int(value)
            continue
        if part in OPTION_FLAGS:
            flags.append(part)
        elif sep or re.fullmatch(r"-?\d+(\.\d+)?", part):
            args.append(part)
        elif not args:
            variant_parts.append(part)
        else:  # a word after the arguments: keep it with them
            args.append(part)
    return family, "/".join(variant_parts), tuple(args), tuple(flags), threads


def to_ns(value: Optional[float], unit: str) -> Optional[float]:
    return None if value is None else value * TIME_UNITS_NS.get(unit, 1.0)


def counters_of(run: dict) -> Dict[str, float]:
    return {k: float(v) for k, v in run.items()
            if k not in KNOWN_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)}


def load_file(path: str) -> Tuple[dict, List[Result]]:
    with open(path) as f:
        data = json.load(f)
    binary = os.path.splitext(os.path.basename(path))[0]
    groups: Dict[str, List[dict]] = {}
    for run in data.get("benchmarks", []):
        run_name = run.get("run_name")
        if run_name is None:  # older JSON: strip the aggregate suffix
            run_name = re.sub(r"_(mean|median|stddev|cv)$", "", run["name"])
        groups.setdefault(run_name, []).append(run)

    results = []
    for run_name, runs in groups.items():
        family, variant, args, flags, name_threads = parse_name(run_name)
        first = runs[0]
        result = Result(
            name=run_name, binary=binary, family=family, variant=variant, args=args,
            flags=flags, threads=int(first.get("threads", name_threads or 1)),
            threads_in_name=name_threads is not None,
            order=(first.get("family_index", 0), first.get("per_family_instance_index", 0)),
            time_unit=first.get("time_unit", "ns"))
        errors = [r for r in runs if r.get("error_occurred")]
        if errors:
            result.error = errors[0].get("error_message", "error")
            results.append(result)
            continue
        by_aggregate = {r.get("aggregate_name"): r for r in runs
                        if r.get("run_type") == "aggregate"}
        iterations = [r for r in runs if r.get("run_type", "iteration") == "iteration"]
        median = by_aggregate.get("median")
        if median is not None:
            chosen = median
            result.repetitions = int(median.get("repetitions", 0)) or len(iterations)
            result.how = "median"
        elif len(iterations) == 1:
            chosen = iterations[0]
            result.repetitions = 1
            result.how = "single run"
        elif iterations:  # repetitions without aggregates: take the median here
            chosen = dict(iterations[0])
            for key in ["real_time", "cpu_time", "items_per_second", "bytes_per_second",
                        *counters_of(iterations[0])]:
                values = [r[key] for r in iterations if key in r]
                if values:
                    chosen[key] = statistics.median(values)
            result.repetitions = len(iterations)
            result.how = "median of runs"
        else:
            warn(f"{path}: {run_name}: no median and no runs; skipped")
            continue
        unit = chosen.get("time_unit", "ns")
        result.real_ns = to_ns(chosen.get("real_time"), unit)
        result.cpu_ns = to_ns(chosen.get("cpu_time"), unit)
        result.items_per_second = chosen.get("items_per_second")
        result.bytes_per_second = chosen.get("bytes_per_second")
        result.counters = counters_of(chosen)
        cv = by_aggregate.get("cv")
        if cv is not None and cv.get("aggregate_unit", "percentage") == "percentage":
            result.cv_cpu = cv.get("cpu_time")
        results.append(result)
    return data.get("context", {}), results


def load_json(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as e:
        die(f"{path} is not valid JSON: {e}")


# --------------------------------------------------------------------------------------
# Formatting.


def sig3(value: float) -> str:
    """Three significant digits, thousands separated, no exponent."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = 2 - math.floor(math.log10(abs(value)))
    if decimals <= 0:
        return f"{round(value):,}"
    return f"{value:,.{decimals}f}"


def fmt_time(ns: Optional[float]) -> str:
    if ns is None:
        return "–"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(ns) >= scale:
            return f"{sig3(ns / scale)} {unit}"
    return f"{sig3(ns)} ns"


def fmt_rate(value: Optional[float], unit: str = "/s") -> str:
    if value is None:
        return "–"
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{sig3(value / scale)} {prefix}{unit}"
    return f"{sig3(value)} {unit}"


def fmt_number(value: Optional[float]) -> str:
    if value is None:
        return "–"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return sig3(value)


def fmt_bytes(value: Optional[float]) -> str:
    if value is None:
        return "–"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{sig3(value / scale)} {unit}"
    return f"{fmt_number(value)} B"


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("_", "\\_").replace("*", "\\*")


def code(text: str) -> str:
    """Inline code for a table cell (GitHub tables split cells on an unescaped "|")."""
    return "`" + text.replace("|", "\\|") + "`"


def table(header: List[str], rows: List[List[str]], align: Optional[List[str]] = None) -> str:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def slug(text: str) -> str:
    text = re.sub(r"^BM_", "", text)
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


# --------------------------------------------------------------------------------------
# Families, baselines and budgets.


def group_families(results: List[Result]) -> Dict[str, List[Result]]:
    families: Dict[str, List[Result]] = {}
    for r in sorted(results, key=lambda r: (r.binary, r.order)):
        families.setdefault(r.family, []).append(r)
    return families


def baseline_of(rows: List[Result]) -> Optional[str]:
    present = {r.variant for r in rows}
    for variant in BASELINE_VARIANTS:
        if variant in present:
            return variant
    return None


def series_key(r: Result) -> Tuple:
    """What must match for two rows to be compared: all but the variant."""
    return (r.args, r.flags, r.threads, r.threads_in_name)


def variant_order(rows: List[Result], baseline: Optional[str]) -> Dict[str, int]:
    order: Dict[str, int] = {}
    if baseline is not None:
        order[baseline] = 0
    for r in rows:
        order.setdefault(r.variant, len(order))
    return order


def sort_rows(rows: List[Result], baseline: Optional[str]) -> List[Result]:
    vorder = variant_order(rows, baseline)
    return sorted(rows, key=lambda r: (r.threads_in_name, r.flags, r.threads,
                                       r.x if r.x is not None else -math.inf, r.args,
                                       vorder[r.variant]))


def evaluate_budget(budget: Budget, results: List[Result],
                    callgrind: Optional[dict] = None):
    """Returns (value in budget.unit or None, benchmark name or note, matched count)."""
    pattern = re.compile(budget.pattern)
    if budget.metric == "instructions":  # from callgrind.json, per iteration
        counted = [(v, n) for n, v in (callgrind or {}).items() if pattern.search(n)]
        if not counted:
            return None, "", 0
        value, name = max(counted)
        return value, name, len(counted)
    matched = [r for r in results if pattern.search(r.name) and r.error is None]
    if not matched:
        return None, "", 0
    if budget.metric == "growth":
        worst, where = None, ""
        series: Dict[Tuple, List[Result]] = {}
        for r in matched:
            if r.x is not None and r.cpu_ns:
                series.setdefault((r.family, r.variant, r.flags, r.threads), []).append(r)
        for rows in series.values():
            if len(rows) < 2:
                continue
            lo, hi = min(rows, key=lambda r: r.x), max(rows, key=lambda r: r.x)
            ratio = hi.cpu_ns / lo.cpu_ns
            if worst is None or ratio > worst:
                worst, where = ratio, f"{hi.name} ÷ {lo.name}"
        return worst, where, len(matched)
    candidates = [(r.metric(budget.metric), r) for r in matched]
    if budget.over_variant is not None:
        by_key = {(r.family, r.variant, series_key(r)): r for r in results if r.error is None}
        ratios = []
        for value, r in candidates:
            base = by_key.get((r.family, budget.over_variant, series_key(r)))
            base_value = None if base is None else base.metric(budget.metric)
            if value is not None and base_value:
                ratios.append((value / base_value, r))
        if not ratios:
            return None, f"no {budget.over_variant} variant to divide by", len(matched)
        value, worst = max(ratios, key=lambda c: c[0])
        base_name = re.sub(r"^([^/]+)/[^/]+", rf"\1/{budget.over_variant}", worst.name)
        return value, f"{worst.name} ÷ {base_name}", len(matched)
    if budget.minus_variant is not None:
        by_key = {(r.family, r.variant, series_key(r)): r for r in results if r.error is None}
        differences = []
        for value, r in candidates:
            base = by_key.get((r.family, budget.minus_variant, series_key(r)))
            base_value = None if base is None else base.metric(budget.metric)
            if value is not None and base_value is not None:
                differences.append((value - base_value, r))
        if not differences:
            return None, f"no {budget.minus_variant} variant to subtract", len(matched)
        value, worst = max(differences, key=lambda c: c[0])
        if budget.metric in ("cpu_time", "real_time"):
            value /= TIME_UNITS_NS[budget.unit]
        base_name = re.sub(r"^([^/]+)/[^/]+", rf"\1/{budget.minus_variant}", worst.name)
        return value, f"{worst.name} − {base_name}", len(matched)
    candidates = [(v, r) for v, r in candidates if v is not None]
    if not candidates:
        return None, f"{len(matched)} matched, none reports {budget.metric}", len(matched)
    value, worst = max(candidates, key=lambda c: c[0])
    if budget.metric in ("cpu_time", "real_time"):
        value /= TIME_UNITS_NS[budget.unit]
    return value, worst.name, len(matched)


# --------------------------------------------------------------------------------------
# Plots.


class Plotter:
    def __init__(self, plots_dir: str, gnuplot: Optional[str]):
        self.plots_dir = plots_dir
        self.gnuplot = gnuplot
        self.written: List[str] = []

    def plot(self, name: str, title: str, xlabel: str, ylabel: str,
             series: Dict[str, List[Tuple[float, float]]], logx: bool, logy: bool,
             integer_x: bool = False, y_format: Optional[str] = None) -> Optional[str]:
        """Writes <name>.svg and <name>.png; returns the svg's path, or None."""
        if self.gnuplot is None:
            return None
        series = {k: sorted(v) for k, v in series.items() if v}
        if not series:
            return None
        xs = [x for points in series.values() for x, _ in points]
        lines = [
            "set encoding utf8",
            f'set title "{gp_escape(title)}"',
            f'set xlabel "{gp_escape(xlabel)}"',
            f'set ylabel "{gp_escape(ylabel)}"',
            "set grid xtics ytics mxtics mytics lc rgb '#dddddd'",
            "set key below",  # never over the data
            "set border 3", "set tics nomirror",
            "set style data linespoints",
        ]
        if logx:
            lines += ["set logscale x 10", 'set format x "%.0s%c"',
                      f"set xrange [{min(xs) / 1.5}:{max(xs) * 1.5}]"]
        elif integer_x:
            lines += ["set xtics 1", 'set format x "%.0f"',
                      f"set xrange [{min(xs) - 0.5}:{max(xs) + 0.5}]"]
        y_format = y_format or '"%g"'
        if logy:
            lines += ["set logscale y 10", "set ytics 10", f"set format y {y_format}"]
        else:
            lines += ["set yrange [0:*]", f"set format y {y_format}"]
        plot_items = []
        for i, (label, points) in enumerate(series.items()):
            lines.append(f"$s{i} << EOD")
            lines += [f"{x!r} {y!r}" for x, y in points]
            lines.append("EOD")
            plot_items.append(f'$s{i} using 1:2 title "{gp_escape(label)}" '
                              f"lw 2 pt {5 + 2 * (i % 4)} ps 0.9")
        plot_command = "plot " + ", \\\n     ".join(plot_items)
        return self.render(name, lines, plot_command)

    def bars(self, name: str, title: str, ylabel: str,
             bars: List[Tuple[str, float]]) -> Optional[str]:
        """A bar chart of labelled values; writes <name>.svg and .png, returns the svg."""
        if self.gnuplot is None or not bars:
            return None
        lines = [
            "set encoding utf8",
            f'set title "{gp_escape(title)}"',
            f'set ylabel "{gp_escape(ylabel)}"',
            "set grid ytics lc rgb '#dddddd'",
            "set border 3", "set tics nomirror", "set key off",
            "set style fill solid 0.7 border -1", "set boxwidth 0.6",
            "set yrange [0:*]", "set xtics rotate by -25",
            f"set xrange [-0.6:{len(bars) - 0.4}]",
            "$bars << EOD",
        ]
        lines += [f'{i} {value!r} "{gp_escape(label)}"' for i, (label, value) in enumerate(bars)]
        lines += ["EOD"]
        plot_command = ("plot $bars using 1:2:xtic(3) with boxes lc rgb '#4477aa', "
                        "'' using 1:2:(sprintf('%.1f', $2)) with labels offset 0,0.7")
        return self.render(name, lines, plot_command)

    def render(self, name: str, lines: List[str], plot_command: str) -> str:
        """Runs gnuplot on `lines` + `plot_command` into <name>.svg and .png."""
        svg = os.path.join(self.plots_dir, name + ".svg")
        png = os.path.join(self.plots_dir, name + ".png")
        lines = lines + [
            'set terminal svg size 800,500 dynamic noenhanced font "sans,12" background "white"',
            f'set output "{gp_escape(svg)}"', plot_command, "unset output",
            'set terminal pngcairo size 900,560 noenhanced font "sans,11" background "white"',
            f'set output "{gp_escape(png)}"', "replot", "unset output",
        ]
        script = "\n".join(lines) + "\n"
        result = subprocess.run([self.gnuplot], input=script, text=True, capture_output=True)
        if result.returncode != 0:
            die(f"gnuplot failed on plot {name}:\n{result.stderr}\nscript:\n{script}")
        self.written += [svg, png]
        return svg


def gp_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def time_scale(values: List[float]) -> Tuple[str, float]:
    top = max(values)
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if top >= scale:
            return unit, scale
    return "ns", 1.0


def rate_scale(values: List[float]) -> Tuple[str, float]:
    top = max(values)
    for unit, scale in (("billion", 1e9), ("million", 1e6), ("thousand", 1e3)):
        if top >= scale:
            return unit, scale
    return "", 1.0


def series_label(r: Result, baseline: Optional[str], keep_args: bool) -> str:
    label = r.variant or r.family
    extra = list(r.args[1:]) if not keep_args else list(r.args)
    extra += list(r.flags)
    return label + (f" ({', '.join(extra)})" if extra else "")


def how_measured(rows: List[Result]) -> str:
    reps = sorted({r.repetitions for r in rows if r.error is None})
    if not reps:
        return ""
    if reps == [1]:
        return "single run"
    return "median of " + "/".join(str(n) for n in reps) + " repetitions"


def family_plots(plotter: Plotter, family: str, rows: List[Result],
                 baseline: Optional[str], stamp: str = "") -> List[Tuple[str, str]]:
    """Plots one family; returns [(caption, svg path)]."""
    out = []
    ok = [r for r in rows if r.error is None]
    how = how_measured(ok) + (f"; {stamp}" if stamp else "")

    # Time vs the first argument (single-threaded rows without a /threads: suffix).
    sweep = [r for r in ok if not r.threads_in_name and r.x is not None and r.cpu_ns]
    if len({r.x for r in sweep}) >= 2:
        times = [r.cpu_ns for r in sweep]
        wide = max(times) / min(times) > 1000  # many decades: SI-prefixed seconds
        unit, scale = ("s", 1e9) if wide else time_scale(times)
        series: Dict[str, List[Tuple[float, float]]] = {}
        for r in sort_rows(sweep, baseline):
            series.setdefault(series_label(r, baseline, False), []).append(
                (r.x, r.cpu_ns / scale))
        values = [y for s in series.values() for _, y in s]
        label = sweep[0].arg_label
        svg = plotter.plot(
            f"{slug(family)}_time", f"{family}: CPU time per iteration vs {label} ({how})",
            f"{label} (log scale)", "CPU time per iteration" + ("" if wide else f" ({unit})"),
            series, logx=True, logy=wide or max(values) / max(min(values), 1e-12) > 20,
            y_format='"%.0s %cs"' if wide else None)
        if svg:
            out.append((f"{family}: time vs {label}", svg))

        # Plotted user counters (memory) vs the first argument.
        names = sorted({c for r in sweep for c in r.counters if PLOTTED_COUNTERS.search(c)})
        for counter in names:
            series = {}
            for r in sort_rows(sweep, baseline):
                if counter in r.counters:
                    series.setdefault(series_label(r, baseline, False), []).append(
                        (r.x, r.counters[counter]))
            if sum(len(s) for s in series.values()) < 2:
                continue
            svg = plotter.plot(
                f"{slug(family)}_{slug(counter)}", f"{family}: {counter} vs {label} ({how})",
                f"{label} (log scale)", counter, series, logx=True, logy=False)
            if svg:
                out.append((f"{family}: {counter} vs {label}", svg))

    # Throughput vs threads (rows registered with ->Threads(n)).
    threaded = [r for r in ok if r.threads_in_name and r.real_ns]
    if len({r.threads for r in threaded}) >= 2:
        unit, scale = rate_scale([1e9 / r.real_ns for r in threaded])
        series = {}
        for r in sort_rows(threaded, baseline):
            series.setdefault(series_label(r, baseline, True), []).append(
                (r.threads, 1e9 / r.real_ns / scale))
        values = [y for s in series.values() for _, y in s]
        svg = plotter.plot(
            f"{slug(family)}_threads", f"{family}: throughput vs threads ({how})",
            "threads", f"{unit} iterations per second, all threads (1 / real time)", series,
            logx=False, logy=max(values) / max(min(values), 1e-12) > 20, integer_x=True)
        if svg:
            out.append((f"{family}: throughput vs threads", svg))
    return out


# --------------------------------------------------------------------------------------
# The document.


def family_table(rows: List[Result], baseline: Optional[str]) -> str:
    rows = sort_rows(rows, baseline)
    ok = [r for r in rows if r.error is None]
    counters = []
    for r in ok:
        for c in r.counters:
            if c not in counters:
                counters.append(c)
    has_items = any(r.items_per_second is not None for r in ok)
    has_bytes = any(r.bytes_per_second is not None for r in ok)
    has_cv = any(r.cv_cpu is not None for r in ok)
    has_threads = any(r.threads_in_name or r.threads != 1 for r in rows)
    by_key = {(r.variant, series_key(r)): r for r in ok}

    header = ["benchmark"] + (["threads"] if has_threads else []) + ["real time", "CPU time"]
    header += (["items/s"] if has_items else []) + (["bytes/s"] if has_bytes else [])
    header += [md_escape(c) for c in counters]
    if baseline is not None:
        header.append(f"CPU ÷ {md_escape(baseline)}")
    if has_cv:
        header.append("CPU cv")
    out_rows = []
    for r in rows:
        row = [code(r.name)] + ([str(r.threads)] if has_threads else [])
        if r.error is not None:
            row += [f"error: {md_escape(r.error)}"] + ["–"] * (len(header) - len(row) - 1)
            out_rows.append(row)
            continue
        row += [fmt_time(r.real_ns), fmt_time(r.cpu_ns)]
        if has_items:
            row.append(fmt_rate(r.items_per_second))
        if has_bytes:
            row.append(fmt_rate(r.bytes_per_second, "B/s"))
        row += [fmt_number(r.counters.get(c)) for c in counters]
        if baseline is not None:
            base = by_key.get((baseline, series_key(r)))
            if base is not None and base.cpu_ns and r.cpu_ns is not None:
                row.append(f"{sig3(r.cpu_ns / base.cpu_ns)}×")
            else:
                row.append("–")
        if has_cv:
            row.append("–" if r.cv_cpu is None else f"{sig3(100 * r.cv_cpu)} %")
        out_rows.append(row)
    return table(header, out_rows)


def layers_section(plotter: "Plotter", results: List[Result], out_dir: str,
                   stamp: str) -> List[str]:
    """The cost of each layer of a request, from check to token → decision."""
    by_name = {r.name: r for r in results if r.error is None and r.cpu_ns}
    present = [(label, by_name[name]) for label, name in LAYERS if name in by_name]
    if not present:
        return []
    lines = ["## From check to token → decision", "",
             "What each layer of a request costs (median CPU time per request; 1,000 roles "
             "or tokens). The full check runs all five rules; token → decision is "
             "introspection plus that check.", ""]
    lines.append(table(["layer", "benchmark", "CPU time"],
                       [[md_escape(label), code(r.name), fmt_time(r.cpu_ns)]
                        for label, r in present], ["l", "l", "r"]))
    svg = plotter.bars("layers", f"Cost per request by layer ({stamp})", "CPU time (ns)",
                       [(label, r.cpu_ns) for label, r in present])
    if svg:
        rel_svg = os.path.relpath(svg, out_dir)
        rel_png = os.path.splitext(rel_svg)[0] + ".png"
        lines += ["", f"![Cost per request by layer]({rel_svg})", "",
                  f"[SVG]({rel_svg}) · [PNG]({rel_png})"]
    return lines


def command_for(machine: Optional[dict], binary: str) -> Optional[str]:
    """The command run_all.sh ran for `binary`, from machine.json."""
    for command in (machine or {}).get("commands", []):
        if re.search(rf"//benchmarks:{re.escape(binary)}(\s|$)", command):
            return command
    return None


def budget_section(results: List[Result], callgrind: Optional[dict] = None) -> List[str]:
    lines = [
        "## Performance budget",
        "",
        "The budget of [docs/design.md](docs/design.md) (\"Performance budget\"), and the budgets "
        "the issues set, against the figures below. "
        "Each row reads the benchmarks "
        "whose names match its pattern (configured at the top of `benchmarks/report.py`) "
        "and compares the worst (largest) median; *missing* means no benchmark matched.",
        "",
    ]
    rows = []
    for b in BUDGETS:
        value, where, count = evaluate_budget(b, results, callgrind)
        limit = "report" if b.limit is None else f"≤ {fmt_number(b.limit)} {b.unit}"
        if value is None:
            status, shown = "missing", "–"
            source = md_escape(where) if where else "no benchmark matches"
        else:
            shown = f"{sig3(value)} {b.unit}" if b.unit != "×" else f"{sig3(value)}×"
            if b.limit is None:
                status = "reported"
            else:
                status = "**pass**" if value <= b.limit else "**OVER**"
            source = code(where) + (f" (worst of {count})" if count > 1 else "")
        metric = b.metric + (f" − {b.minus_variant}'s" if b.minus_variant else "") + (
            f" ÷ {b.over_variant}'s" if b.over_variant else "")
        if b.metric == "instructions":
            metric = "instructions per iteration (callgrind)"
        rows.append([md_escape(b.what), limit, md_escape(b.source), code(b.pattern), metric,
                     shown, source, status])
    lines.append(table(["what", "budget", "set by", "benchmarks", "metric", "measured", "from",
                        "status"], rows, ["l", "r", "l", "l", "l", "r", "l", "l"]))
    return lines


def callgrind_section(callgrind: Optional[dict], details: Optional[dict],
                      results: List[Result], machine: Optional[dict]) -> List[str]:
    lines = ["## Instruction counts (callgrind)", ""]
    if not callgrind:
        lines.append("Not measured: run `benchmarks/callgrind.sh` (see benchmarks/README.md).")
        return lines
    info = (details or {}).get("benchmarks", {})
    lines += [
        "Instructions executed per iteration under `valgrind --tool=callgrind`, from runs "
        "at fixed iteration counts n₁ < n₂ < n₃: (Ir(n₃) − Ir(n₁)) / (n₃ − n₁), so start-up "
        "and setup cancel. Includes the benchmark loop's own few instructions. "
        "*Nonlinearity* is the spread of the slopes n₁→n₂ and n₂→n₃ (should be ≈ 0).",
        "",
    ]
    if details:
        lines += [f"Counted {details.get('date', 'at an unknown date')} at commit "
                  f"`{details.get('git_commit', 'unknown')}` with `{details.get('invocation') or 'benchmarks/callgrind.sh'}`.", ""]
    if details and machine and details.get("git_commit") != machine.get("git_commit"):
        lines += [f"Note: counted at commit `{details.get('git_commit', '?')[:12]}`, the "
                  f"timings at `{machine.get('git_commit', '?')[:12]}`.", ""]
    by_name = {r.name: r for r in results}
    rows = []
    for name, per_iteration in callgrind.items():
        d = info.get(name, {})
        r = by_name.get(name)
        rows.append([
            code(name), sig3(per_iteration),
            ", ".join(f"{n:,}" for n in d.get("iterations", [])) or "–",
            "–" if "nonlinearity" not in d else f"{100 * d['nonlinearity']:.2f} %",
            fmt_time(r.cpu_ns) if r and r.error is None else "–",
        ])
    lines.append(table(["benchmark", "instructions / iteration", "iterations run",
                        "nonlinearity", "median CPU time"], rows))
    return lines


def kept_section(plots_dir: str, name: str) -> List[str]:
    """A section another script wrote (plots/<name>), as is: the "JWT introspection"
    one of benchmarks/jwt/run_jwt_bench.sh (jwt.md), the "HTTP" one of
    benchmarks/http/run_http_bench.sh (http.md), the "Replicas on Redis" one of
    benchmarks/redis/run_redis_bench.sh (redis.md) and the "Rate limits across
    replicas" one of benchmarks/ratelimit/run_ratelimit_bench.sh (ratelimit.md)
    and the "Loading JSON policies" one (load.md, measured by hand with the
    commands it names). Their figures come from their own runs, not from the
    results directory."""
    path = os.path.join(plots_dir, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [f.read().rstrip("\n"), ""]


def machine_section(machine: Optional[dict], contexts: Dict[str, dict]) -> List[str]:
    m = machine or {}
    context = next(iter(contexts.values()), {})
    load = sorted({" ".join(f"{x:.2f}" for x in c.get("load_avg", [])) for c in contexts.values()})
    caches = ", ".join(
        f"L{c['level']} {c['type'].lower()} {fmt_bytes(c['size'])}"
        for c in context.get("caches", []))
    build_types = sorted({c.get("library_build_type", "?") for c in contexts.values()})
    rows = [
        ["CPU", f"{m.get('cpu_model', 'unknown')}, nproc {m.get('nproc', '?')}"
                + (f", {context['mhz_per_cpu']} MHz" if "mhz_per_cpu" in context else "")],
        ["caches", caches or "–"],
        ["memory", fmt_bytes(m["memory_bytes"]) if m.get("memory_bytes") else "unknown"],
        ["kernel", m.get("kernel", "unknown")],
        ["OS", m.get("os", "unknown")],
        ["compiler", f"{m.get('compiler', 'unknown')}, `--config=bench` (.bazelrc)"],
        ["Bazel", m.get("bazel", "unknown")],
        ["Google Benchmark", f"{m.get('google_benchmark', 'unknown')}, library_build_type "
                             f"{'/'.join(build_types)} (Debian's build; see benchmarks/README.md)"],
        ["CPU frequency scaling", "/".join(sorted(
            {{True: "enabled", False: "disabled"}.get(c.get("cpu_scaling_enabled"), "unknown")
             for c in contexts.values()}))],
        ["load average at start", "; ".join(load) or "–"],
    ]
    return ["## Machine", "", table(["", ""], rows, ["l", "l"])]


def commands_section(machine: Optional[dict], details: Optional[dict], report_cmd: str) -> List[str]:
    lines = ["## Commands", "", "Run from the repository root:", "", "```sh"]
    if machine:
        lines.append(machine.get("invocation", "benchmarks/run_all.sh"))
        lines += ["# which ran:"] + [f"#   {c}" for c in machine.get("commands", [])]
    else:
        lines.append("# benchmarks/run_all.sh: no machine.json in the results directory")
    if details:
        lines.append(details.get("invocation", "benchmarks/callgrind.sh"))
        example = next((b["commands"][-1] for b in details.get("benchmarks", {}).values()
                        if b.get("commands")), None)
        if example:
            lines += ["# which ran, per benchmark and iteration count n, e.g.:", f"#   {example}"]
    lines += [report_cmd, "```"]
    return lines


def write_report(args, results, contexts, machine, callgrind, details, plotter) -> str:
    out_dir = os.path.dirname(os.path.abspath(args.output))
    families = group_families(results)
    m = machine or {}
    commit = m.get("git_commit", "unknown")
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/report.py from the results directory; do not edit. "
        "Regenerate as described in benchmarks/README.md. -->",
        "",
        f"Measured {m.get('date', 'at an unknown date')} at commit `{commit}`"
        + (f" (branch `{m['git_branch']}`)" if m.get("git_branch") else "")
        + (", **with uncommitted changes**" if m.get("git_dirty") else "")
        + f", {how_measured(results) or 'no successful runs'} per benchmark"
        + (f", `--benchmark_min_time={m['min_time']}`" if m.get("min_time") else "")
        + (f", filter `{m['filter']}`" if m.get("filter") else "") + ".",
    ]
    if m.get("quick"):
        lines += ["", "**Quick smoke run** (`--quick`): single short runs, good for checking the "
                      "pipeline, not for quoting."]
    lines += [
        "",
        "Times are per iteration of the benchmark loop, the median where there were "
        "several repetitions (with "
        "`/threads:N`, wall time over all threads' iterations, so 1 / real time is the "
        "aggregate throughput). Ratio columns divide a variant's CPU time by its family's "
        "baseline variant at the same arguments. Names read "
        "`BM_<Family>/<variant>/<arg>`; see benchmarks/README.md.",
        "",
    ]
    stamp = f"{m['date'][:10] if m.get('date') else 'date unknown'}, commit {commit[:7]}, " \
            f"{m.get('cpu_model', 'unknown CPU')} ×{m.get('nproc', '?')}"
    lines += budget_section(results, callgrind) + [""]
    lines += layers_section(plotter, results, out_dir, stamp) + [""]
    lines += ["## Results by family", ""]
    for family, rows in families.items():
        baseline = baseline_of(rows)
        lines += [f"### {md_escape(family)}", ""]
        notes = [f"from `{b}`" for b in sorted({r.binary for r in rows})]
        if baseline:
            notes.append(f"baseline variant `{baseline}`")
        lines += [", ".join(notes).capitalize() + f"; measured {stamp}.", ""]
        for binary in sorted({r.binary for r in rows}):
            command = command_for(machine, binary)
            if command:
                lines += [f"Command: `{command}`", ""]
        lines += [family_table(rows, baseline), ""]
        for caption, svg in family_plots(plotter, family, rows, baseline, stamp):
            rel_svg = os.path.relpath(svg, out_dir)
            rel_png = os.path.splitext(rel_svg)[0] + ".png"
            lines += [f"![{caption}]({rel_svg})", "", f"[SVG]({rel_svg}) · [PNG]({rel_png})", ""]
    if plotter.gnuplot is None:
        lines += ["(Plots not generated: report.py ran with --no-plots.)", ""]
    lines += callgrind_section(callgrind, details, results, machine) + [""]
    lines += kept_section(args.plots, "jwt.md")
    lines += kept_section(args.plots, "http.md")
    lines += kept_section(args.plots, "redis.md")
    lines += kept_section(args.plots, "ratelimit.md")
    lines += kept_section(args.plots, "load.md")
    lines += machine_section(machine, contexts) + [""]
    lines += commands_section(machine, details, args.command_line) + [""]
    sources = sorted(os.path.basename(p) for p in args.sources)
    lines += [f"Sources: {', '.join(code(s) for s in sources)} in `{args.results_shown}`.", ""]
    return "\n".join(lines)


def main() -> None:
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.path.join(repo_root, "benchmarks", "results"),
                        help="directory written by run_all.sh (default: benchmarks/results)")
    parser.add_argument("--output", default=os.path.join(repo_root, "BENCHMARKS.md"),
                        help="Markdown file to write (default: BENCHMARKS.md at the root)")
    parser.add_argument("--plots", default=os.path.join(repo_root, "benchmarks", "plots"),
                        help="directory for *.svg and *.png (default: benchmarks/plots); "
                             "its previous *.svg and *.png are removed")
    parser.add_argument("--no-plots", action="store_true",
                        help="write no plots (and do not require gnuplot)")
    args = parser.parse_args()

    def shown(path: str) -> str:
        rel = os.path.relpath(os.path.abspath(path), repo_root)
        return path if rel.startswith("..") else rel

    argv = ["benchmarks/report.py"] + sys.argv[1:]
    args.command_line = " ".join(argv)
    args.results_shown = shown(args.results)

    if not os.path.isdir(args.results):
        die(f"no results directory {args.results}: run benchmarks/run_all.sh first")
    paths = sorted(p for p in glob.glob(os.path.join(args.results, "*.json"))
                   if os.path.basename(p) not in NOT_BENCHMARK_OUTPUT)
    contexts, results = {}, []
    for path in paths:
        try:
            context, file_results = load_file(path)
        except (ValueError, KeyError, TypeError) as e:
            die(f"{path}: not Google Benchmark JSON ({e})")
        contexts[os.path.basename(path)] = context
        results += file_results
    if not results:
        die(f"no benchmark results in {args.results}: run benchmarks/run_all.sh first")
    seen: Dict[str, str] = {}
    for r in results:
        if r.name in seen and seen[r.name] != r.binary:
            warn(f"{r.name} appears in both {seen[r.name]} and {r.binary}")
        seen.setdefault(r.name, r.binary)

    machine = load_json(os.path.join(args.results, "machine.json"))
    if machine is None:
        warn("no machine.json in the results directory: machine and commands unknown")
    callgrind = load_json(os.path.join(args.results, "callgrind.json"))
    details = load_json(os.path.join(args.results, "callgrind_details.json"))
    args.sources = paths + [os.path.join(args.results, n) for n in NOT_BENCHMARK_OUTPUT
                            if os.path.exists(os.path.join(args.results, n))]

    gnuplot = None
    if not args.no_plots:
        gnuplot = shutil.which("gnuplot")
        if gnuplot is None:
            die("gnuplot is not installed (Debian package gnuplot-nox; run tools/setup.sh), "
                "or pass --no-plots")
        os.makedirs(args.plots, exist_ok=True)
        for old in glob.glob(os.path.join(args.plots, "*.svg")) + \
                glob.glob(os.path.join(args.plots, "*.png")):
            # http_*: benchmarks/http/run_http_bench.sh's, kept (see kept_section).
            if not os.path.basename(old).startswith("http_"):
                os.remove(old)
    plotter = Plotter(args.plots, gnuplot)

    text = write_report(args, results, contexts, machine, callgrind, details, plotter)
    with open(args.output, "w") as f:
        f.write(text)
    print(f"report.py: wrote {shown(args.output)} ({len(results)} benchmarks) and "
          f"{len(plotter.written)} plot files in {shown(args.plots)}", file=sys.stderr)


if __name__ == "__main__":
    main()
