"""The window's actions and their shortcuts (also listed by the help dialog).

Part keys: 1-9 and 0 pick parts 1-10, Y U I O parts 11-14 (see :data:`PART_KEYS`).
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

from annotator.surface.parts import COARSE_PARTS
from annotator.ui.palette import PART_KEYS, swatch


class Actions(NamedTuple):
    """Every action of the main window."""

    new_project: QAction
    open_project: QAction
    open_demo: QAction
    add_images: QAction
    import_coco: QAction
    settings: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    delete_person: QAction
    fit: QAction
    zoom_in: QAction
    zoom_out: QAction
    zoom_actual: QAction
    show_masks: QAction
    show_boxes: QAction
    dark_theme: QAction
    prev_image: QAction
    next_image: QAction
    prev_person: QAction
    next_person: QAction
    stage1: QAction
    stage2: QAction
    parts_done: QAction
    tool_box: QAction
    tool_brush: QAction
    tool_eraser: QAction
    tool_polygon: QAction
    tool_fill: QAction
    brush_smaller: QAction
    brush_bigger: QAction
    opacity_down: QAction
    opacity_up: QAction
    protect: QAction
    parts: tuple[QAction, ...]
    shortcuts_help: QAction
    about: QAction

    def all(self) -> list[QAction]:
        out: list[QAction] = []
        for value in self:
            out.extend(value if isinstance(value, tuple) else [value])
        return out

    def stage1_only(self) -> list[QAction]:
        """Actions that edit stage 1 (off in stage 2, whose panel has keys of its own)."""
        return [
            *self.tools(),
            *self.parts,
            self.undo,
            self.redo,
            self.delete_person,
            self.parts_done,
            self.brush_smaller,
            self.brush_bigger,
            self.protect,
        ]

    def tools(self) -> list[QAction]:
        return [self.tool_box, self.tool_brush, self.tool_eraser, self.tool_polygon, self.tool_fill]


def _action(
    parent: QWidget, text: str, keys: str | list[str] = "", tip: str = "", checkable: bool = False
) -> QAction:
    action = QAction(text, parent)
    sequences = [keys] if isinstance(keys, str) else keys
    action.setShortcuts([QKeySequence(k) for k in sequences if k])
    shown = ", ".join(k for k in sequences if k)
    action.setToolTip(f"{tip or text.replace('&', '')}" + (f" ({shown})" if shown else ""))
    action.setCheckable(checkable)
    parent.addAction(action)
    return action


def setup_actions(window: QWidget) -> Actions:
    """Create the window's actions (added to it, so shortcuts work everywhere in it)."""
    a = _action
    tools = QActionGroup(window)
    stages = QActionGroup(window)
    actions = Actions(
        new_project=a(window, "&New project...", "Ctrl+N"),
        open_project=a(window, "&Open project...", "Ctrl+O"),
        open_demo=a(window, "Open &demo project"),
        add_images=a(window, "Add &images from a folder...", "Ctrl+I"),
        import_coco=a(window, "Import COCO person &boxes..."),
        settings=a(window, "&Settings...", "Ctrl+,"),
        quit=a(window, "&Quit", "Ctrl+Q"),
        undo=a(window, "&Undo", "Ctrl+Z"),
        redo=a(window, "&Redo", ["Ctrl+Shift+Z", "Ctrl+Y"]),
        delete_person=a(window, "&Delete person", "Del", "Delete the selected person"),
        fit=a(window, "&Fit image", "F"),
        zoom_in=a(window, "Zoom &in", ["Ctrl+=", "Ctrl++"]),
        zoom_out=a(window, "Zoom &out", "Ctrl+-"),
        zoom_actual=a(window, "&Actual pixels (100 %)", "Ctrl+0"),
        show_masks=a(window, "Show part &masks", "M", checkable=True),
        show_boxes=a(window, "Show person &boxes", "Shift+B", checkable=True),
        dark_theme=a(window, "&Dark theme", checkable=True),
        prev_image=a(window, "&Previous image", "A"),
        next_image=a(window, "&Next image", "D"),
        prev_person=a(window, "Previous person", "Shift+Tab"),
        next_person=a(window, "Next person", "Tab"),
        stage1=a(window, "1 Parts", "F1", "Stage 1: paint the 14 parts", True),
        stage2=a(window, "2 Points", "F2", "Stage 2: point correspondences", True),
        parts_done=a(
            window,
            "Parts done, go to points",
            ["Ctrl+Return", "Ctrl+Enter"],
            "Stage 1 of this person is done: mark it segmented and go to stage 2",
        ),
        tool_box=a(window, "Box", "N", "Box tool: draw, move, resize person boxes", True),
        tool_brush=a(
            window, "Brush", "B", "Brush: paint the chosen part (right button erases)", True
        ),
        tool_eraser=a(window, "Eraser", "E", "Eraser", True),
        tool_polygon=a(window, "Polygon", "P", "Polygon fill: click corners, Enter closes", True),
        tool_fill=a(window, "Fill", "G", "Flood fill the region under the pointer", True),
        brush_smaller=a(window, "Smaller brush", "["),
        brush_bigger=a(window, "Bigger brush", "]"),
        opacity_down=a(window, "Masks more transparent", ","),
        opacity_up=a(window, "Masks more opaque", "."),
        protect=a(window, "Protect painted parts", "L", checkable=True),
        parts=tuple(
            a(window, f"{COARSE_PARTS[k]}", PART_KEYS[k], f"Paint the {COARSE_PARTS[k]}")
            for k in range(len(COARSE_PARTS))
        ),
        shortcuts_help=a(window, "&Keyboard shortcuts", ["?", "Shift+?", "Ctrl+/"]),
        about=a(window, "&About DensePose Studio"),
    )
    for action in actions.tools():
        tools.addAction(action)
    for action in (actions.stage1, actions.stage2):
        stages.addAction(action)
    for k, action in enumerate(actions.parts):
        action.setIcon(swatch(k + 1))
    actions.show_masks.setChecked(True)
    actions.show_boxes.setChecked(True)
    actions.stage1.setChecked(True)
    actions.tool_brush.setChecked(True)
    return actions


#: Mouse gestures, for the help dialog.
MOUSE_HELP = (
    ("Wheel", "Zoom about the pointer"),
    ("Middle drag, or Space + drag", "Pan"),
    ("Left drag (brush, eraser)", "Paint or erase; right drag erases with the brush"),
    ("Click (polygon)", "Add a corner; click the first corner or double-click to fill"),
    ("Right click (polygon)", "Close the polygon as an eraser"),
    ("Click (fill)", "Fill the region; right click clears it"),
    ("Drag (box tool)", "Draw a person box; drag a box or its handles to move or resize"),
    ("Click in another box", "Select that person"),
)
