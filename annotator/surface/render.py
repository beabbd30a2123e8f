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


_ID_VERTEX_SHADER = """
#version 330 core
layout(location = 0) in vec3 position;
layout(location = 1) in vec3 corner;
uniform mat4 view;
uniform mat4 projection;
out vec3 v_bary;
out float v_depth;
void main() {
    vec4 p = view * vec4(position, 1.0);
    v_bary = corner;
    v_depth = -p.z;
    gl_Position = projection * p;
}
"""

_ID_FRAGMENT_SHADER = """
#version 330 core
in vec3 v_bary;
in float v_depth;
uniform int instance;
layout(location = 0) out ivec2 ids;
layout(location = 1) out vec4 geometry;
void main() {
    ids = ivec2(instance, gl_PrimitiveID);
    geometry = vec4(v_bary, v_depth);
}
"""


class Renderer:
    """An offscreen renderer of a fixed image size (one OpenGL context, one thread)."""

    def __init__(self, width: int, height: int) -> None:
        import pyrender

        self.width, self.height = int(width), int(height)
        self._pyrender = pyrender
        self._offscreen = pyrender.OffscreenRenderer(self.width, self.height)
        self._program: int | None = None
        self._fbo: tuple[int, int, int, int] | None = None
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

        Args:
            meshes: list of (vertices ``[V, 3]``, faces ``[F, 3]``); instance i is meshes[i].
            camera: the camera (its width and height must match the renderer's).
        """
        from OpenGL import GL as gl

        self._offscreen._platform.make_current()
        try:
            program = self._id_program()
            fbo = self._id_framebuffer()[0]
            gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, fbo)
            gl.glViewport(0, 0, self.width, self.height)
            gl.glDisable(gl.GL_MULTISAMPLE)
            gl.glDisable(gl.GL_BLEND)
            gl.glDisable(gl.GL_CULL_FACE)
            gl.glEnable(gl.GL_DEPTH_TEST)
            gl.glDepthFunc(gl.GL_LESS)
            gl.glClearBufferiv(gl.GL_COLOR, 0, np.array([-1, -1, 0, 0], np.int32))
            gl.glClearBufferfv(gl.GL_COLOR, 1, np.zeros(4, np.float32))
            gl.glClear(gl.GL_DEPTH_BUFFER_BIT)
            gl.glUseProgram(program)
            for name, matrix in (("view", camera.view), ("projection", camera.projection())):
                loc = gl.glGetUniformLocation(program, name)
                gl.glUniformMatrix4fv(loc, 1, gl.GL_TRUE, matrix.astype(np.float32))
            for index, (vertices, faces) in enumerate(meshes):
                gl.glUniform1i(gl.glGetUniformLocation(program, "instance"), index)
                self._draw_unindexed(vertices, faces)
            ids = np.empty((self.height, self.width, 2), np.int32)
            geometry = np.empty((self.height, self.width, 4), np.float32)
            gl.glReadBuffer(gl.GL_COLOR_ATTACHMENT0)
            gl.glReadPixels(0, 0, self.width, self.height, gl.GL_RG_INTEGER, gl.GL_INT, ids)
            gl.glReadBuffer(gl.GL_COLOR_ATTACHMENT1)
            gl.glReadPixels(0, 0, self.width, self.height, gl.GL_RGBA, gl.GL_FLOAT, geometry)
            gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
            gl.glUseProgram(0)
        finally:
            self._offscreen._platform.make_uncurrent()
        ids, geometry = ids[::-1], geometry[::-1]
        return IdBuffer(
            instance=np.ascontiguousarray(ids[..., 0]),
            face=np.ascontiguousarray(ids[..., 1]),
            bary=np.ascontiguousarray(geometry[..., :3]),
            depth=np.ascontiguousarray(geometry[..., 3]),
        )

    def _draw_unindexed(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        from OpenGL import GL as gl

        positions = np.ascontiguousarray(vertices[faces].reshape(-1, 3), dtype=np.float32)
        corners = np.ascontiguousarray(np.tile(np.eye(3, dtype=np.float32), (len(faces), 1)))
        vao = gl.glGenVertexArrays(1)
        gl.glBindVertexArray(vao)
        buffers = gl.glGenBuffers(2)
        for location, (buffer, data) in enumerate(zip(buffers, (positions, corners), strict=True)):
            gl.glBindBuffer(gl.GL_ARRAY_BUFFER, buffer)
            gl.glBufferData(gl.GL_ARRAY_BUFFER, data.nbytes, data, gl.GL_STREAM_DRAW)
            gl.glEnableVertexAttribArray(location)
            gl.glVertexAttribPointer(location, 3, gl.GL_FLOAT, gl.GL_FALSE, 0, None)
        gl.glDrawArrays(gl.GL_TRIANGLES, 0, len(positions))
        gl.glBindVertexArray(0)
        gl.glDeleteBuffers(2, buffers)
        gl.glDeleteVertexArrays(1, [vao])

    def _id_program(self) -> int:
        from OpenGL.GL import GL_FRAGMENT_SHADER, GL_VERTEX_SHADER
        from OpenGL.GL.shaders import compileProgram, compileShader

        if self._program is None:
            self._program = int(
                compileProgram(
                    compileShader(_ID_VERTEX_SHADER, GL_VERTEX_SHADER),
                    compileShader(_ID_FRAGMENT_SHADER, GL_FRAGMENT_SHADER),
                    validate=False,
                )
            )
        return self._program

    def _id_framebuffer(self) -> tuple[int, int, int, int]:
        from OpenGL import GL as gl

        if self._fbo is None:
            fbo = gl.glGenFramebuffers(1)
            gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, fbo)
            ids, geometry, depth = gl.glGenRenderbuffers(3)
            for buffer, fmt, attachment in (
                (ids, gl.GL_RG32I, gl.GL_COLOR_ATTACHMENT0),
                (geometry, gl.GL_RGBA32F, gl.GL_COLOR_ATTACHMENT1),
                (depth, gl.GL_DEPTH_COMPONENT24, gl.GL_DEPTH_ATTACHMENT),
            ):
                gl.glBindRenderbuffer(gl.GL_RENDERBUFFER, buffer)
                gl.glRenderbufferStorage(gl.GL_RENDERBUFFER, fmt, self.width, self.height)
                gl.glFramebufferRenderbuffer(
                    gl.GL_FRAMEBUFFER, attachment, gl.GL_RENDERBUFFER, buffer
                )
            gl.glDrawBuffers(2, [gl.GL_COLOR_ATTACHMENT0, gl.GL_COLOR_ATTACHMENT1])
            status = gl.glCheckFramebufferStatus(gl.GL_FRAMEBUFFER)
            if status != gl.GL_FRAMEBUFFER_COMPLETE:
                raise RuntimeError(f"OpenGL id framebuffer incomplete (status {status})")
            self._fbo = (int(fbo), int(ids), int(geometry), int(depth))
        return self._fbo

    def close(self) -> None:
        """Free this renderer's OpenGL context.

        pyrender's own ``delete()`` also terminates the EGL display, which every context of the
        process shares: it would break other live renderers. Only our context is destroyed here.
        """
        if self._offscreen is None:
            return
        from OpenGL import GL as gl

        platform = self._offscreen._platform
        platform.make_current()
        self._offscreen._renderer.delete()
        if self._fbo is not None:
            gl.glDeleteFramebuffers(1, [self._fbo[0]])
            gl.glDeleteRenderbuffers(3, list(self._fbo[1:]))
        if self._program is not None:
            gl.glDeleteProgram(self._program)
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
        self._program = None
        self._fbo = None

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
