"""Screenshots of the Model menu at work (the README's come from here).

    DPSTUDIO_DATA_DIR=/tmp/tour-data xvfb-run -a -s "-screen 0 1600x1000x24" \\
        .venv/bin/python scripts/model_tour.py OUT_DIR --data SYNTH_DIR [--val SYNTH_DIR] \\
        [--checkpoint RUN_OR_FILE] [--iterations 40] [--eval-period 10] [--set key=value ...]

Opens the demo project, queues a training run from Model > Train... (on ``--data``, evaluated
on ``--val`` every ``--eval-period`` iterations) and shoots the training dock with its live
curves once the run has gone far enough; then pre-annotates the first gold task's image with
``--checkpoint`` (default: the run just trained) and shoots the proposals on the canvas.
Use a separate DPSTUDIO_DATA_DIR: the tour writes into the demo project it opens.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication


class ModelTour:
    def __init__(self, out: Path) -> None:
        from annotator.ui.app import apply_theme, create_application, setup_logging
        from annotator.ui.main_window import MainWindow
        from annotator.ui.settings import Settings

        setup_logging()
        self.out = out
        self.app = create_application()
        apply_theme(self.app, "light")
        store = QSettings(str(out / "tour-settings.ini"), QSettings.Format.IniFormat)
        store.clear()
        self.w = MainWindow(Settings(store))
        self.w.resize(1600, 1000)
        self.w.show()

    def until(self, condition: Callable[[], bool], timeout: float = 600) -> None:
        end = time.time() + timeout
        while not condition():
            if time.time() > end:
                raise TimeoutError("the app did not get there in time")
            self.app.processEvents()
            time.sleep(0.02)

    def wait(self, seconds: float) -> None:
        end = time.time() + seconds
        self.until(lambda: time.time() > end)

    def shot(self, name: str) -> None:
        self.wait(0.3)
        self.w.grab().save(str(self.out / f"{name}.png"))
        print("shot", name, flush=True)

    def train(self, args: argparse.Namespace) -> Path:
        from annotator.ui.models.train_dialog import FILE_DATA, TrainDialog

        def fill() -> None:
            dialog = QApplication.activeModalWidget()
            if not isinstance(dialog, TrainDialog):
                QTimer.singleShot(50, fill)
                return
            dialog.name.setText("r18-demo")
            dialog.source.setCurrentText(FILE_DATA)
            dialog.data.setText(str(args.data))
            dialog.val.setText(str(args.val or ""))
            dialog.iterations.setValue(args.iterations)
            dialog.eval_period.setValue(args.eval_period if args.val else 0)
            dialog.device.setCurrentText("cpu")
            extra = ["solver.log_period=1", *args.set]
            dialog.overrides.setPlainText("\n".join(extra))
            dialog.accept()

        QTimer.singleShot(0, fill)
        self.w.models.actions.train.trigger()
        return Path(self.w.session.path) / "runs" / "r18-demo"

    def run(self, args: argparse.Namespace) -> None:
        w = self.w
        w.projects.open_demo()
        self.until(w.canvas.has_image, 900)
        session = w.session
        pid = session.project.gold_person_ids()[0]
        w.navigator.set_image(session.person(pid).image_id, pid)
        self.until(w.canvas.has_image)
        if args.skip_training:
            self.preannotate(args.checkpoint, pid)
            return
        run = self.train(args)
        runner = w.models.runner
        want = max(3, int(args.iterations * 0.6))
        self.until(lambda: runner.progress.iteration >= want or not runner.busy(), 3600)
        if args.val:
            self.until(lambda: bool(runner.progress.figures) or not runner.busy(), 1800)
        self.wait(1.0)
        self.shot("app_training_dock")
        self.until(lambda: not runner.busy(), 3600)
        w.models.training_dock.hide()
        self.preannotate(args.checkpoint or run / "model_final.pth", pid)

    def preannotate(self, checkpoint: Path, pid: int) -> None:
        w, session = self.w, self.w.session
        w.models.checkpoint = Path(checkpoint)
        w.models.actions.preannotate_image.trigger()
        self.until(lambda: not w.models.busy(), 900)
        self.wait(1.0)
        box = session.person(pid).box
        viewport = w.canvas.viewport()
        w.canvas.set_zoom(min(viewport.width() / box.w, viewport.height() / box.h) * 0.8)
        w.canvas.centerOn(box.x + box.w / 2, box.y + box.h / 2)
        self.shot("app_preannotated")
        print(w.statusBar().currentMessage())
        w.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--val", type=Path)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--eval-period", type=int, default=10)
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument(
        "--skip-training", action="store_true", help="only pre-annotate with --checkpoint"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ModelTour(args.out).run(args)


if __name__ == "__main__":
    main()
