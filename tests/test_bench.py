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


def w6_row(w6: float, beside: float | None, conns: int = 16) -> dict:
    sides = {"gw:plain": bench.combine([run(w6, 10.0, 20.0, 1000)])}
    if beside is not None:
        sides["w4:plain"] = bench.combine([run(beside, 10.0, 20.0, 1000)])
    return {"workload": "W6", "clients": 100000, "conns": conns, "sides": sides}


def w4_row(rps: float, conns: int = 16) -> dict:
    return {"workload": "W4", "clients": 10000, "conns": conns, "sides": {"gw:plain": bench.combine([run(rps, 10.0, 20.0, 1000)])}}


def test_w6_is_held_to_the_w4_runs_beside_it_not_to_the_w4_row_of_minutes_before():
    # The W4 row ran in a fast spell (1500), the W6 runs and the W4 runs beside them in a slow one.
    [(met, text)] = bench.w6_against_w4([w4_row(1500.0), w6_row(1200.0, beside=1100.0)], "plain", 16)
    assert met and "1200 vs 1100 beside it; the W4 row: 1500" in text
    [(met, _)] = bench.w6_against_w4([w4_row(1000.0), w6_row(1200.0, beside=1300.0)], "plain", 16)
    assert not met  # slower than the W4 beside it, though faster than the W4 row


def test_without_w4_runs_beside_it_w6_is_held_to_the_w4_row_at_its_connection_count():
    rows = [w4_row(900.0, conns=16), w4_row(1500.0, conns=64), w6_row(1200.0, beside=None, conns=16), w6_row(1200.0, beside=None, conns=64)]
    assert [met for met, _ in bench.w6_against_w4(rows, "plain", 16)] == [True]
    assert [met for met, _ in bench.w6_against_w4(rows, "plain", 64)] == [False]
    assert bench.w6_against_w4(rows, "image", 16) == []  # no such side: no verdict
