"""Exact truth at every pixel, including where the rasterizer's depth test went wrong.

The scene pass (:mod:`annotator.surface.raster`) says which face is visible at each pixel
(the depth test) and at what depth; the surface point is then the point of that face nearest
the pixel centre, in float64 (:func:`annotator.surface.raster.visible_points`). That is exact
(within the rasterizer's 1/256 px snapping) except on *slivers*: faces seen edge-on, a small
fraction of a pixel wide. A sliver may cover a pixel centre that its exact projection misses
by a hair, and the GPU then interpolates its depth *outside* the face (extrapolation),
centimetres off: the depth buffer is wrong there, and the depth test at that pixel was
decided on a depth the face does not have, so the face may even be hidden by another. At
199 x 199 px, seed 2, image 5, pixel (42, 51): the depth buffer credits sliver face 868 with
3.051 m, its point nearest the centre lies at 3.080 m, and the exact ray meets the next face
at 3.088 m (the old clipped coordinates, (0, 0.5, 0.5), failed the check by 28 mm).

Such pixels are found by comparing the exact point of the chosen face with the pass: more
than :data:`MAX_MISS` pixels from the centre, or more than :data:`MAX_DEPTH_GAP` from the
recorded depth (18 pixels in 384 images of 128 to 1024 px, one labelled pixel in a million).
There the ray through the pixel centre is intersected, in float64, with every face of every
mesh whose projection may hold the centre, and the nearest hit is the truth
(:func:`cast_rays`): its mesh (or nothing), face, barycentric coordinates and depth, which
also replaces the depth buffer's. The image keeps the rasterizer's colour there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator.surface.raster import DrawMesh, PassOutput, visible_points
from annotator.surface.render import Camera

#: Largest distance between a pixel centre and the point of the face the pass saw there,
#: pixels (the rasterizer snaps corners to 1/256 px: edge pixels miss by up to ~0.002 px).
MAX_MISS = 0.01
#: Largest gap between that point's depth and the depth buffer, metres (float32
#: interpolation is good to ~0.05 mm away from slivers).
MAX_DEPTH_GAP = 1e-3


@dataclass
class RayHits:
    """The first surface the rays through N pixel centres meet.

    Attributes:
        instance: ``[N]`` int32 ``DrawMesh.instance`` of the mesh hit, -1 for none.
        face: ``[N]`` int32 face row in that mesh, -1 for none.
        bary: ``[N, 3]`` float64 barycentric coordinates of the hit (0 for none).
        depth: ``[N]`` float64 metres along the viewing axis (0 for none).
    """

    instance: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    depth: np.ndarray


@dataclass
class ExactPass:
    """A pass's answer made exact at every covered pixel (``H x W`` pixels).

    Attributes:
        instance: ``[H, W]`` int32 ``DrawMesh.instance`` visible at the pixel centre, -1 none.
        face: ``[H, W]`` int32 face row of that mesh, -1 none.
        depth: ``[H, W]`` float32 metres along the viewing axis, 0 where nothing is.
        pixels: ``[N]`` flat indices of the covered pixels, ascending.
        bary: ``[N, 3]`` float64 barycentric coordinates of their points.
        cast: ``[H, W]`` bool pixels whose answer comes from :func:`cast_rays` (the pass was
            wrong or unsure there).
    """

    instance: np.ndarray
    face: np.ndarray
    depth: np.ndarray
    pixels: np.ndarray
    bary: np.ndarray
    cast: np.ndarray


def exact_pass(meshes: list[DrawMesh], camera: Camera, out: PassOutput) -> ExactPass:
    """Surface points of every pixel ``out`` covers, and exact rays where the pass is off."""
    width = out.instance.shape[1]
    instance, face, depth = out.instance.copy(), out.face.copy(), out.depth.copy()
    pixels = np.flatnonzero(instance >= 0)
    owner = instance.flat[pixels]
    bary = np.zeros((len(pixels), 3))
    suspect = np.zeros(len(pixels), bool)
    for mesh in meshes:
        sel = np.flatnonzero(owner == mesh.instance)
        rows, cols = np.divmod(pixels[sel], width)
        points = visible_points(mesh, camera, rows, cols, face.flat[pixels[sel]])
        gap = np.abs(points.depth - depth.flat[pixels[sel]])
        suspect[sel] = ~((points.miss <= MAX_MISS) & (gap <= MAX_DEPTH_GAP))  # NaN: suspect
        bary[sel] = points.bary
    redo = pixels[suspect]
    hits = cast_rays(meshes, camera, *np.divmod(redo, width))
    instance.flat[redo], face.flat[redo], depth.flat[redo] = hits.instance, hits.face, hits.depth
    bary[suspect] = hits.bary
    kept = instance.flat[pixels] >= 0  # a ray may meet nothing
    cast = np.zeros(instance.shape, bool)
    cast.flat[redo] = True
    return ExactPass(instance, face, depth, pixels[kept], bary[kept], cast)


def cast_rays(
    meshes: list[DrawMesh], camera: Camera, rows: np.ndarray, cols: np.ndarray
) -> RayHits:
    """The first hits of the rays through pixel centres (``rows``, ``cols``, ``[N]``) on
    ``meshes``, in float64, between the camera's near and far planes. Meant for a few
    pixels: each ray is tested against every face whose projected bounding box holds its
    pixel centre (and every face with a corner behind the near plane)."""
    n = len(rows)
    hits = RayHits(
        np.full(n, -1, np.int32), np.full(n, -1, np.int32), np.zeros((n, 3)), np.zeros(n)
    )
    if n == 0:
        return hits
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float64)
    origin, directions = camera.rays(centres)
    along = directions @ -camera.pose[:3, 2]  # depth per unit of ray length
    best = np.full(n, np.inf)
    for mesh in meshes:
        vertices = np.asarray(mesh.vertices, np.float64)
        faces = np.asarray(mesh.faces)
        xy, z = camera.project(vertices)
        lo, hi = xy[faces].min(axis=1) - 1e-6, xy[faces].max(axis=1) + 1e-6
        always = np.any(z[faces] <= camera.znear, axis=1)
        for k in range(n):
            near = always | np.all((lo <= centres[k]) & (centres[k] <= hi), axis=1)
            candidates = np.flatnonzero(near)
            t, bary = ray_triangles(origin, directions[k], vertices[faces[candidates]])
            t[(t * along[k] < camera.znear) | (t * along[k] > camera.zfar)] = np.inf
            j = int(np.argmin(t)) if len(t) else -1
            if j >= 0 and t[j] < best[k]:
                best[k] = t[j]
                hits.instance[k], hits.face[k], hits.bary[k] = mesh.instance, candidates[j], bary[j]
    met = np.isfinite(best)
    hits.depth[met] = best[met] * along[met]
    return hits


def ray_triangles(
    origin: np.ndarray, direction: np.ndarray, triangles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where one ray meets each of K triangles (Moller-Trumbore, float64).

    Args:
        origin: ``[3]`` the ray's start, metres.
        direction: ``[3]`` its unit direction.
        triangles: ``[K, 3, 3]`` corners, metres.

    Returns:
        ``[K]`` distance along the ray, metres (``inf`` where the ray misses the triangle or
        meets it behind the origin) and ``[K, 3]`` the barycentric coordinates of the hit.
    """
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    e1, e2 = b - a, c - a
    p = np.cross(direction, e2)
    det = np.einsum("kd,kd->k", e1, p)
    offset = origin - a
    q = np.cross(offset, e1)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.einsum("kd,kd->k", offset, p) / det
        v = (q @ direction) / det
        t = np.einsum("kd,kd->k", e2, q) / det
    inside = (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)  # NaN (det 0) is outside
    bary = np.stack([1.0 - u - v, u, v], axis=1)
    bary[~inside] = 0.0
    return np.where(inside, t, np.inf), bary
