"""Checks that a sample's ground truth is right, independently of how it was made.

* **Re-projection**: the surface point of every labelled pixel, placed on its person's posed
  skin and projected through the camera, lands within :data:`MAX_REPROJECTION` pixels of the
  pixel centre, at the depth the renderer recorded there.
* **Visible surface**: each person is rendered *alone* with the surface renderer's own id
  pass (:meth:`annotator.surface.render.Renderer.render_ids`, a different code path from the
  synthetic renderer), and so is each box. A pixel labelled person k must show k's alone
  render with the same face; no other person or box alone may be nearer there (a label from
  an occluded body); and a pixel where a person alone would be visible may only be labelled
  otherwise if something nearer covers it (a missing label).
  Pixels whose truth comes from an exact ray (:attr:`SynthSample.cast`: the rasterizer
  misjudged a sliver there, and so do the alone renders) are left to the re-projection
  check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from annotator.surface.atlas import Atlas
from annotator.surface.render import Renderer
from annotator.synth.render_scene import SynthSample

#: Largest allowed distance between a pixel centre and its re-projected surface point.
MAX_REPROJECTION = 0.5
#: Depth tolerance of the visible-surface check, metres (float32 depth buffers).
DEPTH_TOLERANCE = 2e-3


@dataclass
class CheckReport:
    """What the checks found in one sample.

    Attributes:
        pixels: labelled skin pixels checked.
        max_reprojection: largest re-projection distance, pixels.
        max_depth_error: largest difference between recorded and re-projected depth, metres.
        wrong_face: labelled pixels whose face differs from the person's alone render.
        occluded_labels: labelled pixels where another body or box alone is nearer.
        missing_labels: pixels where a person alone is nearest but that are not labelled so.
        cast: pixels whose truth comes from an exact ray (not a failure).
        problems: readable descriptions of failures.
    """

    pixels: int = 0
    max_reprojection: float = 0.0
    max_depth_error: float = 0.0
    wrong_face: int = 0
    occluded_labels: int = 0
    missing_labels: int = 0
    cast: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_reprojection(sample: SynthSample, atlas: Atlas, report: CheckReport) -> None:
    """Fill the re-projection fields of ``report``."""
    for person in sample.persons:
        pixels, points = sample.surface_points(person.instance)
        if len(points) == 0:
            continue
        skin = atlas.skin_vertices(person.vertices)
        xy, depth = sample.camera.project(atlas.positions(points, skin))
        centres = pixels[:, ::-1] + 0.5
        error = float(np.abs(xy - centres).max())
        depth_error = float(np.abs(depth - sample.depth[pixels[:, 0], pixels[:, 1]]).max())
        report.pixels += len(points)
        report.max_reprojection = max(report.max_reprojection, error)
        report.max_depth_error = max(report.max_depth_error, depth_error)
    if report.max_reprojection >= MAX_REPROJECTION:
        report.problems.append(
            f"a surface point re-projects {report.max_reprojection:.3f} px from its pixel"
        )
    if report.max_depth_error > DEPTH_TOLERANCE:
        report.problems.append(f"a recorded depth is off by {report.max_depth_error:.4f} m")


def check_visibility(
    sample: SynthSample, atlas: Atlas, renderer: Renderer, report: CheckReport
) -> None:
    """Fill the visible-surface fields of ``report`` (renders every body and box alone)."""
    alone_depth, alone_face = [], []
    for person in sample.persons:
        ids = renderer.render_ids(
            [(atlas.skin_vertices(person.vertices), atlas.faces)], sample.camera
        )
        alone_depth.append(np.where(ids.mask, ids.depth, np.inf))
        alone_face.append(ids.face)
    for vertices, faces in sample.occluders:
        ids = renderer.render_ids([(vertices, faces)], sample.camera)
        alone_depth.append(np.where(ids.mask, ids.depth, np.inf))
    depth = np.where(sample.depth > 0, sample.depth, np.inf)
    judged = ~sample.cast  # where the rasterizer (hence each alone render) can be trusted
    report.cast = int(np.count_nonzero(sample.cast))
    labelled = (sample.face >= 0) & judged
    for k, person in enumerate(sample.persons):
        mine = labelled & (sample.instance == person.instance)
        report.wrong_face += int(np.count_nonzero(mine & (alone_face[k] != sample.face)))
        for j, other in enumerate(alone_depth):
            if j != k:
                nearer = mine & (other < depth - DEPTH_TOLERANCE)
                report.occluded_labels += int(np.count_nonzero(nearer))
        # where k alone is visible, whatever is labelled must be at least as near
        hidden_ok = depth <= alone_depth[k] + DEPTH_TOLERANCE
        missing = np.isfinite(alone_depth[k]) & (sample.instance != person.instance) & ~hidden_ok
        report.missing_labels += int(np.count_nonzero(missing & judged))
    for name in ("wrong_face", "occluded_labels", "missing_labels"):
        count = getattr(report, name)
        if count:
            report.problems.append(f"{count} pixels with {name.replace('_', ' ')}")


def check_sample(
    sample: SynthSample, atlas: Atlas, renderer: Renderer | None = None
) -> CheckReport:
    """Run the re-projection check, and the visible-surface check when given a renderer of
    the sample's size."""
    report = CheckReport()
    check_reprojection(sample, atlas, report)
    if renderer is not None:
        check_visibility(sample, atlas, renderer, report)
    return report
