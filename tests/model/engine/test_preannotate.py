"""``dpstudio model preannotate``: a checkpoint's proposals stored in a project, never over
a person's work."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.dataset.store import Project

from .conftest import dpstudio

pytestmark = pytest.mark.slow


def test_preannotate_stores_machine_made_proposals(runs: dict[str, Path], tmp_path: Path):
    from annotator.synth.demo import build_demo_project

    project_dir = tmp_path / "demo"
    build_demo_project(project_dir, count=2, size=128)
    with Project.open(project_dir) as project:
        before = project.stats()
    done = dpstudio(
        "model",
        "preannotate",
        str(project_dir),
        "--checkpoint",
        str(runs["rcnn"]),
        "--score-threshold",
        "0.0",
        "--no-find",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "proposals stored for" in done.stdout
    with Project.open(project_dir, readonly=True) as project:
        pending = project.pending_proposals()
        assert pending, "the boxed persons to do got proposals"
        assert all(p.model.startswith("model:") for p in pending.values())
        assert project.stats().persons == before.persons  # --no-find: no new persons
    done = dpstudio(
        "model", "preannotate", str(project_dir), "--checkpoint", str(tmp_path / "no-run")
    )
    assert done.returncode == 1 and "no such checkpoint" in done.stderr
