"""DensePose-COCO import and export (DESIGN.md section 4, detectron2's loader unchanged).

Export writes, for every image that holds at least one person whose task reached the chosen
state, every person of that image (plain COCO persons keep detectors from learning that
unannotated people are background, as in the official files). DensePose fields go to
persons that reached the state:

* ``dp_masks`` (14 RLEs over the box, 256 x 256) for tasks at least *segmented*;
* ``dp_x``, ``dp_y``, ``dp_I``, ``dp_U``, ``dp_V`` for tasks at least *corresponded* (the five
  lists may be empty if every point was "not visible"). For each point the latest answer of
  any person counts (or the chosen annotator's), else a model's proposed answer (a model's
  answer never hides a person's, whatever their times); "not visible" and unanswered points
  are left out. ``confirmed_only`` leaves out what models proposed and nobody accepted: the
  persons they found, their masks and their answers (docs/adr/0009).
  ``dp_x = (x - box_x) / box_w * 255`` (the official notebook's convention, which maps 0 and
  255 to the box edges), rounded to 4 decimals so that export, import and export again give
  the same file.

Import is the inverse: images, persons (ids kept), ``dp_masks`` stored verbatim, points
with their I/U/V as one annotator's answers, and task states: *corresponded* (or
``state``) with points, *segmented* with masks only, *to do* otherwise. Surface points come
from (I, U, V) through the body's chart atlas when :mod:`annotator.surface.atlas` is
available (else they stay unknown: the stored I/U/V are what export writes).

The output file is written to a temporary file and renamed: a failed export leaves the
previous file intact.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

from annotator.dataset import blobs, jsonio
from annotator.dataset.coco_import import (
    ImportPlan,
    ImportReport,
    Verify,
    plan_coco,
    write_plan,
)
from annotator.dataset.records import (
    Answers,
    AnswerStatus,
    MaskFrame,
    Person,
    TaskState,
    is_machine,
)
from annotator.dataset.store_tasks import ExportItem
from annotator.surface.parts import COCO_KEYPOINTS, COCO_SKELETON, FINE_TO_COARSE
from annotator.surface.points import SurfacePoints

if TYPE_CHECKING:
    from annotator.dataset.store import Project

Progress = Callable[[str, int, int], None]
SurfaceFromIuv = Callable[[np.ndarray, np.ndarray, np.ndarray], SurfacePoints]

DP_DECIMALS = 4

#: The COCO person category with its 17 keypoints and skeleton (1-based keypoint numbers).
PERSON_CATEGORY: dict[str, Any] = {
    "supercategory": "person",
    "id": 1,
    "name": "person",
    "keypoints": list(COCO_KEYPOINTS),
    "skeleton": [list(pair) for pair in COCO_SKELETON],
}


# -- import --------------------------------------------------------------------------------


def atlas_surface_from_iuv(body: str) -> SurfaceFromIuv | None:
    """(I, U, V) -> surface points through the body's chart atlas, or None without one."""
    try:
        from annotator.surface.atlas import load_atlas
    except ImportError:
        return None
    return load_atlas(body).from_iuv


def import_densepose(
    project: Project,
    json_path: str | Path,
    images_folder: str | Path,
    *,
    annotator: str = "imported",
    state: TaskState = TaskState.CORRESPONDED,
    verify: Verify = "header",
    skip_missing: bool = False,
    surface_from_iuv: SurfaceFromIuv | Literal["atlas"] | None = "atlas",
    progress: Progress | None = None,
) -> ImportReport:
    """Import a DensePose-COCO file (ours or the official ones) for review and correction.

    Args:
        project: an open, writable project.
        json_path: the DensePose-COCO JSON file.
        images_folder: the folder its ``file_name`` entries are relative to.
        annotator: whose answers and masks the imported data become.
        state: task state of persons with DensePose points.
        verify: "header" or "decode": how closely to check the images.
        skip_missing: leave out images missing from the folder instead of failing.
        surface_from_iuv: (I, U, V) -> surface points; "atlas" uses the project's body
            atlas when available; None leaves surface points unknown.
        progress: called as ``progress(stage, done, total)``.

    Raises:
        InputError: listing every problem; the project is unchanged.
    """
    plan = plan_coco(project, json_path, images_folder, verify, skip_missing, progress)
    if surface_from_iuv == "atlas":
        surface_from_iuv = atlas_surface_from_iuv(project.body)
    states = [_imported_state(ann, state) for ann, _ in plan.persons]
    with project.transaction():
        write_plan(project, plan, states)
        masks = [(_plan_id(p), ann["dp_masks"]) for ann, p in plan.persons if "dp_masks" in ann]
        project.add_dp_masks(masks, annotator)
        plan.report.points = _add_points(project, plan, annotator, surface_from_iuv)
    plan.report.masks = len(masks)
    plan.report.densepose = sum(1 for ann, _ in plan.persons if "dp_x" in ann)
    if plan.report.points > 100_000:
        project.checkpoint()
    return plan.report


def _plan_id(person: Person) -> int:
    """A planned person's id (its annotation's id, always set by the COCO reader)."""
    assert person.id is not None
    return person.id


def _imported_state(ann: dict[str, Any], state: TaskState) -> TaskState:
    if "dp_x" in ann:
        return state
    return TaskState.SEGMENTED if "dp_masks" in ann else TaskState.TODO


def _add_points(
    project: Project, plan: ImportPlan, annotator: str, surface_from_iuv: SurfaceFromIuv | None
) -> int:
    """Store the points and answers of every person with DensePose points; return the count.

    All persons at once, as columns: ``x = box_x + dp_x / 255 * box_w`` in image pixels.
    """
    rows = [(ann, person) for ann, person in plan.persons if "dp_x" in ann]
    if not rows:
        return 0
    lengths = np.fromiter((len(ann["dp_x"]) for ann, _ in rows), np.int64, len(rows))
    total = int(lengths.sum())
    columns = {
        key: np.fromiter(
            itertools.chain.from_iterable(ann[key] for ann, _ in rows), np.float64, total
        )
        for key in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")
    }
    boxes = np.array([person.box.as_list() for _, person in rows]).repeat(lengths, axis=0)
    i = columns["dp_I"].astype(np.int64)
    points = blobs.point_records(
        boxes[:, 0] + columns["dp_x"] / 255.0 * boxes[:, 2],
        boxes[:, 1] + columns["dp_y"] / 255.0 * boxes[:, 3],
        FINE_TO_COARSE[i],
    )
    del boxes
    surface = surface_from_iuv(i, columns["dp_U"], columns["dp_V"]) if surface_from_iuv else None
    answers = blobs.answered_records(
        i,
        columns["dp_U"],
        columns["dp_V"],
        time.time(),
        None if surface is None else surface.face,
        None if surface is None else surface.bary,
    )
    del columns, surface
    starts = np.concatenate(([0], np.cumsum(lengths)))
    ids = [_plan_id(person) for _, person in rows]
    project.add_imported_points(ids, starts, points, answers, annotator)
    return total


# -- export --------------------------------------------------------------------------------


@dataclass
class ExportReport:
    """What an export wrote.

    Attributes:
        file: the output file.
        images: image records written.
        persons: annotations written.
        densepose: annotations with DensePose points.
        masks: annotations with ``dp_masks``.
        points: points written.
        left_out: answered-"not visible" and unanswered points left out.
        clipped: points outside their box, moved onto its edge (box edited after sampling).
        machine_points: points written from a model's answer (proposed or accepted).
        unconfirmed_left_out: persons, masks and answer sets of models that nobody accepted,
            left out (``confirmed_only``).
    """

    file: Path
    images: int = 0
    persons: int = 0
    densepose: int = 0
    masks: int = 0
    points: int = 0
    left_out: int = 0
    clipped: int = 0
    machine_points: int = 0
    unconfirmed_left_out: int = 0


def export_densepose(
    project: Project,
    out: str | Path,
    *,
    min_state: TaskState = TaskState.CORRESPONDED,
    annotator: str | None = None,
    confirmed_only: bool = False,
    progress: Progress | None = None,
) -> ExportReport:
    """Write the project as DensePose-COCO JSON (atomically).

    Args:
        project: an open project (read-only is enough).
        out: the output file; replaced only when the export succeeded.
        min_state: persons whose task reached this state carry DensePose data.
        annotator: export only this annotator's masks and answers (default: the latest).
        confirmed_only: leave out models' proposals that nobody accepted.
        progress: called as ``progress("export", done, total)``.
    """
    out = Path(out)
    report = ExportReport(out)
    wanted = set(project.export_image_ids(min_state))
    images = [im for im in project.images() if im.id in wanted]
    total = project.count_export(min_state)
    info = {"description": "DensePose-COCO annotations made with DensePose Studio"}
    info["body_model"] = project.body
    found, pairs = project.unconfirmed() if confirmed_only else (set(), set())
    with atomic_write(out) as handle:
        handle.write('{"info":' + jsonio.dumps(info) + ',"images":[')
        handle.write(",".join(jsonio.dumps(_image_dict(im)) for im in images))
        handle.write('],"annotations":[\n')
        first = True
        for k, item in enumerate(project.iter_export(min_state, annotator)):
            if progress and (k % 2000 == 0 or k == total - 1):
                progress("export", k + 1, total)
            if confirmed_only and not _confirmed(item, found, pairs, report):
                continue
            handle.write(
                ("" if first else ",\n") + jsonio.dumps(_annotation(item, min_state, report))
            )
            first = False
        handle.write('\n],"categories":[' + jsonio.dumps(PERSON_CATEGORY) + "]}\n")
    report.images = len(images)
    return report


def _confirmed(
    item: ExportItem, found: set[int], pairs: set[tuple[int, str]], report: ExportReport
) -> bool:
    """Drop what models proposed and nobody accepted; False when the whole person goes."""
    pid = item.person.id
    assert pid is not None
    if pid in found:
        report.unconfirmed_left_out += 1
        return False
    if item.mask is not None and (pid, item.mask.annotator) in pairs:
        item.mask = None
        report.unconfirmed_left_out += 1
    kept = [a for a in item.answers if (pid, a.annotator) not in pairs]
    report.unconfirmed_left_out += len(item.answers) - len(kept)
    item.answers = kept
    return True


def _image_dict(image: Any) -> dict[str, Any]:
    record = {"id": image.id, "file_name": image.file_name}
    record.update(width=image.width, height=image.height)
    record.update(image.extra)
    return record


def _annotation(item: ExportItem, min_state: TaskState, report: ExportReport) -> dict[str, Any]:
    person = item.person
    ann: dict[str, Any] = {"id": person.id, "image_id": person.image_id, "category_id": 1}
    ann["iscrowd"] = int(person.iscrowd)
    ann["area"] = _area(item)
    ann["bbox"] = person.box.as_list()
    if person.segmentation is not None:
        ann["segmentation"] = person.segmentation
    if person.keypoints is not None:
        ann["keypoints"] = person.keypoints
    if person.num_keypoints is not None:
        ann["num_keypoints"] = person.num_keypoints
    ann.update(person.extra)
    report.persons += 1
    if person.state >= max(min_state, TaskState.CORRESPONDED):
        ann.update(_dp_points(item, report))
        report.densepose += 1
    if item.mask is not None and person.state >= max(min_state, TaskState.SEGMENTED):
        ann["dp_masks"] = item.mask.dp_masks(person.box)
        report.masks += 1
    return ann


def _area(item: ExportItem) -> float:
    """COCO ``area``: as imported, else the painted pixels, else the box (square pixels)."""
    person = item.person
    if person.area is not None:
        return float(person.area)
    if item.mask is not None:
        painted = item.mask.n_labelled()
        if item.mask.frame == MaskFrame.BOX256:  # cells of box_w * box_h / 65536 pixels
            return round(painted * person.box.w * person.box.h / 65536.0, 2)
        return float(painted)
    return round(person.box.w * person.box.h, 2)


def _dp_points(item: ExportItem, report: ExportReport) -> dict[str, list[Any]]:
    """The five dp_ lists of one person: chosen visible answers, box-relative x, y."""
    points = item.points
    if points is None or len(points) == 0:
        return {key: [] for key in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")}
    index, i, u, v = choose_answers(len(points), item.answers)
    report.left_out += len(points) - len(index)
    report.machine_points += machine_chosen(len(points), item.answers, index)
    box = item.person.box
    dx = (points.x[index] - box.x) / box.w * 255.0
    dy = (points.y[index] - box.y) / box.h * 255.0
    outside = (dx < 0) | (dx > 255) | (dy < 0) | (dy > 255)
    report.clipped += int(np.count_nonzero(outside))
    report.points += len(index)
    return {
        "dp_x": np.round(np.clip(dx, 0.0, 255.0), DP_DECIMALS).tolist(),
        "dp_y": np.round(np.clip(dy, 0.0, 255.0), DP_DECIMALS).tolist(),
        "dp_I": i.tolist(),
        "dp_U": u.tolist(),
        "dp_V": v.tolist(),
    }


def choose_answers(
    n: int, answers: list[Answers]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``n`` points, the latest answer of any person, else of a model; keep
    visible ones.

    Returns:
        ``(index [M], I [M], U [M], V [M])``: the points (task order) answered with a spot.
    """
    if len(answers) == 1:  # the usual case: one annotator
        only = answers[0]
        index = np.flatnonzero(only.status == AnswerStatus.ANSWERED)
        return index, only.i[index], only.u[index], only.v[index]
    best_time = np.full(n, -np.inf)
    i = np.zeros(n, np.int64)
    u, v = np.zeros(n), np.zeros(n)
    visible = np.zeros(n, bool)
    # Models first, people after: a person's answer replaces a model's whatever the times.
    ordered = sorted(answers, key=lambda a: not is_machine(a.annotator))
    by_person = np.zeros(n, bool)
    for a in ordered:  # by annotator id within each group: ties go to the later annotator
        when = np.where(np.isnan(a.time), -np.inf, a.time)
        person = not is_machine(a.annotator)
        newer = a.answered & ((when >= best_time) | (person & ~by_person))
        by_person[newer] = person
        best_time[newer] = when[newer]
        visible[newer] = a.visible[newer]
        i[newer], u[newer], v[newer] = a.i[newer], a.u[newer], a.v[newer]
    index = np.flatnonzero(visible)
    return index, i[index], u[index], v[index]


def machine_chosen(n: int, answers: list[Answers], index: np.ndarray) -> int:
    """How many of the chosen points (``index``) carry a model's answer: no person answered
    them."""
    if not any(is_machine(a.annotator) for a in answers):
        return 0
    by_person = np.zeros(n, bool)
    for a in answers:
        if not is_machine(a.annotator):
            by_person |= a.answered
    return int(np.count_nonzero(~by_person[index]))


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[IO[str]]:
    """Write a text file through a temporary file renamed over ``path`` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
