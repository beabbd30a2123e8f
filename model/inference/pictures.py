"""Pictures of DensePose predictions, the way DensePose results are usually shown.

One picture per image, side by side: the fine parts (the app's chart colours) blended over
the image with each person's box and score; and the image with U and V contour lines (U in
warm, V in cool colours, every 0.1). Confidence maps, when the model estimates them, get a
third panel (the UV uncertainty, brighter = less sure).
"""

from __future__ import annotations

import numpy as np
import torch

from annotator.surface.parts import FINE_COLORS
from model.structures import DensePoseResult

#: Contour levels of U and V.
LEVELS = np.linspace(0.1, 0.9, 9)


def _paste(canvas: np.ndarray, result: DensePoseResult) -> tuple[slice, slice, slice, slice]:
    """Slices of the canvas and of the result's maps where the box lies inside the image."""
    x, y, w, h = result.box
    height, width = canvas.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    return slice(y0, y1), slice(x0, x1), slice(y0 - y, y1 - y), slice(x0 - x, x1 - x)


def parts_panel(
    image: np.ndarray, results: list[DensePoseResult], scores: list[float]
) -> np.ndarray:
    """The image with each person's fine parts coloured, boxes and scores drawn."""
    import cv2

    out = image.copy()
    # Lowest scores first, so the most confident person is drawn on top.
    for k in np.argsort(scores):
        result = results[k]
        cy, cx, ry, rx = _paste(out, result)
        labels = result.labels.numpy()[ry, rx]
        fg = labels > 0
        region = out[cy, cx]
        region[fg] = (0.35 * region[fg] + 0.65 * FINE_COLORS[labels[fg]]).astype(np.uint8)
        x, y, w, h = result.box
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(
            out,
            f"{scores[k]:.2f}",
            (x + 2, max(y - 3, 10)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return out


def contours_panel(image: np.ndarray, results: list[DensePoseResult]) -> np.ndarray:
    """The image (dimmed) with U and V iso-lines of every person."""
    import cv2

    out = (image * 0.6).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    for result in results:
        cy, cx, ry, rx = _paste(out, result)
        labels = result.labels.numpy()[ry, rx]
        uv = result.uv.numpy()[:, ry, rx]
        region = np.ascontiguousarray(out[cy, cx])
        # Per chart: U and V are continuous inside a chart only, so lines are drawn chart by
        # chart and the chart's own border (where U, V jump) is left out.
        for chart in np.unique(labels[labels > 0]):
            inside = labels == chart
            border = cv2.dilate((~inside).astype(np.uint8), kernel) > 0
            for values, color in ((uv[0], (255, 120, 40)), (uv[1], (60, 180, 255))):
                for level in LEVELS:
                    above = ((values >= level) & inside).astype(np.uint8)
                    found, _ = cv2.findContours(above, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
                    for contour in found:
                        pts = contour[:, 0]
                        keep = ~border[pts[:, 1], pts[:, 0]]
                        region[pts[keep, 1], pts[keep, 0]] = color
        out[cy, cx] = region
    return out


def confidence_panel(image: np.ndarray, results: list[DensePoseResult]) -> np.ndarray | None:
    """The UV uncertainty (sigma_2) over the image, if the model estimates it."""
    import cv2

    if not any(r.confidences and "sigma_2" in r.confidences for r in results):
        return None
    sigma = np.zeros(image.shape[:2], np.float32)
    for result in results:
        if not result.confidences or "sigma_2" not in result.confidences:
            continue
        cy, cx, ry, rx = _paste(sigma, result)
        fg = result.labels.numpy()[ry, rx] > 0
        sigma[cy, cx][fg] = result.confidences["sigma_2"].numpy()[ry, rx][fg]
    top = float(np.percentile(sigma[sigma > 0], 99)) if (sigma > 0).any() else 1.0
    scaled = np.clip(sigma / max(top, 1e-6) * 255, 0, 255).astype(np.uint8)
    colored = cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO)[..., ::-1]
    return np.where((sigma > 0)[..., None], colored, (image * 0.3).astype(np.uint8))


def upscaled(
    image: np.ndarray, results: list[DensePoseResult], factor: int
) -> tuple[np.ndarray, list[DensePoseResult]]:
    """The image and the results ``factor`` times larger (each pixel a square of pixels), so
    that lines and labels on small images stay readable."""
    import cv2

    if factor == 1:
        return image, results
    big = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)

    def grow(maps: torch.Tensor) -> torch.Tensor:
        return maps.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)

    out = []
    for r in results:
        x, y, w, h = r.box
        conf = {k: grow(v) for k, v in r.confidences.items()} if r.confidences else None
        out.append(
            DensePoseResult(
                box=(x * factor, y * factor, w * factor, h * factor),
                labels=grow(r.labels),
                uv=grow(r.uv),
                confidences=conf,
            )
        )
    return big, out


def prediction_picture(
    image: np.ndarray,
    results: list[DensePoseResult],
    scores: list[float],
    min_side: int = 480,
) -> np.ndarray:
    """RGB uint8 picture: parts and boxes | U, V contours | (uncertainty). Images smaller
    than ``min_side`` are shown enlarged by a whole factor."""
    factor = max(1, -(-min_side // max(image.shape[:2])))
    image, results = upscaled(image, results, factor)
    panels = [parts_panel(image, results, scores), contours_panel(image, results)]
    confidence = confidence_panel(image, results)
    if confidence is not None:
        panels.append(confidence)
    return np.concatenate(panels, axis=1)
