"""Error heat maps on the body: mean error per vertex, smoothed over the surface."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from annotator.surface.geodesic import Geodesics
from annotator.surface.points import SurfacePoints


def vertex_errors(
    geodesics: Geodesics, points: SurfacePoints, errors: np.ndarray, sigma: float = 0.03
) -> np.ndarray:
    """Mean error per atlas vertex ``[V]`` (metres), NaN where no point is near.

    Every error is spread to the vertices of the true point's face (barycentric weights),
    then averaged with a Gaussian of geodesic radius ``sigma`` over the exact local distances
    (within 10 cm) of the geodesic table.
    """
    table = geodesics.table
    _, welded = np.unique(geodesics.atlas.model_vertex_ids, return_inverse=True)
    n = len(table.local_indptr) - 1
    corners = welded[geodesics.atlas.faces[points.face]].ravel()
    weights = points.bary.ravel()
    total = np.bincount(corners, weights * np.repeat(errors, 3), minlength=n)
    count = np.bincount(corners, weights, minlength=n)
    d = table.local_distances.astype(np.float64)
    kernel = sp.csr_matrix(
        (np.exp(-(d**2) / (2 * sigma**2)), table.local_indices, table.local_indptr), shape=(n, n)
    )
    total_s, count_s = kernel @ total, kernel @ count
    mean = np.where(count_s > 0.05, total_s / np.maximum(count_s, 1e-12), np.nan)
    return mean[welded]


def colorize(values: np.ndarray, vmax: float, cmap: str = "inferno") -> np.ndarray:
    """RGB ``[V, 3]`` uint8 for values in [0, vmax]; NaN is light grey."""
    from matplotlib import colormaps

    rgba = colormaps[cmap](np.clip(np.nan_to_num(values) / vmax, 0, 1) * 0.9)
    rgb = (rgba[:, :3] * 255).astype(np.uint8)
    rgb[~np.isfinite(values)] = (205, 205, 205)
    return rgb
