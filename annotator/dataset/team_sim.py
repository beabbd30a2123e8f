"""Simulated annotators of a shared project, one per process: the soak test and the benchmark.

Each one logs in as its own member, claims the next task, answers every sample point (one
committed ``save_answer`` per click, as the app saves), marks the task done and claims the
next, until its time is up. Every acknowledged save is written to its log (a JSON line,
flushed) only after the server acknowledged it, so a checker can verify that nothing
acknowledged was lost, whatever killed the process or the server. It also tries once to
write in another member's name, which the server must refuse. A lost connection (server
restarted) is retried with a fresh connection; the task held comes back with
``claim_next``.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from annotator.dataset.pg import AccessDeniedError, ServerGoneError
from annotator.dataset.records import TaskState
from annotator.dataset.store import Project
from annotator.dataset.store_shared import SharedProject


@dataclass(frozen=True)
class SimConfig:
    """What one simulated annotator does.

    Attributes:
        url: the shared project, logged in as this annotator.
        name: the annotator (its login role).
        other: another member's name, for the forbidden write.
        log: its JSON-lines log.
        seconds: how long it works.
        lease_seconds: the lease of each claim.
        think: seconds between clicks (0: as fast as the server answers).
        seed: its random numbers.
        max_points: answer at most this many points of a task, then finish it (0: all).
    """

    url: str
    name: str
    other: str
    log: Path
    seconds: float
    lease_seconds: float = 30.0
    think: float = 0.0
    seed: int = 0
    max_points: int = 0


def run(config: SimConfig) -> None:
    """Work until ``config.seconds`` have passed (a process's entry point)."""
    rng = random.Random(config.seed)
    deadline = time.monotonic() + config.seconds
    with config.log.open("a", buffering=1) as log:
        project: SharedProject | None = None
        tried_other = False
        while time.monotonic() < deadline:
            try:
                if project is None:
                    opened = Project.open(config.url)
                    assert isinstance(opened, SharedProject)
                    project = opened
                if not tried_other:
                    tried_other = _try_other(project, config, log)
                if not _one_task(project, config, rng, log, deadline):
                    time.sleep(0.05)
            except ServerGoneError:
                _write(log, {"event": "gone", "t": time.time()})
                if project is not None:
                    project.close()
                project = None
                time.sleep(0.2)
        if project is not None:
            project.close()


def _one_task(
    project: SharedProject, config: SimConfig, rng: random.Random, log: TextIO, deadline: float
) -> bool:
    t0 = time.perf_counter()
    person = project.claim_next(config.lease_seconds)
    _write(log, {"event": "claim", "person": person, "ms": (time.perf_counter() - t0) * 1e3,
                 "t": time.time()})  # fmt: skip
    if person is None:
        return False
    points = project.sample_points(person)
    n = 0 if points is None else len(points)
    n = min(n, config.max_points) if config.max_points else n
    done = project.answers(person, config.name)
    for index in range(n):
        if done is not None and done.status[index]:
            continue  # answered before a lost connection
        if time.monotonic() > deadline:
            return True
        iuv = (rng.randint(1, 24), round(rng.random(), 6), round(rng.random(), 6))
        t0 = time.perf_counter()
        project.save_answer(person, index, config.name, iuv=iuv)
        _write(log, {"event": "answer", "person": person, "index": index, "iuv": iuv,
                     "ms": (time.perf_counter() - t0) * 1e3})  # fmt: skip
        if config.think:
            time.sleep(config.think)
    project.set_state(person, TaskState.CORRESPONDED, annotator=config.name)
    project.finish(person)
    _write(log, {"event": "finish", "person": person, "t": time.time()})
    return True


def _try_other(project: SharedProject, config: SimConfig, log: TextIO) -> bool:
    """Write an answer in another member's name; log whether the server refused it."""
    person = project.claim_next(config.lease_seconds)
    if person is None:
        return False
    try:
        project.save_answer(person, 0, config.other, iuv=(1, 0.5, 0.5))
    except AccessDeniedError:
        refused = True
    else:
        refused = False
    _write(log, {"event": "cross", "person": person, "refused": refused})
    return True


def _write(log: TextIO, record: dict[str, object]) -> None:
    log.write(json.dumps(record) + "\n")


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a log (a process killed mid-line leaves a partial one)."""
    out: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


@dataclass(frozen=True)
class SoakReport:
    """What a checker found after simulated annotators worked on a project.

    Attributes:
        tasks_finished: finish events logged.
        answers_acked: answers the server acknowledged (logged).
        answers_lost: acknowledged answers not on the server with the logged value.
        overlaps: persons held by more annotators at once than they need.
        unleased_answers: answers of the simulated annotators on persons they never held.
        cross_refused: forbidden writes the server refused.
        cross_accepted: forbidden writes the server accepted (must be 0).
        claim_ms: every claim's latency (milliseconds).
        answer_ms: every acknowledged save's latency (milliseconds).
    """

    tasks_finished: int
    answers_acked: int
    answers_lost: int
    overlaps: int
    unleased_answers: int
    cross_refused: int
    cross_accepted: int
    claim_ms: list[float]
    answer_ms: list[float]


def check(admin: SharedProject, logs: dict[str, Path], lease_seconds: float = 30.0) -> SoakReport:
    """Compare the annotators' logs (name -> log file) with what the server holds.

    A hold lasts from the first claim of a task to its finish, or to the expiry of the last
    claim's lease (a claim of the held task renews it): the server never gives a task to
    more annotators than it needs while their leases run.
    """
    records = {name: read_log(path) for name, path in logs.items()}
    acked: dict[tuple[int, str, int], list[float]] = {}
    spans: dict[int, list[tuple[float, float]]] = {}
    claim_ms: list[float] = []
    answer_ms: list[float] = []
    cross = [0, 0]
    finished = 0
    for name, events in records.items():
        held: dict[int, list[float]] = {}  # person -> [first claim, last claim]
        for e in events:
            kind = e["event"]
            if kind == "answer":
                key = (int(e["person"]), name, int(e["index"]))
                acked[key] = [float(x) for x in e["iuv"]]
                answer_ms.append(float(e["ms"]))
            elif kind == "claim":
                claim_ms.append(float(e["ms"]))
                if e["person"] is not None:
                    held.setdefault(int(e["person"]), [float(e["t"])] * 2)[1] = float(e["t"])
            elif kind == "finish":
                person = int(e["person"])
                first, last = held.pop(person, [0.0, 0.0])
                end = min(float(e["t"]), last + lease_seconds) if last else float(e["t"])
                spans.setdefault(person, []).append((first, end))
                finished += 1
            elif kind == "cross":
                cross[0 if e["refused"] else 1] += 1
        for person, (first, last) in held.items():  # never finished (a killed client)
            spans.setdefault(person, []).append((first, last + lease_seconds))
    lost = 0
    for (person, name, index), iuv in acked.items():
        answers = admin.answers(person, name)
        if answers is None or [answers.i[index], answers.u[index], answers.v[index]] != iuv:
            lost += 1
    share = float(admin.meta("team.agreement_share") or 0)
    gold = set(admin.gold_person_ids())
    overlaps = 0
    for person, intervals in spans.items():
        copies = int(admin._scalar("SELECT dp_copies(?, ?)", (person, share)))
        limit = len(intervals) if person in gold else copies
        overlaps += int(_most_at_once(intervals) > limit)
    unleased = admin._scalar(
        "SELECT COUNT(*) FROM answers a JOIN annotators n ON n.id = a.annotator_id "
        "WHERE n.name = ANY(?) AND NOT EXISTS (SELECT 1 FROM leases l "
        "WHERE l.person_id = a.person_id AND l.annotator_id = a.annotator_id)",
        (sorted(logs),),
    )
    return SoakReport(
        finished, len(acked), lost, overlaps, unleased, cross[0], cross[1], claim_ms, answer_ms
    )


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one time."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most
