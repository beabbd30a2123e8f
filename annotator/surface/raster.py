"""One OpenGL pass that draws meshes in colour and says what every pixel is.

pyrender's multisampled colour pass plus a separate id pass cost about half a second per
512 x 512 synthetic scene on the CPU (Mesa). The synthetic renderer, the part views and
every pick buffer need both outputs of the *same* rasterization, fast, so this pass draws
once with a shader that writes three targets:

* mesh instance and ``gl_PrimitiveID`` (the face, in the order the faces were passed),
* the depth of the visible point (metres along the viewing axis),
* the lit colour (vertex albedo, hemisphere ambient, up to :data:`MAX_LIGHTS` directional
  lights with a Blinn-Phong highlight), gamma-encoded. Lighting is computed per vertex and
  interpolated (Gouraud): the body mesh is dense enough that it looks like per-pixel
  lighting, and Mesa's CPU rasterizer spends most of its time in fragment shaders.

Meshes are drawn indexed, so each vertex is shaded once (drawing every face corner on its
own, as the surface renderer's id pass does, makes vertex work six times larger and was 70%
of this pass's time). The barycentric coordinates of the visible point are then computed in
float64 for the face the rasterizer found at each pixel, by the same perspective-correct
interpolation the GPU does (:func:`visible_points`): the face (hence visibility and
occlusion) is what the depth test decided, and the point re-projects onto the pixel centre
to within 1e-9 px when the centre lies in the face's projection.

The rasterizer decides coverage in fixed point (llvmpipe snaps corners to 1/256 px), so an
edge pixel's centre may lie a hair outside the face it was given, and a sliver triangle (a
face seen edge-on, a fraction of a pixel wide) may cover a pixel its float64 projection does
not. Such a pixel gets the face's point *nearest* the centre in the image (so the miss is the
snapping, about 0.002 px) and :class:`VisiblePoints` says how far that is and how deep the
point lies. Clipping the coordinates instead, as an earlier version did, is no nearest point:
on a sliver it gave points up to 0.8 px away and centimetres behind the recorded depth
(``(0, 0.5, 0.5)`` when two coordinates clipped to 1). The GPU interpolates a sliver's depth
*outside* the face there (extrapolation), so the depth buffer and the face's true depth can
disagree: :func:`visible_points` reports both, and callers decide (the synthetic renderer
casts such pixels' rays exactly, :mod:`annotator.synth.exact`).

Colour has no anti-aliasing here; :func:`soften_edges` blends silhouette pixels afterwards.

Runs in the OpenGL context of a :class:`annotator.surface.render.Renderer` (one thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from annotator.surface.render import Camera, Renderer

#: Most directional lights a scene may have.
MAX_LIGHTS = 3

_VERTEX_SHADER = """
#version 330 core
layout(location = 0) in vec3 position;
layout(location = 1) in vec3 normal;
layout(location = 2) in vec4 albedo;
uniform mat4 view;
uniform mat4 projection;
uniform vec3 eye;
uniform vec3 sky;
uniform vec3 ground;
uniform vec3 up;
uniform int n_lights;
uniform vec3 light_dir[MAX_LIGHTS];
uniform vec3 light_color[MAX_LIGHTS];
uniform float shininess;
out float v_depth;
out vec3 v_color;
void main() {
    vec4 p = view * vec4(position, 1.0);
    v_depth = -p.z;
    gl_Position = projection * p;
    vec3 n = normalize(normal);
    vec3 to_eye = normalize(eye - position);
    if (dot(n, to_eye) < 0.0) n = -n;
    vec3 base = albedo.rgb * albedo.rgb;  // sRGB -> linear (gamma 2)
    vec3 light = mix(ground, sky, 0.5 + 0.5 * dot(n, up));
    vec3 shine = vec3(0.0);
    for (int k = 0; k < n_lights; ++k) {
        float lambert = max(dot(n, light_dir[k]), 0.0);
        light += light_color[k] * lambert;
        vec3 h = normalize(light_dir[k] + to_eye);
        float highlight = pow(max(dot(n, h), 0.0), shininess) * step(1e-4, lambert);
        shine += light_color[k] * highlight * albedo.a;
    }
    v_color = sqrt(clamp(base * light + shine, 0.0, 1.0));  // linear -> sRGB (gamma 2)
}
""".replace("MAX_LIGHTS", str(MAX_LIGHTS))

_FRAGMENT_SHADER = """
#version 330 core
in float v_depth;
in vec3 v_color;
uniform int instance;
layout(location = 0) out ivec2 ids;
layout(location = 1) out float depth;
layout(location = 2) out vec4 color;
void main() {
    ids = ivec2(instance, gl_PrimitiveID);
    depth = v_depth;
    color = vec4(v_color, 1.0);
}
"""


@dataclass
class DrawMesh:
    """A mesh to draw.

    Attributes:
        vertices: ``[V, 3]`` world positions, metres.
        faces: ``[F, 3]`` vertex indices; the pass reports face ``f`` as row ``f``.
        albedo: ``[V, 4]`` uint8 per vertex: sRGB colour and specular strength (alpha).
        instance: the number written to the instance target for this mesh (>= 0).
        normals: ``[V, 3]`` unit normals, or None to compute them (area-weighted).
    """

    vertices: np.ndarray
    faces: np.ndarray
    albedo: np.ndarray
    instance: int
    normals: np.ndarray | None = None


@dataclass
class Lighting:
    """Scene lights (world directions point *towards* the light; colours are linear RGB).

    Attributes:
        directions: ``[L, 3]`` unit vectors, L <= :data:`MAX_LIGHTS`.
        colors: ``[L, 3]`` linear intensities.
        sky: ``[3]`` ambient light from above.
        ground: ``[3]`` ambient light from below.
        shininess: Blinn-Phong exponent of the highlights.
        up: ``[3]`` the world's up direction (the sky is that way).
    """

    directions: np.ndarray
    colors: np.ndarray
    sky: np.ndarray = field(default_factory=lambda: np.full(3, 0.35))
    ground: np.ndarray = field(default_factory=lambda: np.full(3, 0.15))
    shininess: float = 24.0
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))


@dataclass
class PassOutput:
    """What one pass produced. Background pixels have instance and face -1, depth 0.

    Attributes:
        color: ``[H, W, 3]`` uint8 lit colour (black where nothing was drawn).
        instance: ``[H, W]`` int32 ``DrawMesh.instance`` of the visible mesh.
        face: ``[H, W]`` int32 face row of the visible mesh.
        depth: ``[H, W]`` float32 metres along the viewing axis.
    """

    color: np.ndarray
    instance: np.ndarray
    face: np.ndarray
    depth: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        return self.instance >= 0


def face_incidence(faces: np.ndarray, n_vertices: int) -> sparse.csr_matrix:
    """``[V, F]`` sparse matrix with a 1 where vertex v is a corner of face f."""
    rows = np.asarray(faces).ravel()
    cols = np.repeat(np.arange(len(faces)), 3)
    data = np.ones(len(rows))
    return sparse.csr_matrix((data, (rows, cols)), shape=(n_vertices, len(faces)))


def vertex_normals(
    vertices: np.ndarray, faces: np.ndarray, incidence: sparse.csr_matrix | None = None
) -> np.ndarray:
    """Area-weighted unit vertex normals ``[V, 3]`` float32 (pass ``incidence`` from
    :func:`face_incidence` when drawing the same faces many times)."""
    if incidence is None:
        incidence = face_incidence(faces, len(vertices))
    v = np.asarray(vertices, np.float32)
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    e1, e2 = b - a, c - a
    cross = np.empty_like(e1)
    cross[:, 0] = e1[:, 1] * e2[:, 2] - e1[:, 2] * e2[:, 1]
    cross[:, 1] = e1[:, 2] * e2[:, 0] - e1[:, 0] * e2[:, 2]
    cross[:, 2] = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    normals = np.asarray(incidence @ cross, np.float32)
    length = np.sqrt(np.einsum("ij,ij->i", normals, normals))[:, None]
    return normals / np.maximum(length, 1e-12)


class ScenePass:
    """The colour + id pass, drawing in a renderer's OpenGL context (same thread)."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.width, self.height = renderer.width, renderer.height
        self._program: int | None = None
        self._fbo: tuple[int, ...] | None = None
        self._vao: int | None = None
        self._buffers: list[int] | None = None

    def draw(self, meshes: list[DrawMesh], camera: Camera, lighting: Lighting) -> PassOutput:
        """Draw ``meshes`` seen by ``camera`` (its size must be the renderer's)."""
        from OpenGL import GL as gl

        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(
                f"camera is {camera.width} x {camera.height}, renderer {self.width} x {self.height}"
            )
        with self.renderer.current():
            program = self._setup()
            self._set_uniforms(program, camera, lighting)
            location = gl.glGetUniformLocation(program, "instance")
            for mesh in meshes:
                gl.glUniform1i(location, int(mesh.instance))
                self._draw_mesh(mesh)
            color, ids, depth = self._read()
            gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
            gl.glUseProgram(0)
        instance, face = ids[..., 0], ids[..., 1]
        return PassOutput(color, instance, face, depth)

    def _setup(self) -> int:
        from OpenGL import GL as gl

        program = self._compile()
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self._framebuffer()[0])
        gl.glViewport(0, 0, self.width, self.height)
        gl.glDisable(gl.GL_MULTISAMPLE)
        gl.glDisable(gl.GL_BLEND)
        gl.glDisable(gl.GL_CULL_FACE)
        gl.glEnable(gl.GL_DEPTH_TEST)
        gl.glDepthFunc(gl.GL_LESS)
        gl.glClearBufferiv(gl.GL_COLOR, 0, np.array([-1, -1, 0, 0], np.int32))
        gl.glClearBufferfv(gl.GL_COLOR, 1, np.zeros(4, np.float32))
        gl.glClearBufferfv(gl.GL_COLOR, 2, np.zeros(4, np.float32))
        gl.glClear(gl.GL_DEPTH_BUFFER_BIT)
        gl.glUseProgram(program)
        return program

    def _set_uniforms(self, program: int, camera: Camera, lighting: Lighting) -> None:
        from OpenGL import GL as gl

        def loc(name: str) -> int:
            return gl.glGetUniformLocation(program, name)

        for name, matrix in (("view", camera.view), ("projection", camera.projection())):
            gl.glUniformMatrix4fv(loc(name), 1, gl.GL_TRUE, matrix.astype(np.float32))
        n = len(lighting.directions)
        if n > MAX_LIGHTS:
            raise ValueError(f"at most {MAX_LIGHTS} lights, got {n}")
        directions = np.zeros((MAX_LIGHTS, 3), np.float32)
        colors = np.zeros((MAX_LIGHTS, 3), np.float32)
        if n:
            d = np.asarray(lighting.directions, np.float64)
            directions[:n] = d / np.linalg.norm(d, axis=1, keepdims=True)
            colors[:n] = lighting.colors
        gl.glUniform1i(loc("n_lights"), n)
        gl.glUniform3fv(loc("light_dir"), MAX_LIGHTS, directions)
        gl.glUniform3fv(loc("light_color"), MAX_LIGHTS, colors)
        gl.glUniform3fv(loc("eye"), 1, camera.pose[:3, 3].astype(np.float32))
        gl.glUniform3fv(loc("sky"), 1, np.asarray(lighting.sky, np.float32))
        gl.glUniform3fv(loc("ground"), 1, np.asarray(lighting.ground, np.float32))
        gl.glUniform1f(loc("shininess"), float(lighting.shininess))
        up = np.asarray(lighting.up, np.float64)
        gl.glUniform3fv(loc("up"), 1, (up / np.linalg.norm(up)).astype(np.float32))

    def _draw_mesh(self, mesh: DrawMesh) -> None:
        from OpenGL import GL as gl

        normals = (
            mesh.normals if mesh.normals is not None else vertex_normals(mesh.vertices, mesh.faces)
        )
        arrays: tuple[np.ndarray, ...] = (
            np.ascontiguousarray(mesh.vertices, dtype=np.float32),
            np.ascontiguousarray(normals, dtype=np.float32),
            np.ascontiguousarray(mesh.albedo, dtype=np.uint8),
        )
        indices = np.ascontiguousarray(mesh.faces, dtype=np.uint32)
        gl.glBindVertexArray(self._vertex_array())
        assert self._buffers is not None
        layouts = [(3, gl.GL_FLOAT, gl.GL_FALSE), (3, gl.GL_FLOAT, gl.GL_FALSE)]
        layouts.append((4, gl.GL_UNSIGNED_BYTE, gl.GL_TRUE))
        for location, (buffer, data, (size, kind, norm)) in enumerate(
            zip(self._buffers, arrays, layouts, strict=False)
        ):
            gl.glBindBuffer(gl.GL_ARRAY_BUFFER, buffer)
            gl.glBufferData(gl.GL_ARRAY_BUFFER, data.nbytes, data, gl.GL_STREAM_DRAW)
            gl.glEnableVertexAttribArray(location)
            gl.glVertexAttribPointer(location, size, kind, norm, 0, None)
        gl.glBindBuffer(gl.GL_ELEMENT_ARRAY_BUFFER, self._buffers[3])
        gl.glBufferData(gl.GL_ELEMENT_ARRAY_BUFFER, indices.nbytes, indices, gl.GL_STREAM_DRAW)
        gl.glDrawElements(gl.GL_TRIANGLES, indices.size, gl.GL_UNSIGNED_INT, None)
        gl.glBindVertexArray(0)

    def _read(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from OpenGL import GL as gl

        h, w = self.height, self.width
        ids = np.empty((h, w, 2), np.int32)
        depth = np.empty((h, w), np.float32)
        color = np.empty((h, w, 4), np.uint8)
        gl.glReadBuffer(gl.GL_COLOR_ATTACHMENT0)
        gl.glReadPixels(0, 0, w, h, gl.GL_RG_INTEGER, gl.GL_INT, ids)
        gl.glReadBuffer(gl.GL_COLOR_ATTACHMENT1)
        gl.glReadPixels(0, 0, w, h, gl.GL_RED, gl.GL_FLOAT, depth)
        gl.glReadBuffer(gl.GL_COLOR_ATTACHMENT2)
        gl.glReadPixels(0, 0, w, h, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, color)
        # OpenGL's first row is the image's bottom row
        return (
            np.ascontiguousarray(color[::-1, :, :3]),
            np.ascontiguousarray(ids[::-1]),
            np.ascontiguousarray(depth[::-1]),
        )

    def _compile(self) -> int:
        from OpenGL.GL import GL_FRAGMENT_SHADER, GL_VERTEX_SHADER
        from OpenGL.GL.shaders import compileProgram, compileShader

        if self._program is None:
            self._program = int(
                compileProgram(
                    compileShader(_VERTEX_SHADER, GL_VERTEX_SHADER),
                    compileShader(_FRAGMENT_SHADER, GL_FRAGMENT_SHADER),
                    validate=False,
                )
            )
        return self._program

    def _vertex_array(self) -> int:
        from OpenGL import GL as gl

        if self._vao is None:
            self._vao = int(gl.glGenVertexArrays(1))
            self._buffers = [int(b) for b in gl.glGenBuffers(4)]
        return self._vao

    def _framebuffer(self) -> tuple[int, ...]:
        from OpenGL import GL as gl

        if self._fbo is None:
            fbo = int(gl.glGenFramebuffers(1))
            gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, fbo)
            buffers = [int(b) for b in gl.glGenRenderbuffers(4)]
            targets = (
                (gl.GL_RG32I, gl.GL_COLOR_ATTACHMENT0),
                (gl.GL_R32F, gl.GL_COLOR_ATTACHMENT1),
                (gl.GL_RGBA8, gl.GL_COLOR_ATTACHMENT2),
                (gl.GL_DEPTH_COMPONENT24, gl.GL_DEPTH_ATTACHMENT),
            )
            for buffer, (fmt, attachment) in zip(buffers, targets, strict=True):
                gl.glBindRenderbuffer(gl.GL_RENDERBUFFER, buffer)
                gl.glRenderbufferStorage(gl.GL_RENDERBUFFER, fmt, self.width, self.height)
                gl.glFramebufferRenderbuffer(
                    gl.GL_FRAMEBUFFER, attachment, gl.GL_RENDERBUFFER, buffer
                )
            attachments = [gl.GL_COLOR_ATTACHMENT0, gl.GL_COLOR_ATTACHMENT1]
            gl.glDrawBuffers(3, [*attachments, gl.GL_COLOR_ATTACHMENT2])
            status = gl.glCheckFramebufferStatus(gl.GL_FRAMEBUFFER)
            if status != gl.GL_FRAMEBUFFER_COMPLETE:
                raise RuntimeError(f"OpenGL scene framebuffer incomplete (status {status})")
            self._fbo = (fbo, *buffers)
        return self._fbo

    def close(self) -> None:
        """Free the pass's OpenGL objects (the renderer itself stays open)."""
        if self._program is None and self._fbo is None and self._vao is None:
            return
        from OpenGL import GL as gl

        with self.renderer.current():
            if self._fbo is not None:
                gl.glDeleteFramebuffers(1, [self._fbo[0]])
                gl.glDeleteRenderbuffers(4, list(self._fbo[1:]))
            if self._vao is not None and self._buffers is not None:
                gl.glDeleteBuffers(4, self._buffers)
                gl.glDeleteVertexArrays(1, [self._vao])
            if self._program is not None:
                gl.glDeleteProgram(self._program)
        self._program, self._fbo, self._vao, self._buffers = None, None, None, None


@dataclass
class VisiblePoints:
    """The points of the faces a pass saw at N pixels, nearest each pixel centre.

    Attributes:
        bary: ``[N, 3]`` float64 barycentric coordinates in the face, each row in [0, 1]
            summing to 1.
        miss: ``[N]`` float64 pixels between the pixel centre and the point's projection:
            0 (up to 1e-9) where the centre lies in the face's projection, about the
            rasterizer's snapping (0.002 px) at edge pixels, ``inf`` where the face cannot
            be projected (a corner behind the camera).
        depth: ``[N]`` float64 metres along the viewing axis of the point (``nan`` where
            ``miss`` is ``inf``).
    """

    bary: np.ndarray
    miss: np.ndarray
    depth: np.ndarray

    def __len__(self) -> int:
        return len(self.miss)


def visible_points(
    mesh: DrawMesh, camera: Camera, rows: np.ndarray, cols: np.ndarray, faces: np.ndarray
) -> VisiblePoints:
    """The points of ``mesh`` at pixels (``rows``, ``cols``) where the pass saw its face rows
    ``faces`` (all ``[N]``).

    The exact perspective-correct interpolation, in float64: the corners of the pixel's face
    are projected to the image, and the 2D barycentric coordinates ``l`` of the point of
    the projected triangle nearest the pixel centre (the centre itself when inside) are
    divided by the corners' depths ``z`` and renormalized (``b_i = (l_i / z_i) / sum_j
    (l_j / z_j)``; the point's depth is ``1 / sum_j (l_j / z_j)``). The point with these
    coordinates projects onto that nearest point.
    """
    xy, z = camera.project(mesh.vertices)
    corners = np.asarray(mesh.faces)[faces]  # [N, 3]
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float64)
    lam, miss = nearest_in_triangles(centres, xy[corners])
    corner_z = z[corners]
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = lam / corner_z
        total = weights.sum(axis=1)
        depth = 1.0 / total
        bary = weights / total[:, None]
        # a corner behind the camera makes the projection meaningless
        bad = (corner_z.min(axis=1) <= 0) | ~(np.isfinite(depth) & (depth > 0))
    miss[bad] = np.inf
    depth[bad] = np.nan
    bary[bad] = 1.0 / 3.0
    return VisiblePoints(bary, miss, depth)


def surface_bary(
    mesh: DrawMesh, camera: Camera, rows: np.ndarray, cols: np.ndarray, faces: np.ndarray
) -> np.ndarray:
    """``[N, 3]`` float64 barycentric coordinates of the visible point of ``mesh`` at pixels
    (``rows``, ``cols``), where the pass saw its face rows ``faces`` (all ``[N]``): the
    ``bary`` of :func:`visible_points`."""
    return visible_points(mesh, camera, rows, cols, faces).bary


def nearest_in_triangles(
    points: np.ndarray, triangles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The point of each 2D triangle nearest a 2D point.

    Args:
        points: ``[N, 2]`` positions, pixels.
        triangles: ``[N, 3, 2]`` corners, pixels (degenerate triangles allowed).

    Returns:
        ``[N, 3]`` barycentric coordinates of the nearest point (rows in [0, 1], summing to
        1) and ``[N]`` its distance to the point, pixels.
    """
    ax, ay = triangles[:, 0, 0], triangles[:, 0, 1]
    e1x, e1y = triangles[:, 1, 0] - ax, triangles[:, 1, 1] - ay
    e2x, e2y = triangles[:, 2, 0] - ax, triangles[:, 2, 1] - ay
    qx, qy = points[:, 0] - ax, points[:, 1] - ay
    det = e1x * e2y - e1y * e2x
    with np.errstate(divide="ignore", invalid="ignore"):
        l1 = (qx * e2y - qy * e2x) / det
        l2 = (e1x * qy - e1y * qx) / det
        l0 = 1.0 - l1 - l2
        inside = (l0 >= 0) & (l1 >= 0) & (l2 >= 0)  # NaN (a degenerate triangle) is not
        # measured, not assumed: on a near-degenerate triangle the solve itself is inaccurate
        miss = np.where(
            inside, np.hypot(l1 * e1x + l2 * e2x - qx, l1 * e1y + l2 * e2y - qy), np.inf
        )
    lam = np.stack([l0, l1, l2], axis=1)
    todo = np.flatnonzero(miss > 1e-9)
    for i, j in ((0, 1), (1, 2), (2, 0)):
        start, edge = triangles[todo, i], triangles[todo, j] - triangles[todo, i]
        length2 = np.einsum("nd,nd->n", edge, edge)
        along = np.einsum("nd,nd->n", points[todo] - start, edge)
        t = np.clip(along / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
        gap = np.linalg.norm(start + t[:, None] * edge - points[todo], axis=1)
        better = gap < miss[todo]
        rows = todo[better]
        lam[rows] = 0.0
        lam[rows, i], lam[rows, j] = 1.0 - t[better], t[better]
        miss[rows] = gap[better]
    lam[np.isinf(miss)] = 1.0 / 3.0  # corners not finite: no nearest point
    return lam, miss


def soften_edges(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Anti-alias silhouettes after the fact: pixels next to a change of ``labels`` (4-
    neighbours) get the 3 x 3 average of the image (a cheap stand-in for multisampling).
    Returns a new image."""
    import cv2

    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    small = np.clip(labels, -1, 32000).astype(np.int16)
    edge = cv2.dilate(small, cross) != cv2.erode(small, cross)
    out = image.copy()
    np.copyto(out, cv2.blur(image, (3, 3)), where=edge[..., None])
    return out
