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


def test_each_gateway_runs_right_beside_its_ceiling_first_in_turn():
    names = ["gw:image", "gw:plain", "peer", "ceiling:image", "ceiling:plain"]
    orders = [bench.run_order(names, round_) for round_ in range(4)]
    for order in orders:
        assert sorted(order) == sorted(names)  # every side, once
        for label in ("image", "plain"):
            assert abs(order.index(f"gw:{label}") - order.index(f"ceiling:{label}")) == 1
    assert [order.index("gw:image") < order.index("ceiling:image") for order in orders] == [True, False, True, False]
    assert [order[0] for order in orders[:3]] == ["gw:image", "ceiling:plain", "peer"]  # each group first in turn
    assert bench.run_order(["gw:plain", "peer"], 1) == ["peer", "gw:plain"]  # no ceiling (W2-W5): rotated as before


def test_the_share_of_the_ceiling_is_taken_round_by_round():
    # The machine ran at 60 % in the first round and in full in the other two: the same share in each.
    gw = bench.combine([run(5100.0, 3.0, 6.0, 1000), run(8500.0, 2.0, 4.0, 1000), run(8500.0, 2.0, 4.0, 1000)])
    ceiling = bench.combine([run(6000.0, 3.0, 6.0, 1000), run(10000.0, 2.0, 4.0, 1000), run(10000.0, 2.0, 4.0, 1000)])
    assert bench.share_of_ceiling(gw, ceiling) == pytest.approx(0.85)
    # The median of the rounds' shares, not the ratio of each side's median (8000 / 9000).
    uneven = bench.combine([run(8500.0, 2.0, 4.0, 1000), run(4000.0, 4.0, 8.0, 1000), run(8000.0, 2.0, 4.0, 1000)])
    drifting = bench.combine([run(10000.0, 2.0, 4.0, 1000), run(5000.0, 4.0, 8.0, 1000), run(9000.0, 2.0, 4.0, 1000)])
    assert bench.share_of_ceiling(uneven, drifting) == pytest.approx(0.85)  # of 0.85, 0.80 and 0.89
    assert bench.share_of_ceiling(gw, bench.combine([run(0.0, 0.0, 0.0, 0)] * 3)) is None  # a ceiling that answered nothing
