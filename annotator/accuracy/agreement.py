"""Agreement between annotators who answered the same (non-gold) task."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from annotator.dataset.store import Project
from annotator.surface.geodesic import Geodesics
from annotator.surface.points import SurfacePoints


@dataclass
class Agreement:
    """One row per point answered (with a spot) by both annotators of a pair.

    Attributes:
        first, second: ``[N]`` object arrays of annotator names (first < second).
        person, index: ``[N]`` which point.
        part: ``[N]`` coarse part the point was sampled in.
        distance: ``[N]`` geodesic distance between their picks, metres.
    """

    first: np.ndarray
    second: np.ndarray
    person: np.ndarray
    index: np.ndarray
    part: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return len(self.person)

    def pairs(self) -> list[tuple[str, str]]:
        return sorted({(str(a), str(b)) for a, b in zip(self.first, self.second, strict=True)})


def agreement(project: Project, geodesics: Geodesics, include_gold: bool = False) -> Agreement:
    """Geodesic distance between every two annotators' picks for the same image point."""
    gold = set(project.gold_person_ids())
    rows: dict[str, list] = {k: [] for k in ("first", "second", "person", "index", "part")}
    p_face, p_bary, q_face, q_bary = [], [], [], []
    for person_id in sorted(project.answered_person_ids()):
        if person_id in gold and not include_gold:
            continue
        everyone = sorted(project.all_answers(person_id), key=lambda a: a.annotator)
        points = project.sample_points(person_id)
        if points is None or len(everyone) < 2:
            continue
        for a, b in itertools.combinations(everyone, 2):
            both = np.flatnonzero(a.visible & b.visible & (a.face >= 0) & (b.face >= 0))
            n = len(both)
            rows["first"].append(np.full(n, a.annotator, dtype=object))
            rows["second"].append(np.full(n, b.annotator, dtype=object))
            rows["person"].append(np.full(n, person_id))
            rows["index"].append(both)
            rows["part"].append(points.part[both])
            p_face.append(a.face[both])
            p_bary.append(a.bary[both])
            q_face.append(b.face[both])
            q_bary.append(b.bary[both])
    out = {
        k: np.concatenate(v) if v else np.zeros(0, object if k in ("first", "second") else np.int64)
        for k, v in rows.items()
    }
    distance = np.zeros(0)
    if p_face and sum(len(f) for f in p_face):
        distance = geodesics.distance(
            SurfacePoints(np.concatenate(p_face), np.concatenate(p_bary)),
            SurfacePoints(np.concatenate(q_face), np.concatenate(q_bary)),
        )
    return Agreement(distance=distance if len(distance) else np.zeros(len(out["person"])), **out)
