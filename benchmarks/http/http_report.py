#!/usr/bin/env python3
"""The results of benchmarks/http/run_http_bench.sh as JSON, Markdown and plots.

Reads the wrk figures the script left in $BENCH_TMP (<run>.<round>.json for
rounds 1..$BENCH_REPEAT, commands.txt); each run's figures are the medians
over the rounds (requests/s, p50, p99 each on its own), each goal's ratio the
median of the rounds' ratios, every round's ratio listed. Writes benchmarks/plots/http.json, benchmarks/plots/http.md (the "HTTP"
section of BENCHMARKS.md), benchmarks/plots/http_throughput.{svg,png} and
http_latency.{svg,png}, and puts the section into BENCHMARKS.md (replacing
an earlier one; benchmarks/report.py keeps it when it regenerates the file).
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks_md import replace_section  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLOTS = os.path.join(ROOT, "benchmarks", "plots")
RUNS = [
    ("nginx_static", "nginx, static 200"),
    ("authorize", "portcullis /v1/authorize"),
    ("nginx_proxy", "nginx proxy, no auth"),
    ("nginx_auth_request", "nginx auth_request + proxy"),
    ("auth_token", "portcullis POST /auth/token"),
]


def machine():
    cpuinfo = open("/proc/cpuinfo").read()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    return {
        "cpu_model": model.group(1).strip() if model else "unknown",
        "nproc": os.cpu_count(),
        "kernel": " ".join(platform.uname()[i] for i in (0, 2, 4)),
        "load_average_at_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        # Under `nice -n -10` (say) the runs preempt other jobs' processes.
        "niceness": os.nice(0),
    }


def fmt_rate(x):
    return f"{x:,.0f}"


def fmt_us(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def gnuplot(name, lines, plot_command):
    """Runs gnuplot on `lines` + `plot_command` into <name>.svg and .png."""
    svg = os.path.join(PLOTS, name + ".svg")
    png = os.path.join(PLOTS, name + ".png")
    script = "\n".join(lines + [
        'set terminal svg size 800,500 dynamic noenhanced font "sans,12" background "white"',
        f'set output "{svg}"', plot_command, "unset output",
        'set terminal pngcairo size 900,560 noenhanced font "sans,11" background "white"',
        f'set output "{png}"', "replot", "unset output"]) + "\n"
    result = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"gnuplot failed on {name}:\n{result.stderr}")


def bars(name, title, ylabel, rows, label_format):
    plot = (
        "plot $d using 0:2:xtic(1) with boxes lc rgb '#4477aa', "
        f"'' using 0:2:(sprintf('{label_format}', $2)) with labels offset 0,0.8")
    lines = [
        "set encoding utf8", f'set title "{title}"', f'set ylabel "{ylabel}"',
        "set grid ytics lc rgb '#dddddd'", "set border 3", "set tics nomirror",
        "set key off", "set style fill solid 0.7 border -1", "set boxwidth 0.6",
        "set yrange [0:*]", "set xtics rotate by -20", "set bmargin 6",
        "$d << EOD"]
    lines += [f'"{label}" {value!r}' for label, value in rows]
    lines += ["EOD"]
    gnuplot(name, lines, plot)


def latency_plot(name, title, rows):
    plot = (
        "plot $d using ($0-0.15):2:(0.3):xtic(1) with boxes lc rgb '#4477aa' title 'p50', "
        "'' using ($0+0.15):3:(0.3) with boxes lc rgb '#ee6677' title 'p99'")
    lines = [
        "set encoding utf8", f'set title "{title}"', 'set ylabel "latency (ms)"',
        "set grid ytics lc rgb '#dddddd'", "set border 3", "set tics nomirror",
        "set key top left", "set style fill solid 0.7 border -1",
        "set yrange [0:*]", "set xtics rotate by -20", "set bmargin 6",
        f"set xrange [-0.6:{len(rows) - 0.4}]", "$d << EOD"]
    lines += [f'"{label}" {p50 / 1000!r} {p99 / 1000!r}' for label, p50, p99 in rows]
    lines += ["EOD"]
    gnuplot(name, lines, plot)


def main():
    tmp = os.environ["BENCH_TMP"]
    repeat = int(os.environ.get("BENCH_REPEAT", "1"))
    results = {}
    for run, label in RUNS:
        rounds = []
        for i in range(1, repeat + 1):
            with open(os.path.join(tmp, f"{run}.{i}.json")) as f:
                r = json.load(f)
            r["requests_per_second"] = r["requests"] / (r["duration_us"] / 1e6)
            r["errors"] = sum(r[k] for k in r if k.startswith("errors_"))
            if r["errors"]:
                sys.exit(f"http_report.py: {run} (round {i}) had {r['errors']} errors "
                         f"(non-2xx or socket): {r}")
            rounds.append(r)
        results[run] = {
            "label": label,
            "requests_per_second": statistics.median(r["requests_per_second"] for r in rounds),
            "latency_p50_us": statistics.median(r["latency_p50_us"] for r in rounds),
            "latency_p99_us": statistics.median(r["latency_p99_us"] for r in rounds),
            "errors": 0,
            "rounds": rounds,
        }
    commands = open(os.path.join(tmp, "commands.txt")).read().splitlines()
    m = machine()
    m.update({"date": os.environ["BENCH_DATE"], "nginx": os.environ["BENCH_NGINX"],
              "wrk": os.environ["BENCH_WRK"], "git_commit": os.environ["BENCH_COMMIT"],
              "git_dirty": os.environ["BENCH_DIRTY"] == "true",
              "load_average_before": os.environ.get("BENCH_LOAD_BEFORE", "unknown")})
    rps = {k: v["requests_per_second"] for k, v in results.items()}

    def round_ratios(a, b):
        return [x["requests_per_second"] / y["requests_per_second"]
                for x, y in zip(results[a]["rounds"], results[b]["rounds"])]

    per_round = {
        "authorize_vs_nginx_static": round_ratios("authorize", "nginx_static"),
        "auth_request_vs_proxy": round_ratios("nginx_auth_request", "nginx_proxy"),
    }
    ratios = {k: statistics.median(v) for k, v in per_round.items()}
    os.makedirs(PLOTS, exist_ok=True)
    with open(os.path.join(PLOTS, "http.json"), "w") as f:
        json.dump({"machine": m, "duration_seconds": int(os.environ["BENCH_DURATION"]),
                   "rounds": repeat, "commands": commands, "results": results,
                   "ratios": ratios, "ratios_per_round": per_round}, f, indent=2)
        f.write("\n")

    bars("http_throughput", "HTTP requests/s (wrk, 2 threads, 100 connections, keep-alive)",
         "requests/s", [(results[r]["label"], rps[r]) for r, _ in RUNS], "%.0f")
    latency_plot("http_latency", "HTTP latency, p50 and p99 (wrk)",
                 [(results[r]["label"], results[r]["latency_p50_us"],
                   results[r]["latency_p99_us"]) for r, _ in RUNS])

    def verdict(ratio):
        return "**pass**" if ratio >= 0.5 else "**OVER**"

    def listed(values):
        return ", ".join(f"{v:.2f}×" for v in values)

    lines = [
        "## HTTP", "",
        "<!-- Written by benchmarks/http/run_http_bench.sh (http_report.py); "
        "benchmarks/report.py keeps this section. -->", "",
        f"`portcullis serve` (opt build) and Debian's nginx ({m['nginx']}) on 127.0.0.1, "
        f"measured with wrk {m['wrk']} (2 threads, 100 keep-alive connections, "
        f"{os.environ['BENCH_DURATION']} s per run, {repeat} rounds of the five runs, "
        "1,000 distinct access tokens in turn "
        "and the `x-monite-entity-id` header on every request, `benchmarks/http/wrk_rotate.lua`). "
        "Each figure is the median over the rounds. "
        f"Measured {m['date']} at commit `{m['git_commit'][:12]}`"
        + (" (with uncommitted changes)" if m["git_dirty"] else "")
        + f", {m['cpu_model']} ×{m['nproc']}, {m['kernel']}, load average before the runs "
        f"{m['load_average_before']} and at the end {m['load_average_at_end']}"
        + (f", run at niceness {m['niceness']}" if m["niceness"] else "")
        + ": server, nginx and wrk share these cores (and so did "
        "whatever else ran), so every figure is a lower bound of what each does alone.", "",
        "| run | requests/s | p50 | p99 | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for run, _ in RUNS:
        r = results[run]
        lines.append(f"| {r['label']} | {fmt_rate(rps[run])} | {fmt_us(r['latency_p50_us'])} | "
                     f"{fmt_us(r['latency_p99_us'])} | {r['errors']} |")
    lines += [
        "",
        "| goal (issue 16) | median | each round | status |",
        "| --- | ---: | ---: | --- |",
        f"| `/v1/authorize` ≥ 0.5× nginx's static 200 | "
        f"{ratios['authorize_vs_nginx_static']:.2f}× | "
        f"{listed(per_round['authorize_vs_nginx_static'])} | "
        f"{verdict(ratios['authorize_vs_nginx_static'])} |",
        f"| through nginx with auth_request ≥ 0.5× the same proxy without it | "
        f"{ratios['auth_request_vs_proxy']:.2f}× | {listed(per_round['auth_request_vs_proxy'])} | "
        f"{verdict(ratios['auth_request_vs_proxy'])} |",
        "",
        "![HTTP requests/s](benchmarks/plots/http_throughput.svg)", "",
        "[SVG](benchmarks/plots/http_throughput.svg) · [PNG](benchmarks/plots/http_throughput.png)", "",
        "![HTTP latency](benchmarks/plots/http_latency.svg)", "",
        "[SVG](benchmarks/plots/http_latency.svg) · [PNG](benchmarks/plots/http_latency.png) · "
        "figures: [http.json](benchmarks/plots/http.json)", "",
        "Command (from the repository root; it builds `bazel build -c opt //tools:portcullis`, "
        "starts the server, nginx and the runs, and stops them): "
        f"`benchmarks/http/run_http_bench.sh` (`--repeat {repeat}`), which ran, in each round:", "",
        "```sh",
    ] + commands + ["```", ""]
    section = "\n".join(lines)
    with open(os.path.join(PLOTS, "http.md"), "w") as f:
        f.write(section)
    replace_section(os.path.join(ROOT, "BENCHMARKS.md"), "## HTTP", section,
                    before="## Machine")
    for run, _ in RUNS:
        r = results[run]
        print(f"{r['label']:32} {fmt_rate(rps[run]):>10} req/s  p50 {fmt_us(r['latency_p50_us']):>9}"
              f"  p99 {fmt_us(r['latency_p99_us']):>9}")
    print(f"authorize / nginx static: {ratios['authorize_vs_nginx_static']:.2f}x "
          f"(rounds: {listed(per_round['authorize_vs_nginx_static'])}); "
          f"auth_request / proxy: {ratios['auth_request_vs_proxy']:.2f}x "
          f"(rounds: {listed(per_round['auth_request_vs_proxy'])})")



if __name__ == "__main__":
    main()
