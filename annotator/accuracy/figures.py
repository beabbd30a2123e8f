"""Figures of the accuracy report, as RGB arrays (matplotlib, Agg backend; renders via EGL)."""

from __future__ import annotations

import io

import numpy as np

from annotator.accuracy.heatmap import colorize, vertex_errors
from annotator.accuracy.metrics import PAPER_HUMAN_AUC10, PAPER_HUMAN_AUC30, auc, rcp
from annotator.surface.geodesic import Geodesics
from annotator.surface.points import SurfacePoints


def _figure_to_rgb(fig) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def rcp_figure(groups: dict[str, np.ndarray]) -> np.ndarray:
    """RCP curves (0 to 30 cm) of each group of errors (metres), with AUC10 / AUC30."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    t = np.linspace(0, 0.30, 301)
    for name, errors in groups.items():
        if len(errors):
            label = f"{name} (AUC10 {auc(errors, 0.1):.3f}, AUC30 {auc(errors, 0.3):.3f})"
            ax.plot(t * 100, rcp(errors, t), label=label)
    ax.axhline(PAPER_HUMAN_AUC10, color="0.5", ls="--", lw=1)
    ax.axhline(PAPER_HUMAN_AUC30, color="0.5", ls=":", lw=1)
    ax.text(
        30,
        PAPER_HUMAN_AUC10 + 0.01,
        f"paper humans AUC10 {PAPER_HUMAN_AUC10}",
        ha="right",
        fontsize=8,
        color="0.4",
    )
    ax.text(
        30,
        PAPER_HUMAN_AUC30 + 0.01,
        f"paper humans AUC30 {PAPER_HUMAN_AUC30}",
        ha="right",
        fontsize=8,
        color="0.4",
    )
    ax.set_xlabel("geodesic error threshold (cm)")
    ax.set_ylabel("ratio of correct points")
    ax.set_xlim(0, 30)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    image = _figure_to_rgb(fig)
    plt.close(fig)
    return image


def body_renders(
    geodesics: Geodesics, colors: np.ndarray, size: int = 480
) -> tuple[np.ndarray, np.ndarray]:
    """The rest body with per-vertex ``colors`` ``[V, 3]``, from the front and the back."""
    from annotator.surface.render import Camera, ColorMesh, Renderer

    atlas = geodesics.atlas
    _left, up, forward = atlas.frame
    centre = 0.5 * (atlas.rest_vertices.min(axis=0) + atlas.rest_vertices.max(axis=0))
    radius = float(np.linalg.norm(atlas.rest_vertices - centre, axis=1).max())
    distance = radius / np.sin(np.radians(15))
    mesh = ColorMesh(atlas.rest_vertices, atlas.faces, vertex_colors=colors)
    with Renderer(size, size) as renderer:
        out = []
        for sign in (1, -1):
            cam = Camera.look_at(
                centre + sign * distance * forward, centre, up, np.radians(30), size, size
            )
            out.append(renderer.render_color([mesh], cam, ambient=0.55, light_intensity=2.0)[0])
    return out[0], out[1]


def _crop_pair(a: np.ndarray, b: np.ndarray, margin: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Both images cropped to the box holding the body in either (white background)."""
    body = np.any(a < 250, axis=2) | np.any(b < 250, axis=2)
    rows, cols = np.nonzero(body)
    if len(rows) == 0:
        return a, b
    r0, r1 = max(rows.min() - margin, 0), rows.max() + margin + 1
    c0, c1 = max(cols.min() - margin, 0), cols.max() + margin + 1
    return a[r0:r1, c0:c1], b[r0:r1, c0:c1]


def heatmap_figure(
    geodesics: Geodesics, points: SurfacePoints, errors: np.ndarray, title: str = ""
) -> np.ndarray:
    """Mean error on the body, front and back, with a colour bar in centimetres."""
    plt = _pyplot()
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    per_vertex = vertex_errors(geodesics, points, errors)
    finite = per_vertex[np.isfinite(per_vertex)]
    vmax = max(0.05, float(np.percentile(finite, 98))) if len(finite) else 0.1
    front, back = _crop_pair(*body_renders(geodesics, colorize(per_vertex, vmax), size=640))
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 5.2))
    for ax, image, name in zip(axes, (front, back), ("front", "back"), strict=True):
        ax.imshow(image)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    cmap = colormaps["inferno"].resampled(256)
    norm = Normalize(0, vmax * 100 / 0.9)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, fraction=0.04, pad=0.02)
    bar.set_label("mean geodesic error (cm); grey: no points")
    if title:
        fig.suptitle(title, fontsize=11)
    image = _figure_to_rgb(fig)
    plt.close(fig)
    return image
