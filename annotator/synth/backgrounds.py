"""Backgrounds: procedural ones that need no download, or a user's folder of images.

Procedural kinds are drawn per pixel from the scene's camera, so that floors and horizons
agree with where the people stand (the floor is ``y = 0``):

* ``room``: a textured floor (tiles, planks or carpet) and a back wall behind everyone, with
  a skirting board and a few framed rectangles;
* ``outdoor``: sky with a horizon haze, ground texture (grass, asphalt, sand), a skyline of
  blocks or trees along the horizon;
* ``abstract``: coloured multi-scale noise with random shapes (no floor).

Textures on the floor are attenuated with distance (their contrast fades as a texel shrinks
below a pixel), which avoids the moire a point-sampled checkerboard would show. Every kind
is drawn at half size and enlarged (4 times less work, and a soft, out-of-focus look). A
``folder`` background is a random crop of one of the user's images (jpg, jpeg, png, bmp,
webp), resized to the image size, maybe mirrored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.surface.render import Camera
from annotator.synth.scene import BackgroundSpec

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(folder: str | Path) -> list[Path]:
    """The background images of a folder (recursively), sorted for reproducibility."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"background folder not found: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def noise(rng: np.random.Generator, height: int, width: int, scales: tuple[int, ...]) -> np.ndarray:
    """``[H, W]`` float32 multi-scale value noise in about [-1, 1] (octaves of cell size
    ``scales`` pixels, amplitude halving with each)."""
    import cv2

    out = np.zeros((height, width), np.float32)
    amplitude, total = 1.0, 0.0
    for cell in scales:
        grid = rng.standard_normal((height // cell + 2, width // cell + 2)).astype(np.float32)
        big = cv2.resize(grid, ((width // cell + 2) * cell, (height // cell + 2) * cell))
        out += amplitude * big[:height, :width]
        total += amplitude
        amplitude *= 0.5
    return out / total


def make_background(
    spec: BackgroundSpec,
    camera: Camera,
    far: float,
    folder_images: list[Path] | None = None,
) -> np.ndarray:
    """``[H, W, 3]`` uint8 background for ``camera``.

    Args:
        spec: what to draw.
        camera: the scene camera.
        far: distance of the farthest person, metres (the room's wall stands behind it).
        folder_images: the user's images, for kind "folder".
    """
    import cv2

    rng = np.random.default_rng(spec.seed)
    if spec.kind == "folder":
        if not folder_images:
            raise ValueError("a folder background needs the folder's images")
        return _from_file(rng, folder_images[spec.image % len(folder_images)], camera)
    small = _scaled(camera, 0.5)
    if spec.kind == "abstract":
        image = _abstract(rng, small.height, small.width)
    elif spec.kind == "room":
        image = _room(rng, small, _rays(small), far)
    elif spec.kind == "outdoor":
        image = _outdoor(rng, small, _rays(small))
    else:
        raise ValueError(f"unknown background kind {spec.kind!r}")
    return cv2.resize(image, (camera.width, camera.height), interpolation=cv2.INTER_LINEAR)


def _scaled(camera: Camera, factor: float) -> Camera:
    """The same camera with an image ``factor`` times the size (procedural backgrounds are
    drawn at half size and enlarged: 4 times less work, and a soft, out-of-focus look)."""
    w, h = max(1, round(camera.width * factor)), max(1, round(camera.height * factor))
    fx, fy = w / camera.width, h / camera.height
    return Camera(camera.pose, camera.fx * fx, camera.fy * fy, camera.cx * fx, camera.cy * fy, w, h)


def _rays(camera: Camera) -> np.ndarray:
    """``[H, W, 3]`` unit world directions through every pixel centre."""
    h, w = camera.height, camera.width
    xs = (np.arange(w) + 0.5 - camera.cx) / camera.fx
    ys = -(np.arange(h) + 0.5 - camera.cy) / camera.fy
    d = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], -np.ones((1, 1))), axis=-1)
    d = d @ camera.pose[:3, :3].T
    return (d / np.linalg.norm(d, axis=-1, keepdims=True)).astype(np.float32)


def _palette(rng: np.random.Generator, base: np.ndarray, spread: float) -> np.ndarray:
    return np.clip(base * rng.uniform(1 - spread, 1 + spread, 3), 0, 255)


def _floor_pattern(
    rng: np.random.Generator, x: np.ndarray, z: np.ndarray, footprint: np.ndarray
) -> np.ndarray:
    """``[N]`` float in [-1, 1]: tiles, planks or carpet at floor coordinates (metres);
    fades where one pixel covers more than about a texel (``footprint``, metres)."""
    kind = rng.integers(3)
    if kind == 0:  # tiles
        size = rng.uniform(0.3, 0.8)
        grout = np.minimum(np.abs((x / size) % 1 - 0.5), np.abs((z / size) % 1 - 0.5))
        checker = ((np.floor(x / size) + np.floor(z / size)) % 2) * 2 - 1
        value = 0.3 * checker * (rng.random() < 0.5) + np.where(grout > 0.47, -0.8, 0.0)
        scale = size
    elif kind == 1:  # planks along x
        width = rng.uniform(0.1, 0.25)
        row = np.floor(z / width)
        jitter = np.sin(row * 12.9898) * 43758.5453 % 1
        value = 0.5 * (jitter - 0.5) + 0.25 * np.sin(x * 3 + row) * np.sin(x * 17)
        value = np.where(np.abs((z / width) % 1 - 0.5) > 0.46, -0.7, value)
        scale = width
    else:  # carpet: a weave
        scale = rng.uniform(0.05, 0.2)
        value = 0.35 * np.sin(x / scale * 6.28) * np.sin(z / scale * 6.28)
    fade = np.clip(1.5 - 2.0 * footprint / scale, 0.0, 1.0)
    return value * fade


def _floor_and_wall(
    camera: Camera, rays: np.ndarray, wall: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: distance to the floor (inf if none), to the wall ``z = -wall`` (inf if
    none or no wall), and the hit points ``[H, W, 3]`` of the nearer one."""
    eye = camera.pose[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(rays[..., 1] < -1e-6, -eye[1] / rays[..., 1], np.inf)
        if wall is None:
            t_wall = np.full(t_floor.shape, np.inf, np.float32)
        else:
            t_wall = np.where(rays[..., 2] < -1e-6, (eye[2] + wall) / -rays[..., 2], np.inf)
    t = np.minimum(t_floor, t_wall)
    hit = (eye + np.where(np.isfinite(t), t, 0.0)[..., None] * rays).astype(np.float32)
    return t_floor, t_wall, hit


def _room(rng: np.random.Generator, camera: Camera, rays: np.ndarray, far: float) -> np.ndarray:
    h, w = camera.height, camera.width
    wall_at = far + rng.uniform(1.0, 4.0)
    t_floor, t_wall, hit = _floor_and_wall(camera, rays, wall_at)
    floor = t_floor <= t_wall
    pixel = 1.0 / camera.fy  # radians per pixel
    floor_color = _palette(rng, rng.uniform(60, 200, 3), 0.15)
    wall_color = _palette(rng, rng.uniform(120, 235, 3), 0.1)
    out = np.empty((h, w, 3), np.float32)
    fp = np.where(floor, t_floor * pixel / np.maximum(-rays[..., 1], 1e-3), 0)
    pattern = _floor_pattern(rng, hit[..., 0][floor], hit[..., 2][floor], fp[floor])
    out[floor] = floor_color * (1 + 0.25 * pattern[:, None])
    wall = ~floor
    stain = noise(rng, h, w, (64, 16))[wall]
    out[wall] = wall_color * (1 + 0.06 * stain[:, None])
    y = hit[..., 1]
    skirting = wall & (y < rng.uniform(0.05, 0.15))
    out[skirting] = wall_color * 0.6
    for _ in range(int(rng.integers(0, 4))):  # framed pictures, doors, windows
        x0, y0 = rng.uniform(-4, 4), rng.uniform(0.3, 1.8)
        fw, fh = rng.uniform(0.3, 1.5), rng.uniform(0.3, 1.2)
        inside = wall & (np.abs(hit[..., 0] - x0) < fw / 2) & (np.abs(y - y0) < fh / 2)
        out[inside] = rng.uniform(20, 240, 3)
    shade = 1.0 - 0.25 * np.clip(np.where(floor, t_floor, t_wall) / (wall_at * 2), 0, 1)
    return _finish(out * shade[..., None])


def _outdoor(rng: np.random.Generator, camera: Camera, rays: np.ndarray) -> np.ndarray:
    h, w = camera.height, camera.width
    t_floor, _, hit = _floor_and_wall(camera, rays, None)
    ground = np.isfinite(t_floor)
    sky_px = ~ground
    out = np.empty((h, w, 3), np.float32)
    zenith = _palette(rng, np.array([70, 120, 200.0]), 0.25).astype(np.float32)
    horizon = _palette(rng, np.array([200, 215, 230.0]), 0.1).astype(np.float32)
    clouds = np.clip(noise(rng, h, w, (128, 64, 32)) * 1.5, 0, 1)[sky_px]
    up = np.sqrt(np.clip(rays[..., 1][sky_px], 0, 1))
    sky = horizon + (zenith - horizon) * up[:, None]
    out[sky_px] = sky + (250 - sky) * (clouds * np.float32(rng.uniform(0, 0.8)))[:, None]
    base = [np.array([70, 110, 50.0]), np.array([90, 90, 95.0]), np.array([190, 170, 130.0])]
    color = _palette(rng, base[int(rng.integers(3))], 0.15).astype(np.float32)
    t = t_floor[ground].astype(np.float32)
    fp = t / (camera.fy * np.maximum(-rays[..., 1][ground], 1e-3))
    grain = noise(rng, h, w, (8, 3))[ground]
    x, z = hit[..., 0][ground], hit[..., 2][ground]
    texture = np.sin(x * 9) * np.sin(z * 7) * np.clip(1 - fp * 4, 0, 1)
    tone = 1 + 0.15 * grain + 0.1 * texture
    haze = np.clip(t / 60.0, 0, 1)[:, None]
    out[ground] = color * tone[:, None] * (1 - haze) + horizon * haze
    _skyline(rng, out, camera, rays, ground)
    return _finish(out)


def _skyline(
    rng: np.random.Generator,
    out: np.ndarray,
    camera: Camera,
    rays: np.ndarray,
    ground: np.ndarray,
) -> None:
    """Blocks or tree crowns along the horizon, drawn in place."""
    if rng.random() < 0.3:
        return
    azimuth = np.arctan2(rays[..., 0], -rays[..., 2])
    elevation = np.arcsin(np.clip(rays[..., 1], -1, 1))
    n = 64
    heights = np.radians(rng.uniform(0.5, 6.0, n))
    if rng.random() < 0.5:  # trees: smooth bumps
        heights = np.convolve(heights, np.ones(5) / 5, mode="same")
        color = _palette(rng, np.array([50, 80, 45.0]), 0.2)
    else:
        color = _palette(rng, rng.uniform(80, 180, 3), 0.1)
    cell = np.clip(((azimuth + np.pi) / (2 * np.pi) * n * 4).astype(int) % n, 0, n - 1)
    above = (~ground) & (elevation < heights[cell])
    out[above] = color * rng.uniform(0.8, 1.0)


def _abstract(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    import cv2

    grey = rng.uniform(40, 215, (3, 1))
    colors = grey + (rng.uniform(0, 255, (3, 3)) - grey) * rng.uniform(0.2, 0.7)
    a = noise(rng, h, w, (128, 32, 8))
    b = noise(rng, h, w, (64, 16))
    out = colors[0] + np.clip(a, -1, 1)[..., None] * (colors[1] - colors[0]) / 2
    out += np.clip(b, -1, 1)[..., None] * (colors[2] - colors[0]) / 4
    out = np.ascontiguousarray(out, dtype=np.float32)
    for _ in range(int(rng.integers(3, 12))):
        color = tuple(float(c) for c in colors[0] + rng.uniform(-90, 90, 3))
        x, y = int(rng.integers(w)), int(rng.integers(h))
        size = int(rng.integers(8, max(9, w // 4)))
        shape = rng.integers(3)
        if shape == 0:
            cv2.circle(out, (x, y), size, color, -1)
        elif shape == 1:
            cv2.rectangle(out, (x, y), (x + size, y + int(rng.integers(8, h // 3))), color, -1)
        else:
            end = (int(rng.integers(w)), int(rng.integers(h)))
            cv2.line(out, (x, y), end, color, int(rng.integers(1, 8)))
    return _finish(out)


def _from_file(rng: np.random.Generator, path: Path, camera: Camera) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read background image {path}")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    aspect = camera.width / camera.height
    crop_w = min(w, round(h * aspect))
    crop_h = min(h, round(crop_w / aspect))
    scale = rng.uniform(0.6, 1.0)
    crop_w, crop_h = max(8, int(crop_w * scale)), max(8, int(crop_h * scale))
    x0 = int(rng.integers(0, w - crop_w + 1))
    y0 = int(rng.integers(0, h - crop_h + 1))
    crop = image[y0 : y0 + crop_h, x0 : x0 + crop_w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    size = (camera.width, camera.height)
    return cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA)


def _finish(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 255).astype(np.uint8)


def contact_shadows(
    image: np.ndarray, camera: Camera, footprints: list[tuple[np.ndarray, float]]
) -> np.ndarray:
    """Darken the floor under people and boxes: soft ellipses at floor ``centre [3]`` of
    ``radius`` metres. Returns a new image."""
    import cv2

    h, w = image.shape[:2]
    shadow = np.zeros((h, w), np.float32)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    for centre, radius in footprints:
        ring = centre + radius * np.stack([np.cos(angles), 0 * angles, np.sin(angles)], 1)
        xy, depth = camera.project(ring)
        if np.any(depth <= camera.znear):
            continue
        cv2.fillPoly(shadow, [np.round(xy).astype(np.int32)], 1.0)
    if not shadow.any():
        return image
    sigma = max(2.0, 0.01 * max(h, w))
    soft = cv2.GaussianBlur(shadow, (0, 0), sigma)
    return (image * (1 - 0.45 * soft[..., None])).astype(np.uint8)
