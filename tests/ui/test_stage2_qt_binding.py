"""The Qt binding must keep Python's reference counts straight (the app paints all day).

PySide6 6.12.0 under Python 3.11 drops a reference to ``None`` on every call of a method that
returns nothing (``QPainter.setPen``, ``QWidget.update``...). A repaint of the stage-2 views
makes about 150 such calls, so after a few minutes of work ``None`` is freed and the process
dies with "Fatal Python error: none_dealloc". constraints.txt pins a release without the bug.
"""

from __future__ import annotations

import sys

import pytest


@pytest.mark.gui
def test_calls_returning_nothing_keep_none_alive(qapp):
    from PySide6.QtCore import QPointF, QRectF
    from PySide6.QtGui import QColor, QImage, QPainter

    image = QImage(8, 8, QImage.Format.Format_RGB32)
    rect = QRectF(0, 0, 1, 1)
    before = sys.getrefcount(None)
    painter = QPainter(image)
    for _ in range(500):
        rect.moveCenter(QPointF(1.0, 1.0))
        painter.setPen(QColor(1, 2, 3))
    painter.end()
    assert sys.getrefcount(None) >= before - 20, (
        "this PySide6 release leaks references to None: install the version in constraints.txt"
    )
