"""Stage 1: the state of the painting tools and what they paint on.

:class:`Stage1Controller` holds the chosen part, tool, brush size and protection, gives the
tools the current person's label map (:class:`~annotator.ui.tools.PaintContext`), and makes
"parts done" move the task to *segmented*.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtGui import QColor

from annotator.dataset.records import TaskState
from annotator.surface.parts import COARSE_COLORS, N_COARSE, coarse_name
from annotator.ui.boxes import BoxLayer, BoxTool
from annotator.ui.canvas import Canvas, CanvasTool
from annotator.ui.label_map import LabelMap, Rect
from annotator.ui.navigation import Navigator
from annotator.ui.paint_tools import Patch
from annotator.ui.session import Session
from annotator.ui.tools import BrushTool, FillTool, PolygonTool

TOOLS = ("box", "brush", "eraser", "polygon", "fill")
BRUSH_MIN, BRUSH_MAX = 1.0, 2000.0


def part_qcolor(part: int) -> QColor:
    r, g, b = (int(c) for c in COARSE_COLORS[part])
    return QColor(r, g, b)


class Stage1Controller(QObject):
    """Tools, part and brush of stage 1, bound to the canvas and the current person.

    Args:
        canvas: where the tools work.
        navigator: the current image and person.
        boxes: the box layer (hit tests, the box tool).
        session_of: returns the open session (or None).
    """

    partChanged = Signal(int)
    toolChanged = Signal(str)
    brushChanged = Signal(float)
    protectChanged = Signal(bool)
    message = Signal(str)

    def __init__(
        self,
        canvas: Canvas,
        navigator: Navigator,
        boxes: BoxLayer,
        session_of: Callable[[], Session | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._canvas = canvas
        self._nav = navigator
        self._boxes = boxes
        self._session_of = session_of
        self.part = 1
        self.brush_size = 24.0
        self.protect = False
        self.tool = "brush"
        self.active = False
        self._tools: dict[str, CanvasTool] = {
            "box": BoxTool(boxes, navigator, session_of),
            "brush": BrushTool(self),
            "eraser": BrushTool(self, eraser=True),
            "polygon": PolygonTool(self),
            "fill": FillTool(self),
        }

    # -- choices ---------------------------------------------------------------------------

    def set_active(self, active: bool) -> None:
        """Stage 1 shown (tools on the canvas) or not."""
        self.active = active
        self._canvas.set_tool(self._tools[self.tool] if active else None)

    def set_tool(self, name: str) -> None:
        if name not in self._tools:
            raise ValueError(f"unknown tool {name!r}; expected one of {TOOLS}")
        self.tool = name
        if self.active:
            self._canvas.set_tool(self._tools[name])
        self.toolChanged.emit(name)

    def tool_object(self, name: str) -> CanvasTool:
        return self._tools[name]

    def set_part(self, part: int) -> None:
        if not 1 <= part <= N_COARSE:
            raise ValueError(f"part must be in 1..{N_COARSE}")
        self.part = part
        if self.tool in ("eraser", "box"):
            self.set_tool("brush")
        self._refresh_cursor()
        self.partChanged.emit(part)

    def set_brush_size(self, size: float) -> None:
        self.brush_size = float(min(max(size, BRUSH_MIN), BRUSH_MAX))
        self._refresh_cursor()
        self.brushChanged.emit(self.brush_size)

    def grow_brush(self, steps: int) -> None:
        """Change the brush size by ``steps`` steps of about 20 %."""
        size = self.brush_size * (1.2**steps)
        if abs(size - self.brush_size) < 1:
            size = self.brush_size + (1 if steps > 0 else -1)
        self.set_brush_size(round(size))

    def set_protect(self, protect: bool) -> None:
        self.protect = protect
        self.protectChanged.emit(protect)

    def parts_done(self) -> bool:
        """Mark the current person's stage 1 done (*segmented*); False if nothing painted."""
        session, pid = self._session_of(), self._nav.person_id
        if session is None or pid is None or session.readonly:
            return False
        if not session.label_map(pid).any():
            self.message.emit("Paint the parts of this person first.")
            return False
        session.flush()
        if session.person(pid).state < TaskState.SEGMENTED:
            session.set_state(pid, TaskState.SEGMENTED)
        return True

    # -- PaintContext ----------------------------------------------------------------------

    def target(self, pos: QPointF) -> LabelMap | None:
        session, pid = self._session_of(), self._nav.person_id
        if session is None:
            return None
        if session.readonly:
            self.message.emit("This project is open read-only.")
            return None
        col, row = math.floor(pos.x()), math.floor(pos.y())
        here = Rect(col, row, col + 1, row + 1)
        if pid is not None:
            label_map = session.label_map(pid)
            if not label_map.region.intersect(here).empty:
                return label_map
        other = self._boxes.person_at(pos)
        if other is not None and other != pid:
            self._nav.set_person(other)
            self.message.emit(f"Person #{other} selected.")
            return None
        if pid is None:
            self.message.emit("Draw a person box first (N), or select a person.")
            return None
        return session.label_map(pid)

    def paint_over(self, erase: bool) -> frozenset[int] | None:
        if not self.protect:
            return None
        return frozenset({self.part}) if erase else frozenset({0, self.part})

    def painted(self, rect: Rect | None) -> None:
        session, pid = self._session_of(), self._nav.person_id
        if session is not None and pid is not None and rect is not None:
            session.painted(pid, rect)

    def commit(self, patch: Patch | None, what: str) -> None:
        session, pid = self._session_of(), self._nav.person_id
        if session is not None and pid is not None:
            session.commit(pid, patch, what)

    def part_color(self, part: int) -> QColor:
        return part_qcolor(part)

    def describe(self) -> str:
        """A short status text: tool, part, brush."""
        if self.tool in ("brush", "polygon", "fill"):
            return f"{self.tool} · {coarse_name(self.part)} · {self.brush_size:.0f} px"
        if self.tool == "eraser":
            return f"eraser · {self.brush_size:.0f} px"
        return "box tool"

    def _refresh_cursor(self) -> None:
        tool = self._tools[self.tool]
        if isinstance(tool, BrushTool) and self.active:
            tool.refresh_cursor(self._canvas)
