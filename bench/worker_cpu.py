"""`make bench-cpu`: CPU time per request of the gateway's gunicorn workers under wrk, beside
gunicorn's ceiling (bench/ceiling.py), on each interpreter of `make bench` (BENCH_PYTHON), and
where that time goes (py-spy, with BENCH_PROFILE=1).

On a shared two-core machine req/s moves with whatever else runs; the CPU the workers spend per
answer moves far less, so this is the measure to compare two versions of the code by (issue 19's
profile). Each round runs every server in turn, one wrk run each (WARMUP, then DURATION seconds at
BENCH_CONNS[0] connections), and counts the workers' user+system time over the measured run.

    BENCH_WORKLOADS="W1 W4" BENCH_ROUNDS=3 make bench-cpu
    BENCH_PROFILE=1 BENCH_PYTHON=plain=python3 BENCH_WORKLOADS=W4 make bench-cpu   # + py-spy of one worker

The profile (collapsed stacks, `py-spy record -f raw`) goes to bench/results/profile-<workload>-<label>.txt,
with the functions that hold most samples printed (self, then inclusive).
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import run

WORKLOADS = os.environ.get("BENCH_WORKLOADS", "W1 W4").split()
PROFILE = os.environ.get("BENCH_PROFILE") == "1"


PATHS = {"W1": ("get", "/health"), "W2": ("get", "/api/clients?limit=100"), "W4": ("post", "/api/clients")}


def drive(server: run.Server, workload: str, conns: int, seconds: float) -> dict:
    """One wrk run of `workload` (bench.lua, as bench.sh drives it); its RESULT figures."""
    mode, path = PATHS[workload]
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_TOKEN": server.token, "BENCH_TAG": f"cpu{time.time_ns()}", "BENCH_LABEL": workload}
    command = ["wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(run.BENCH / "bench.lua"), server.url + path]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    return {key: float(value) for key, value in (field.split("=") for field in line.split()[2:]) if value.replace(".", "").isdigit()}


def cpu_per_request(server: run.Server, workload: str, conns: int) -> tuple[float, float]:
    """(worker CPU µs per answer, req/s) of one measured wrk run, after a warm-up."""
    drive(server, workload, conns, float(os.environ.get("WARMUP", "2")))
    server.settle()
    before = server.cpu_seconds()
    result = drive(server, workload, conns, float(os.environ.get("DURATION", "10")))
    server.settle()  # the answers wrk left in flight are the run's too
    used = server.cpu_seconds() - before
    return (used / result["requests"] * 1e6 if result["requests"] else float("inf")), result["rps"]


def profile(server: run.Gateway, workload: str, conns: int) -> Path:
    """py-spy of one worker while wrk runs `workload`; the collapsed stacks' file."""
    out = run.BENCH / "results" / f"profile-{workload}-{server.interpreter.label}.txt"
    out.parent.mkdir(exist_ok=True)
    spy = shutil.which("py-spy") or str(run.PYTHON.parent / "py-spy")
    seconds = int(os.environ.get("DURATION", "10"))
    command = [
        spy,
        "record",
        "-p",
        str(server.children()[0]),
        "-d",
        str(seconds),
        "-r",
        "250",
        "-f",
        "raw",
        "-o",
        str(out),
        "--nonblocking",
    ]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as recorder:
        time.sleep(0.5)
        drive(server, workload, conns, seconds)
        recorder.wait()
    return out


def summary(path: Path, top: int = 20) -> list[str]:
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"{path.relative_to(run.ROOT)}: {total} samples; self:"]
    lines += [f"  {n / total:6.1%} {frame[:130]}" for frame, n in own.most_common(top)]
    lines += ["inclusive:"] + [f"  {n / total:6.1%} {frame[:130]}" for frame, n in inclusive.most_common(top + 12)[12:]]
    return lines


def main() -> int:
    conns = run.CONNS[0]
    source = run.database(run.WRITE_CLIENTS)
    lines = [*run.versions(False), f"worker CPU per answer at {conns} connections (µs; median of {run.ROUNDS} rounds; req/s beside it)"]
    for workload in WORKLOADS:
        servers: dict[str, run.Server] = {}
        try:
            for interpreter in run.interpreters():
                path = run.fresh_copy(source, f"cpu-{interpreter.label}-{workload}.db") if workload in ("W4", "W5") else source
                servers[f"gw:{interpreter.label}"] = run.Gateway(path, interpreter).start()
                if workload == "W1":
                    servers[f"ceiling:{interpreter.label}"] = run.Ceiling(source, interpreter).start()
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
            for round_ in range(run.ROUNDS):
                for name, server in run.rotated(list(servers.items()), round_):
                    figures[name].append(cpu_per_request(server, workload, conns))
            for name, runs in figures.items():
                cpu = sorted(us for us, _ in runs)[len(runs) // 2]
                rps = sorted(r for _, r in runs)[len(runs) // 2]
                lines.append(
                    f"  {workload} {name:14} {cpu:8.1f} µs  {rps:8.0f} req/s   (rounds: {', '.join(f'{us:.0f}' for us, _ in runs)})"
                )
            if PROFILE:
                for name, server in servers.items():
                    if name.startswith("gw:"):
                        lines += summary(profile(server, workload, conns))
        finally:
            for server in servers.values():
                server.stop()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
