"""``dpstudio project push / pull``, ``dpstudio team ...`` and URLs everywhere, run as a user
would (the real entry point, a real server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.cli import main
from annotator.dataset.densepose_io import import_densepose
from annotator.dataset.store import Project
from tests.dataset.conftest import densepose_doc, save_json
from tests.team.helpers import member_url


def test_push_stats_export_pull_from_the_command_line(
    tmp_path: Path, shared_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "photos"
    doc = save_json(tmp_path / "dp.json", densepose_doc(images, n_images=2, seed=5))
    folder = tmp_path / "proj"
    with Project.create(folder) as project:
        import_densepose(project, doc, images)
    assert main(["project", "push", str(folder), shared_url]) == 0
    out = capsys.readouterr().out
    assert "4 person(s), 2 image file(s)" in out and ":" + shared_url.split(":")[2] not in out
    assert main(["project", "stats", shared_url]) == 0
    assert main(["project", "export", shared_url, "--out", str(tmp_path / "a.json")]) == 0
    assert main(["project", "export", str(folder), "--out", str(tmp_path / "b.json")]) == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert main(["project", "pull", shared_url, str(tmp_path / "copy")]) == 0
    assert (
        main(["project", "export", str(tmp_path / "copy"), "--out", str(tmp_path / "c.json")]) == 0
    )
    assert (tmp_path / "c.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_team_members_from_the_command_line(
    tmp_path: Path,
    shared_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images = tmp_path / "photos"
    doc = save_json(tmp_path / "dp.json", densepose_doc(images, n_images=2, seed=5))
    assert main(["project", "new", shared_url]) == 0
    assert main(["project", "import", shared_url, "--coco", str(doc), "--images", str(images)]) == 0
    monkeypatch.setenv("ALICE_PW", "pw-a")
    assert main(["team", "add", shared_url, "alice", "--password-env", "ALICE_PW"]) == 0
    assert main(["team", "config", shared_url, "--agreement", "0.5", "--gold-rate", "0"]) == 0
    capsys.readouterr()
    alice = member_url(shared_url, "alice", "pw-a")
    assert main(["team", "claim", alice]) == 0
    held = int(capsys.readouterr().out)
    assert main(["team", "status", shared_url]) == 0
    status = capsys.readouterr().out
    assert "todo 4" in status and "alice" in status and "pw-a" not in status
    with Project.open(shared_url) as project:
        assert held in [p.id for p in project.persons()]


def test_wrong_password_is_one_line_and_no_traceback(
    shared_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["project", "new", shared_url]) == 0
    wrong = member_url(shared_url, "studio", "nope")
    assert main(["project", "stats", wrong]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dpstudio project: error: studio@127.0.0.1:")
    assert "password" in err and "nope" not in err and len(err.splitlines()) == 1
