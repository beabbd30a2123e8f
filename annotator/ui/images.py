"""Loading images off the UI thread into a small pyramid, with a cache and prefetch.

A 12-megapixel JPEG takes about 150 ms to decode, so decoding runs on a worker thread and the
next and previous images are loaded ahead. Each image is kept as 32-bit pixels (what Qt draws
fastest) at full size and at halves down to about 1000 pixels: the canvas draws from the level
nearest the zoom, so a zoomed-out 12-megapixel image paints as fast as a small one.

Pixels are read as stored, without applying EXIF orientation, like the project's image sizes
(and COCO's): pixel coordinates of boxes and masks then mean the same everywhere.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

log = logging.getLogger(__name__)

#: Levels stop halving when the longer side is at most this many pixels.
_SMALLEST_LEVEL = 1024


@dataclass
class LoadedImage:
    """A decoded image and its pyramid.

    Attributes:
        image_id: the project's image id.
        width: pixels.
        height: pixels.
        levels: ``levels[k]`` is the image scaled by ``1 / 2**k`` (Format_RGB32).
        error: why it could not be read (then ``levels`` is empty).
    """

    image_id: int
    width: int = 0
    height: int = 0
    levels: list[QImage] = field(default_factory=list)
    error: str | None = None
    _arrays: list[np.ndarray] = field(default_factory=list, repr=False)
    _rgb: np.ndarray | None = field(default=None, repr=False)

    def rgb(self) -> np.ndarray | None:
        """``[H, W, 3]`` uint8 RGB of the full image (made on first use), or None."""
        if self._rgb is None and self._arrays:
            self._rgb = cv2.cvtColor(self._arrays[0], cv2.COLOR_BGRA2RGB)
        return self._rgb

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._arrays) + (0 if self._rgb is None else self._rgb.nbytes)


def decode_image(image_id: int, path: Path) -> LoadedImage:
    """Read an image file into a :class:`LoadedImage` (any thread)."""
    try:
        data = np.fromfile(str(path), np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except (OSError, ValueError) as exc:
        return LoadedImage(image_id, error=f"cannot read {path}: {exc}")
    if bgr is None:
        return LoadedImage(image_id, error=f"not a readable image: {path}")
    arrays = [cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)]
    while max(arrays[-1].shape[:2]) > _SMALLEST_LEVEL:
        top = arrays[-1]
        size = (max(1, top.shape[1] // 2), max(1, top.shape[0] // 2))
        arrays.append(cv2.resize(top, size, interpolation=cv2.INTER_AREA))
    levels = [_qimage(a) for a in arrays]
    return LoadedImage(image_id, bgr.shape[1], bgr.shape[0], levels, None, arrays)


def _qimage(bgra: np.ndarray) -> QImage:
    """A QImage sharing the memory of a ``[H, W, 4]`` BGRA array (keep the array alive)."""
    h, w = bgra.shape[:2]
    return QImage(bgra.data, w, h, bgra.strides[0], QImage.Format.Format_RGB32)


class ImageLoader(QObject):
    """Decodes images on a worker thread; keeps the last few.

    Args:
        capacity: images kept in memory (current, next, previous).
    """

    loaded = Signal(int)  # image id; :meth:`get` now returns it
    _done = Signal(int, object)

    def __init__(self, capacity: int = 3, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._capacity = capacity
        self._cache: OrderedDict[int, LoadedImage] = OrderedDict()
        self._running: dict[int, Future[None]] = {}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="image-loader")
        self._done.connect(self._store)

    def get(self, image_id: int) -> LoadedImage | None:
        """The image if it is loaded (and marks it recently used)."""
        found = self._cache.get(image_id)
        if found is not None:
            self._cache.move_to_end(image_id)
        return found

    def request(self, image_id: int, path: Path | Callable[[], Path]) -> LoadedImage | None:
        """The image if loaded; else start loading it (``loaded`` fires when done).

        ``path`` may be a function giving the file, called on the worker thread: a shared
        project's image is fetched from the server there, never on the UI thread.
        """
        found = self.get(image_id)
        if found is None and image_id not in self._running:
            self._running[image_id] = self._pool.submit(self._load, image_id, path)
        return found

    def load_now(self, image_id: int, path: Path) -> LoadedImage:
        """Load on the calling thread (tests, benchmarks)."""
        found = self.get(image_id)
        if found is None:
            found = decode_image(image_id, path)
            self._store(image_id, found)
        return found

    def clear(self) -> None:
        self._cache.clear()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _load(self, image_id: int, path: Path | Callable[[], Path]) -> None:
        try:
            image = decode_image(image_id, path() if callable(path) else path)
        except Exception as exc:  # never lose the worker
            log.exception("loading image %s failed", image_id)
            image = LoadedImage(image_id, error=f"{type(exc).__name__}: {exc}")
        self._done.emit(image_id, image)

    def _store(self, image_id: int, image: object) -> None:
        assert isinstance(image, LoadedImage)
        self._running.pop(image_id, None)
        self._cache[image_id] = image
        self._cache.move_to_end(image_id)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        self.loaded.emit(image_id)
