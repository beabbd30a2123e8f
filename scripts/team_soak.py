"""Eight simulated annotators, each in its own process, work one minute on one shared project.

The full-length version of ``tests/team/test_soak.py`` (which runs 12 seconds in ``make
test``): a throwaway PostgreSQL server, a project of ``--persons`` persons (5 % of them gold
tasks, a quarter of tasks answered twice, gold tasks mixed in at 10 %), then the checker of
annotator/dataset/team_sim.py: no task held by more annotators at once than it needs, no
acknowledged answer lost, every write in another member's name refused by the server.

Usage::

    python scripts/team_soak.py [--seconds 60] [--annotators 8] [--think 0.05]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dataset import build_input


def build(url: str, folder: Path, persons: int, names: list[str]) -> None:
    """A shared project with gold tasks and members."""
    from annotator.dataset.densepose_io import import_densepose
    from annotator.dataset.records import GoldTruth, TaskState
    from annotator.dataset.store import Project
    from annotator.dataset.store_shared import SharedProject

    source = build_input(folder, persons, 8, 2, 0)
    with Project.create(url) as project:
        assert isinstance(project, SharedProject)
        import_densepose(
            project, source, folder / "images", surface_from_iuv=None, state=TaskState.TODO
        )
        gold = GoldTruth(
            x0=0,
            y0=0,
            source="soak",
            labels=np.ones((4, 4), np.uint8),
            face=np.zeros((4, 4), np.int32),
            bary=np.full((4, 4, 3), 1 / 3, np.float32),
        )
        with project.transaction():
            for person in project.persons()[:: max(1, 20)]:
                assert person.id is not None
                project.set_gold(person.id, gold)
        project.configure(agreement_share=0.25, gold_rate=0.1)
        for name in names:
            project.add_member(name, "annotator", "soak-pw")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--annotators", type=int, default=8)
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--think", type=float, default=0.05, help="seconds between clicks")
    args = parser.parse_args()
    from annotator.dataset.pg_server import LocalServer
    from annotator.dataset.store import Project
    from annotator.dataset.store_shared import SharedProject
    from annotator.dataset.team_sim import SimConfig, check, run

    folder = Path(tempfile.mkdtemp(prefix="team_soak_"))
    server = LocalServer.create()
    try:
        server.start()
        url = server.url("soak")
        names = [f"ann{k}" for k in range(args.annotators)]
        build(url, folder, args.persons, names)
        ctx = multiprocessing.get_context("spawn")
        logs = {name: folder / f"{name}.jsonl" for name in names}
        procs = []
        for k, name in enumerate(names):
            config = SimConfig(
                server.url("soak", name, "soak-pw"), name, names[(k + 1) % len(names)],
                logs[name], args.seconds, think=args.think, seed=k,
            )  # fmt: skip
            procs.append(ctx.Process(target=run, args=(config,)))
        t0 = time.perf_counter()
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        took = time.perf_counter() - t0
        with Project.open(url) as admin:
            assert isinstance(admin, SharedProject)
            found = check(admin, logs)
        ok = found.answers_lost == found.overlaps == found.cross_accepted == 0
        print(
            f"{args.annotators} annotators, {args.seconds:.0f} s of work ({took:.0f} s in all), "
            f"{args.persons} persons:\n"
            f"  tasks finished {found.tasks_finished}, answers acknowledged {found.answers_acked}"
            f"\n  answers lost {found.answers_lost}, persons held by too many at once "
            f"{found.overlaps}, answers without a lease {found.unleased_answers}\n"
            f"  writes in another's name refused {found.cross_refused}, accepted "
            f"{found.cross_accepted}\n  {'PASS' if ok else 'FAIL'}"
        )
        if not ok:
            raise SystemExit(1)
    finally:
        server.remove()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
