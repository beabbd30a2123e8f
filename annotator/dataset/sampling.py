"""Stage-2 input: roughly equidistant points inside each part of a stage-1 label map.

For each coarse part, k-means on the part's pixel positions gives ``k`` cluster centres; the
point is the part pixel closest to each centre (a centroid can fall outside a curved part).
``k`` grows with the part's area (DensePose paper, section 3):

    spacing_area = max(person_area / target_per_person, min_spacing ** 2)
    k = clip(round(part_area / spacing_area), 1, max_per_part)

so a person gets about ``target_per_person`` points, parts are covered at the same density,
small people get fewer points (never closer than about ``min_spacing`` pixels), and no part
gets more than ``max_per_part`` (14 in the paper). Parts smaller than ``min_part_area``
pixels (stray brush strokes) get none.

Deterministic: the same label map and seed give the same points. Big maps are sampled on a
pixel grid (at most ``max_pixels`` cells) and k-means runs on at most 500 pixels per part,
so a person takes a few milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from annotator.dataset.errors import AnswersExistError, NoPartMaskError
from annotator.dataset.masks import to_image
from annotator.dataset.records import Box, MaskFrame, PartMask, SamplePoints, TaskState
from annotator.surface.parts import N_COARSE

if TYPE_CHECKING:
    from annotator.dataset.store import Project

Progress = Callable[[str, int, int], None]

_KMEANS_PIXELS = 500
_KMEANS_ITERATIONS = 15


@dataclass(frozen=True)
class SamplingParams:
    """How many points to sample.

    Attributes:
        max_per_part: at most this many points per coarse part.
        target_per_person: about this many points per (large enough) person.
        min_spacing: points are about at least this far apart, pixels.
        min_part_area: parts smaller than this get no point, square pixels.
        max_pixels: big label maps are read on a grid of at most this many cells.
    """

    max_per_part: int = 14
    target_per_person: int = 96
    min_spacing: float = 8.0
    min_part_area: float = 16.0
    max_pixels: int = 400_000

    def __post_init__(self) -> None:
        if self.max_per_part < 1 or self.target_per_person < 1:
            raise ValueError("max_per_part and target_per_person must be >= 1")
        if self.min_spacing <= 0 or self.min_part_area < 0:
            raise ValueError("min_spacing must be > 0 and min_part_area >= 0")


def points_per_part(areas: np.ndarray, params: SamplingParams) -> np.ndarray:
    """Number of points for each part given its area.

    Args:
        areas: ``[15]`` area of background (ignored) and of parts 1..14, square pixels.
        params: sampling parameters.

    Returns:
        ``[15]`` int64 point counts (index 0 is 0).
    """
    areas = np.asarray(areas, dtype=np.float64).copy()
    areas[0] = 0.0
    spacing_area = max(areas.sum() / params.target_per_person, params.min_spacing**2)
    counts = np.clip(np.round(areas / spacing_area), 1, params.max_per_part).astype(np.int64)
    counts[areas < max(params.min_part_area, 1e-9)] = 0
    return counts


def sample_mask(
    mask: PartMask,
    *,
    box: Box | None = None,
    params: SamplingParams | None = None,
    seed: int = 0,
) -> SamplePoints:
    """Sample stage-2 points in a label map.

    Args:
        mask: the stage-1 label map (a BOX256 mask needs ``box``).
        box: the person's box, for BOX256 masks.
        params: counts and spacing (defaults: paper settings).
        seed: random seed; the same mask and seed give the same points.

    Returns:
        Points in part order (1..14), each part's points top to bottom, in image pixels.
    """
    params = params or SamplingParams()
    if mask.frame == MaskFrame.BOX256:
        if box is None:
            raise ValueError("a BOX256 mask needs the person's box")
        mask = to_image(mask, box)
    stride = max(1, math.ceil(math.sqrt(mask.labels.size / params.max_pixels)))
    grid = mask.labels[stride // 2 :: stride, stride // 2 :: stride]
    flat_index = np.flatnonzero(grid)
    if len(flat_index) == 0:
        return SamplePoints.empty()
    labels = grid.ravel()[flat_index]
    counts = points_per_part(np.bincount(labels, minlength=N_COARSE + 1) * stride**2, params)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(N_COARSE + 2))
    width = grid.shape[1]
    rng = np.random.default_rng(seed)
    present = np.flatnonzero(counts)
    if len(present) == 0:  # only parts too small to sample (stray pixels)
        return SamplePoints.empty()
    groups = []
    for part in present:
        cells = flat_index[order[bounds[part] : bounds[part + 1]]]
        if len(cells) > _KMEANS_PIXELS:
            cells = cells[np.sort(rng.choice(len(cells), _KMEANS_PIXELS, replace=False))]
        rows, cols = np.divmod(cells, width)
        half = stride // 2 + 0.5
        groups.append(np.stack([mask.x0 + cols * stride + half, mask.y0 + rows * stride + half], 1))
    chosen = _spread(groups, counts[present], rng)
    xs, ys, parts = [], [], []
    for part, points in zip(present, chosen, strict=True):
        points = points[np.lexsort((points[:, 0], points[:, 1]))]
        xs.append(points[:, 0])
        ys.append(points[:, 1])
        parts.append(np.full(len(points), part))
    return SamplePoints(np.concatenate(xs), np.concatenate(ys), np.concatenate(parts))


def _spread(groups: list[np.ndarray], ks: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """``ks[g]`` roughly equidistant rows of each pixel array ``groups[g] [N_g, 2]``."""
    return [_spread_one(group, int(k), rng) for group, k in zip(groups, ks, strict=True)]


def _spread_one(pixels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means on ``pixels [N, 2]``, then the member pixel nearest to each centre."""
    if len(pixels) <= k:
        return pixels
    xs, ys = pixels[:, 0], pixels[:, 1]
    centres = _kmeans_plus_plus(xs, ys, k, rng)
    for _ in range(_KMEANS_ITERATIONS):
        nearest, _ = _assign(xs, ys, centres)
        sizes = np.bincount(nearest, minlength=k)
        filled = sizes > 0
        moved = centres.copy()
        moved[filled, 0] = np.bincount(nearest, xs, minlength=k)[filled] / sizes[filled]
        moved[filled, 1] = np.bincount(nearest, ys, minlength=k)[filled] / sizes[filled]
        shift = np.abs(moved - centres).max()
        centres = moved
        if shift < 0.1:
            break
    nearest, d2 = _assign(xs, ys, centres)
    own = d2[np.arange(len(pixels)), nearest]
    order = np.lexsort((own, nearest))
    head = np.ones(len(order), bool)
    head[1:] = nearest[order[1:]] != nearest[order[:-1]]
    return pixels[order[head]]


def _assign(xs: np.ndarray, ys: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre ``[N]`` of each pixel, and squared distances ``[N, K]``."""
    dx = xs[:, None] - centres[None, :, 0]
    dy = ys[:, None] - centres[None, :, 1]
    d2 = dx * dx + dy * dy
    return d2.argmin(axis=1), d2


def _kmeans_plus_plus(
    xs: np.ndarray, ys: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """k-means++ seeding: each new centre drawn with probability ~ squared distance."""
    centres = np.empty((k, 2))
    pick = int(rng.integers(len(xs)))
    d2 = np.full(len(xs), np.inf)
    for j in range(k):
        centres[j] = xs[pick], ys[pick]
        d2 = np.minimum(d2, (xs - xs[pick]) ** 2 + (ys - ys[pick]) ** 2)
        cumulative = np.cumsum(d2)
        pick = min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1])), len(xs) - 1)
    return centres


def sample_person(
    project: Project,
    person_id: int,
    *,
    params: SamplingParams | None = None,
    seed: int = 0,
    force: bool = False,
    annotator: str | None = None,
) -> SamplePoints:
    """Sample and store one person's stage-2 points (the app calls this after stage 1).

    Args:
        project: an open, writable project.
        person_id: the person.
        params: counts and spacing.
        seed: random seed.
        force: replace points that already have answers (discarding the answers).
        annotator: use this annotator's mask (default: the latest saved).

    Raises:
        NoPartMaskError: the person has no part mask.
        AnswersExistError: its points have answers and ``force`` is False.
    """
    mask = project.part_mask(person_id, annotator)
    if mask is None:
        raise NoPartMaskError(f"person {person_id} has no part mask to sample in")
    points = sample_mask(mask, box=project.person(person_id).box, params=params, seed=seed)
    project.set_sample_points(person_id, points, force=force)
    return points


@dataclass
class SampleReport:
    """What :func:`sample_project` did (person counts)."""

    sampled: int = 0
    points: int = 0
    skipped_answered: int = 0
    without_mask: int = 0


def sample_project(
    project: Project,
    *,
    params: SamplingParams | None = None,
    seed: int = 0,
    force: bool = False,
    annotator: str | None = None,
    progress: Progress | None = None,
    batch: int = 500,
) -> SampleReport:
    """Sample points for every segmented person of a project (stage 1 done, not crowd).

    Persons whose points already have answers are skipped unless ``force`` (which discards
    the answers). Writes in transactions of ``batch`` persons.

    Args:
        project: an open, writable :class:`~annotator.dataset.store.Project`.
        params: counts and spacing.
        seed: random seed.
        force: re-sample even persons with answers.
        annotator: use this annotator's masks (default: each person's latest mask).
        progress: called as ``progress("sample", done, total)``.
        batch: persons per transaction.
    """
    persons = project.persons(min_state=TaskState.SEGMENTED, include_crowd=False)
    answered = project.answered_person_ids()
    report = SampleReport()
    for start in range(0, len(persons), batch):
        with project.transaction():
            for person in persons[start : start + batch]:
                assert person.id is not None
                if person.id in answered and not force:
                    report.skipped_answered += 1
                    continue
                try:
                    points = sample_person(
                        project,
                        person.id,
                        params=params,
                        seed=seed,
                        force=force,
                        annotator=annotator,
                    )
                except NoPartMaskError:
                    report.without_mask += 1
                    continue
                except AnswersExistError:  # answered since we looked
                    report.skipped_answered += 1
                    continue
                report.sampled += 1
                report.points += len(points)
        if progress:
            progress("sample", min(start + batch, len(persons)), len(persons))
    return report
