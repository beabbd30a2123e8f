"""The stage-2 render thread: the one thread that owns the OpenGL renderer.

An OpenGL (EGL) context is bound to the thread that made it (docs/adr/0004), so all part-view
rendering happens here, in one :class:`RenderWorker` thread that owns the
:class:`~annotator.surface.views.PartViews`. The UI thread only posts requests and gets numpy
results back through queued signals; it never waits for a render.

Requests, most urgent first:

1. sampling a person's points (milliseconds, pure numpy);
2. the six views of the part being annotated (from memory, the disk cache, or rendered);
3. the free-rotate view: one slot, a newer request replaces an older one not yet started
   (latest wins, so a fast drag never queues up stale frames); frames asked for while
   dragging (without the pick buffer) are rendered at half size, about twice as fast;
4. views of parts the walk reaches next (prefetch), in the order asked.

The atlas of the project's body model is loaded first, in this thread, and handed to the UI
thread through :attr:`RenderWorker.atlasReady` with its joints (for the landmark labels).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from annotator.ui.stage2.session import SamplingJob, run_sampling

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Rotate:
    serial: int
    part: int
    azimuth: float
    elevation: float
    ids: bool


@dataclass(frozen=True)
class _Sample:
    ticket: int
    job: SamplingJob


class RenderWorker(QThread):
    """Owns the part-view renderer; serves view, free-rotate and sampling requests.

    Args:
        body: body model of the project (``"anny"``, ``"smpl"``): whose atlas to load.
        size: side of the rendered views, pixels.
        cache_dir: the disk cache of rendered views (None: render every time).
        keep: parts whose views stay in this thread's memory.
        parent: Qt parent.

    Signals:
        atlasReady(Atlas, dict[str, ndarray]): the atlas is loaded (first thing the thread
            does), with its rest joints ``{name: [3]}``.
        viewsReady(int, list[PartView]): the six views of a coarse part.
        rotateReady(int, PartView): the free-rotate render of a request (its serial number).
        sampled(int, SamplePoints): the points of a sampling request (its ticket).
        failed(str, str): what failed ("atlas", "views", "rotate", "sampling") and why.
    """

    atlasReady = Signal(object, object)
    viewsReady = Signal(int, object)
    rotateReady = Signal(int, object)
    sampled = Signal(int, object)
    failed = Signal(str, str)

    def __init__(
        self,
        body: str,
        *,
        size: int = 512,
        cache_dir: Path | None = None,
        keep: int = 3,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("stage2-render")
        self._body = body
        self._size = size
        self._cache_dir = cache_dir
        self._keep = keep
        self._wake = threading.Condition()
        self._stopping = False
        self._samples: deque[_Sample] = deque()
        self._urgent: deque[int] = deque()
        self._prefetch: deque[int] = deque()
        self._rotate: _Rotate | None = None
        self._serial = 0

    # -- requests (any thread) -------------------------------------------------------------

    def request_views(self, part: int, *, urgent: bool = True) -> None:
        """Ask for the six views of ``part`` (answered by :attr:`viewsReady`).

        Args:
            part: coarse part 1..14.
            urgent: the part is on screen now; it replaces an urgent request not started yet
                (the walk moved on). Else: prefetch, after everything else.
        """
        with self._wake:
            if part in self._prefetch:
                if not urgent:
                    return
                self._prefetch.remove(part)
            if urgent:
                self._urgent.clear()
                self._urgent.append(part)
            elif part not in self._urgent:
                self._prefetch.append(part)
            self._wake.notify()

    def request_rotate(self, part: int, azimuth: float, elevation: float, ids: bool) -> int:
        """Ask for one free-rotate render; replaces an earlier request not started yet.

        Args:
            part: coarse part 1..14.
            azimuth, elevation: degrees.
            ids: also render the pick buffer (skip it while dragging).

        Returns:
            The request's serial number (given back by :attr:`rotateReady`).
        """
        with self._wake:
            self._serial += 1
            self._rotate = _Rotate(self._serial, part, azimuth, elevation, ids)
            self._wake.notify()
            return self._serial

    def request_sampling(self, ticket: int, job: SamplingJob) -> None:
        """Sample a person's points (answered by :attr:`sampled` with ``ticket``)."""
        with self._wake:
            self._samples.append(_Sample(ticket, job))
            self._wake.notify()

    def cancel_prefetch(self) -> None:
        """Forget prefetch requests not started yet."""
        with self._wake:
            self._prefetch.clear()

    def stop(self, timeout_ms: int = 15000) -> bool:
        """Finish the render in progress, free the renderer and end the thread.

        Returns:
            Whether the thread ended within ``timeout_ms``.
        """
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if not self.isRunning():
            return True
        return self.wait(timeout_ms)

    # -- the thread ------------------------------------------------------------------------

    def run(self) -> None:
        from annotator.surface.atlas import load_atlas
        from annotator.surface.views import PartViews, atlas_joints

        views = preview = None
        try:
            atlas = load_atlas(self._body)
            joints = atlas_joints(atlas)
        except Exception as exc:  # a missing or damaged atlas: say so, keep sampling
            log.exception("cannot load the %s atlas", self._body)
            self.failed.emit("atlas", f"Cannot load the body surface ({self._body}): {exc}")
        else:
            self.atlasReady.emit(atlas, joints)
            views = PartViews(atlas, self._size, cache_dir=self._cache_dir, keep=self._keep)
            preview = PartViews(atlas, max(128, self._size // 2))
        try:
            while (request := self._take()) is not None:
                self._serve(request, views, preview)
        finally:
            for renderer in (views, preview):
                try:
                    if renderer is not None:
                        renderer.close()
                except Exception:
                    log.exception("closing a renderer failed")

    def _take(self) -> _Sample | _Rotate | tuple[str, int] | None:
        """The most urgent request, waiting for one; None when stopping."""
        with self._wake:
            while True:
                if self._stopping:
                    return None
                if self._samples:
                    return self._samples.popleft()
                if self._urgent:
                    return ("views", self._urgent.popleft())
                if self._rotate is not None:
                    rotate, self._rotate = self._rotate, None
                    return rotate
                if self._prefetch:
                    return ("views", self._prefetch.popleft())
                self._wake.wait()

    def _serve(
        self, request: _Sample | _Rotate | tuple[str, int], views: Any, preview: Any
    ) -> None:
        kind = {_Sample: "sampling", _Rotate: "rotate"}.get(type(request), "views")
        try:
            if isinstance(request, _Sample):
                self.sampled.emit(request.ticket, run_sampling(request.job))
                return
            if views is None:
                raise RuntimeError("the body surface is not available (see the earlier error)")
            if isinstance(request, _Rotate):
                source = views if request.ids else preview
                view = source.render(request.part, request.azimuth, request.elevation, request.ids)
                self.rotateReady.emit(request.serial, view)
            else:
                part = request[1]
                self.viewsReady.emit(part, views.views(part))
        except Exception as exc:
            log.exception("stage-2 %s request failed", kind)
            self.failed.emit(kind, f"{type(exc).__name__}: {exc}")
