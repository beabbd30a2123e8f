"""Stage-2 point sampling: inside the parts, spread out, counts growing with area."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from annotator.dataset.errors import AnswersExistError, NoPartMaskError
from annotator.dataset.records import Box, MaskFrame, PartMask, TaskState
from annotator.dataset.sampling import (
    SamplingParams,
    points_per_part,
    sample_mask,
    sample_person,
    sample_project,
)
from annotator.dataset.store import Project

from .conftest import add_person, person_labels


def _two_parts() -> PartMask:
    labels = np.zeros((400, 300), np.uint8)
    labels[20:380, 40:200] = 1  # torso: big
    cv2.circle(labels, (250, 60), 20, 14, -1)  # head: small
    return PartMask(labels, x0=100, y0=50)


def test_points_lie_in_their_part_and_are_deterministic() -> None:
    mask = _two_parts()
    points = sample_mask(mask, seed=3)
    cols = np.floor(points.x - mask.x0).astype(int)
    rows = np.floor(points.y - mask.y0).astype(int)
    np.testing.assert_array_equal(mask.labels[rows, cols], points.part)
    again = sample_mask(mask, seed=3)
    np.testing.assert_array_equal(points.x, again.x)
    np.testing.assert_array_equal(points.y, again.y)
    assert not np.array_equal(sample_mask(mask, seed=4).x, points.x)


def test_count_grows_with_area_and_is_capped() -> None:
    points = sample_mask(_two_parts())
    per_part = np.bincount(points.part, minlength=15)
    assert per_part[1] == 14  # the big torso hits the cap
    assert 1 <= per_part[14] < per_part[1]
    capped = sample_mask(_two_parts(), params=SamplingParams(max_per_part=5))
    assert np.bincount(capped.part, minlength=15).max() == 5
    areas = np.zeros(15)
    areas[[1, 2, 3]] = [100_000, 4_000, 5]  # the 5-pixel part is a stray stroke
    counts = points_per_part(areas, SamplingParams())
    assert counts[1] == 14 and 1 <= counts[2] < 14 and counts[3] == 0


def test_points_are_spread_not_clumped() -> None:
    labels = np.zeros((300, 300), np.uint8)
    labels[:, :] = 1
    points = sample_mask(PartMask(labels), params=SamplingParams(max_per_part=9))
    d = np.hypot(points.x[:, None] - points.x[None], points.y[:, None] - points.y[None])
    np.fill_diagonal(d, np.inf)
    # 9 points in a 300 x 300 square: a 3 x 3 grid has spacing 100
    assert len(points) == 9 and d.min(axis=1).min() > 60


def test_small_person_gets_fewer_points() -> None:
    big = PartMask(cv2.resize(person_labels(1), (400, 800), interpolation=cv2.INTER_NEAREST))
    small = PartMask(cv2.resize(person_labels(1), (25, 50), interpolation=cv2.INTER_NEAREST))
    assert len(sample_mask(small)) < len(sample_mask(big)) <= 14 * 14


def test_box256_mask_samples_in_image_pixels() -> None:
    labels = np.zeros((256, 256), np.uint8)
    labels[:128, :] = 1
    box = Box(1000.0, 500.0, 128.0, 512.0)
    points = sample_mask(PartMask(labels, frame=MaskFrame.BOX256), box=box)
    assert np.all((points.x >= 1000) & (points.x <= 1128))
    assert np.all((points.y >= 500) & (points.y <= 756))  # the upper half of the box
    with pytest.raises(ValueError, match="needs the person's box"):
        sample_mask(PartMask(labels, frame=MaskFrame.BOX256))


def test_empty_mask_gives_no_points() -> None:
    assert len(sample_mask(PartMask(np.zeros((10, 10), np.uint8)))) == 0


def test_a_mask_of_stray_pixels_only_gives_no_points() -> None:
    labels = np.zeros((50, 50), np.uint8)
    labels[10, 10] = 3  # one pixel: below the smallest part that gets a point
    assert len(sample_mask(PartMask(labels))) == 0


def test_sample_project_skips_answered_unless_forced(project: Project) -> None:
    ids = [add_person(project) for _ in range(3)]
    for pid in ids:
        project.save_part_mask(pid, "ann", PartMask(person_labels(pid), 10, 20))
        project.set_state(pid, TaskState.SEGMENTED)
    project.set_state(ids[2], TaskState.TODO)  # stage 1 not finished: not sampled
    report = sample_project(project, seed=1)
    assert (report.sampled, report.skipped_answered) == (2, 0)
    assert project.sample_points(ids[2]) is None
    project.save_answer(ids[0], 0, "ann", iuv=(1, 0.5, 0.5))
    before = project.sample_points(ids[0])
    report = sample_project(project, seed=2)
    assert (report.sampled, report.skipped_answered) == (1, 1)
    np.testing.assert_array_equal(project.sample_points(ids[0]).x, before.x)
    report = sample_project(project, seed=2, force=True)
    assert report.sampled == 2
    assert project.answers(ids[0], "ann") is None


def test_sample_project_counts_persons_without_a_mask_and_stops_on_a_broken_one(
    project: Project,
) -> None:
    painted, bare = add_person(project), add_person(project)
    project.save_part_mask(painted, "ann", PartMask(person_labels(painted), 10, 20))
    for pid in (painted, bare):
        project.set_state(pid, TaskState.SEGMENTED)
    report = sample_project(project, seed=1)
    assert (report.sampled, report.without_mask) == (1, 1)
    # A stored mask whose size no longer matches its data is an error, not "no mask".
    project._conn.execute("UPDATE part_masks SET width = width + 1 WHERE person_id = ?", (painted,))
    with pytest.raises(ValueError, match="reshape"):
        sample_project(project, seed=1, force=True)


def test_sample_person_stores_the_points(project: Project) -> None:
    pid = add_person(project)
    with pytest.raises(NoPartMaskError, match="no part mask"):
        sample_person(project, pid)
    project.save_part_mask(pid, "ann", PartMask(person_labels(4), 10, 20))
    points = sample_person(project, pid, seed=5)
    np.testing.assert_array_equal(project.sample_points(pid).x, points.x)
    project.save_answer(pid, 0, "ann", not_visible=True)
    with pytest.raises(AnswersExistError):
        sample_person(project, pid, seed=6)
    assert len(sample_person(project, pid, seed=6, force=True)) == len(points)
