"""The app on a shared project: it opens a postgresql:// URL, shows the server state, claims
the next task from the Team dock, and keeps edits through a server outage."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.dataset.pg_server import LocalServer
from annotator.dataset.records import TaskState
from annotator.dataset.store import Project
from tests.team.helpers import member_url, team_project

pytestmark = pytest.mark.gui


def test_annotator_works_through_an_outage(
    window, qtbot, pg_server: LocalServer, shared_url: str, tmp_path: Path
) -> None:
    team_project(shared_url, tmp_path, persons=3, gold=1, points=4, members={"alice": "annotator"})
    assert window.projects.open_path(member_url(shared_url, "alice"))
    qtbot.waitUntil(window.canvas.has_image, timeout=10000)  # fetched from the server
    assert window.session.annotator == "alice"
    assert window.status.server.text() == "Server: online, all sent"

    window.team_dock.show()
    qtbot.waitUntil(lambda: window.team_dock.table.rowCount() >= 0, timeout=5000)
    with qtbot.waitSignal(window.team_dock.taskClaimed, timeout=10000) as claimed:
        window.team_dock.next_button.click()
    held = claimed.args[0]
    qtbot.waitUntil(lambda: window.navigator.person_id == held, timeout=5000)

    session = window.session
    session.set_state(held, TaskState.SEGMENTED)
    assert session.project.sample_points(held) is not None  # stage 2 shows the task's points
    pg_server.kill()
    session.project.save_answer(held, 0, "alice", iuv=(4, 0.25, 0.5))  # acknowledged locally
    qtbot.waitUntil(lambda: "OFFLINE" in window.status.server.text(), timeout=15000)
    assert session.person(held).state == TaskState.SEGMENTED  # the held task still reads
    pg_server.start()
    qtbot.waitUntil(
        lambda: window.status.server.text() == "Server: online, all sent", timeout=20000
    )
    with Project.open(shared_url, readonly=True) as admin:
        answers = admin.answers(held, "alice")
        assert answers is not None and answers.i[0] == 4
        assert admin.person(held).state == TaskState.SEGMENTED
