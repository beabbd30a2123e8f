"""A writer killed with SIGKILL at random moments loses nothing it acknowledged."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from annotator.dataset.records import AnswerStatus
from annotator.dataset.store import Project

# Edits of three kinds, each acknowledged on stdout only after its commit returned.
WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from annotator.dataset.records import Box, ImageRecord, PartMask, Person, SamplePoints
    from annotator.dataset.store import Project

    project = Project.open(sys.argv[1])
    start = int(sys.argv[2])
    image = project.images()[0].id
    labels = np.zeros((900, 900), np.uint8)
    person = None
    for n in range(start, start + 100000):
        kind = n % 3
        if kind == 0 or person is None:
            with project.transaction():
                person = project.add_person(Person(image, Box(n, 1.0, 10.0, 10.0)))
                project.set_sample_points(person, SamplePoints([1.0, 2.0], [1.0, 2.0], [1, 1]))
            print("P", person, n, flush=True)
        elif kind == 1:
            labels[100:800, 100:800] = n % 14 + 1
            project.save_part_mask(person, f"a{n}", PartMask(labels))
            print("M", person, f"a{n}", n % 14 + 1, flush=True)
        else:
            project.save_answer(person, 1, f"a{n}", iuv=(3, (n % 1000) / 1000, 0.5))
            print("A", person, f"a{n}", (n % 1000) / 1000, flush=True)
    """
)


def _run_and_kill(folder: Path, start: int, rng: np.random.Generator) -> list[list[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), str(start)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    first = child.stdout.readline()  # the writer runs: kill it at a random moment
    time.sleep(float(rng.uniform(0.05, 0.8)))
    child.send_signal(signal.SIGKILL)
    child.wait()
    lines = [first, *child.stdout.read().splitlines(keepends=True)]
    # a complete line is an acknowledged edit (a line cut by the kill is not)
    return [line.split() for line in lines if line.endswith("\n")]


def _check_acknowledged(project: Project, acks: list[list[str]]) -> None:
    for ack in acks:
        kind, person = ack[0], int(ack[1])
        if kind == "P":
            assert project.person(person).box.x == float(ack[2])
            assert len(project.sample_points(person)) == 2
        elif kind == "M":
            mask = project.part_mask(person, ack[2])
            assert mask is not None and mask.labels.shape == (700, 700)
            assert int(mask.labels[0, 0]) == int(ack[3])
        else:
            answers = project.answers(person, ack[2])
            assert answers is not None and answers.status[1] == AnswerStatus.ANSWERED
            assert answers.u[1] == float(ack[3])


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_edit(tmp_path: Path) -> None:
    from annotator.dataset.records import ImageRecord

    with Project.create(tmp_path / "p") as project:
        project.add_image(ImageRecord("a.jpg", "a.jpg", "0" * 64, 1000, 1000))
    rng = np.random.default_rng(1)
    all_acks: list[list[str]] = []
    start = 0
    for _ in range(5):
        acks = _run_and_kill(tmp_path / "p", start, rng)
        assert acks, "the writer acknowledged nothing"
        all_acks += acks
        start += 100000
        with Project.open(tmp_path / "p") as project:  # the lock died with the writer
            assert project.integrity_check() == "ok"
            _check_acknowledged(project, all_acks)
            persons = sum(a[0] == "P" for a in all_acks)
            assert persons <= project.stats().persons <= persons + 5  # + edits in flight
    assert len(all_acks) > 50, f"only {len(all_acks)} edits: the test proves little"
