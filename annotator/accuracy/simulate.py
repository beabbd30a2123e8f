"""A simulated annotator with a known error, to check the whole accuracy pipeline.

It paints the true part mask, lets the project sample points from it as for a person, and for
every point walks from the true surface point along the surface (a straightest geodesic, traced
by potpourri3d) in a random direction (uniform on the tangent plane) by a random distance whose
mean is the configured error of the point's coarse part. The report must then recover the
configured errors.

The distance is drawn from a **Rayleigh distribution**: a click that misses the true spot by a
2D isotropic Gaussian error (the same spread sigma in every direction on the surface around
it, no preferred side) lands at a distance r with density r / sigma^2 exp(-r^2 / (2 sigma^2)),
whose mean is sigma sqrt(pi / 2). So sigma = mean sqrt(2 / pi), and the one configured figure
per part fixes the whole distribution: spread (standard deviation 0.523 x the mean), a mode
below the mean, a tail (4.3 % of clicks beyond twice the mean), and a smooth RCP curve rather
than a staircase. A gamma distribution would fit as well but needs a second, arbitrary
parameter (its shape); the Rayleigh's shape is the Gaussian click model's, not a choice.

A straightest walk of length d ends at geodesic distance d from its start only while it is a
shortest path: on a finger or a toe a walk of a few centimetres wraps round and ends closer,
and one that reaches an opening of the skin (eyes, mouth) stops there. Left alone, this made
the measured mean fall 4 % short on the hands and 3 % on the feet. Given the geodesic table
(as the report uses), a walk that ends more than 10 % (or 2 mm) short of its length is
redrawn in another direction, up to 10 times, keeping the farthest: the measured means then
stay within 0.5 % of the drawn ones on every part.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from annotator.accuracy.collect import true_points
from annotator.dataset.records import Answers, AnswerStatus, PartMask
from annotator.dataset.sampling import sample_mask
from annotator.dataset.store import Project
from annotator.surface.atlas import Atlas
from annotator.surface.geodesic import Geodesics, welded_mesh
from annotator.surface.parts import N_COARSE
from annotator.surface.points import SurfacePoints

#: Errors close to the paper's human annotators (metres, per coarse part 1..14): about 2 cm on
#: face, hands and feet, up to 7 cm on the torso.
PAPER_LIKE_ERRORS = {
    1: 0.07, 2: 0.02, 3: 0.02, 4: 0.025, 5: 0.025, 6: 0.05, 7: 0.05, 8: 0.04, 9: 0.04,
    10: 0.045, 11: 0.045, 12: 0.035, 13: 0.035, 14: 0.02,
}  # fmt: skip


#: Standard deviation / mean of a Rayleigh distribution: sqrt((4 - pi) / pi).
RAYLEIGH_CV = float(np.sqrt((4 - np.pi) / np.pi))

#: A walk ending more than this share of its length (or :data:`SHORT_SLACK_M`) short of it,
#: as a geodesic distance, wrapped round a thin part or hit an opening: it is redrawn.
SHORT_SHARE, SHORT_SLACK_M, REDRAWS = 0.1, 0.002, 10


def draw_distances(
    mean: float | np.ndarray, rng: np.random.Generator, size: int | None = None
) -> np.ndarray:
    """Click error distances: Rayleigh-distributed with the given mean (metres).

    Args:
        mean: the mean distance, metres (>= 0; 0 gives zeros), one or one per draw ``[N]``.
        rng: the random generator (the draws are deterministic for its seed).
        size: how many (None: one per ``mean``).

    Returns:
        Distances in metres, float64, ``[size]`` or the shape of ``mean``.
    """
    return rng.rayleigh(mean * np.sqrt(2 / np.pi), size)


@dataclass
class SimulatedAnnotator:
    """Answers gold tasks with a configured geodesic error.

    Attributes:
        name: the annotator name its answers are saved under.
        error_m: coarse part (1..14) -> mean distance (metres) each pick is moved from the
            truth (each distance is drawn by :func:`draw_distances`).
        not_visible_rate: share of points it marks "not visible / unsure".
        seed: random seed (distances, directions, not-visible draws).
    """

    name: str = "simulated"
    error_m: dict[int, float] = field(default_factory=lambda: dict(PAPER_LIKE_ERRORS))
    not_visible_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        bad = [k for k, v in self.error_m.items() if not 1 <= k <= N_COARSE or v < 0]
        if bad:
            raise ValueError(f"errors must be given for parts 1..{N_COARSE} as metres >= 0: {bad}")

    def annotate(
        self,
        project: Project,
        atlas: Atlas,
        person_ids: Iterable[int] | None = None,
        *,
        geodesics: Geodesics | None = None,
    ) -> int:
        """Answer gold tasks; returns the number of points answered.

        Args:
            project: the project holding the gold tasks (writable).
            atlas: its body surface.
            person_ids: the gold tasks to answer (default: all).
            geodesics: the geodesic table; with it, walks that wrap round a finger or toe
                are redrawn (see the module docstring), without it the hands' and feet's
                measured errors fall a few percent short of the configured ones.
        """
        walker = _Walker(atlas, make_tracer(atlas), geodesics)
        rng = np.random.default_rng(self.seed)
        total = 0
        for person_id in person_ids if person_ids is not None else project.gold_person_ids():
            total += self._annotate_person(project, walker, person_id, rng)
        return total

    def mean_errors(self, part: np.ndarray) -> np.ndarray:
        """The configured mean error (metres) of each coarse part in ``part [N]`` (0 if unset)."""
        table = np.zeros(N_COARSE + 1)
        for k, value in self.error_m.items():
            table[k] = value
        return table[np.asarray(part, np.int64)]

    def _annotate_person(self, project: Project, walker: _Walker, person_id: int, rng) -> int:
        gold = project.gold(person_id)
        if gold is None:
            raise ValueError(f"person {person_id} is not a gold task")
        if project.part_mask(person_id, self.name) is None:
            project.save_part_mask(person_id, self.name, PartMask(gold.labels, gold.x0, gold.y0))
        points = project.sample_points(person_id)
        if points is None:
            points = sample_mask(PartMask(gold.labels, gold.x0, gold.y0), seed=person_id)
            project.set_sample_points(person_id, points)
        face, bary, part = true_points(gold, points.x, points.y)
        answers = Answers.blank(self.name, len(points))
        on_body = face >= 0  # elsewhere no body under the sampled pixel: nothing to answer
        answers.time[on_body] = time.time()
        hidden = on_body & (rng.random(len(points)) < self.not_visible_rate)
        answers.status[hidden] = AnswerStatus.NOT_VISIBLE
        todo = np.flatnonzero(on_body & ~hidden)
        distance = draw_distances(self.mean_errors(part[todo]), rng)
        picked = walker.pick(SurfacePoints(face[todo], bary[todo]), distance, rng)
        i, u, v = walker.atlas.to_iuv(picked)
        answers.status[todo] = AnswerStatus.ANSWERED
        answers.face[todo], answers.bary[todo] = picked.face, picked.bary
        answers.i[todo], answers.u[todo], answers.v[todo] = i, u, v
        project.save_answers(person_id, answers)
        return int(np.count_nonzero(answers.status != AnswerStatus.UNANSWERED))

    @staticmethod
    def walk(
        atlas: Atlas, tracer, face: int, bary: np.ndarray, distance: float, rng
    ) -> SurfacePoints:
        """The surface point ``distance`` metres from (face, bary) along the surface."""
        return walk_many(atlas, tracer, np.array([face]), bary[None], np.array([distance]), rng)


@dataclass
class _Walker:
    atlas: Atlas
    tracer: object
    geodesics: Geodesics | None

    def pick(
        self, start: SurfacePoints, distance: np.ndarray, rng: np.random.Generator
    ) -> SurfacePoints:
        return pick_at_distance(self.atlas, self.tracer, start, distance, rng, self.geodesics)


def pick_at_distance(
    atlas: Atlas,
    tracer,
    start: SurfacePoints,
    distance: np.ndarray,
    rng: np.random.Generator,
    geodesics: Geodesics | None = None,
) -> SurfacePoints:
    """Points about ``distance`` metres (geodesic) from ``start``, each in a random direction.

    Args:
        atlas: the body surface.
        tracer: from :func:`make_tracer`.
        start: ``N`` surface points.
        distance: ``[N]`` metres.
        rng: draws the directions.
        geodesics: if given, a walk that ends short of its length (:data:`SHORT_SHARE`,
            :data:`SHORT_SLACK_M`) is redrawn up to :data:`REDRAWS` times, the farthest end
            kept; otherwise every walk is kept as it ends.

    Returns:
        ``N`` surface points.
    """
    distance = np.asarray(distance, np.float64).reshape(len(start))
    end = walk_many(atlas, tracer, start.face, start.bary, distance, rng)
    if geodesics is None or not len(start):
        return end
    face, bary = end.face.copy(), end.bary.copy()
    reached = geodesics.distance(start, end)
    allowed = np.maximum(SHORT_SHARE * distance, SHORT_SLACK_M)
    short = np.flatnonzero(distance - reached > allowed)
    for _ in range(REDRAWS):
        if not len(short):
            break
        again = walk_many(atlas, tracer, start.face[short], start.bary[short], distance[short], rng)
        got = geodesics.distance(start[short], again)
        better = got > reached[short]
        face[short[better]], bary[short[better]] = again.face[better], again.bary[better]
        reached[short[better]] = got[better]
        short = short[distance[short] - reached[short] > allowed[short]]
    return SurfacePoints(face, bary)


def make_tracer(atlas: Atlas):
    """A potpourri3d geodesic tracer on the welded rest skin (for :func:`walk_many`)."""
    import potpourri3d as pp3d

    return pp3d.GeodesicTracer(*welded_mesh(atlas))


def walk_many(
    atlas: Atlas,
    tracer,
    face: np.ndarray,
    bary: np.ndarray,
    distance: np.ndarray,
    rng: np.random.Generator,
) -> SurfacePoints:
    """Walk from each surface point along the surface, in a random direction.

    Args:
        atlas: the body surface.
        tracer: from :func:`make_tracer`.
        face: start faces ``[N]``.
        bary: start barycentric coordinates ``[N, 3]``.
        distance: how far to walk from each, metres ``[N]`` (0: stay).
        rng: draws the directions, uniform on each start face's plane.

    Returns:
        ``N`` surface points, each the end of a straightest geodesic of the given length.
    """
    face = np.asarray(face, np.int64)
    bary = np.asarray(bary, np.float64).reshape(len(face), 3)
    distance = np.asarray(distance, np.float64).reshape(len(face))
    tri = atlas.rest_vertices[atlas.faces[face]]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    normal = np.cross(e1, e2)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    u = e1 / np.linalg.norm(e1, axis=1, keepdims=True)
    w = np.cross(normal, u)
    angle = rng.uniform(0, 2 * np.pi, len(face))[:, None]
    step = (np.cos(angle) * u + np.sin(angle) * w) * distance[:, None]
    moved = np.flatnonzero(distance > 0)
    ends = np.empty((len(moved), 3))
    for row, k in enumerate(moved):
        path = tracer.trace_geodesic_from_face(int(face[k]), bary[k], step[k], 100000)
        ends[row] = np.asarray(path)[-1]
    out_face, out_bary = face.copy(), bary.copy()
    if len(moved):
        landed = atlas.closest_points(ends)
        out_face[moved], out_bary[moved] = landed.face, landed.bary
    return SurfacePoints(out_face, out_bary)
