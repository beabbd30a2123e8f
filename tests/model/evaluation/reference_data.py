"""Tiny files in the formats of detectron2's reference geodesics, with hand-checkable values.

Subdivided vertices (chart: (U, V) -> tabulated vertex number):

* chart 1: (0.1, 0.1) -> 1, (0.9, 0.1) -> 2, (0.5, 0.9) -> 3;
* chart 2: (0.2, 0.5) -> 4, (0.8, 0.5) -> 3 (a seam: the same vertex as chart 1's third);
* charts 3..24: (0.5, 0.5) -> 5 and (0.5, 0.5) -> 6 after it (a tie: the first wins).

Every chart has two vertices at least, as detectron2's evaluator needs (with one, its
nearest-vertex search fails on an instance with several points on that chart), so that
``scripts/check_evaluator.py --reference-data`` runs on these files too. m = 6 vertices and
15 pairs; the distance of vertices a > b is ``a / 10 + b / 100``
metres (0.21, 0.31, 0.32, ...), listed by the larger vertex, then the smaller.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

CHART_1 = [(0.1, 0.1, 1), (0.9, 0.1, 2), (0.5, 0.9, 3)]
CHART_2 = [(0.2, 0.5, 4), (0.8, 0.5, 3)]
TABULATED = 6


def vertices() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """U ``[N]``, V ``[N]`` (float64), Part_ID ``[N]`` (uint8) and transform ``index``
    ``[N]`` (uint32), file order (detectron2 indexes arrays with the last two: integers)."""
    rows = [(1, u, v, n) for u, v, n in CHART_1] + [(2, u, v, n) for u, v, n in CHART_2]
    rows += [(chart, 0.5, 0.5, number) for chart in range(3, 25) for number in (5, 6)]
    part, u, v, index = (np.array(c) for c in zip(*rows, strict=True))
    return (
        u.astype(np.float64),
        v.astype(np.float64),
        part.astype(np.uint8),
        index.astype(np.uint32),
    )


def distance(a: int, b: int) -> float:
    """The tabulated distance of vertices ``a != b`` (1-based), metres."""
    return max(a, b) / 10 + min(a, b) / 100


def table(dtype: type = np.float32) -> np.ndarray:
    """``[15, 1]`` distances, pairs ordered by their larger vertex, then their smaller."""
    values = [distance(a, b) for a in range(2, TABULATED + 1) for b in range(1, a)]
    return np.array(values, dtype).reshape(-1, 1)


def write(folder: Path, dtype: type = np.float32) -> Path:
    """Write the three files into ``folder`` (made if needed); return it."""
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    u, v, part, index = vertices()
    savemat(folder / "SMPL_subdiv.mat", {"U_subdiv": u, "V_subdiv": v, "Part_ID_subdiv": part})
    savemat(folder / "SMPL_SUBDIV_TRANSFORM.mat", {"index": index[:, None]})
    with open(folder / "Pdist_matrix.pkl", "wb") as f:
        pickle.dump({"Pdist_matrix": table(dtype)}, f, protocol=2)
    return folder
