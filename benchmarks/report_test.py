#!/usr/bin/env python3
"""Tests for report.py on synthetic Google Benchmark JSON (no gnuplot needed)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.py")


def run(name, real, cpu, unit="ns", aggregate="median", threads=1, repetitions=5, **extra):
    entry = {
        "name": f"{name}_{aggregate}" if aggregate else name,
        "run_name": name,
        "run_type": "aggregate" if aggregate else "iteration",
        "repetitions": repetitions,
        "threads": threads,
        "iterations": repetitions if aggregate else 1000,
        "real_time": real,
        "cpu_time": cpu,
        "time_unit": unit,
    }
    if aggregate:
        entry["aggregate_name"] = aggregate
        entry["aggregate_unit"] = "percentage" if aggregate == "cv" else "time"
    entry.update(extra)
    return entry


class ParseNameTest(unittest.TestCase):
    def test_cases(self):
        cases = [
            ("BM_Check/ids/1000", ("BM_Check", "ids", ("1000",), (), None)),
            ("BM_Check/names/roles:1000", ("BM_Check", "names", ("roles:1000",), (), None)),
            ("BM_Lookup/flat_array/1000/real_time/threads:2",
             ("BM_Lookup", "flat_array", ("1000",), ("real_time",), 2)),
            ("BM_Check/ids/1000/8/iterations:100",
             ("BM_Check", "ids", ("1000", "8"), (), None)),
            ("BM_Plain", ("BM_Plain", "", (), (), None)),
            ("BM_Plain/64", ("BM_Plain", "", ("64",), (), None)),
        ]
        for name, expected in cases:
            with self.subTest(name=name):
                self.assertEqual(report.parse_name(name), expected)


class FormatTest(unittest.TestCase):
    def test_cases(self):
        self.assertEqual(report.fmt_time(0.2834), "0.283 ns")
        self.assertEqual(report.fmt_time(2.5), "2.50 ns")
        self.assertEqual(report.fmt_time(32200.0), "32.2 µs")
        self.assertEqual(report.fmt_time(1.5e9), "1.50 s")
        self.assertEqual(report.fmt_rate(3.5355e9), "3.54 G/s")
        self.assertEqual(report.fmt_number(40.0), "40")
        self.assertEqual(report.fmt_number(1234567.0), "1,234,567")
        self.assertEqual(report.sig3(1466.2), "1,466")


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.results = os.path.join(self.dir.name, "results")
        os.makedirs(self.results)
        self.output = os.path.join(self.dir.name, "BENCHMARKS.md")

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, data):
        with open(os.path.join(self.results, name), "w") as f:
            json.dump(data, f)

    def generate(self):
        result = subprocess.run(
            [sys.executable, REPORT, "--results", self.results, "--output", self.output,
             "--no-plots"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(self.output) as f:
            return f.read()

    def budget_row(self, text, what):
        rows = [line for line in text.splitlines() if line.startswith(f"| {what} |")]
        self.assertEqual(len(rows), 1, f"{what!r} in:\n{text}")
        return rows[0]

    def test_engine_shaped_results(self):
        self.write("check_benchmark.json", {"context": {"library_build_type": "debug"},
                                            "benchmarks": [
            run("BM_Check/ids/10", 2.0, 2.0),
            run("BM_Check/ids/1000000", 2.5, 2.5),
            run("BM_Check/ids/1000000", 0.01, 0.02, aggregate="cv"),
            run("BM_Check/names/10", 20.0, 20.0),
            run("BM_Check/names/1000000", 40.0, 40.0),
            run("BM_Check/map_of_maps/10", 8.0, 8.0),
            run("BM_Check/all_names/10", 30.0, 30.0),
            run("BM_Check/all_names/1000000", 100.0, 100.0),
            run("BM_Compile/distinct/1000000", 2.5, 1.9, unit="s", bytes_per_role=48.0),
            run("BM_Check/ids/1000/real_time/threads:1", 2.0, 2.0),
            run("BM_Check/ids/1000/real_time/threads:2", 1.0, 2.0, threads=2),
        ]})
        self.write("machine.json", {"date": "2030-01-01T00:00:00Z", "git_commit": "abc",
                                    "invocation": "benchmarks/run_all.sh",
                                    "commands": ["bazel run --config=bench //benchmarks:x"]})
        self.write("callgrind.json", {"BM_Check/ids/1000": 12.5})
        text = self.generate()
        self.assertIn("| ≤ 3 ns |", self.budget_row(text, "check by ids, hot cache"))
        self.assertIn("**pass**", self.budget_row(text, "check by ids, hot cache"))
        self.assertIn("`BM_Check/ids/1000000` (worst of", self.budget_row(
            text, "check by ids, hot cache"))
        self.assertIn("**OVER**", self.budget_row(text, "check by names"))
        self.assertIn("missing", self.budget_row(text, "token → principal → decision"))
        growth = self.budget_row(text, "cost growth, 10 → 1,000,000 roles (check by ids)")
        self.assertIn("1.25×", growth)
        self.assertIn("reported", growth)
        compile_time = self.budget_row(text, "compile 1,000,000 roles: time")
        self.assertIn("2.50 s", compile_time)
        self.assertIn("**OVER**", compile_time)
        memory = self.budget_row(text, "compile 1,000,000 roles: bytes per role before dedup")
        self.assertIn("48.0 bytes", memory)
        self.assertIn("**pass**", memory)
        # Ratios against the "ids" baseline at the same argument; none without one.
        self.assertIn("| `BM_Check/names/1000000` | 1 | 40.0 ns | 40.0 ns | 16.0× |", text)
        self.assertIn("| `BM_Check/map_of_maps/10` | 1 | 8.00 ns | 8.00 ns | 4.00× |", text)
        self.assertIn("| 2.00 % |", text)
        self.assertIn("| `BM_Check/ids/1000` | 12.5 |", text)
        # Instruction budgets read callgrind.json; ratio budgets divide by a variant.
        instructions = self.budget_row(text, "check by ids: instructions")
        self.assertIn("12.5 instructions", instructions)
        self.assertIn("**pass**", instructions)
        self.assertIn("missing", self.budget_row(text, "check by names: instructions"))
        ratio = self.budget_row(
            text, "check entirely by names (principal too) over check by names")
        self.assertIn("2.50×", ratio)
        self.assertIn("`BM_Check/all_names/1000000 ÷ BM_Check/names/1000000`", ratio)
        self.assertIn("**OVER**", ratio)
        self.assertIn("bazel run --config=bench //benchmarks:x", text)

    def test_overhead_budgets_layers_and_commands(self):
        self.write("policy_store_benchmark.json", {"benchmarks": [
            run("BM_StoreCheck/raw", 5.0, 5.0),
            run("BM_StoreCheck/store", 5.4, 5.4),
            run("BM_StoreCheck/store_guard", 6.5, 6.5),
        ]})
        self.write("auth_benchmark.json", {"benchmarks": [
            run("BM_Introspect/token/1000", 50.0, 50.0),
            run("BM_TokenCheck/full/1000", 90.0, 90.0),
        ]})
        self.write("machine.json", {
            "date": "2030-01-01T00:00:00Z", "git_commit": "abcdef123456", "nproc": 2,
            "cpu_model": "Test CPU", "invocation": "benchmarks/run_all.sh",
            "commands": ["bazel run --config=bench //benchmarks:auth_benchmark -- --x",
                         "bazel run --config=bench //benchmarks:policy_store_benchmark"]})
        text = self.generate()
        # The worst overhead over the raw snapshot: 6.5 - 5.0.
        overhead = self.budget_row(
            text, "check through the store, overhead over a raw snapshot")
        self.assertIn("1.50 ns", overhead)
        self.assertIn("`BM_StoreCheck/store_guard − BM_StoreCheck/raw`", overhead)
        self.assertIn("**OVER**", overhead)
        self.assertIn("live policy issue", overhead)
        self.assertIn("**pass**", self.budget_row(text, "introspect a token"))
        self.assertIn("**pass**", self.budget_row(text, "introspect + full check"))
        self.assertIn("missing", self.budget_row(text, "full five-rule check by ids"))
        # The layers table lists what was measured, in order.
        self.assertIn("| introspect | `BM_Introspect/token/1000` | 50.0 ns |", text)
        self.assertIn("| token → decision (ids) | `BM_TokenCheck/full/1000` | 90.0 ns |", text)
        self.assertNotIn("| check by ids | `BM_FullCheck", text)
        # Each family names its machine, date, commit and command.
        self.assertIn("measured 2030-01-01, commit abcdef1, Test CPU ×2.", text)
        self.assertIn("Command: `bazel run --config=bench //benchmarks:auth_benchmark -- --x`",
                      text)
        self.assertIn("Command: `bazel run --config=bench //benchmarks:policy_store_benchmark`",
                      text)

    def test_single_runs_errors_and_missing_families(self):
        self.write("other_benchmark.json", {"benchmarks": [
            run("BM_Other/a/1", 5.0, 5.0, aggregate=None, repetitions=1),
            {"name": "BM_Other/b/1", "run_name": "BM_Other/b/1", "run_type": "iteration",
             "error_occurred": True, "error_message": "setup failed", "threads": 1,
             "iterations": 0, "real_time": 0, "cpu_time": 0, "time_unit": "ns"},
        ]})
        text = self.generate()
        self.assertIn("single run", text)
        self.assertIn("error: setup failed", text)
        for what in ["check by ids, hot cache", "check by names", "compile 1,000,000 roles: time"]:
            self.assertIn("missing", self.budget_row(text, what))
        self.assertIn("Not measured: run `benchmarks/callgrind.sh`", text)

    def test_no_results_is_an_error(self):
        result = subprocess.run(
            [sys.executable, REPORT, "--results", self.results, "--output", self.output,
             "--no-plots"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 1)
        self.assertIn("run benchmarks/run_all.sh first", result.stderr)


if __name__ == "__main__":
    unittest.main()
