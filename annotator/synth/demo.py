"""The built-in demo project: synthetic people ready to annotate, some of them gold tasks.

On a fresh machine the app (and ``dpstudio demo``) calls :func:`ensure_demo_project`, which
builds the project once in ``data_dir()/demo`` and returns its folder every later time.

Contents: :data:`DEMO_IMAGES` images of :data:`DEMO_SIZE` x :data:`DEMO_SIZE` pixels with one
to three people each (always the same: seed :data:`DEMO_SEED`). Every person with enough
visible body for DensePose annotation is pre-boxed as a task (box, mask-derived area, COCO
keypoints and segmentation), state *to do*; one in three of them (the 1st, 4th, 7th... in
image order) is a gold task whose exact truth (part labels, surface points, I, U, V over its
box) is stored with it, for measuring annotators.

Building is atomic: the project is made in a hidden temporary folder next to
``data_dir()/demo`` and renamed into place when complete, so a run killed half-way leaves
no half project (its leftovers are removed by the next call). Two processes building at
once are harmless: the first rename wins and the other's copy is discarded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from annotator.dataset.records import GoldTruth
    from annotator.dataset.store import Project
    from annotator.synth.render_scene import PersonTruth, SynthSample

DEMO_SEED = 2018
DEMO_IMAGES = 12
DEMO_SIZE = 768
DEMO_PEOPLE = (1, 3)
#: Every GOLD_EVERY-th pre-boxed person is a gold task.
GOLD_EVERY = 3
DEMO_FOLDER = "demo"
_BUILD_PREFIX = ".demo-build-"

Progress = Callable[[int, int], None]


class DemoCancelled(Exception):
    """``should_stop`` asked to stop before the demo project was complete."""


def demo_path() -> Path:
    """Where the demo project lives (``data_dir()/demo``)."""
    from annotator.paths import data_dir

    return data_dir() / DEMO_FOLDER


def ensure_demo_project(
    progress: Progress | None = None, should_stop: Callable[[], bool] | None = None
) -> Path:
    """The demo project's folder, built first if there is none yet (about 10-30 s).

    Safe to call from a worker thread (it makes its own OpenGL context in that thread).

    Args:
        progress: called as ``progress(done, total)`` while images are rendered.
        should_stop: polled between images; when it returns True the partial build is
            removed and :class:`DemoCancelled` is raised.

    Returns:
        The project folder (open it with ``annotator.dataset.store.Project.open``).
    """
    final = demo_path()
    if _is_project(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(final.parent)
    build = Path(tempfile.mkdtemp(prefix=f"{_BUILD_PREFIX}{os.getpid()}-", dir=final.parent))
    try:
        build.chmod(0o755)  # mkdtemp makes it private; the project is an ordinary folder
        build_demo_project(build, progress=progress, should_stop=should_stop)
        try:
            os.rename(build, final)
        except OSError:
            if not _is_project(final):  # not a lost race: a real problem
                raise
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    return final


def _is_project(folder: Path) -> bool:
    from annotator.dataset.store import project_file

    return project_file(folder).is_file()


def _remove_stale_builds(parent: Path) -> None:
    """Remove temporary build folders whose process is gone (a killed first run)."""
    for leftover in parent.glob(f"{_BUILD_PREFIX}*"):
        pid = leftover.name[len(_BUILD_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_demo_project(
    folder: Path,
    *,
    count: int | None = None,
    size: int | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Render the demo images into ``folder`` and create its project there (``count``
    images of ``size`` pixels; default :data:`DEMO_IMAGES` of :data:`DEMO_SIZE`)."""
    from annotator.dataset.store import Project
    from annotator.synth.render_scene import SceneRenderer
    from annotator.synth.scene import sample_scene

    count = DEMO_IMAGES if count is None else count
    size = DEMO_SIZE if size is None else size
    (folder / "images").mkdir(parents=True, exist_ok=True)
    project = Project.create(folder, body="anny")
    try:
        project.set_meta("demo", f"seed={DEMO_SEED} images={count} size={size}")
        gold_counter = 0
        with SceneRenderer(size, size) as renderer:
            for k in range(count):
                if should_stop is not None and should_stop():
                    raise DemoCancelled("demo project build cancelled")
                scene = sample_scene(DEMO_SEED, k, width=size, height=size, people=DEMO_PEOPLE)
                sample = renderer.render(scene)
                gold_counter = _add_sample(project, folder, sample, gold_counter)
                if progress is not None:
                    progress(k + 1, count)
        project.checkpoint()
    finally:
        project.close()


def _add_sample(project: Project, folder: Path, sample: SynthSample, gold_counter: int) -> int:
    """Write one image, add it with its pre-boxed persons; returns the updated counter."""
    import cv2

    from annotator.dataset.records import Box, ImageRecord, Person
    from annotator.synth.annotate import coco_keypoints, segmentation_rle

    name = f"{sample.scene.index:06d}.jpg"
    ok, data = cv2.imencode(".jpg", sample.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise OSError(f"cannot encode {name}")
    (folder / "images" / name).write_bytes(data.tobytes())
    image_id = project.add_image(
        ImageRecord(
            path=f"images/{name}",
            file_name=name,
            sha256=hashlib.sha256(data.tobytes()).hexdigest(),
            width=sample.scene.width,
            height=sample.scene.height,
            id=sample.scene.index + 1,
        )
    )
    for person in sample.persons:
        if not person.annotated or person.box is None:
            continue
        pid = project.add_person(
            Person(
                image_id=image_id,
                box=Box(*person.box),
                area=float(person.pixels),
                segmentation=segmentation_rle(sample.instance == person.instance),
                keypoints=coco_keypoints(person.keypoints),
                num_keypoints=int(np.count_nonzero(person.keypoints[:, 2])),
            )
        )
        if gold_counter % GOLD_EVERY == 0:
            project.set_gold(pid, gold_truth(sample, person))
        gold_counter += 1
    return gold_counter


def gold_truth(sample: SynthSample, person: PersonTruth) -> GoldTruth:
    """The exact truth of one person over its box, as a project's gold record."""
    from annotator.dataset.records import GoldTruth

    assert person.box is not None
    x, y, w, h = (int(v) for v in person.box)
    region = (slice(y, y + h), slice(x, x + w))
    own = sample.instance[region] == person.instance
    skin = own & (sample.face[region] >= 0)
    return GoldTruth(
        x0=x,
        y0=y,
        labels=np.where(own, sample.parts[region], 0).astype(np.uint8),
        face=np.where(skin, sample.face[region], -1).astype(np.int32),
        bary=np.where(skin[..., None], sample.bary[region], 0).astype(np.float32),
        i=np.where(skin, sample.i[region], 0).astype(np.uint8),
        u=np.where(skin, sample.u[region], 0).astype(np.float32),
        v=np.where(skin, sample.v[region], 0).astype(np.float32),
        source=(
            f"dpstudio synth (anny) seed={sample.scene.seed} image={sample.scene.index} "
            f"person={person.instance}"
        ),
    )
