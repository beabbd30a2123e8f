"""The widgets of the stage-2 panel and where they sit (no behaviour here)."""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from annotator.ui.stage2.inset import InsetView
from annotator.ui.stage2.points_list import PointStrip
from annotator.ui.stage2.rotate_view import RotateView
from annotator.ui.stage2.views_grid import ViewsGrid


class PanelWidgets(NamedTuple):
    """The parts of the stage-2 panel."""

    inset: InsetView
    title: QLabel
    counts: QLabel
    strip: PointStrip
    answer: QLabel
    previous: QPushButton
    next: QPushButton
    not_visible: QPushButton
    undo: QPushButton
    show_others: QCheckBox
    advance: QCheckBox
    keys: QLabel
    grid: ViewsGrid
    rotate: RotateView


def build_panel(panel: QWidget) -> PanelWidgets:
    """Create the panel's widgets inside ``panel``::

    +--------+---------------------------------------------+
    | inset  | Point 5 of 37 · left lower arm              |
    |        | counts, one cell per point, the answer      |
    |        | [Previous] [Next] [Not visible] [Undo]      |
    +--------+-------------------------+-------------------+
    | six part views (2 x 3)           | free-rotate view  |
    +----------------------------------+-------------------+
    """
    inset = InsetView()
    title = QLabel()
    font = QFont(title.font())
    font.setPointSizeF(font.pointSizeF() * 1.25)
    font.setBold(True)
    title.setFont(font)
    counts, answer = QLabel(), QLabel()
    answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    strip = PointStrip()
    previous = _button("◀ Previous", "Previous point (P, Backspace)")
    next_ = _button("Next ▶", "Next point (N, Space)")
    not_visible = _button("Not visible / unsure", "The point's spot cannot be told (X)")
    undo = _button("Undo", "Put back the answer before the last change (Ctrl+Z)")
    show_others = QCheckBox("Show the person's other answers")
    show_others.setChecked(True)
    show_others.setToolTip("Other answered points of this part, small and dim, on the views (O)")
    advance = QCheckBox("Next point after a pick")
    advance.setToolTip("Go to the next point to do as soon as a view is clicked")
    for box in (show_others, advance):
        box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    keys = QLabel(
        "Keys: N / Space next · P / Backspace previous · T next to do · X not visible · "
        "Ctrl+Z undo · O other answers · R reset free view · +/- zoom"
    )
    keys.setWordWrap(True)
    keys.setStyleSheet("color: palette(dark);")
    grid, rotate = ViewsGrid(), RotateView()

    buttons = QHBoxLayout()
    for button in (previous, next_, not_visible, undo):
        buttons.addWidget(button)
    buttons.addStretch(1)
    options = QHBoxLayout()
    options.addWidget(show_others)
    options.addWidget(advance)
    options.addStretch(1)
    walk = QVBoxLayout()
    for item in (title, counts, strip, answer):
        walk.addWidget(item)
    walk.addLayout(buttons)
    walk.addLayout(options)
    walk.addStretch(1)
    walk.addWidget(keys)
    top = QHBoxLayout()
    top.addWidget(inset, 0)
    top.addLayout(walk, 1)
    views = QHBoxLayout()
    views.addWidget(grid, 3)
    views.addWidget(rotate, 2)
    outer = QVBoxLayout(panel)
    outer.setContentsMargins(6, 6, 6, 6)
    outer.addLayout(top, 0)
    outer.addLayout(views, 1)
    return PanelWidgets(
        inset, title, counts, strip, answer, previous, next_, not_visible, undo,
        show_others, advance, keys, grid, rotate,
    )  # fmt: skip


def _button(text: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space must reach the walk, not a button
    return button
