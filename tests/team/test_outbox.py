"""The app's side of a shared project: edits acknowledged locally, sent behind the scenes,
kept through a server outage and an app restart; the held task readable meanwhile."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from annotator.dataset.pg_server import LocalServer
from annotator.dataset.records import PartMask, TaskState
from annotator.dataset.store import Project
from annotator.dataset.store_journaled import JournaledProject
from annotator.dataset.store_outbox import wait_until_sent
from tests.team.helpers import member_url, team_project


def _open(url: str, states: list[str]) -> JournaledProject:
    project = JournaledProject.open_url(url)
    project.start_outbox(on_state=lambda state, waiting: states.append(state), retry=0.2)
    return project


def test_edits_survive_a_server_outage_and_an_app_restart(
    pg_server: LocalServer, shared_url: str, tmp_path: Path
) -> None:
    team_project(shared_url, tmp_path, persons=3, gold=0, points=4, members={"alice": "annotator"})
    alice_url = member_url(shared_url, "alice")
    states: list[str] = []
    app = _open(alice_url, states)
    held = app.claim_next()
    assert held is not None
    app.save_answer(held, 0, "alice", iuv=(2, 0.1, 0.2))
    assert wait_until_sent(app.outbox, 10)
    points = app.sample_points(held)  # the app reads the task it shows
    app.person(held)
    app.answers(held, "alice")

    pg_server.kill()  # the server goes away mid-task
    app.save_answer(held, 1, "alice", iuv=(3, 0.3, 0.4))  # acknowledged at once, locally
    labels = np.zeros((20, 20), np.uint8)
    labels[2:10, 3:12] = 5
    app.save_part_mask(held, "alice", PartMask(labels, 4, 5))
    deadline = time.monotonic() + 10
    while "offline" not in states and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "offline" in states
    mine = app.answers(held, "alice")  # the held task still reads, own edits included
    assert mine is not None and mine.status.tolist() == [1, 1, 0, 0]
    again_points = app.sample_points(held)
    assert points is not None and again_points is not None
    assert np.array_equal(again_points.x, points.x)
    assert app.part_mask(held, "alice") is not None
    app.set_state(held, TaskState.SEGMENTED)
    assert app.person(held).state == TaskState.SEGMENTED
    app.close()  # the app is closed (or dies) with edits still waiting
    pg_server.start()

    states.clear()
    again = _open(alice_url, states)  # next start: the waiting edits go out
    assert wait_until_sent(again.outbox, 20)
    again.close()
    with Project.open(shared_url, readonly=True) as admin:
        answers = admin.answers(held, "alice")
        assert answers is not None and answers.status.tolist() == [1, 1, 0, 0]
        assert answers.i.tolist()[:2] == [2, 3]
        mask = admin.part_mask(held, "alice")
        assert mask is not None and int(mask.labels.max()) == 5
        assert admin.person(held).state == TaskState.SEGMENTED


def test_a_refused_edit_is_reported_not_retried(shared_url: str, tmp_path: Path) -> None:
    ids = team_project(shared_url, tmp_path, persons=2, gold=0, members={"alice": "annotator"})
    project = JournaledProject.open_url(member_url(shared_url, "alice"))
    refused: list[str] = []
    project.start_outbox(on_rejected=lambda edit, why: refused.append(why), retry=0.2)
    held = project.claim_next()
    other = next(p for p in ids if p != held)
    project.save_answer(other, 0, "alice", iuv=(1, 0.5, 0.5))  # a task she does not hold
    assert wait_until_sent(project.outbox, 10)
    project.close()
    assert len(refused) == 1 and "row-level security" in refused[0]
