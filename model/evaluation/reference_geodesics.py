"""detectron2's reference geodesics: the SMPL distances its published GPS figures use.

GPS on DensePose-COCO is comparable with detectron2's published figures only when the
distances come from the same data: three files detectron2 publishes for its evaluator. The
studio does not ship them and never downloads them; the user puts them in one folder
(``--geodesics reference --reference-data DIR``):

* ``SMPL_subdiv.mat``: the N vertices of the subdivided SMPL body in chart coordinates,
  ``U_subdiv`` and ``V_subdiv`` (in [0, 1]) and ``Part_ID_subdiv`` (chart 1..24);
* ``SMPL_SUBDIV_TRANSFORM.mat``: ``index``, N numbers in 1..m: the vertex of the mesh whose
  geodesics are tabulated that each subdivided vertex is;
* ``Pdist_matrix.pkl``: a pickled dict whose ``Pdist_matrix`` holds the geodesic distance in
  metres of every pair of those m vertices, ``[m (m - 1) / 2, 1]`` (m = 27,554: about 380
  million values). It is read with the restricted unpickler (:mod:`model.safe_pickle`).

A distance is computed as detectron2's evaluator computes it:

1. a point (I, U, V) becomes the subdivided vertex of chart I nearest to (U, V) in the plane
   (the Euclidean distance of ``scipy.spatial.distance.cdist``; on a tie the first in file
   order), and then that vertex's number a = ``index`` (1..m);
2. two numbers a != b are ``table[L (L - 1) / 2 + S]`` apart, with L = max(a, b) - 1 and
   S = min(a, b) - 1: the table lists the pairs by their larger vertex, then their smaller
   (which is what the reference's index arithmetic works out to, whatever m it assumes);
   equal numbers are 0 apart;
3. a predicted I = 0 (background) has no vertex: the distance is infinite.

One detail changes last bits: the reference collects a pair's distances in a list and makes
an array of it, so when every point of the pair is a tabulated distance (no 0, no miss) the
array keeps the table's precision and GPS squares the distances in it (float32 for a float32
table). :meth:`ReferenceDistance.squared` does the same, so that GPS is bitwise the
reference's. A tabulated distance of exactly 0 between two different vertices would be taken
for "the same vertex" there (it can only change the last bit of that pair's GPS).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.surface.parts import N_FINE
from model.evaluation import reference_files
from model.evaluation.distances import PointDistance, PointErrors
from model.evaluation.reference_files import (
    FILES,
    SUBDIV,
    TABLE,
    TRANSFORM,
    URL,
    ReferenceDataError,
)

#: Distances computed at once in the nearest-vertex search (bounds memory: 8 bytes each).
_CHUNK = 1 << 22
#: A file larger than this gets a progress line while it is read (bytes).
_SLOW = 100 << 20


@dataclass(frozen=True)
class ReferenceGeodesics:
    """detectron2's evaluation data, checked and arranged for batched look-ups.

    Attributes:
        folder: where the files were read.
        uv: per chart 0..24 (0 empty), ``[Vc, 2]`` float64 (U, V) of its subdivided
            vertices, in file order.
        numbers: per chart, ``[Vc]`` int64 tabulated vertex number (1..m) of those vertices.
        table: ``[M]`` geodesic distance (metres) of each pair of tabulated vertices, in
            the file's floating-point type.
    """

    folder: Path
    uv: tuple[np.ndarray, ...]
    numbers: tuple[np.ndarray, ...]
    table: np.ndarray

    def vertices(self, i: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``[N]`` int64 tabulated vertex of each (I, U, V) (0: I outside 1..24).

        Args:
            i: ``[N]`` chart (0..255; 0 is background).
            u, v: ``[N]`` chart coordinates in [0, 1].
        """
        from scipy.spatial.distance import cdist

        i = np.asarray(i).ravel().astype(np.float64)
        points = np.stack([i, np.ravel(u), np.ravel(v)], axis=1).astype(np.float64)
        unique, inverse = np.unique(points, axis=0, return_inverse=True)
        found = np.zeros(len(unique), np.int64)
        for chart in range(1, N_FINE + 1):
            rows = np.flatnonzero(unique[:, 0] == chart)
            step = max(1, _CHUNK // len(self.uv[chart]))
            for lo in range(0, len(rows), step):
                chunk = rows[lo : lo + step]
                nearest = np.argmin(cdist(unique[chunk, 1:], self.uv[chart]), axis=1)
                found[chunk] = self.numbers[chart][nearest]
        return found[inverse.ravel()]

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``[N]`` float64 geodesic distance (metres) between vertex numbers ``a``, ``b``
        ``[N]`` (0 apart when equal; infinite when either is 0)."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        out = np.full(len(a), np.inf)
        valid = (a > 0) & (b > 0)
        out[valid & (a == b)] = 0.0
        pair = np.flatnonzero(valid & (a != b))
        larger = np.maximum(a[pair], b[pair]) - 1
        smaller = np.minimum(a[pair], b[pair]) - 1
        out[pair] = self.table[larger * (larger - 1) // 2 + smaller]
        return out


class ReferenceDistance(PointDistance):
    """Geodesic errors from detectron2's reference geodesics (see the module docstring).

    Args:
        tables: the loaded data (:func:`load_reference_geodesics`).
    """

    name = "reference"

    def __init__(self, tables: ReferenceGeodesics) -> None:
        self.tables = tables

    def bind(self, i: np.ndarray, u: np.ndarray, v: np.ndarray) -> PointErrors:
        return functools.partial(self._errors, self.tables.vertices(i, u, v))

    def _errors(
        self, truth: np.ndarray, rows: np.ndarray, i: np.ndarray, u: np.ndarray, v: np.ndarray
    ) -> np.ndarray:
        return self.tables.distance(truth[rows], self.tables.vertices(i, u, v))

    def describe(self) -> str:
        return f"reference (detectron2's SMPL geodesics from {self.tables.folder})"

    def squared(self, errors: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Squares in the table's precision for the pairs whose every point is tabulated."""
        out = errors**2
        precision = self.tables.table.dtype
        if precision == np.float64 or not len(errors):
            return out
        count = np.diff(start)
        owner = np.repeat(np.arange(len(count)), count)
        other = ~np.isfinite(errors) | (errors == 0)
        narrow = np.bincount(owner, weights=other, minlength=len(count)) == 0
        rows = narrow[owner]
        out[rows] = errors[rows].astype(precision) ** 2
        return out


#: The data read last (one set at a time: the table is large), by resolved folder.
_LOADED: dict[Path, ReferenceGeodesics] = {}


def load_reference_geodesics(
    folder: str | Path, progress: Callable[[str], None] | None = None
) -> ReferenceGeodesics:
    """Read and check the three files in ``folder``, once per process.

    Args:
        folder: the folder holding ``SMPL_subdiv.mat``, ``SMPL_SUBDIV_TRANSFORM.mat`` and
            ``Pdist_matrix.pkl``.
        progress: told (one line) before a large file is read.

    Raises:
        ReferenceDataError: the folder or a file is missing or malformed (one line).
    """
    path = Path(folder).expanduser().resolve()
    if path not in _LOADED:
        data = _read(path, progress)
        _LOADED.clear()
        _LOADED[path] = data
    return _LOADED[path]


def check_folder(folder: str | Path) -> None:
    """Refuse a folder that is missing or lacks one of the three files (contents unread).

    Raises:
        ReferenceDataError: one line naming the folder or the missing files, and their
            download address.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ReferenceDataError(
            f"{folder}: no such folder; put detectron2's DensePose evaluation data there "
            f"({', '.join(FILES)}, from {URL})"
        )
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise ReferenceDataError(
            f"{folder}: {', '.join(missing)} missing; download {_them(missing)} from {URL} "
            "into this folder (detectron2's DensePose evaluation data; the studio never "
            f"downloads {_them(missing)})"
        )


def _read(folder: Path, progress: Callable[[str], None] | None) -> ReferenceGeodesics:
    check_folder(folder)
    uv, chart = reference_files.read_subdivision(folder / SUBDIV)
    index = reference_files.read_transform(folder / TRANSFORM, len(chart))
    table_path = folder / TABLE
    size = table_path.stat().st_size
    if progress is not None and size > _SLOW:
        progress(f"reading {table_path} ({size / 1e9:.1f} GB, once per process)")
    table = reference_files.read_table(table_path, int(index.max()))
    charts = range(1, N_FINE + 1)
    return ReferenceGeodesics(
        folder=folder,
        uv=(np.zeros((0, 2)), *(uv[chart == c] for c in charts)),
        numbers=(np.zeros(0, np.int64), *(index[chart == c] for c in charts)),
        table=table,
    )


def _them(names: list[str]) -> str:
    return "it" if len(names) == 1 else "them"
