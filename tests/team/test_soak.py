"""Simulated annotators in separate processes against one real server: nothing held twice,
nothing acknowledged lost, forbidden writes refused -- also when clients and the server are
killed at random moments. ``scripts/team_soak.py`` runs the full minute (README)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

from annotator.dataset.pg_server import LocalServer
from annotator.dataset.store import Project
from annotator.dataset.store_shared import SharedProject
from annotator.dataset.team_sim import SimConfig, check, read_log, run
from tests.team.helpers import member_url, team_project

NAMES = [f"ann{k}" for k in range(8)]


def _start(url: str, tmp_path: Path, names: list[str], seconds: float, lease: float = 30.0):
    ctx = multiprocessing.get_context("spawn")
    procs, logs = {}, {}
    for k, name in enumerate(names):
        logs[name] = tmp_path / f"{name}.jsonl"
        config = SimConfig(
            url=member_url(url, name),
            name=name,
            other=names[(k + 1) % len(names)],
            log=logs[name],
            seconds=seconds,
            lease_seconds=lease,
            seed=k,
        )
        procs[name] = ctx.Process(target=run, args=(config,), daemon=True)
        procs[name].start()
    return procs, logs


def test_eight_annotators_at_once(shared_url: str, tmp_path: Path) -> None:
    team_project(
        shared_url,
        tmp_path,
        persons=400,
        gold=20,
        points=3,
        members=dict.fromkeys(NAMES, "annotator"),
    )
    with Project.open(shared_url) as admin:
        assert isinstance(admin, SharedProject)
        admin.configure(agreement_share=0.25, gold_rate=0.1)
    procs, logs = _start(shared_url, tmp_path, NAMES, seconds=12.0)
    for proc in procs.values():
        proc.join(120)
        assert proc.exitcode == 0
    with Project.open(shared_url) as admin:
        assert isinstance(admin, SharedProject)
        report = check(admin, logs)
    assert report.tasks_finished > 8 and report.answers_acked > 24
    assert report.answers_lost == 0
    assert report.overlaps == 0
    assert report.unleased_answers == 0
    assert (report.cross_refused, report.cross_accepted) == (8, 0)


def test_killed_clients_and_server_lose_nothing(
    pg_server: LocalServer, shared_url: str, tmp_path: Path
) -> None:
    names = NAMES[:4]
    ids = team_project(
        shared_url,
        tmp_path,
        persons=60,
        gold=0,
        points=4,
        members=dict.fromkeys(names, "annotator"),
    )
    procs, logs = _start(shared_url, tmp_path, names, seconds=14.0, lease=3.0)
    rng = random.Random(7)
    time.sleep(rng.uniform(1.5, 3.0))
    for name in names[:2]:  # two annotators' apps die at random moments
        time.sleep(rng.uniform(0.0, 0.8))
        os.kill(procs[name].pid, signal.SIGKILL)
    time.sleep(rng.uniform(0.5, 1.5))
    pg_server.kill()  # and so does the server, then it comes back
    time.sleep(1.0)
    pg_server.start()
    for proc in procs.values():
        proc.join(120)
    assert [procs[n].exitcode for n in names] == [-signal.SIGKILL] * 2 + [0, 0]
    with Project.open(shared_url) as admin:
        assert isinstance(admin, SharedProject)
        report = check(admin, logs, lease_seconds=3.0)
        assert report.answers_lost == 0 and report.overlaps == 0
        assert report.answers_acked > 0
        assert any(e["event"] == "gone" for n in names[2:] for e in read_log(logs[n]))
        # The dead clients' leases come back after expiry: a new annotator gets their tasks.
        dead_held = {
            int(e["person"])
            for n in names[:2]
            for e in read_log(logs[n])
            if e["event"] == "claim" and e["person"] is not None
        }
        admin.add_member("late", "annotator", "pw")
    time.sleep(3.2)
    with Project.open(member_url(shared_url, "late", "pw")) as late:
        assert isinstance(late, SharedProject)
        got = set()
        while (person := late.claim_next(60)) is not None:
            late.finish(person)
            got.add(person)
    finished = {
        int(e["person"]) for n in names for e in read_log(logs[n]) if e["event"] == "finish"
    }
    assert got | finished == set(ids)
    assert dead_held - finished <= got
