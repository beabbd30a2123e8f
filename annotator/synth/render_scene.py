"""Render one scene: the image and its exact ground truth (:class:`SynthSample`).

What counts as a person pixel: every pixel where a person's mesh is the nearest surface,
including its eyes and mouth (they belong to the silhouette and to the head part). Only skin
pixels have a surface point (face, barycentric coordinates, I, U, V); eye and mouth pixels
have face -1 and I = 0. Boxes (seats, occluders) hide people like any surface and are not
persons.

Exact at every pixel: a pixel's face and depth come from the rasterizer and its surface point
is the point of that face nearest the pixel centre, in float64; where the rasterizer's depth
test was decided on a sliver's extrapolated depth, the pixel's ray is cast exactly instead
(:mod:`annotator.synth.exact`, :attr:`SynthSample.cast`).

Which persons are annotated (carry DensePose points and masks in the JSON):

* at least :data:`MIN_ANNOTATED_PIXELS` visible pixels, and
* at least :data:`MIN_VISIBLE_FRACTION` of the person's whole silhouette visible (the
  silhouette, in and out of the frame, is estimated as the union of the convex hulls of the
  projected coarse parts; a person half cut by the border has about 0.5).

Persons with at least :data:`MIN_PERSON_PIXELS` visible pixels that miss these are written
as plain COCO persons (box, mask, keypoints) so that a detector is not taught that they are
background; smaller slivers appear only in the dense maps.

COCO keypoint visibility: 2 when a person's pixel within 2 px of the projected keypoint is
that person at a depth within :data:`KEYPOINT_DEPTH_TOLERANCE` of the keypoint (joints lie a
few cm under the skin), 1 when in the frame but hidden (by someone, a box, or the person's
own body), 0 when outside the frame or behind the camera.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.surface.parts import FINE_TO_COARSE, N_COARSE
from annotator.surface.points import SurfacePoints
from annotator.surface.raster import (
    DrawMesh,
    PassOutput,
    ScenePass,
    soften_edges,
    vertex_normals,
)
from annotator.surface.render import Camera, Renderer
from annotator.synth.appearance import albedo
from annotator.synth.backgrounds import contact_shadows, make_background
from annotator.synth.exact import exact_pass
from annotator.synth.layout import Layout, layout_scene, stature
from annotator.synth.people import SynthBody
from annotator.synth.scene import Scene

MIN_ANNOTATED_PIXELS = 1024
MIN_VISIBLE_FRACTION = 0.2
MIN_PERSON_PIXELS = 50
KEYPOINT_DEPTH_TOLERANCE = 0.15
_BOX_INSTANCE = 1000  # draw-instance numbers of boxes start here
_HEAD = 14
_FINE_TO_COARSE_U8 = FINE_TO_COARSE.astype(np.uint8)


@dataclass
class PersonTruth:
    """One person of a rendered scene.

    Attributes:
        instance: its number in the instance map (1-based, the scene's person order).
        box: ``(x, y, w, h)`` of its visible pixels, pixels, or None if none is visible.
        pixels: visible pixels (eyes and mouth included).
        visible_fraction: ``pixels`` over the estimated whole silhouette.
        keypoints: ``[17, 3]`` COCO keypoints: x, y in pixels (pixel centres at .5), v 0..2.
        annotated: passes the thresholds for DensePose annotation.
        listed: enough pixels to be written as a COCO person at all.
        vertices: ``[V, 3]`` the posed model mesh in world coordinates (the skin vertices,
            atlas order, are ``atlas.skin_vertices(vertices)``).
        preset: its pose preset.
    """

    instance: int
    box: tuple[float, float, float, float] | None
    pixels: int
    visible_fraction: float
    keypoints: np.ndarray
    annotated: bool
    listed: bool
    vertices: np.ndarray
    preset: str


@dataclass
class SynthSample:
    """A rendered scene and its ground truth (``H x W`` pixels).

    Attributes:
        scene: what was drawn.
        camera: the camera.
        image: ``[H, W, 3]`` uint8 RGB.
        instance: ``[H, W]`` uint8, 0 background or box, k = person k (1-based).
        parts: ``[H, W]`` uint8 coarse part 0..14 (eyes and mouth are head, 14).
        face: ``[H, W]`` int32 atlas face of the visible skin point, -1 elsewhere.
        bary: ``[H, W, 3]`` float32 its barycentric coordinates (0 elsewhere).
        i: ``[H, W]`` uint8 chart 0..24.
        u: ``[H, W]`` float32 in [0, 1] (0 where i is 0).
        v: ``[H, W]`` float32 in [0, 1] (0 where i is 0).
        depth: ``[H, W]`` float32 metres to the visible surface (people and boxes), 0 else.
        cast: ``[H, W]`` bool pixels whose truth comes from an exact ray, not from the
            rasterizer (:mod:`annotator.synth.exact`; the image keeps the rasterizer's
            colour there).
        persons: per person of the scene, in order.
        occluders: (vertices ``[8, 3]``, faces ``[12, 3]``) of the boxes, world coordinates.
        timings: CPU seconds spent per stage (this process, all its threads).
    """

    scene: Scene
    camera: Camera
    image: np.ndarray
    instance: np.ndarray
    parts: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    i: np.ndarray
    u: np.ndarray
    v: np.ndarray
    depth: np.ndarray
    cast: np.ndarray
    persons: list[PersonTruth]
    occluders: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def skin(self) -> np.ndarray:
        """``[H, W]`` bool: pixels with a surface point."""
        return self.face >= 0

    def surface_points(self, instance: int) -> tuple[np.ndarray, SurfacePoints]:
        """Pixels ``[N, 2]`` (row, col) of person ``instance``'s skin and their points."""
        rows, cols = np.nonzero((self.instance == instance) & self.skin)
        points = SurfacePoints(self.face[rows, cols], self.bary[rows, cols].astype(np.float64))
        return np.stack([rows, cols], axis=1), points


class SceneRenderer:
    """Renders scenes of one image size (one OpenGL context: use from one thread)."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        body: SynthBody | None = None,
        background_images: list[Path] | None = None,
    ) -> None:
        self.body = body if body is not None else SynthBody()
        self.width, self.height = int(width), int(height)
        self.renderer = Renderer(self.width, self.height)
        self.scene_pass = ScenePass(self.renderer)
        self.background_images = background_images or []
        rest_joints = self.body.body.pose().joints
        self.stature_scale = float(
            (self.body.rest_vertices[:, 1].max() - self.body.rest_vertices[:, 1].min())
            / stature(rest_joints, 1.0)[0]
        )

    def close(self) -> None:
        self.scene_pass.close()
        self.renderer.close()

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self, scene: Scene) -> SynthSample:
        """Pose, place, draw and label ``scene`` (its size must be the renderer's)."""
        if (scene.width, scene.height) != (self.width, self.height):
            raise ValueError(
                f"scene is {scene.width} x {scene.height}, not {self.width} x {self.height}"
            )
        clock = _Clock()
        body = self.body
        posed = body.pose([p.pose for p in scene.people], [p.shape for p in scene.people])
        layout = layout_scene(scene, posed, body.regions, self.stature_scale)
        clock.lap("pose")
        meshes = self._meshes(scene, layout)
        out = self.scene_pass.draw(meshes, layout.camera, layout.lighting)
        clock.lap("raster")
        image = self._compose(scene, layout, out)
        clock.lap("background")
        sample = self._truth(scene, layout, out, meshes, image)
        clock.lap("truth")
        sample.timings = clock.laps
        return sample

    def _meshes(self, scene: Scene, layout: Layout) -> list[DrawMesh]:
        body = self.body
        meshes = []
        for k, (spec, vertices) in enumerate(zip(scene.people, layout.vertices, strict=True)):
            normals = vertex_normals(vertices, body.faces, body.incidence)
            meshes.append(
                DrawMesh(vertices, body.faces, albedo(spec.look, body.regions), k, normals)
            )
        for j, box in enumerate(layout.boxes):
            colors = np.tile(np.append(box.color, 15), (len(box.vertices), 1)).astype(np.uint8)
            # unshared corners keep the box's faces flat
            flat_v = box.vertices[box.faces].reshape(-1, 3)
            flat_f = np.arange(len(flat_v)).reshape(-1, 3)
            meshes.append(
                DrawMesh(flat_v, flat_f, np.repeat(colors[:1], len(flat_v), 0), _BOX_INSTANCE + j)
            )
        return meshes

    def _compose(self, scene: Scene, layout: Layout, out: PassOutput) -> np.ndarray:
        far = max(float(np.hypot(g[0], g[2])) for g in layout.ground)
        background = make_background(scene.background, layout.camera, far, self.background_images)
        if scene.background.kind in ("room", "outdoor"):
            feet = [(g, 0.3) for g in layout.ground]
            feet += [
                (b.vertices.mean(0) * [1, 0, 1], 0.5 * float(np.ptp(b.vertices[:, 0])))
                for b in layout.boxes
            ]
            background = contact_shadows(background, layout.camera, feet)
        image = np.where(out.covered[..., None], out.color, background)
        image = soften_edges(image, out.instance)
        return _post(image, scene)

    def _truth(
        self,
        scene: Scene,
        layout: Layout,
        out: PassOutput,
        meshes: list[DrawMesh],
        image: np.ndarray,
    ) -> SynthSample:
        body = self.body
        shape = out.instance.shape
        exact = exact_pass(meshes, layout.camera, out)
        is_person = exact.instance.view(np.uint32) < _BOX_INSTANCE  # background -1 is huge
        instance = np.where(is_person, exact.instance + 1, 0).astype(np.uint8)
        is_skin = is_person & (exact.face < body.n_skin)
        face = np.where(is_skin, exact.face, -1).astype(np.int32)
        bary = np.zeros((*shape, 3), np.float32)
        i_map = np.zeros(shape, np.uint8)
        u_map = np.zeros(shape, np.float32)
        v_map = np.zeros(shape, np.float32)
        keep = is_skin.flat[exact.pixels]
        skin, skin_bary = exact.pixels[keep], exact.bary[keep]
        bary.reshape(-1, 3)[skin] = skin_bary
        if len(skin):
            i, u, v = body.atlas.to_iuv(SurfacePoints(face.flat[skin], skin_bary))
            i_map.flat[skin], u_map.flat[skin], v_map.flat[skin] = i, u, v
        parts = _FINE_TO_COARSE_U8[i_map]
        parts[is_person & (face < 0)] = _HEAD
        sample = SynthSample(
            scene=scene,
            camera=layout.camera,
            image=image,
            instance=instance,
            parts=parts,
            face=face,
            bary=bary,
            i=i_map,
            u=u_map,
            v=v_map,
            depth=exact.depth,  # 0 where nothing is
            cast=exact.cast,
            persons=[],
            occluders=[(b.vertices, b.faces) for b in layout.boxes],
        )
        sample.persons = [self._person(sample, layout, k) for k in range(len(scene.people))]
        return sample

    def _person(self, sample: SynthSample, layout: Layout, k: int) -> PersonTruth:
        mask = sample.instance == k + 1
        pixels = int(np.count_nonzero(mask))
        box = _box(mask) if pixels else None
        vertices = layout.vertices[k]
        whole = silhouette_area(vertices, self.body.regions.coarse, layout.camera)
        fraction = pixels / whole if whole > 0 else 0.0
        keypoints = keypoint_visibility(layout.keypoints[k], k + 1, sample, layout.camera)
        return PersonTruth(
            instance=k + 1,
            box=box,
            pixels=pixels,
            visible_fraction=float(min(fraction, 1.0)),
            keypoints=keypoints,
            annotated=pixels >= MIN_ANNOTATED_PIXELS and fraction >= MIN_VISIBLE_FRACTION,
            listed=pixels >= MIN_PERSON_PIXELS,
            vertices=vertices,
            preset=sample.scene.people[k].pose.preset,
        )


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.process_time()

    def lap(self, name: str) -> None:
        now = time.process_time()
        self.laps[name] = now - self._last
        self._last = now


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def silhouette_area(vertices: np.ndarray, coarse: np.ndarray, camera: Camera) -> float:
    """Estimated pixels of a person's whole silhouette, inside and outside the frame: the
    union of the convex hulls of its projected coarse parts (points behind the camera
    dropped), drawn at half resolution on a canvas three times the image size."""
    import cv2

    xy, depth = camera.project(vertices[::5])
    part = coarse[::5]
    keep = depth > camera.znear
    scale = 0.5
    w, h = camera.width, camera.height
    canvas = np.zeros((int(3 * h * scale), int(3 * w * scale)), np.uint8)
    shifted = (xy + np.array([w, h])) * scale
    inside = keep & np.all((shifted >= 0) & (shifted < canvas.shape[::-1]), axis=1)
    for k in range(1, N_COARSE + 1):
        pts = shifted[inside & (part == k)]
        if len(pts) >= 3:
            hull = cv2.convexHull(pts.astype(np.float32)).astype(np.int32)
            cv2.fillConvexPoly(canvas, hull, 1)
    return float(np.count_nonzero(canvas)) / scale**2


def keypoint_visibility(
    keypoints: np.ndarray, instance: int, sample: SynthSample, camera: Camera, reach: int = 2
) -> np.ndarray:
    """``[17, 3]`` x, y (pixels, centres at .5) and COCO visibility of 3D ``keypoints``."""
    xy, depth = camera.project(keypoints)
    h, w = sample.instance.shape
    out = np.zeros((len(keypoints), 3))
    for n, ((x, y), d) in enumerate(zip(xy, depth, strict=True)):
        if d <= camera.znear or not (0 <= x < w and 0 <= y < h):
            continue
        r, c = int(y), int(x)
        r0, r1, c0, c1 = (
            max(r - reach, 0),
            min(r + reach + 1, h),
            max(c - reach, 0),
            min(c + reach + 1, w),
        )
        own = sample.instance[r0:r1, c0:c1] == instance
        near = np.abs(sample.depth[r0:r1, c0:c1] - d) < KEYPOINT_DEPTH_TOLERANCE
        out[n] = x, y, 2 if np.any(own & near) else 1
    return out


def _post(image: np.ndarray, scene: Scene) -> np.ndarray:
    """Brightness and tone curve (one lookup table), blur, sensor noise."""
    import cv2

    post = scene.post
    levels = np.arange(256) / 255.0
    table = np.clip(255.0 * np.clip(levels * post.gain, 0, 1) ** post.gamma + 0.5, 0, 255)
    out = cv2.LUT(image, table.astype(np.uint8))
    if post.blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), post.blur)
    if post.noise > 0:
        grain = np.empty(out.shape, np.int16)
        cv2.setRNGSeed(int(np.random.default_rng([scene.seed, scene.index]).integers(2**31)))
        cv2.randn(grain, 0.0, float(post.noise))  # type: ignore[call-overload]
        out = np.clip(cv2.add(out.astype(np.int16), grain), 0, 255).astype(np.uint8)
    return out
