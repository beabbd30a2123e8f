"""Part views: six rendered views of each coarse body part, with pick buffers (stage 2).

For the point being annotated, the annotator sees six views of that part of the body and
clicks the matching spot on any of them; the picked surface point is then drawn on all six.
Each :class:`PartView` keeps its image, its camera and a face-id buffer, so that a click gives
a surface point at once (a table look-up and one ray-triangle intersection) and a surface
point gives a marker position and whether it is visible in that view.

Views circle the part's own axis (the bone for limbs, the vertical for torso and head) in
60 degree steps starting from the person's front, seen slightly from above. Renders are
cached on disk per atlas, so the app renders each part once per machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.surface.atlas import Atlas
from annotator.surface.parts import COARSE_COLORS, FINE_COLORS, N_COARSE
from annotator.surface.points import SurfacePoints
from annotator.surface.raster import DrawMesh, Lighting, ScenePass, soften_edges, vertex_normals
from annotator.surface.render import Camera, ColorMesh, Renderer, pick_bary
from annotator.surface.texture import tiled_uv, uv_grid_texture

#: Azimuths of the six views around the part axis, degrees from the person's front.
VIEW_AZIMUTHS = (0.0, 60.0, 120.0, 180.0, 240.0, 300.0)
VIEW_ELEVATION = 15.0
#: Bump when the look of the views changes, to invalidate caches.
RENDER_VERSION = 3
#: Skin tone of the part views (RGB), tinted by the part's colour.
_SKIN = np.array([214.0, 178.0, 152.0])
#: Background of the part views (RGB).
_BACKGROUND = np.array([41, 43, 48], np.uint8)

#: Coarse part -> (proximal joint, distal joint) of the axis views circle, or None: vertical.
_PART_AXES: dict[int, tuple[str, str] | None] = {
    1: None,
    2: ("right_wrist", "centre"),
    3: ("left_wrist", "centre"),
    4: ("left_ankle", "centre"),
    5: ("right_ankle", "centre"),
    6: ("right_hip", "right_knee"),
    7: ("left_hip", "left_knee"),
    8: ("right_knee", "right_ankle"),
    9: ("left_knee", "left_ankle"),
    10: ("left_shoulder", "left_elbow"),
    11: ("right_shoulder", "right_elbow"),
    12: ("left_elbow", "left_wrist"),
    13: ("right_elbow", "right_wrist"),
    14: None,
}


#: Joints worth labelling on the views of each part: where it meets its neighbours.
PART_LANDMARKS: dict[int, tuple[str, ...]] = {
    part: tuple(j for j in (spec or ()) if j != "centre") for part, spec in _PART_AXES.items()
}
PART_LANDMARKS[1] = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


def view_name(azimuth: float) -> str:
    """A readable name for a view direction (the person's own left and right)."""
    names = {0: "front", 60: "front-left", 120: "back-left", 180: "back", 240: "back-right"}
    return names.get(round(azimuth) % 360, "front-right")


@dataclass
class PartView:
    """One rendered view of one coarse part.

    Attributes:
        part: coarse part 1..14.
        azimuth, elevation: viewing direction, degrees.
        camera: the camera of the render.
        image: ``[H, W, 3]`` uint8 shaded render.
        face: ``[H, W]`` int32 atlas face seen at each pixel, -1 for background.
        depth: ``[H, W]`` float32 metres along the view axis, 0 for background.
        vertices: ``[V, 3]`` the rest skin vertices rendered (the atlas's, shared).
        faces: ``[F, 3]`` the atlas faces (shared).
    """

    part: int
    azimuth: float
    elevation: float
    camera: Camera
    image: np.ndarray
    face: np.ndarray
    depth: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray

    @property
    def name(self) -> str:
        return view_name(self.azimuth)

    def pick(self, x: float, y: float) -> SurfacePoints | None:
        """The surface point under pixel position (x, y), or None on the background.

        Args:
            x, y: position in image pixels (x right, y down; sub-pixel allowed).
        """
        h, w = self.face.shape
        col, row = int(np.floor(x)), int(np.floor(y))
        if not (0 <= col < w and 0 <= row < h):
            return None
        face = int(self.face[row, col])
        if face < 0:
            return None
        triangle = self.vertices[self.faces[face]][None]
        bary, _ = pick_bary(self.camera, np.array([[x, y]]), triangle)
        return SurfacePoints(np.array([face]), bary)

    def project(
        self, points: SurfacePoints, tolerance: float = 0.01
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pixel positions ``[N, 2]`` of surface points and whether each is visible ``[N]``.

        A point is visible when it is in the image, its face turns its outside to the camera
        (the inside of the skin seen through an opening such as the neck or an arm hole of a
        part is not the point) and no other surface is more than ``tolerance`` metres in
        front of it.
        """
        xy, depth = self.camera.project(points.positions(self.vertices, self.faces))
        h, w = self.depth.shape
        col = np.clip(np.floor(xy[:, 0]).astype(int), 0, w - 1)
        row = np.clip(np.floor(xy[:, 1]).astype(int), 0, h - 1)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        seen = self.depth[row, col]
        visible = inside & (seen > 0) & (depth <= seen + tolerance) & self.facing(points)
        return xy, visible

    def facing(self, points: SurfacePoints) -> np.ndarray:
        """``[N]`` bool: the face of each point turns its outside towards the camera."""
        corners = self.vertices[self.faces[points.face]]  # [N, 3, 3]
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        to_eye = self.camera.pose[:3, 3] - corners.mean(axis=1)
        return np.einsum("nd,nd->n", normal, to_eye) > 0


def part_axis(atlas: Atlas, part: int, joints: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Unit axis ``[3]`` (model coordinates) that the views of ``part`` circle."""
    up = atlas.frame[1]
    spec = _PART_AXES[part]
    if spec is None:
        return up
    faces = atlas.faces[atlas.face_coarse == part]
    pts = atlas.rest_vertices[np.unique(faces)]
    if joints is None:
        joints = atlas_joints(atlas)
    start = joints[spec[0]]
    end = pts.mean(axis=0) if spec[1] == "centre" else joints[spec[1]]
    axis = end - start
    return axis / np.linalg.norm(axis)


def atlas_joints(atlas: Atlas) -> dict[str, np.ndarray]:
    """Approximate rest joints from the charts: centres of the loops where parts meet."""
    faces, coarse = atlas.faces, atlas.face_coarse
    out: dict[str, np.ndarray] = {}
    pairs = {
        "right_hip": (1, 6),
        "left_hip": (1, 7),
        "right_knee": (6, 8),
        "left_knee": (7, 9),
        "right_ankle": (8, 5),
        "left_ankle": (9, 4),
        "left_shoulder": (1, 10),
        "right_shoulder": (1, 11),
        "left_elbow": (10, 12),
        "right_elbow": (11, 13),
        "left_wrist": (12, 3),
        "right_wrist": (13, 2),
    }
    vertex_parts: dict[int, set[int]] = {}
    for f, part in zip(faces, coarse, strict=True):
        for v in f:
            vertex_parts.setdefault(int(v), set()).add(int(part))
    for name, (a, b) in pairs.items():
        shared = [v for v, ps in vertex_parts.items() if a in ps and b in ps]
        out[name] = atlas.rest_vertices[shared].mean(axis=0)
    return out


class PartViews:
    """Renders, caches and serves the six views of every coarse part of one atlas.

    Args:
        atlas: the body's charts.
        size: image side in pixels.
        cache_dir: where renders are kept; None renders every time.
        renderer: an existing :class:`Renderer` of the same size (else one is made on first
            use, in the calling thread).
        keep: keep the views of at most this many parts in memory (about 17 MB per part at
            512 px), dropping the least recently used; None keeps all.
    """

    def __init__(
        self,
        atlas: Atlas,
        size: int = 512,
        cache_dir: Path | None = None,
        renderer: Renderer | None = None,
        keep: int | None = None,
    ) -> None:
        self.atlas = atlas
        self.keep = keep
        self.size = size
        self.cache_dir = cache_dir
        self._renderer = renderer
        self._joints = atlas_joints(atlas)
        self._memory: dict[int, list[PartView]] = {}
        self._pass: ScenePass | None = None
        self._normals: np.ndarray | None = None

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.size, self.size)
        return self._renderer

    def close(self) -> None:
        if self._pass is not None:
            self._pass.close()
            self._pass = None
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _part_mesh(self, part: int) -> tuple[np.ndarray, np.ndarray]:
        face_ids = np.flatnonzero(self.atlas.face_coarse == part)
        return face_ids, self.atlas.faces[face_ids]

    def camera(self, part: int, azimuth: float, elevation: float = VIEW_ELEVATION) -> Camera:
        """The camera of a view of ``part`` (model coordinates)."""
        _, faces = self._part_mesh(part)
        pts = self.atlas.rest_vertices[np.unique(faces)]
        centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
        radius = float(np.linalg.norm(pts - centre, axis=1).max())
        axis = part_axis(self.atlas, part, self._joints)
        forward = self.atlas.frame[2] - axis * (self.atlas.frame[2] @ axis)
        if np.linalg.norm(forward) < 1e-6:  # axis along forward (rare): use up instead
            forward = self.atlas.frame[1] - axis * (self.atlas.frame[1] @ axis)
        forward /= np.linalg.norm(forward)
        side = np.cross(axis, forward)
        az, el = np.radians(azimuth), np.radians(elevation)
        # Azimuth turns from the front towards the person's left.
        left = self.atlas.frame[0]
        sign = 1.0 if side @ left >= 0 else -1.0
        around = np.cos(az) * forward + sign * np.sin(az) * side
        up_ish = self.atlas.frame[1] if _PART_AXES[part] is None else -axis
        direction = np.cos(el) * around + np.sin(el) * up_ish
        yfov = np.radians(35.0)
        distance = radius / np.sin(yfov / 2) * 1.02
        eye = centre + direction * distance
        up = axis if abs(axis @ direction) < 0.95 else self.atlas.frame[1]
        return Camera.look_at(eye, centre, up, yfov, self.size, self.size, znear=0.01)

    def _mesh(self, part: int, faces: np.ndarray, face_ids: np.ndarray, style: str) -> ColorMesh:
        vertices = self.atlas.rest_vertices
        if style == "charts":
            return ColorMesh(
                vertices, faces, face_colors=FINE_COLORS[self.atlas.face_chart[face_ids]]
            )
        if style == "uvgrid":
            uv = tiled_uv(self.atlas.face_chart[face_ids], self.atlas.face_uv[face_ids])
            return ColorMesh(vertices, faces, corner_uv=uv, texture=_grid_texture())
        if style != "skin":
            raise ValueError(f"unknown view style {style!r}: use skin, charts or uvgrid")
        tint = COARSE_COLORS[part].astype(np.float64)
        color = (0.7 * _SKIN + 0.3 * tint).astype(np.uint8)
        return ColorMesh(vertices, faces, vertex_colors=np.tile(color, (len(vertices), 1)))

    def _mesh_key(self, part: int, style: str) -> str:
        """Name under which the renderer keeps a part's uploaded mesh between renders."""
        return (
            f"partview:{self.atlas.body}:{self.atlas.fingerprint}:{id(self.atlas)}:{part}:{style}"
        )

    def render(
        self,
        part: int,
        azimuth: float,
        elevation: float = VIEW_ELEVATION,
        ids: bool = True,
        style: str = "skin",
    ) -> PartView:
        """Render one view of ``part`` now (the free-rotate view uses this).

        Args:
            part: coarse part 1..14.
            azimuth, elevation: degrees (see :data:`VIEW_AZIMUTHS`).
            ids: also render the pick buffer (skip it while a view is being dragged).
            style: "skin" (for annotation), "charts" (coloured by chart) or "uvgrid".
        """
        if not 1 <= part <= N_COARSE:
            raise ValueError(f"coarse part must be in 1..{N_COARSE}, got {part}")
        face_ids, faces = self._part_mesh(part)
        cam = self.camera(part, azimuth, elevation)
        if style == "skin":  # one pass: colour, face ids and depth of the same rasterization
            image, face, depth = self._render_skin(part, faces, face_ids, cam)
            return self._view(part, azimuth, elevation, cam, image, face, depth)
        mesh = self._mesh(part, faces, face_ids, style)
        mesh.key = self._mesh_key(part, style)
        image, depth = self.renderer.render_color(
            [mesh], cam, background=(0.16, 0.17, 0.19), light_intensity=2.2, ambient=0.25
        )
        face = np.full(image.shape[:2], -1, np.int32)
        if ids:
            buffer = self.renderer.render_ids([(self.atlas.rest_vertices, faces)], cam)
            face = np.where(buffer.face >= 0, face_ids[np.maximum(buffer.face, 0)], -1)
            depth = buffer.depth
        return self._view(part, azimuth, elevation, cam, image, face.astype(np.int32), depth)

    def _render_skin(
        self, part: int, faces: np.ndarray, face_ids: np.ndarray, cam: Camera
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shaded image, atlas face per pixel and depth, from one :class:`ScenePass`."""
        if self._pass is None:
            self._pass = ScenePass(self.renderer)
            self._normals = vertex_normals(self.atlas.rest_vertices, self.atlas.faces)
        tint = COARSE_COLORS[part].astype(np.float64)
        color = (0.7 * _SKIN + 0.3 * tint).astype(np.uint8)
        albedo = np.tile(np.r_[color, 40].astype(np.uint8), (len(self.atlas.rest_vertices), 1))
        mesh = DrawMesh(self.atlas.rest_vertices, faces, albedo, 0, normals=self._normals)
        key = cam.pose[:3, 2] + 0.4 * self.atlas.frame[1]  # from the camera, a little above
        lighting = Lighting(
            np.stack([key, self.atlas.frame[1]]),
            np.array([[0.75] * 3, [0.25] * 3]),
            sky=np.full(3, 0.32),
            ground=np.full(3, 0.12),
            up=self.atlas.frame[1],
        )
        out = self._pass.draw([mesh], cam, lighting)
        covered = out.instance >= 0
        image = np.where(covered[..., None], out.color, _BACKGROUND).astype(np.uint8)
        image = soften_edges(image, out.instance)
        face = np.where(covered, face_ids[np.maximum(out.face, 0)], -1).astype(np.int32)
        return image, face, np.where(covered, out.depth, 0.0).astype(np.float32)

    def _view(
        self,
        part: int,
        azimuth: float,
        elevation: float,
        camera: Camera,
        image: np.ndarray,
        face: np.ndarray,
        depth: np.ndarray,
    ) -> PartView:
        return PartView(
            part,
            azimuth,
            elevation,
            camera,
            image,
            face,
            depth,
            self.atlas.rest_vertices,
            self.atlas.faces,
        )

    def views(self, part: int) -> list[PartView]:
        """The six views of ``part``, from memory, the disk cache, or rendered now."""
        if part in self._memory:
            self._memory[part] = self._memory.pop(part)  # most recently used last
            return self._memory[part]
        views = self._load(part)
        if views is None:
            views = [self.render(part, az) for az in VIEW_AZIMUTHS]
            self._save(part, views)
        self._memory[part] = views
        while self.keep is not None and len(self._memory) > max(self.keep, 1):
            self._memory.pop(next(iter(self._memory)))
        return views

    # -- disk cache -----------------------------------------------------------------------

    def _cache_file(self, part: int) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps(
            [self.atlas.fingerprint, self.atlas.source, RENDER_VERSION, self.size, VIEW_AZIMUTHS]
        )
        digest = hashlib.sha1(key.encode() + self.atlas.face_chart.tobytes()).hexdigest()[:12]
        return self.cache_dir / f"{self.atlas.body}-{digest}" / f"part{part:02d}.npz"

    def _load(self, part: int) -> list[PartView] | None:
        path = self._cache_file(part)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path) as data:
                images, faces, depths = data["image"], data["face"], data["depth"]
        except (OSError, ValueError, KeyError):
            return None  # a damaged cache file is simply rendered again
        return [
            self._view(
                part, az, VIEW_ELEVATION, self.camera(part, az), images[k], faces[k], depths[k]
            )
            for k, az in enumerate(VIEW_AZIMUTHS)
        ]

    def _save(self, part: int, views: list[PartView]) -> None:
        path = self._cache_file(part)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez_compressed(
            tmp,
            image=np.stack([v.image for v in views]),
            face=np.stack([v.face for v in views]),
            depth=np.stack([v.depth for v in views]).astype(np.float32),
        )
        tmp.replace(path)


@functools.lru_cache(maxsize=1)
def _grid_texture() -> np.ndarray:
    return uv_grid_texture(1024)


def draw_markers(
    image: np.ndarray,
    xy: np.ndarray,
    visible: np.ndarray,
    color: tuple[int, int, int] = (255, 40, 40),
    radius: int = 6,
) -> np.ndarray:
    """A copy of ``image`` with a marker per point: a filled dot where visible, a ring where
    hidden behind the surface."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    for (x, y), seen in zip(xy, visible, strict=True):
        centre = (round(x), round(y))
        cv2.circle(out, centre, radius + 2, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.circle(out, centre, radius, color, -1 if seen else 2, cv2.LINE_AA)
    return out
