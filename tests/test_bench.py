"""bench/run.py's arithmetic: how one side's rounds of a row become the table's figures."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench_run", Path(__file__).resolve().parent.parent / "bench" / "run.py")
bench = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bench  # its dataclasses look their module up there while it loads
SPEC.loader.exec_module(bench)


def run(rps: float, p50: float, p99: float, requests: int, **counts) -> dict:
    return {"label": "W4", "requests": requests, "rps": rps, "p50_ms": p50, "p99_ms": p99, "non2xx": 0, **counts}


def test_a_row_reports_each_sides_median_and_every_run():
    combined = bench.combine([run(600.0, 25.0, 50.0, 6000, s201=6000), run(480.0, 31.0, 90.0, 4800, s201=4800),
                              run(590.0, 26.0, 48.0, 5900, s201=5900)])  # fmt: skip
    assert (combined["rps"], combined["p50_ms"], combined["p99_ms"]) == (590.0, 26.0, 50.0)
    assert combined["requests"] == 16700 and combined["s201"] == 16700  # counts add up
    assert combined["rounds"] == [600.0, 480.0, 590.0]  # in run order
    assert combined["label"] == "W4"


def test_a_run_that_answered_nothing_counts_as_infinitely_slow_not_as_fast():
    # wrk reports 0 ms latencies for a run without answers; they must not pull the median down.
    combined = bench.combine([run(0.0, 0.0, 0.0, 0), run(3.0, 900.0, 9000.0, 30), run(0.0, 0.0, 0.0, 0)])
    assert combined["rps"] == 0.0
    assert math.isinf(combined["p50_ms"]) and math.isinf(combined["p99_ms"])
    assert bench.numbers(combined).split()[1:] == ["-", "-"]
    two = bench.combine([run(5.0, 800.0, 8000.0, 50), run(0.0, 0.0, 0.0, 0), run(4.0, 850.0, 9000.0, 40)])
    assert (two["p50_ms"], two["p99_ms"]) == (850.0, 9000.0)


@pytest.mark.parametrize(("rates", "median"), [([100.0], 100.0), ([100.0, 110.0], 105.0), ([130.0, 100.0, 110.0], 110.0)])
def test_one_two_or_three_rounds(rates, median):
    assert bench.combine([run(rate, 10.0, 20.0, 1000) for rate in rates])["rps"] == median
