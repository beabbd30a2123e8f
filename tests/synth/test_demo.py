"""The demo project: built once, atomically, with pre-boxed persons and gold tasks."""

import os
import threading

import numpy as np
import pytest

from annotator.dataset.store import Project
from annotator.synth import demo

pytestmark = pytest.mark.slow


@pytest.fixture()
def small_demo(monkeypatch):
    monkeypatch.setattr(demo, "DEMO_IMAGES", 3)
    monkeypatch.setattr(demo, "DEMO_SIZE", 256)


def test_demo_project_opens_and_holds_gold_tasks(data_dir, small_demo):
    calls = []
    result = {}

    def build():  # the app calls it from a worker thread
        result["path"] = demo.ensure_demo_project(progress=lambda d, t: calls.append((d, t)))

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()
    path = result["path"]
    assert path == data_dir / "demo"
    assert calls[-1] == (3, 3)
    with Project.open(path, readonly=True) as project:
        images = project.images()
        persons = project.persons()
        gold = project.gold_person_ids()
        assert len(images) == 3 and all(project.image_file(im).is_file() for im in images)
        assert len(persons) >= 3
        assert len(gold) == -(-len(persons) // demo.GOLD_EVERY)
        for pid in gold:
            truth = project.gold(pid)
            person = project.person(pid)
            assert (truth.x0, truth.y0) == (person.box.x, person.box.y)
            assert truth.labels.shape == (person.box.h, person.box.w)
            skin = truth.face >= 0
            assert skin.any() and np.all(truth.i[skin] > 0)
            assert np.all(truth.labels[skin] > 0)
    # a second call reuses it
    assert demo.ensure_demo_project() == path
    assert not list(data_dir.glob(".demo-build-*"))


def test_a_cancelled_or_killed_build_leaves_no_half_project(data_dir, small_demo):
    with pytest.raises(demo.DemoCancelled):
        demo.ensure_demo_project(should_stop=lambda: True)
    assert not (data_dir / "demo").exists()
    assert not list(data_dir.glob(".demo-build-*"))
    # leftovers of a killed run (a process that no longer exists) are cleaned up
    stale = data_dir / ".demo-build-999999999-abc"
    (stale / "images").mkdir(parents=True)
    mine = data_dir / f".demo-build-{os.getpid()}-live"
    mine.mkdir()
    calls = iter([False, True])
    with pytest.raises(demo.DemoCancelled):
        demo.ensure_demo_project(should_stop=lambda: next(calls))
    assert not stale.exists() and mine.exists()
