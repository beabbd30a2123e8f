"""Contact sheets of an atlas, for people to look at: every part view, every chart's layout,
and the body painted with a UV grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.surface.atlas import Atlas
from annotator.surface.parts import COARSE_PARTS, FINE_COLORS, FINE_PARTS, N_COARSE, N_FINE
from annotator.surface.render import Camera, ColorMesh, Renderer
from annotator.surface.texture import tiled_uv, uv_grid_texture
from annotator.surface.views import VIEW_AZIMUTHS, PartViews, view_name


def _label(image: np.ndarray, text: str, scale: float = 0.45) -> np.ndarray:
    import cv2

    out = np.ascontiguousarray(image.copy())
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(
        out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
    )
    return out


def views_sheet(views: PartViews, style: str = "charts", progress=None) -> np.ndarray:
    """All 84 part views (14 parts x 6 directions) in one image, labelled."""
    rows = []
    for part in range(1, N_COARSE + 1):
        row = []
        for az in VIEW_AZIMUTHS:
            view = views.render(part, az, ids=False, style=style)
            row.append(_label(view.image, f"{COARSE_PARTS[part - 1]} / {view_name(az)}"))
            if progress is not None:
                progress()
        rows.append(np.hstack(row))
    return np.vstack(rows)


def uv_layout_sheet(atlas: Atlas, tile: int = 256) -> np.ndarray:
    """Each chart's triangles drawn in its unit square (5 x 5 grid of tiles)."""
    import cv2

    cols = 5
    sheet = np.full((tile * cols, tile * cols, 3), 255, np.uint8)
    for chart in range(1, N_FINE + 1):
        r, c = divmod(chart - 1, cols)
        canvas = np.full((tile, tile, 3), 250, np.uint8)
        uv = atlas.face_uv[atlas.chart_faces(chart)]
        pts = np.stack([uv[..., 0] * (tile - 21) + 10, (1 - uv[..., 1]) * (tile - 21) + 10], -1)
        pts = np.round(pts * 4).astype(np.int32)  # 2 fractional bits for cv2's shift
        color = tuple(int(x) for x in FINE_COLORS[chart])
        cv2.fillPoly(canvas, list(pts), color, cv2.LINE_AA, shift=2)
        cv2.polylines(canvas, list(pts), True, (40, 40, 40), 1, cv2.LINE_AA, shift=2)
        cv2.rectangle(canvas, (10, 10), (tile - 11, tile - 11), (120, 120, 120), 1)
        sheet[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = _label(
            canvas, f"{chart} {FINE_PARTS[chart - 1]}", 0.4
        )
    return sheet


def body_sheet(atlas: Atlas, size: int = 512) -> np.ndarray:
    """The whole body from the front and the back, coloured by chart and with the UV grid."""
    _left, up, forward = atlas.frame
    centre = 0.5 * (atlas.rest_vertices.min(axis=0) + atlas.rest_vertices.max(axis=0))
    radius = float(np.linalg.norm(atlas.rest_vertices - centre, axis=1).max())
    yfov = np.radians(30.0)
    distance = radius / np.sin(yfov / 2)
    grid = ColorMesh(
        atlas.rest_vertices,
        atlas.faces,
        corner_uv=tiled_uv(atlas.face_chart, atlas.face_uv),
        texture=uv_grid_texture(2048),
    )
    charts = ColorMesh(atlas.rest_vertices, atlas.faces, face_colors=FINE_COLORS[atlas.face_chart])
    images = []
    with Renderer(size, size) as renderer:
        for mesh in (charts, grid):
            for sign, name in ((1, "front"), (-1, "back")):
                cam = Camera.look_at(
                    centre + sign * forward * distance, centre, up, yfov, size, size
                )
                image, _ = renderer.render_color([mesh], cam)
                images.append(_label(image, name))
    return np.hstack(images)


def write_sheets(atlas: Atlas, out_dir: Path, size: int = 256, progress=None) -> list[Path]:
    """Write views_charts.png, views_uvgrid.png, uv_layouts.png and body.png to ``out_dir``."""
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    views = PartViews(atlas, size=size)
    written = []
    try:
        for style in ("charts", "uvgrid"):
            path = out_dir / f"views_{style}.png"
            Image.fromarray(views_sheet(views, style, progress)).save(path)
            written.append(path)
    finally:
        views.close()
    for name, image in (("uv_layouts", uv_layout_sheet(atlas)), ("body", body_sheet(atlas))):
        path = out_dir / f"{name}.png"
        Image.fromarray(image).save(path)
        written.append(path)
    return written
