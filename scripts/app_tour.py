"""A tour of the app on the demo project, with screenshots (the README's come from here).

    DPSTUDIO_DATA_DIR=/tmp/tour-data xvfb-run -a -s "-screen 0 1600x1000x24" \\
        .venv/bin/python scripts/app_tour.py OUT_DIR [light|dark]

Opens the demo project, paints the first gold person from its truth with the polygon tool as a
user would, opens stage 2, picks the true spot of four points on the part views, and saves a
screenshot at each step. Use a separate DPSTUDIO_DATA_DIR: the tour annotates the demo project
it opens.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest


class Tour:
    """Drives the main window like a user, with screenshots into ``out``."""

    def __init__(self, out: Path, theme: str) -> None:
        from annotator.ui.app import (
            apply_theme,
            create_application,
            install_exception_hook,
            setup_logging,
        )

        self.out, self.theme = out, theme
        setup_logging()
        self.app = create_application()
        install_exception_hook()
        apply_theme(self.app, theme)
        from annotator.ui.main_window import MainWindow
        from annotator.ui.settings import Settings

        # Settings of its own, so that the tour neither reads nor changes the user's.
        store = QSettings(str(out / "tour-settings.ini"), QSettings.Format.IniFormat)
        store.clear()
        self.w = MainWindow(Settings(store))
        self.w.resize(1600, 1000)
        self.w.show()
        self.w.activateWindow()
        self.w.raise_()

    def wait(self, ms: int) -> None:
        end = time.time() + ms / 1000
        while time.time() < end:
            self.app.processEvents()
            time.sleep(0.005)

    def until(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        end = time.time() + timeout
        while not condition():
            if time.time() > end:
                raise TimeoutError("the app did not get there in time")
            self.app.processEvents()
            time.sleep(0.01)

    def shot(self, name: str) -> None:
        self.wait(200)
        self.w.grab().save(str(self.out / f"{name}_{self.theme}.png"))
        print("shot", name, self.w.windowTitle(), flush=True)

    def key(self, sequence: str) -> None:
        self.w.canvas.setFocus()
        combo = QKeySequence(sequence)[0]
        QTest.keyClick(self.w.canvas, combo.key(), combo.keyboardModifiers())

    def click(self, x: float, y: float) -> None:
        pos = self.w.canvas.view_pos(QPointF(x, y)).toPoint()
        QTest.mouseClick(
            self.w.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos
        )

    def paint_from_truth(self, gold) -> None:
        """Trace every part of the true label map with the polygon tool."""
        self.key("P")
        for part in range(1, 15):
            mask = (gold.labels == part).astype(np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            self.key("1234567890YUIO"[part - 1])
            for contour in contours:
                if cv2.contourArea(contour) < 6:
                    continue
                for x, y in cv2.approxPolyDP(contour, 1.0, True)[:, 0, :].astype(float) + 0.5:
                    self.click(x + gold.x0, y + gold.y0)
                self.key("Return")
        self.key("B")

    def pick_true_spots(self, gold, count: int) -> None:
        """Click, on the part view that shows it nearest its centre, each point's true spot."""
        from annotator.surface.points import SurfacePoints

        panel = self.w.stage2.panel
        panel.ui.advance.setChecked(True)
        for _ in range(count):
            x, y = panel.session.position()
            r, c = int(y) - gold.y0, int(x) - gold.x0
            truth = SurfacePoints(gold.face[r : r + 1, c], gold.bary[r, c][None].astype(np.float64))
            best = None
            for k, view in enumerate(panel.current_views()):
                xy, visible = view.project(truth)
                if visible[0] and view.pick(*xy[0]) is not None:
                    off = float(np.hypot(*(xy[0] - np.array(view.image.shape[1::-1]) / 2)))
                    if best is None or off < best[0]:
                        best = (off, k, xy[0])
            if best is None:
                self.key("T")
            else:
                canvas = panel.ui.grid.canvases[best[1]]
                QTest.mouseClick(
                    canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(*best[2]).toPoint()
                )
                self.wait(600)
            self.until(lambda: panel.current_views() is not None)
            self.wait(300)

    def run(self) -> None:
        w = self.w
        self.until(w.isActiveWindow, 10)
        self.wait(300)
        start = time.time()
        w.projects.open_demo()
        self.until(w.canvas.has_image, 900)
        print(f"demo opened in {time.time() - start:.1f} s")
        self.shot("01_demo_opened")
        session = w.session
        pid = session.project.gold_person_ids()[0]
        w.navigator.set_image(session.person(pid).image_id, pid)
        self.until(w.canvas.has_image)
        gold = session.project.gold(pid)
        self.paint_from_truth(gold)
        box = session.person(pid).box
        viewport = w.canvas.viewport()
        w.canvas.set_zoom(min(viewport.width() / box.w, viewport.height() / box.h) * 0.9)
        w.canvas.centerOn(box.x + box.w / 2, box.y + box.h / 2)
        self.shot("02_stage1")
        self.key("Ctrl+Return")
        panel = w.stage2.panel
        self.until(lambda: panel.session is not None and panel.current_views() is not None, 300)
        self.wait(500)
        self.shot("03_stage2")
        self.pick_true_spots(gold, 4)
        self.shot("04_stage2_answered")
        self.key("F1")
        self.key("D")
        self.until(w.canvas.has_image)
        self.shot("05_next_image")
        w.close()


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    Tour(out, sys.argv[2] if len(sys.argv) > 2 else "light").run()


if __name__ == "__main__":
    main()
