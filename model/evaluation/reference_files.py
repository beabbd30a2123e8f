"""Reading and checking the three files of detectron2's reference geodesics.

The formats (:mod:`model.evaluation.reference_geodesics` says what the values mean):

* ``SMPL_subdiv.mat`` (MATLAB, ``scipy.io.loadmat``): ``U_subdiv``, ``V_subdiv``,
  ``Part_ID_subdiv``, N values each (any vector shape);
* ``SMPL_SUBDIV_TRANSFORM.mat``: ``index``, N whole numbers >= 1;
* ``Pdist_matrix.pkl``: a pickle of ``{"Pdist_matrix": array [M, 1] (or [M])}`` of floats,
  read only through :func:`model.safe_pickle.load`.

Each reader refuses a bad file with one line: the file, what is wrong, where to get it again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.surface.parts import N_FINE

#: The three files, as detectron2 names them.
SUBDIV, TRANSFORM, TABLE = "SMPL_subdiv.mat", "SMPL_SUBDIV_TRANSFORM.mat", "Pdist_matrix.pkl"
FILES = (SUBDIV, TRANSFORM, TABLE)
#: Where detectron2 publishes them (the download address of its evaluator).
URL = "https://dl.fbaipublicfiles.com/densepose/data/"


class ReferenceDataError(ValueError):
    """A reference data file is missing or malformed (one line: the file, what to do)."""


def _error(path: Path, problem: str) -> ReferenceDataError:
    return ReferenceDataError(
        f"{path}: {problem}; download it again from {URL}{path.name} (detectron2's DensePose "
        "evaluation data)"
    )


def _matlab(path: Path, keys: tuple[str, ...]) -> list[np.ndarray]:
    """The named arrays of a MATLAB file, each flattened."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        contents = loadmat(path)
    except (MatReadError, OSError, ValueError, TypeError) as exc:
        raise _error(path, f"not a MATLAB file scipy can read ({exc})") from exc
    arrays = []
    for key in keys:
        value = contents.get(key)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "uif":
            raise _error(path, f"no numeric array '{key}' in it")
        arrays.append(value.ravel())
    return arrays


def _whole(path: Path, key: str, values: np.ndarray, low: int, high: float) -> np.ndarray:
    """``values`` as int64, refused unless whole numbers in ``low..high``."""
    ok = np.isfinite(values) & (values == np.round(values)) & (values >= low) & (values <= high)
    if not np.all(ok):
        bad = values[np.flatnonzero(~ok)[0]]
        limit = "" if high == np.inf else f"..{int(high)}"
        raise _error(path, f"'{key}' holds {bad}; it must hold whole numbers {low}{limit}")
    return values.astype(np.int64)


def read_subdivision(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``SMPL_subdiv.mat``: ``[N, 2]`` float64 (U, V) and ``[N]`` int64 chart of each vertex.

    Raises:
        ReferenceDataError: unreadable, a key missing, lengths that differ, a chart outside
            1..24 or without a vertex, or U, V not finite.
    """
    u, v, part = _matlab(path, ("U_subdiv", "V_subdiv", "Part_ID_subdiv"))
    if not len(u) == len(v) == len(part):
        lengths = f"{len(u)}, {len(v)} and {len(part)}"
        raise _error(path, f"U_subdiv, V_subdiv, Part_ID_subdiv have {lengths} values")
    uv = np.stack([u, v], axis=1).astype(np.float64)
    if not np.all(np.isfinite(uv)):
        raise _error(path, "U_subdiv / V_subdiv hold values that are not finite")
    chart = _whole(path, "Part_ID_subdiv", part, 1, N_FINE)
    empty = sorted(set(range(1, N_FINE + 1)) - set(chart.tolist()))
    if empty:
        raise _error(path, f"no vertex of chart(s) {empty} in Part_ID_subdiv")
    return uv, chart


def read_transform(path: Path, vertices: int) -> np.ndarray:
    """``SMPL_SUBDIV_TRANSFORM.mat``: ``[N]`` int64 tabulated vertex (1..m) of each vertex.

    Args:
        vertices: N, the subdivided vertices of ``SMPL_subdiv.mat``.

    Raises:
        ReferenceDataError: unreadable, no ``index``, not N values, or not whole numbers >= 1.
    """
    (index,) = _matlab(path, ("index",))
    if len(index) != vertices:
        problem = f"'index' has {len(index)} values for the {vertices} vertices of {SUBDIV}"
        raise _error(path, problem)
    return _whole(path, "index", index, 1, np.inf)


def read_table(path: Path, tabulated: int) -> np.ndarray:
    """``Pdist_matrix.pkl``: ``[M]`` float distances (metres), the file's precision.

    Args:
        tabulated: m, the largest vertex number of the transform (M >= m (m - 1) / 2).

    Raises:
        ReferenceDataError: refused by the restricted unpickler, not a dict with a
            ``Pdist_matrix`` float array of shape [M, 1] or [M], or too short.
    """
    from model.safe_pickle import UnsafePickleError, load

    try:
        contents = load(path)
    except UnsafePickleError as exc:
        raise ReferenceDataError(
            f"{exc}; download it again from {URL}{path.name} (detectron2's DensePose "
            "evaluation data)"
        ) from exc
    table = contents.get("Pdist_matrix") if isinstance(contents, dict) else None
    if not isinstance(table, np.ndarray) or table.dtype.kind != "f":
        raise _error(path, "no float array 'Pdist_matrix' in it")
    if table.ndim not in (1, 2) or (table.ndim == 2 and table.shape[1] != 1):
        raise _error(path, f"'Pdist_matrix' has shape {list(table.shape)}, not [M, 1]")
    needed = tabulated * (tabulated - 1) // 2
    if len(table) < needed:
        raise _error(
            path,
            f"'Pdist_matrix' has {len(table)} distances; the {tabulated} vertices of "
            f"{TRANSFORM} need {needed}",
        )
    return table.ravel()
