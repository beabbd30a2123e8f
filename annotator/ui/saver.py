"""Saving label maps as strokes end, without blocking the UI.

Compressing a big label map takes tens of milliseconds (about 35 ms for a 12-megapixel map),
so it runs on a worker thread; only the database write (a few milliseconds) runs on the UI
thread, which owns the project's SQLite connection. Masks are written in the order they
were submitted; when a person is submitted again before the worker reached it, only the
newest map is encoded (each save replaces the whole map). :meth:`MaskSaver.flush` waits
until everything submitted is in the project (on close, before a person is deleted).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from annotator.dataset.masks import EncodedMask, encode_mask
from annotator.dataset.records import PartMask

log = logging.getLogger(__name__)

Writer = Callable[[int, EncodedMask], None]


class MaskSaver(QObject):
    """Encodes submitted masks on a worker thread; writes them on the owner's thread.

    Args:
        write: ``write(person_id, encoded)`` stores one mask (called on the UI thread).
    """

    saved = Signal(int)  # person id, now in the project
    failed = Signal(int, str)  # person id, error message
    pendingChanged = Signal(bool)  # whether something is not written yet
    _ready = Signal()

    def __init__(self, write: Writer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._write = write
        self._lock = threading.Condition()
        self._queue: OrderedDict[int, tuple[np.ndarray, int, int]] = OrderedDict()
        self._done: deque[tuple[int, EncodedMask | Exception]] = deque()
        self._busy_id: int | None = None  # person being encoded
        self._stopping = False
        self._pending_shown = False
        self._ready.connect(self._drain)
        self._thread = threading.Thread(target=self._work, name="mask-saver", daemon=True)
        self._thread.start()

    def submit(self, person_id: int, labels: np.ndarray, x0: int, y0: int) -> None:
        """Queue a person's label map for saving.

        Args:
            person_id: the person.
            labels: ``[H, W]`` uint8 label map, owned by the saver from now on (a copy).
            x0: image column of ``labels[:, 0]``.
            y0: image row of ``labels[0, :]``.
        """
        with self._lock:
            if self._stopping:
                raise RuntimeError("the saver is closed")
            self._queue[person_id] = (labels, x0, y0)
            self._lock.notify_all()
        self._report_pending(True)

    def is_pending(self, person_id: int | None = None) -> bool:
        """Whether a mask (of ``person_id``, or any) is submitted but not yet written."""
        with self._lock:
            if person_id is None:
                return bool(self._queue or self._busy_id is not None or self._done)
            return (
                person_id in self._queue
                or self._busy_id == person_id
                or any(p == person_id for p, _ in self._done)
            )

    def flush(self) -> None:
        """Block until every submitted mask is written to the project."""
        with self._lock:
            while self._queue or self._busy_id is not None:
                self._lock.wait(0.05)
        self._drain()

    def close(self) -> None:
        """Flush and stop the worker thread."""
        self.flush()
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout=5)

    # -- worker thread ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._lock.wait()
                if not self._queue:
                    return
                person_id, (labels, x0, y0) = self._queue.popitem(last=False)
                self._busy_id = person_id
            try:
                result: EncodedMask | Exception = encode_mask(PartMask(labels, x0, y0))
            except Exception as exc:  # reported on the UI thread
                result = exc
            with self._lock:
                self._done.append((person_id, result))
                self._busy_id = None
                self._lock.notify_all()
            self._ready.emit()

    # -- UI thread -------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._done:
                    break
                person_id, result = self._done.popleft()
            try:
                if isinstance(result, Exception):
                    raise result
                self._write(person_id, result)
            except Exception as exc:
                log.exception("could not save the parts of person %s", person_id)
                self.failed.emit(person_id, f"{type(exc).__name__}: {exc}")
            else:
                self.saved.emit(person_id)
        self._report_pending(self.is_pending())

    def _report_pending(self, pending: bool) -> None:
        if pending != self._pending_shown:
            self._pending_shown = pending
            self.pendingChanged.emit(pending)
