"""Benchmark of the annotation app: start-up, opening a project of DensePose-COCO's size,
brush strokes on a 12-megapixel image, and the stage-2 view click to marker shown.

Runs offscreen (``QT_QPA_PLATFORM=offscreen``)::

    python scripts/bench_ui.py [--strokes 60] [--size 4000x3000]

Start-up: a separate process from interpreter start to the first painted window (no
project), the time a user waits. Large project: the UI thread's time to open it and list its
images, with the image list's per-image summary query against reading every person (the
baseline it replaced). Brush: the real window on a project with one image of the
given size and a person covering most of it; each pointer move paints a segment, recolours
the overlay in the changed rectangle and repaints the canvas; each stroke end makes the undo
step and queues the save; the save itself (encoding on a worker thread, then the database
write) is measured until the stroke is in the project. Stage 2: the demo project's first gold
person (built in the temporary data folder, about 15 s), painted from its truth; a click on a
part view is timed until the canvas shows the next point's marker and until the six views
show the pick.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

STARTUP = """
import sys, time
from PySide6.QtCore import QSettings
from annotator.ui.app import create_application
app = create_application()
from annotator.ui.main_window import MainWindow
from annotator.ui.settings import Settings
w = MainWindow(Settings(QSettings(sys.argv[1], QSettings.Format.IniFormat)))
w.show()
w.repaint()
app.processEvents()
heavy = [m for m in ("torch", "anny", "pyrender", "annotator.surface.body", "pyqtgraph")
         if m in sys.modules]
print("ready", ",".join(heavy))
"""


def bench_startup(runs: int, tmp: Path) -> None:
    times = []
    heavy = ""
    for k in range(runs):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", STARTUP, str(tmp / f"startup{k}.ini")],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            check=True,
        )
        times.append(time.perf_counter() - start)
        heavy = out.stdout.split("ready", 1)[1].strip()
    print(
        f"start-up to a usable window: median {np.median(times):.2f} s, "
        f"max {max(times):.2f} s over {runs} runs (process start to first paint)"
    )
    print(f"  heavy modules imported at start-up: {heavy or 'none'}")


def make_big_project(tmp: Path, width: int, height: int) -> Path:
    from annotator.dataset.coco_import import import_image_folder
    from annotator.dataset.records import Box, Person
    from annotator.dataset.store import Project

    images = tmp / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    small = (rng.random((height // 16, width // 16, 3)) * 255).astype(np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(images / "big.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    path = tmp / "project"
    with Project.create(path) as project:
        import_image_folder(project, images)
        image_id = project.images()[0].id
        box = Box(width * 0.2, height * 0.03, width * 0.6, height * 0.94)
        project.add_person(Person(image_id, box))
    return path


def bench_open_large(persons: int, tmp: Path) -> None:
    """Open a project of DensePose-COCO's size: the time the window is busy (UI thread)."""
    from PySide6.QtCore import QSettings

    from annotator.dataset.records import Box, ImageRecord, Person
    from annotator.dataset.store import Project
    from annotator.ui.app import create_application
    from annotator.ui.main_window import MainWindow
    from annotator.ui.settings import Settings

    n_images = persons * 32 // 50  # DensePose-COCO: about 32K images for 50K persons
    path = tmp / "large"
    with Project.create(path) as project:
        ids = project.add_images(
            [
                ImageRecord(f"im/{k:06d}.jpg", f"{k:06d}.jpg", f"{k:064x}", 640, 480)
                for k in range(n_images)
            ]
        )
        rng = np.random.default_rng(0)
        owners = np.r_[ids, rng.choice(ids, persons - n_images)]
        project.add_persons([Person(int(i), Box(10.0, 20.0, 200.0, 400.0)) for i in owners])
    app = create_application()
    window = MainWindow(Settings(QSettings(str(tmp / "large.ini"), QSettings.Format.IniFormat)))
    window.show()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        window.projects.open_path(path)
        app.processEvents()
        times.append(time.perf_counter() - start)
        window.set_session(None)
    window.close()
    with Project.open(path, readonly=True) as project:
        start = time.perf_counter()
        project.image_tasks()
        query = time.perf_counter() - start
        start = time.perf_counter()
        list(project.iter_persons())
        persons_read = time.perf_counter() - start
    print(
        f"open a project of {n_images} images, {persons} persons: "
        f"{np.median(times) * 1000:.0f} ms of UI thread (median of 3); its image-list summary "
        f"{query * 1000:.0f} ms against {persons_read * 1000:.0f} ms to read every person "
        f"({persons_read / query:.1f}x)"
    )


def wait_for_frame(app, canvas, timeout: float = 1.0) -> None:
    """Process events until the canvas has painted a new frame."""
    start, paints = time.perf_counter(), canvas.paints
    while canvas.paints == paints and time.perf_counter() - start < timeout:
        app.processEvents()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def bench_brush(strokes: int, width: int, height: int, tmp: Path) -> None:
    from PySide6.QtCore import QEvent, QPointF, QSettings, Qt
    from PySide6.QtGui import QMouseEvent

    from annotator.ui.app import create_application
    from annotator.ui.main_window import MainWindow
    from annotator.ui.settings import Settings

    path = make_big_project(tmp, width, height)
    app = create_application()
    window = MainWindow(Settings(QSettings(str(tmp / "bench.ini"), QSettings.Format.IniFormat)))
    window.resize(1600, 1000)
    window.show()
    t = time.perf_counter()
    window.projects.open_path(path)
    while not window.canvas.has_image():
        app.processEvents()
    print(
        f"12 MP image: opened and shown in {time.perf_counter() - t:.2f} s "
        f"({width} x {height}, person region "
        f"{window.session.label_map(1).labels.shape[1]} x "
        f"{window.session.label_map(1).labels.shape[0]})"
    )
    canvas = window.canvas
    tool = window.stage1.tool_object("brush")
    window.stage1.set_brush_size(60)
    box = window.session.person(1).box

    def event(kind: QEvent.Type, x: float, y: float, buttons: Qt.MouseButton) -> QMouseEvent:
        local = canvas.view_pos(QPointF(x, y))
        return QMouseEvent(
            kind, local, local, Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier
        )

    rng = np.random.default_rng(1)
    move_times, end_times, save_times = [], [], []
    for k in range(strokes):
        window.stage1.set_part(1 + k % 14)
        x0 = box.x + rng.random() * box.w
        y0 = box.y + rng.random() * box.h
        points = [(x0 + 25 * j, y0 + 10 * np.sin(j / 3)) for j in range(25)]
        press = event(QEvent.Type.MouseButtonPress, *points[0], Qt.MouseButton.LeftButton)
        tool.press(canvas, QPointF(*points[0]), press)
        for x, y in points[1:]:
            t = time.perf_counter()
            tool.move(
                canvas, QPointF(x, y), event(QEvent.Type.MouseMove, x, y, Qt.MouseButton.LeftButton)
            )
            wait_for_frame(app, canvas)
            move_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        release = event(QEvent.Type.MouseButtonRelease, *points[-1], Qt.MouseButton.NoButton)
        tool.release(canvas, QPointF(*points[-1]), release)
        end_times.append(time.perf_counter() - t)
        while window.session.saver.is_pending():
            app.processEvents()
            time.sleep(0.0005)
        save_times.append(time.perf_counter() - t)
    print(f"brush stroke on the 12 MP image ({strokes} strokes of 24 moves, 60 px brush):")
    print(
        "  pointer move to frame shown (paint + overlay + repaint): mean "
        f"{np.mean(move_times) * 1000:.1f} ms, p95 {percentile(move_times, 95):.1f} ms"
    )
    print(
        f"  stroke end, UI thread busy (undo step + queue the save): mean "
        f"{np.mean(end_times) * 1000:.1f} ms, p95 {percentile(end_times, 95):.1f} ms"
    )
    print(
        f"  stroke end to saved in the project: mean {np.mean(save_times) * 1000:.1f} ms, "
        f"p95 {percentile(save_times, 95):.1f} ms"
    )
    window.close()


def bench_marker(clicks: int, tmp: Path) -> None:
    """Stage 2 on the demo project's first gold person, painted from its truth."""
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest

    from annotator.dataset.records import TaskState
    from annotator.ui.app import create_application
    from annotator.ui.main_window import MainWindow
    from annotator.ui.settings import Settings
    from annotator.ui.stage2_host import load_panel_class

    panel_class, why = load_panel_class()
    if panel_class is None:
        print(f"view click to marker shown: the stage-2 panel is not integrated yet ({why})")
        return
    from annotator.synth.demo import ensure_demo_project

    app = create_application()
    t = time.perf_counter()
    demo = ensure_demo_project()
    print(f"stage 2 on the demo project (made in {time.perf_counter() - t:.1f} s):")
    window = MainWindow(Settings(QSettings(str(tmp / "marker.ini"), QSettings.Format.IniFormat)))
    window.resize(1600, 1000)
    window.show()
    window.projects.open_path(demo)
    session = window.session
    pid = session.project.gold_person_ids()[0]
    image_id = session.person(pid).image_id
    window.navigator.set_image(image_id, pid)
    gold = session.project.gold(pid)
    label_map = session.label_map(pid)
    region = label_map.region
    label_map.labels[:] = gold.labels[
        region.y0 - gold.y0 : region.y1 - gold.y0, region.x0 - gold.x0 : region.x1 - gold.x0
    ]
    session.save(pid)
    session.flush()
    session.set_state(pid, TaskState.SEGMENTED)
    until(app, window.canvas.has_image, 30)
    t = time.perf_counter()
    window.set_stage(2)
    panel = window.stage2.panel
    until(app, lambda: panel.session is not None and panel.current_views() is not None, 300)
    print(
        f"  F2 to the first six views shown: {time.perf_counter() - t:.2f} s "
        "(part renders are cached on disk)"
    )
    canvas = window.canvas
    painted: list[float] = []
    panel.markersPainted.connect(lambda: painted.append(time.perf_counter()))

    def click_first_view() -> float:
        until(app, lambda: panel.current_views() is not None, 120)
        x, y = pickable_pixel(panel.current_views()[0])
        view = panel.ui.grid.canvases[0]
        painted.clear()
        start = time.perf_counter()
        QTest.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.to_widget(x, y).toPoint())
        return start

    panel.ui.advance.setChecked(False)  # first the pick alone: the walk stays on the point
    marked = []  # the pick shown on the six views
    for _ in range(clicks):
        start = click_first_view()
        until(app, lambda: bool(painted), 10)
        marked.append(painted[0] - start)
    panel.ui.advance.setChecked(True)  # now a pick moves on: the canvas marker follows
    shown = []
    for _ in range(clicks):
        before, paints = canvas.marker.pos(), canvas.paints
        start = click_first_view()
        until(app, lambda b=before, p=paints: canvas.paints > p and canvas.marker.pos() != b, 10)
        shown.append(time.perf_counter() - start)
    print(
        f"  view click to the pick marked on the six views ({clicks} clicks): "
        f"mean {np.mean(marked) * 1000:.0f} ms, p95 {percentile(marked, 95):.0f} ms"
    )
    print(
        f"  view click to the next point's marker shown on the canvas ({clicks} clicks, "
        f"'next point after a pick' on): mean {np.mean(shown) * 1000:.0f} ms, "
        f"p95 {percentile(shown, 95):.0f} ms"
    )
    window.close()


def pickable_pixel(view) -> tuple[float, float]:
    """A pixel of a part view that shows the body, near its centre."""
    h, w = view.face.shape
    rows, cols = np.nonzero(view.face >= 0)
    k = np.argmin((rows - h / 2) ** 2 + (cols - w / 2) ** 2)
    return float(cols[k]) + 0.5, float(rows[k]) + 0.5


def until(app, condition, timeout: float) -> None:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the app did not get there in time")
        app.processEvents()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=60)
    parser.add_argument("--size", default="4000x3000", help="image size, WxH")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--large", type=int, default=50_000, help="persons in the large project")
    parser.add_argument(
        "--checkpoint", type=Path, help="a checkpoint: also time Model > Pre-annotate this image"
    )
    parser.add_argument(
        "--only", help="comma-separated: startup, large, brush, marker, preannotate (default: all)"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    wanted = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        os.environ["DPSTUDIO_DATA_DIR"] = str(tmp / "data")
        steps = {
            "startup": lambda: bench_startup(args.startup_runs, tmp),
            "large": lambda: bench_open_large(args.large, tmp),
            "brush": lambda: bench_brush(args.strokes, width, height, tmp),
            "marker": lambda: bench_marker(args.clicks, tmp),
            "preannotate": lambda: bench_preannotate(args.checkpoint, tmp),
        }
        for name, step in steps.items():
            if name == "preannotate" and args.checkpoint is None:
                continue
            if wanted is None or name in wanted:
                step()
    return 0


def bench_preannotate(checkpoint: Path, tmp: Path) -> None:
    """Model > Pre-annotate this image on the demo's first gold task's image: menu to the
    proposals on the canvas (a child process: interpreter, torch, checkpoint, inference),
    against the same inference in this process with everything loaded (the baseline)."""
    from PySide6.QtCore import QSettings

    from annotator.synth.demo import ensure_demo_project
    from annotator.ui.app import create_application
    from annotator.ui.main_window import MainWindow
    from annotator.ui.settings import Settings
    from model.inference.preannotate import preannotate

    demo = ensure_demo_project()
    app = create_application()
    window = MainWindow(Settings(QSettings(str(tmp / "pre.ini"), QSettings.Format.IniFormat)))
    window.show()
    window.projects.open_path(demo)
    session = window.session
    pid = session.project.gold_person_ids()[0]
    image_id = session.person(pid).image_id
    # The baseline first (it only reads the project): torch, atlas and checkpoint loaded once.
    preannotate(checkpoint, demo, tmp / "warm.npz", image_ids=[image_id])
    start = time.perf_counter()
    preannotate(checkpoint, demo, tmp / "again.npz", image_ids=[image_id])
    in_process = time.perf_counter() - start
    window.navigator.set_image(image_id, pid)
    window.models.checkpoint = checkpoint
    start = time.perf_counter()
    window.models.actions.preannotate_image.trigger()
    until(app, lambda: not window.models.busy(), 600)
    app.processEvents()
    menu_to_shown = time.perf_counter() - start
    window.close()
    print(
        f"pre-annotate one image from the menu to proposals shown: {menu_to_shown:.1f} s; "
        f"the same inference in a warm process {in_process:.2f} s "
        f"({menu_to_shown / max(in_process, 1e-6):.0f}x: the child's start dominates)"
    )


if __name__ == "__main__":
    sys.exit(main())
