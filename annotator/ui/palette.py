"""The stage-1 panel: the 14 parts in their colours, the tools, brush and mask controls.

Each control is bound to the stage-1 controller (or the overlay layer) by a small class;
:class:`Stage1Panel` only assembles them.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.surface.parts import COARSE_COLORS, COARSE_PARTS, N_COARSE
from annotator.ui.overlays import OverlayLayer
from annotator.ui.stage1 import Stage1Controller

#: Key that picks each part: ``PART_KEYS[k - 1]`` picks part ``k``.
PART_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "Y", "U", "I", "O")


def swatch(part: int, size: int = 16) -> QIcon:
    """A square icon in the part's colour."""
    pixmap = QPixmap(size, size)
    r, g, b = (int(c) for c in COARSE_COLORS[part])
    pixmap.fill(QColor(r, g, b))
    painter = QPainter(pixmap)
    painter.setPen(QColor(0, 0, 0, 140))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    return QIcon(pixmap)


class PartPicker(QGroupBox):
    """14 part buttons (click or key to choose) with a show/hide box each."""

    def __init__(self, controller: Stage1Controller, overlays: OverlayLayer) -> None:
        super().__init__("Parts")
        self._controller = controller
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self.buttons: dict[int, QToolButton] = {}
        self.eyes: dict[int, QCheckBox] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setVerticalSpacing(1)
        for part in range(1, N_COARSE + 1):
            eye = QCheckBox()
            eye.setChecked(True)
            eye.setToolTip("Show or hide this part's mask")
            eye.toggled.connect(lambda on, p=part: overlays.set_part_visible(p, on))
            button = QToolButton()
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setIcon(swatch(part))
            button.setText(COARSE_PARTS[part - 1])
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setToolTip(f"Paint the {COARSE_PARTS[part - 1]} (key {PART_KEYS[part - 1]})")
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, p=part: controller.set_part(p))
            key = QLabel(PART_KEYS[part - 1])
            key.setAlignment(Qt.AlignmentFlag.AlignCenter)
            key.setMinimumWidth(22)
            key.setStyleSheet("color: palette(mid); font-weight: bold;")
            self._group.addButton(button, part)
            grid.addWidget(eye, part - 1, 0)
            grid.addWidget(button, part - 1, 1)
            grid.addWidget(key, part - 1, 2)
            self.buttons[part] = button
            self.eyes[part] = eye
        grid.setColumnStretch(1, 1)
        controller.partChanged.connect(self._show_part)
        self._show_part(controller.part)

    def _show_part(self, part: int) -> None:
        self.buttons[part].setChecked(True)


class ToolButtons(QWidget):
    """The stage-1 tools as buttons (sharing the window's actions and shortcuts)."""

    def __init__(self, actions: list[QAction]) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            row.addWidget(button)
        row.addStretch(1)


class BrushControls(QGroupBox):
    """Brush size (image pixels), mask opacity, protection of painted parts."""

    def __init__(self, controller: Stage1Controller, overlays: OverlayLayer) -> None:
        super().__init__("Brush and masks")
        self._controller = controller
        grid = QGridLayout(self)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(0, 1000)  # log scale over 1..2000 px
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 2000)
        self.size_spin.setSuffix(" px")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(overlays.opacity * 100))
        self.protect = QCheckBox("Protect painted parts")
        self.protect.setToolTip(
            "Brush and fills only paint unpainted pixels; the eraser only erases the chosen "
            "part (L)"
        )
        grid.addWidget(QLabel("Size [ ]"), 0, 0)
        grid.addWidget(self.size_slider, 0, 1)
        grid.addWidget(self.size_spin, 0, 2)
        grid.addWidget(QLabel("Opacity , ."), 1, 0)
        grid.addWidget(self.opacity, 1, 1, 1, 2)
        grid.addWidget(self.protect, 2, 0, 1, 3)
        self.size_slider.valueChanged.connect(
            lambda v: controller.set_brush_size(round(math.exp(v / 1000 * math.log(2000))))
        )
        self.size_spin.valueChanged.connect(lambda v: controller.set_brush_size(float(v)))
        self.opacity.valueChanged.connect(lambda v: overlays.set_opacity(v / 100))
        self.protect.toggled.connect(controller.set_protect)
        controller.brushChanged.connect(self._show_size)
        controller.protectChanged.connect(self.protect.setChecked)
        self._show_size(controller.brush_size)

    def _show_size(self, size: float) -> None:
        for widget in (self.size_slider, self.size_spin):
            widget.blockSignals(True)
        self.size_slider.setValue(round(math.log(max(size, 1.0)) / math.log(2000) * 1000))
        self.size_spin.setValue(round(size))
        for widget in (self.size_slider, self.size_spin):
            widget.blockSignals(False)


class Stage1Panel(QWidget):
    """The right-hand panel of stage 1."""

    def __init__(
        self,
        controller: Stage1Controller,
        overlays: OverlayLayer,
        tool_actions: list[QAction],
        done_action: QAction,
    ) -> None:
        super().__init__()
        self.setObjectName("stage1-panel")
        layout = QVBoxLayout(self)
        self.person_label = QLabel("No person selected")
        self.person_label.setWordWrap(True)
        font = self.person_label.font()
        font.setBold(True)
        self.person_label.setFont(font)
        layout.addWidget(self.person_label)
        layout.addWidget(ToolButtons(tool_actions))
        self.parts = PartPicker(controller, overlays)
        layout.addWidget(self.parts)
        self.brush = BrushControls(controller, overlays)
        layout.addWidget(self.brush)
        done = QPushButton()
        done.setText(done_action.text().replace("&", ""))
        done.setToolTip(done_action.toolTip())
        done.clicked.connect(done_action.trigger)
        layout.addWidget(done)
        layout.addStretch(1)
