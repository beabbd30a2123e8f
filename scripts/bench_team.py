"""Benchmark a shared project: a team of clients on one PostgreSQL server, over loopback.

Starts a throwaway server (annotator/dataset/pg_server.py), builds the DensePose-COCO-sized
input of ``scripts/bench_dataset.py`` (50K persons, 5M points by default), and measures,
each step in its own process:

* import and export on SQLite (the baseline, measured in the same run) and on the server,
  and ``project push`` of the folder project to the server; the exports are compared byte
  for byte;
* ``--clients`` simulated annotators (separate processes, annotator/dataset/team_sim.py)
  claiming tasks and saving answers for ``--seconds``: claim-next and save-answer latency,
  p50 / p95 (goal: p95 under 50 ms), with nothing lost or held twice.

Usage::

    python scripts/bench_team.py                       # full scale (~3 GB of disk)
    python scripts/bench_team.py --persons 2000        # quick look
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dataset import build_input

GOAL_P95_MS = 50.0


def step(name: str, args: list[str]) -> dict[str, Any]:
    """One measured step, run in a child process: import / export / push."""
    from annotator.dataset.densepose_io import export_densepose, import_densepose
    from annotator.dataset.records import TaskState
    from annotator.dataset.store import Project
    from annotator.dataset.store_transfer import push

    t0 = time.perf_counter()
    if name == "import":
        with Project.create(args[0]) as project:
            import_densepose(project, args[1], args[2], surface_from_iuv=None, state=TaskState.TODO)
    elif name == "export":
        with Project.open(args[0], readonly=True) as project:
            export_densepose(project, args[1], min_state=TaskState.TODO)
    elif name == "push":
        push(args[0], args[1])
    return {"seconds": time.perf_counter() - t0}


def run_step(name: str, *args: str | Path) -> float:
    command = [sys.executable, __file__, "--step", name, *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{done.stderr}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def clients(url: str, folder: Path, n: int, seconds: float, think: float) -> dict[str, Any]:
    """``n`` simulated annotators for ``seconds``; latencies and the checker's findings."""
    from annotator.dataset.store import Project
    from annotator.dataset.store_shared import SharedProject
    from annotator.dataset.team_sim import SimConfig, check, run

    names = [f"bench{k:02d}" for k in range(n)]
    with Project.open(url) as admin:
        assert isinstance(admin, SharedProject)
        admin.configure(agreement_share=0.1, gold_rate=0.0)
        for name in names:
            admin.add_member(name, "annotator", "bench-pw")
    ctx = multiprocessing.get_context("spawn")
    logs, procs = {}, []
    host = url.split("@", 1)[1]
    for k, name in enumerate(names):
        logs[name] = folder / f"{name}.jsonl"
        config = SimConfig(
            f"postgresql://{name}:bench-pw@{host}", name, names[(k + 1) % n], logs[name],
            seconds, think=think, seed=k, max_points=10,
        )  # fmt: skip
        procs.append(ctx.Process(target=run, args=(config,)))
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    with Project.open(url) as admin:
        assert isinstance(admin, SharedProject)
        report = check(admin, logs)
    return {"report": report}


def _pct(values: list[float]) -> str:
    if not values:
        return "no samples"
    p50, p95 = np.percentile(values, [50, 95])
    mark = "ok" if p95 < GOAL_P95_MS else "MISSED"
    return (
        f"p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   ({len(values)} calls; goal p95 < 50 ms: {mark})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--points", type=int, default=100, help="mean points per person")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the clients work")
    parser.add_argument("--think", type=float, default=0.2, help="seconds between clicks")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step[0], args.step[1:])))
        return
    from annotator.dataset.pg_server import LocalServer

    folder = Path(tempfile.mkdtemp(prefix="bench_team_"))
    server = LocalServer.create()
    try:
        server.start()
        _bench(folder, server.url("bench"), server.url("pushed"), args)
    finally:
        server.remove()
        shutil.rmtree(folder, ignore_errors=True)


def _bench(folder: Path, url: str, pushed: str, args: argparse.Namespace) -> None:
    load = os.getloadavg()[0]
    source = build_input(folder, args.persons, args.points, 2, 0)
    images = folder / "images"
    print(f"{args.persons} persons, {source.stat().st_size / 1e6:.0f} MB of DensePose-COCO")
    rows = [
        ("import, SQLite folder", run_step("import", folder / "p", source, images)),
        ("import, server", run_step("import", url, source, images)),
        ("export, SQLite folder", run_step("export", folder / "p", folder / "a.json")),
        ("export, server", run_step("export", url, folder / "b.json")),
        ("push folder -> server", run_step("push", folder / "p", pushed)),
        ("export, pushed copy", run_step("export", pushed, folder / "c.json")),
    ]
    same = {(folder / n).read_bytes() for n in ("a.json", "b.json", "c.json")}
    print(f"load average at start: {load:.1f} on {os.cpu_count()} cores")
    print(f"{'step':<24} {'wall (s)':>9}")
    for name, seconds in rows:
        print(f"{name:<24} {seconds:>9.1f}")
    print(f"the three exports identical: {len(same) == 1}")
    t0 = time.perf_counter()
    found = clients(url, folder, args.clients, args.seconds, args.think)["report"]
    took = time.perf_counter() - t0
    print(
        f"\n{args.clients} clients for {args.seconds:.0f} s ({took:.0f} s with start-up), "
        f"{args.think * 1000:.0f} ms between clicks, 10 points a task, over loopback:"
    )
    print(f"  claim-next   {_pct(found.claim_ms)}")
    print(f"  save-answer  {_pct(found.answer_ms)}")
    print(
        f"  tasks finished {found.tasks_finished}, answers {found.answers_acked}, lost "
        f"{found.answers_lost}, held twice {found.overlaps}, forbidden writes refused "
        f"{found.cross_refused}/{found.cross_refused + found.cross_accepted}"
    )


if __name__ == "__main__":
    main()
