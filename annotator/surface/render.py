"""Offscreen rendering: shaded images through pyrender, exact face-id buffers through our own
OpenGL pass in the same context.

pyrender draws the pictures people look at (lit, anti-aliased). What a pixel *is* comes from a
second pass with a tiny shader that writes, per pixel and without anti-aliasing, the mesh
instance, the face index (``gl_PrimitiveID``), the perspective-correct barycentric coordinates
of the visible point and its depth. That buffer gives picking in the part views and the exact
ground truth of the synthetic renderer.

Rendering is offscreen with EGL (``PYOPENGL_PLATFORM=egl``, set here unless already set),
which runs on the CPU through Mesa when there is no GPU. A :class:`Renderer` owns an OpenGL
context bound to the thread that uses it: create and use it from one thread.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator.surface.llvm_guard import guard_triton

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
guard_triton()  # before any OpenGL context loads Mesa's LLVM (see llvm_guard)


@dataclass
class Camera:
    """A pinhole camera.

    Attributes:
        pose: ``[4, 4]`` camera-to-world transform, OpenGL convention (the camera looks down
            its -Z axis, +Y up).
        fx, fy, cx, cy: intrinsics in pixels; (cx, cy) measured from the top-left corner.
        width, height: image size in pixels.
        znear, zfar: clipping distances, metres.
    """

    pose: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    znear: float = 0.05
    zfar: float = 100.0

    @staticmethod
    def look_at(
        eye: np.ndarray,
        target: np.ndarray,
        up: np.ndarray,
        yfov: float,
        width: int,
        height: int,
        znear: float = 0.05,
        zfar: float = 100.0,
    ) -> Camera:
        """A camera at ``eye`` looking at ``target``; ``yfov`` is the vertical field, radians."""
        eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
        back = eye - target
        back /= np.linalg.norm(back)
        right = np.cross(up, back)
        if np.linalg.norm(right) < 1e-9:  # looking along `up`: pick any perpendicular
            right = np.cross(np.array([1.0, 0, 0]) if abs(back[0]) < 0.9 else [0, 1.0, 0], back)
        right /= np.linalg.norm(right)
        true_up = np.cross(back, right)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, true_up, back, eye
        f = 0.5 * height / np.tan(0.5 * yfov)
        return Camera(pose, f, f, width / 2, height / 2, width, height, znear, zfar)

    @property
    def view(self) -> np.ndarray:
        """``[4, 4]`` world-to-camera transform."""
        return np.linalg.inv(self.pose)

    def projection(self) -> np.ndarray:
        """``[4, 4]`` OpenGL projection matrix (clip space) for these intrinsics."""
        w, h, n, f = self.width, self.height, self.znear, self.zfar
        p = np.zeros((4, 4))
        p[0, 0] = 2 * self.fx / w
        p[1, 1] = 2 * self.fy / h
        p[0, 2] = 1 - 2 * self.cx / w
        p[1, 2] = 2 * self.cy / h - 1
        p[2, 2] = (f + n) / (n - f)
        p[2, 3] = 2 * f * n / (n - f)
        p[3, 2] = -1
        return p

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates ``[N, 2]`` (x right, y down; pixel centres at .5) and depth ``[N]``
        (metres along the viewing axis) of world ``points [N, 3]``."""
        cam = (np.asarray(points, dtype=np.float64) - self.pose[:3, 3]) @ self.pose[:3, :3]
        depth = -cam[:, 2]
        safe = np.where(np.abs(depth) < 1e-12, 1e-12, depth)
        x = self.cx + self.fx * cam[:, 0] / safe
        y = self.cy - self.fy * cam[:, 1] / safe
        return np.stack([x, y], axis=1), depth

    def rays(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World origin ``[3]`` and unit directions ``[N, 3]`` through pixels ``[N, 2]``."""
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        d = np.stack(
            [(xy[:, 0] - self.cx) / self.fx, -(xy[:, 1] - self.cy) / self.fy, -np.ones(len(xy))],
            axis=1,
        )
        d = d @ self.pose[:3, :3].T
        return self.pose[:3, 3].copy(), d / np.linalg.norm(d, axis=1, keepdims=True)


@dataclass
class IdBuffer:
    """What each pixel sees. Background pixels have instance and face -1, depth 0.

    Attributes:
        instance: ``[H, W]`` int32 index of the mesh in the list passed to the renderer.
        face: ``[H, W]`` int32 face index within that mesh.
        bary: ``[H, W, 3]`` float32 barycentric coordinates of the visible point.
        depth: ``[H, W]`` float32 metres along the viewing axis.
    """

    instance: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    depth: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.face >= 0


@dataclass
class ColorMesh:
    """A mesh to draw in colour.

    Attributes:
        vertices: ``[V, 3]`` metres.
        faces: ``[F, 3]``.
        face_colors: ``[F, 3]`` uint8 RGB per face, or None.
        vertex_colors: ``[V, 3]`` uint8 RGB per vertex, or None.
        corner_uv: ``[F, 3, 2]`` texture coordinates per face corner (with ``texture``).
        texture: ``[H, W, 3]`` uint8 image, or None.
        smooth: interpolate normals (True) or shade each face flat.
        key: if set, the renderer keeps the uploaded mesh under this name and reuses it for
            later renders with the same key (the part views do; the arrays must not change).
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    corner_uv: np.ndarray | None = None
    texture: np.ndarray | None = None
    smooth: bool = True
    key: str | None = None


class Renderer:
    """An offscreen renderer of a fixed image size (one OpenGL context, one thread)."""

    def __init__(self, width: int, height: int) -> None:
        import pyrender

        self.width, self.height = int(width), int(height)
        self._pyrender = pyrender
        self._offscreen = pyrender.OffscreenRenderer(self.width, self.height)
        self._pass: Any = None  # the ScenePass of render_ids, made on first use
        self._meshes: dict[str, object] = {}

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """Make this renderer's OpenGL context current for the duration of the block.

        For passes drawn by other modules (e.g. the synthetic renderer's own shaders) in the
        same context; like every call on a renderer, only from the thread that created it.
        """
        self._offscreen._platform.make_current()
        try:
            yield
        finally:
            self._offscreen._platform.make_uncurrent()

    # -- colour ---------------------------------------------------------------------------

    def render_color(
        self,
        meshes: list[ColorMesh],
        camera: Camera,
        background: tuple[float, float, float] = (1.0, 1.0, 1.0),
        light_intensity: float = 3.0,
        ambient: float = 0.35,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Shaded RGB ``[H, W, 3]`` uint8 and depth ``[H, W]`` (0 = background) of ``meshes``."""
        pr = self._pyrender
        scene = pr.Scene(bg_color=[*background, 1.0], ambient_light=[ambient] * 3)
        for mesh in meshes:
            scene.add(self._uploaded(mesh))
        cam = pr.IntrinsicsCamera(
            camera.fx, camera.fy, camera.cx, camera.cy, znear=camera.znear, zfar=camera.zfar
        )
        scene.add(cam, pose=camera.pose)
        scene.add(
            pr.DirectionalLight(color=np.ones(3), intensity=light_intensity), pose=camera.pose
        )
        color, depth = self._offscreen.render(scene)
        return np.ascontiguousarray(color[..., :3]), depth

    def _uploaded(self, mesh: ColorMesh):  # -> pyrender.Mesh
        if mesh.key is None:
            return self._to_pyrender(mesh)
        if mesh.key not in self._meshes:
            if len(self._meshes) >= 64:
                self._meshes.pop(next(iter(self._meshes)))
            self._meshes[mesh.key] = self._to_pyrender(mesh)
        return self._meshes[mesh.key]

    def _to_pyrender(self, mesh: ColorMesh):  # -> pyrender.Mesh
        import trimesh

        pr = self._pyrender
        if mesh.texture is not None and mesh.corner_uv is not None:
            flat_v = mesh.vertices[mesh.faces].reshape(-1, 3)
            flat_f = np.arange(len(flat_v)).reshape(-1, 3)
            texture = trimesh.visual.TextureVisuals(
                uv=mesh.corner_uv.reshape(-1, 2),
                image=_pil(mesh.texture),
            )
            tm = trimesh.Trimesh(flat_v, flat_f, visual=texture, process=False)
            return pr.Mesh.from_trimesh(tm, smooth=False)
        tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
        visual: Any = tm.visual
        if mesh.face_colors is not None:
            visual.face_colors = _rgba(mesh.face_colors)
            return pr.Mesh.from_trimesh(tm, smooth=False)
        if mesh.vertex_colors is not None:
            visual.vertex_colors = _rgba(mesh.vertex_colors)
        return pr.Mesh.from_trimesh(tm, smooth=mesh.smooth)

    # -- ids ------------------------------------------------------------------------------

    def render_ids(self, meshes: list[tuple[np.ndarray, np.ndarray]], camera: Camera) -> IdBuffer:
        """Instance, face, barycentric coordinates and depth of what every pixel sees.

        One pass of :class:`annotator.surface.raster.ScenePass` (no colour is used): exact,
        no anti-aliasing; barycentric coordinates in float64 for the visible face.

        Args:
            meshes: list of (vertices ``[V, 3]``, faces ``[F, 3]``); instance i is meshes[i].
            camera: the camera (its width and height must match the renderer's).
        """
        from annotator.surface.raster import DrawMesh, Lighting, ScenePass, surface_bary

        if self._pass is None:
            self._pass = ScenePass(self)
        draw = [
            DrawMesh(
                np.asarray(v, np.float64),
                np.asarray(f, np.int64),
                np.zeros((len(v), 4), np.uint8),
                k,
                normals=np.zeros((len(v), 3), np.float32),
            )
            for k, (v, f) in enumerate(meshes)
        ]
        out = self._pass.draw(draw, camera, Lighting(np.zeros((0, 3)), np.zeros((0, 3))))
        bary = np.zeros((*out.face.shape, 3), np.float32)
        for mesh in draw:
            rows, cols = np.nonzero(out.instance == mesh.instance)
            if len(rows):
                faces = out.face[rows, cols]
                bary[rows, cols] = surface_bary(mesh, camera, rows, cols, faces)
        return IdBuffer(out.instance, out.face, bary, out.depth)

    def close(self) -> None:
        """Free this renderer's OpenGL context.

        pyrender's own ``delete()`` also terminates the EGL display, which every context of the
        process shares: it would break other live renderers. Only our context is destroyed here.
        """
        if self._offscreen is None:
            return

        platform = self._offscreen._platform
        platform.make_current()
        if self._pass is not None:
            self._pass.close()
            self._pass = None
        self._offscreen._renderer.delete()
        display, context = (
            getattr(platform, "_egl_display", None),
            getattr(platform, "_egl_context", None),
        )
        if display is not None and context is not None:
            from OpenGL import EGL

            EGL.eglMakeCurrent(display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
            EGL.eglDestroyContext(display, context)
            platform._egl_context = None
            platform._egl_display = None
        else:  # another platform (OSMesa, pyglet): its own delete is safe
            platform.delete_context()
        self._offscreen._renderer = None
        self._offscreen._platform = None
        self._offscreen = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rgba(colors: np.ndarray) -> np.ndarray:
    colors = np.asarray(colors, dtype=np.uint8)
    if colors.shape[1] == 4:
        return colors
    return np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], axis=1)


def _pil(image: np.ndarray):  # -> PIL.Image.Image
    from PIL import Image

    return Image.fromarray(np.asarray(image, dtype=np.uint8))


def pick_bary(
    camera: Camera, xy: np.ndarray, triangles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact barycentric coordinates where rays through pixels hit given triangles.

    Args:
        camera: the camera of the render.
        xy: ``[N, 2]`` pixel positions (sub-pixel allowed).
        triangles: ``[N, 3, 3]`` the triangle seen at each position (world coordinates).

    Returns:
        bary ``[N, 3]`` (clipped into the triangle) and ray distance ``[N]``.
    """
    origin, d = camera.rays(xy)
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    e1, e2 = b - a, c - a
    p = np.cross(d, e2)
    det = np.einsum("nd,nd->n", e1, p)
    det = np.where(np.abs(det) < 1e-18, 1e-18, det)
    t_vec = origin - a
    u = np.einsum("nd,nd->n", t_vec, p) / det
    q = np.cross(t_vec, e1)
    v = np.einsum("nd,nd->n", d, q) / det
    t = np.einsum("nd,nd->n", e2, q) / det
    bary = np.clip(np.stack([1 - u - v, u, v], axis=1), 0.0, 1.0)
    return bary / bary.sum(axis=1, keepdims=True), t
