"""A simulated annotator with a known error, to check the whole accuracy pipeline.

It paints the true part mask, lets the project sample points from it as for a person, and for
every point walks from the true surface point along the surface (a straightest geodesic, traced
by potpourri3d) in a random direction by a configured distance per coarse part. The report
must then recover the configured errors.
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
from annotator.surface.geodesic import welded_mesh
from annotator.surface.parts import N_COARSE
from annotator.surface.points import SurfacePoints

#: Errors close to the paper's human annotators (metres, per coarse part 1..14): about 2 cm on
#: face, hands and feet, up to 7 cm on the torso.
PAPER_LIKE_ERRORS = {
    1: 0.07, 2: 0.02, 3: 0.02, 4: 0.025, 5: 0.025, 6: 0.05, 7: 0.05, 8: 0.04, 9: 0.04,
    10: 0.045, 11: 0.045, 12: 0.035, 13: 0.035, 14: 0.02,
}  # fmt: skip


@dataclass
class SimulatedAnnotator:
    """Answers gold tasks with a configured geodesic error.

    Attributes:
        name: the annotator name its answers are saved under.
        error_m: coarse part (1..14) -> distance (metres) each pick is moved from the truth.
        not_visible_rate: share of points it marks "not visible / unsure".
        seed: random seed (directions, not-visible draws).
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
        self, project: Project, atlas: Atlas, person_ids: Iterable[int] | None = None
    ) -> int:
        """Answer the given gold tasks (default: all); returns the number of points answered."""
        import potpourri3d as pp3d

        vertices, faces = welded_mesh(atlas)
        tracer = pp3d.GeodesicTracer(vertices, faces)
        rng = np.random.default_rng(self.seed)
        total = 0
        for person_id in person_ids if person_ids is not None else project.gold_person_ids():
            total += self._annotate_person(project, atlas, tracer, person_id, rng)
        return total

    def _annotate_person(self, project, atlas, tracer, person_id, rng) -> int:
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
        now = time.time()
        for k in range(len(points)):
            if face[k] < 0:
                continue  # no body under the sampled pixel: nothing to answer
            answers.time[k] = now
            if rng.random() < self.not_visible_rate:
                answers.status[k] = AnswerStatus.NOT_VISIBLE
                continue
            picked = self.walk(
                atlas, tracer, int(face[k]), bary[k], self.error_m.get(int(part[k]), 0.0), rng
            )
            i, u, v = atlas.to_iuv(picked)
            answers.status[k] = AnswerStatus.ANSWERED
            answers.face[k], answers.bary[k] = picked.face[0], picked.bary[0]
            answers.i[k], answers.u[k], answers.v[k] = i[0], u[0], v[0]
        project.save_answers(person_id, answers)
        return int(np.count_nonzero(answers.status != AnswerStatus.UNANSWERED))

    @staticmethod
    def walk(
        atlas: Atlas, tracer, face: int, bary: np.ndarray, distance: float, rng
    ) -> SurfacePoints:
        """The surface point ``distance`` metres from (face, bary) along the surface."""
        start = SurfacePoints(np.array([face]), bary[None])
        if distance <= 0:
            return start
        tri = atlas.rest_vertices[atlas.faces[face]]
        e1, e2 = tri[1] - tri[0], tri[2] - tri[0]
        normal = np.cross(e1, e2)
        normal /= np.linalg.norm(normal)
        u = e1 / np.linalg.norm(e1)
        w = np.cross(normal, u)
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.cos(angle) * u + np.sin(angle) * w
        path = tracer.trace_geodesic_from_face(
            face, np.asarray(bary, float), direction * distance, 100000
        )
        return atlas.closest_points(np.asarray(path)[-1][None])
