"""Synthetic data on disk, and reading the ground truth back.

A ``dpstudio synth --out DIR`` folder::

    DIR/images/000123.jpg      the RGB image (JPEG quality 95; PNG with --png)
    DIR/instances/000123.png   uint8 instance map: 0 background, k = person k of the scene
                               (annotation key "instance"); eyes and mouth included
    DIR/parts/000123.png       uint8 coarse part map 0..14 (DensePose dp_masks order; eyes
                               and mouth are head, 14), all persons
    DIR/gt/000123.npz          exact dense ground truth of the skin pixels (see below)
    DIR/densepose.json         DensePose-COCO: images, persons, dp points and dp_masks
    DIR/scenes.jsonl           one JSON line per image: people (shape, pose, look), camera,
                               background, per-person visibility, render timings
    DIR/synth.json             the run: seed, count, size, people, backgrounds, versions

Image ``k`` (0-based) has COCO id ``k + 1`` and file stem ``%06d``; person ``j`` (1-based)
of image ``k`` has annotation id ``(k + 1) * 100 + j``. Each image record carries the
relative paths of its truth files (``gt_file``, ``instances_file``, ``parts_file``).

``gt/*.npz`` (a zip of ``.npy`` arrays, no pickles) holds ``size`` = (height, width),
``body`` (the body model), ``skin`` (the skin mask, ``np.packbits`` of the row-major
``[H * W]`` bool array) and, for the N skin pixels in row-major order: ``instance`` (uint8),
the surface point (``face`` int32 atlas face, ``bary`` float32 ``[N, 3]``) and DensePose
``i`` (uint8 1..24), ``u`` and ``v`` (float32, exactly as computed: no quantization). Integer
arrays are deflated (level 1); float arrays are stored (they barely compress).
:func:`load_ground_truth` expands it to dense maps. Skin pixels are those with a surface
point; pixels of a person that are not skin (eyes, mouth) are in the instance map only.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.surface.points import SurfacePoints
from annotator.synth.render_scene import SynthSample

DIRS = ("images", "instances", "parts", "gt")
JSON_NAME = "densepose.json"
SCENES_NAME = "scenes.jsonl"
RUN_NAME = "synth.json"
JPEG_QUALITY = 95


def stem(index: int) -> str:
    return f"{index:06d}"


@dataclass
class GroundTruth:
    """Dense ground truth of one image (``H x W``).

    Attributes:
        instance: ``[H, W]`` uint8 person number at skin pixels, 0 elsewhere.
        face: ``[H, W]`` int32 atlas face, -1 where no skin.
        bary: ``[H, W, 3]`` float32 barycentric coordinates (0 where no skin).
        i: ``[H, W]`` uint8 chart 0..24.
        u: ``[H, W]`` float32 [0, 1].
        v: ``[H, W]`` float32 [0, 1].
        body: the body model of the surface points.
    """

    instance: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    i: np.ndarray
    u: np.ndarray
    v: np.ndarray
    body: str

    def points(self, mask: np.ndarray | None = None) -> SurfacePoints:
        """Surface points of the skin pixels in ``mask`` (default: all), row-major."""
        sel = self.face >= 0 if mask is None else (np.asarray(mask) & (self.face >= 0))
        return SurfacePoints(self.face[sel], self.bary[sel].astype(np.float64))


def truth_arrays(sample: SynthSample, body: str) -> dict[str, np.ndarray]:
    """The arrays of a ``gt/*.npz`` file."""
    skin = sample.face.ravel() >= 0
    pixels = np.flatnonzero(skin)
    return {
        "size": np.array(sample.face.shape, np.int32),
        "body": np.array(body),
        "skin": np.packbits(skin),
        "instance": sample.instance.ravel()[pixels],
        "face": sample.face.ravel()[pixels],
        "i": sample.i.ravel()[pixels],
        "bary": sample.bary.reshape(-1, 3)[pixels],
        "u": sample.u.ravel()[pixels],
        "v": sample.v.ravel()[pixels],
    }


#: Arrays stored without compression (float data: deflate saves ~10 % at a high cost).
_STORED = ("bary", "u", "v")


def save_npz(path: Path, arrays: dict[str, np.ndarray], stored: tuple[str, ...] = _STORED) -> None:
    """Write an ``.npz`` (readable by ``np.load``): deflate level 1, except ``stored``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            archive.writestr(f"{name}.npy", buffer.getvalue(), method, 1)


def load_ground_truth(path: str | Path) -> GroundTruth:
    """Read a ``gt/*.npz`` file into dense maps."""
    with np.load(path, allow_pickle=False) as data:
        h, w = (int(x) for x in data["size"])
        pixels = np.flatnonzero(np.unpackbits(data["skin"], count=h * w))

        def dense(key: str, fill: float, dtype: type, extra: tuple[int, ...] = ()) -> np.ndarray:
            out: np.ndarray = np.full((h * w, *extra), fill, dtype)
            out[pixels] = data[key]
            return out.reshape(h, w, *extra)

        return GroundTruth(
            instance=dense("instance", 0, np.uint8),
            face=dense("face", -1, np.int32),
            bary=dense("bary", 0, np.float32, (3,)),
            i=dense("i", 0, np.uint8),
            u=dense("u", 0, np.float32),
            v=dense("v", 0, np.float32),
            body=str(data["body"]),
        )


def write_sample(
    out: Path, sample: SynthSample, body: str = "anny", png: bool = False
) -> dict[str, str]:
    """Write the files of one sample; returns their paths relative to ``out``."""
    import cv2

    name = stem(sample.scene.index)
    image_file = f"images/{name}.{'png' if png else 'jpg'}"
    files = {
        "file_name": f"{name}.{'png' if png else 'jpg'}",
        "gt_file": f"gt/{name}.npz",
        "instances_file": f"instances/{name}.png",
        "parts_file": f"parts/{name}.png",
    }
    bgr = cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR)
    flags = [cv2.IMWRITE_PNG_COMPRESSION, 1] if png else [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    _imwrite(out / image_file, bgr, flags)
    fast_png = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    _imwrite(out / files["instances_file"], sample.instance, fast_png)
    _imwrite(out / files["parts_file"], sample.parts, fast_png)
    save_npz(out / files["gt_file"], truth_arrays(sample, body))
    return files


def _imwrite(path: Path, image: np.ndarray, flags: list[int]) -> None:
    import cv2

    ok, data = cv2.imencode(path.suffix, image, flags)
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(data.tobytes())
