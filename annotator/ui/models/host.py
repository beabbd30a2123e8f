"""The Model menu's actions and what they start: training runs, evaluations, comparisons and
pre-annotation, each a child process (docs/adr/0009-models-in-the-app.md), and the review of
the proposals (accept, reject: one key per person).

Nothing here imports torch or pyqtgraph: the docks that draw curves are made (and pyqtgraph
imported) the first time they are needed, so the app's start-up does not change.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMainWindow, QMessageBox

from annotator.ui.models.process import CommandChain, python
from annotator.ui.models.runs import RunInfo, list_runs, runs_folder
from annotator.ui.models.train_runner import RunOutcome, TrainRunner
from annotator.ui.session import Session

log = logging.getLogger(__name__)

OTHER_FILE = "Another checkpoint file..."


def local_zoo_models() -> list[str]:
    """``zoo:NAME`` of the detectron2 zoo models on this machine (downloaded or imported)."""
    from model.zoo.catalog import ZOO
    from model.zoo.local import downloaded_file, imported_checkpoint

    return [
        f"zoo:{m.name}"
        for m in ZOO
        if imported_checkpoint(m).is_file() or downloaded_file(m).is_file()
    ]


class ModelActions(NamedTuple):
    """The Model menu's actions."""

    train: QAction
    evaluate: QAction
    compare: QAction
    runs: QAction
    choose_model: QAction
    preannotate_image: QAction
    preannotate_listed: QAction
    preannotate_project: QAction
    accept: QAction
    reject: QAction
    training_dock: QAction

    def needing_project(self) -> list[QAction]:
        return [self.preannotate_image, self.preannotate_listed, self.preannotate_project,
                self.accept, self.reject]  # fmt: skip


def _action(window: QMainWindow, text: str, keys: str = "", tip: str = "") -> QAction:
    action = QAction(text, window)
    if keys:
        action.setShortcut(QKeySequence(keys))
    action.setToolTip((tip or text.replace("&", "").rstrip(".")) + (f" ({keys})" if keys else ""))
    window.addAction(action)
    return action


class ModelHost(QObject):
    """Owns the Model menu's actions, the training queue, and the model docks.

    Args:
        window: the main window (docks go in it).
        session_of: returns the open session (None without a project).
        current_image: returns the image shown.
        current_person: returns the person selected.
        listed_images: returns the images the image list shows (its filter).
        message: shows a status-bar message.
    """

    def __init__(
        self,
        window: QMainWindow,
        session_of: Callable[[], Session | None],
        current_image: Callable[[], int | None],
        current_person: Callable[[], int | None],
        listed_images: Callable[[], list[int]],
        message: Callable[[str], None],
    ) -> None:
        super().__init__(window)
        self.window = window
        self._session_of = session_of
        self._current_image = current_image
        self._current_person = current_person
        self._listed = listed_images
        self._message = message
        self.runner = TrainRunner(self)
        self.runner.finished.connect(self._on_run_finished)
        #: The checkpoint that pre-annotates: a file, or ``zoo:NAME`` (a detectron2 zoo model).
        self.checkpoint: Path | str | None = None
        #: What the running pre-annotation said besides its progress (shown when it ends).
        self.notes: list[str] = []
        #: Detections a model adds as found persons score at least this (new tasks: high).
        self.find_threshold = 0.7
        self.training_dock: Any = None
        self.evaluation_dock: Any = None
        self.comparison_dock: Any = None
        self.jobs: dict[str, CommandChain] = {}
        self.close_when_idle = False
        self.actions = self._make_actions()
        self.set_session(None)

    def _make_actions(self) -> ModelActions:
        w = self.window
        actions = ModelActions(
            train=_action(w, "&Train...", tip="Train a model on this project or other data"),
            evaluate=_action(w, "&Evaluate...", tip="Figures of a checkpoint on a data set"),
            compare=_action(w, "&Compare...", tip="The comparison report of several runs"),
            runs=_action(w, "&Runs", tip="This project's runs: status, figures, checkpoints"),
            choose_model=_action(w, "Choose the model for pre-annotation..."),
            preannotate_image=_action(w, "Pre-annotate this &image", "Ctrl+Shift+P"),
            preannotate_listed=_action(w, "Pre-annotate the &listed images"),
            preannotate_project=_action(w, "Pre-annotate the whole &project"),
            accept=_action(w, "&Accept the proposal", "K", "Accept the model's proposal"),
            reject=_action(w, "Re&ject the proposal", "Shift+K", "Reject the model's proposal"),
            training_dock=_action(w, "Show the training dock"),
        )
        actions.train.triggered.connect(self.train)
        actions.evaluate.triggered.connect(self.evaluate)
        actions.compare.triggered.connect(self.compare)
        actions.runs.triggered.connect(self.show_runs)
        actions.choose_model.triggered.connect(self.choose_model)
        actions.preannotate_image.triggered.connect(lambda: self.preannotate("image"))
        actions.preannotate_listed.triggered.connect(lambda: self.preannotate("listed"))
        actions.preannotate_project.triggered.connect(lambda: self.preannotate("project"))
        actions.accept.triggered.connect(self.accept)
        actions.reject.triggered.connect(self.reject)
        actions.training_dock.triggered.connect(self.show_training_dock)
        return actions

    # -- state -----------------------------------------------------------------------------

    def set_session(self, session: Session | None) -> None:
        editable = session is not None and not session.readonly
        for action in self.actions.needing_project():
            action.setEnabled(editable)

    def runs_dir(self) -> Path:
        session = self._session_of()
        if session is not None:
            return runs_folder(session.project.directory)
        from annotator.paths import data_dir

        return data_dir() / "runs"

    def runs(self) -> list[RunInfo]:
        return list_runs(self.runs_dir())

    def busy(self) -> bool:
        """A model process is running (training, evaluation, comparison, pre-annotation)."""
        return self.runner.busy() or any(job.running() for job in self.jobs.values())

    def _warn(self, title: str, text: str) -> None:
        log.warning("%s: %s", title, text)
        QMessageBox.warning(self.window, title, text)

    # -- training --------------------------------------------------------------------------

    def train(self) -> None:
        """Model > Train...: ask for a run, export the project if asked, queue the run."""
        from annotator.ui.models.train_dialog import TrainDialog

        session = self._session_of()
        dialog = TrainDialog(self.runs_dir(), self.runs(), session is not None, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            choice = dialog.choice()
            if choice.export_project:
                assert session is not None
                self._export_for(choice, session)
        except Exception as exc:
            self._warn("Cannot train", str(exc))
            return
        self.runner.submit(choice.spec)
        self.show_training_dock()
        self._message(f"Training {choice.spec.name} queued.")

    @staticmethod
    def _export_for(choice: Any, session: Session) -> None:
        from annotator.dataset.training_data import export_for_training

        session.flush()
        spec = choice.spec
        data = export_for_training(session.project, spec.out / "data", held_out=choice.held_out)
        spec.data, spec.images = data.train, data.images
        if data.val is not None:
            spec.val, spec.val_images = data.val, data.images

    def show_training_dock(self) -> None:
        if self.training_dock is None:
            from annotator.ui.models.train_dock import TrainDock

            self.training_dock = TrainDock(self.runner, self.window)
            self.training_dock.statusMessage.connect(self._message)
            self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.training_dock)
        self.training_dock.show()
        self.training_dock.raise_()

    def _on_run_finished(self, outcome: RunOutcome) -> None:
        if outcome.status == "failed" and self.training_dock is None:
            self.show_training_dock()  # the failure is shown there, with the end of the log
        if self.close_when_idle and not self.busy():
            self.window.close()

    # -- closing ---------------------------------------------------------------------------

    def confirm_close(self) -> bool:
        """Whether the window may close now; asks first while a model trains."""
        if not self.busy():
            return True
        if self.close_when_idle:
            self._message("Stopping the model work; the window closes when it has stopped.")
            return False
        what = "A model is training" if self.runner.busy() else "A model is running"
        current = self.runner.current
        if current is not None:
            what += f" ({current.name}, {self.runner.progress.describe()})"
        answer = QMessageBox.question(
            self.window,
            "Model at work",
            f"{what}. Stop it and close? A stopped training run keeps a checkpoint and can be "
            "resumed from Model > Train... (Resume).",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.close_when_idle = True
        self.runner.stop_all()
        for job in self.jobs.values():
            job.cancel()
        self._message("Stopping the model work; the window closes when it has stopped.")
        return False

    def shutdown(self) -> None:
        """The window closes: nothing may outlive it."""
        self.runner.shutdown()
        for job in self.jobs.values():
            job.shutdown()

    # -- jobs ------------------------------------------------------------------------------

    def _start(
        self, name: str, commands: list[list[str]], done: Callable[[bool, str], None]
    ) -> bool:
        job = self.jobs.get(name)
        if job is not None and job.running():
            self._message(f"A {name} is already running.")
            return False
        job = CommandChain(commands, self)
        job.line.connect(lambda text: self._on_job_line(name, text))
        job.finished.connect(done)
        job.finished.connect(lambda *_: self._job_ended())
        self.jobs[name] = job
        job.start()
        return True

    def _job_ended(self) -> None:
        if self.close_when_idle and not self.busy():
            self.window.close()

    def _on_job_line(self, name: str, text: str) -> None:
        if not text.startswith("{"):
            return
        try:
            record = json.loads(text)
        except ValueError:
            return
        if record.get("event") == "progress" and "total" in record:
            self._message(f"{name}: {record['done']} / {record['total']}")
        elif record.get("event") == "note":
            self.notes.append(str(record.get("message", "")))
            self._message(f"{name}: {self.notes[-1]}")

    # -- evaluation and comparison ---------------------------------------------------------

    def evaluate(self) -> None:
        """Model > Evaluate...: a checkpoint on a data set; figures in the Evaluation dock."""
        from annotator.ui.models.evaluate import GOLD, EvaluateDialog

        session = self._session_of()
        has_gold = session is not None and bool(session.project.gold_person_ids())
        dialog = EvaluateDialog(self.runs(), has_gold, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            choice = dialog.choice()
            out = choice.checkpoint.parent / "evaluations" / time.strftime("%Y%m%d-%H%M%S")
            data, images = choice.data, choice.images
            if choice.source == GOLD:
                assert session is not None
                data, images = self._export_gold(session, out)
        except Exception as exc:
            self._warn("Cannot evaluate", str(exc))
            return
        assert data is not None
        commands = [self._evaluate_command(choice.checkpoint, data, images, out)]
        if choice.heatmap and session is not None and has_gold:
            commands.append(
                [python(), "-m", "model.inference.gold_errors", "--checkpoint",
                 str(choice.checkpoint), "--project", session.project.target,
                 "--out", str(out)]
            )  # fmt: skip
        dock = self._evaluation_dock()
        dock.show_message(f"Evaluating {choice.checkpoint} on {data}...")
        self._start("evaluation", commands, lambda ok, text: self._evaluated(out, ok, text))

    @staticmethod
    def _export_gold(session: Session, out: Path) -> tuple[Path, Path]:
        from annotator.dataset.training_data import export_gold

        session.flush()
        export_gold(session.project, out / "gold.json")
        return out / "gold.json", session.project.directory

    @staticmethod
    def _evaluate_command(ckpt: Path, data: Path, images: Path | None, out: Path) -> list[str]:
        command = [python(), "-m", "annotator.cli", "model", "evaluate", "--checkpoint",
                   str(ckpt), "--data", str(data), "--out", str(out)]  # fmt: skip
        return command + (["--images", str(images)] if images is not None else [])

    def _evaluation_dock(self) -> Any:
        if self.evaluation_dock is None:
            from annotator.ui.models.evaluate import EvaluationDock

            self.evaluation_dock = EvaluationDock(self.window)
            self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.evaluation_dock)
        self.evaluation_dock.show()
        self.evaluation_dock.raise_()
        return self.evaluation_dock

    def _evaluated(self, out: Path, ok: bool, text: str) -> None:
        from annotator.ui.models.eval_core import read_evaluation

        dock = self._evaluation_dock()
        if not ok:
            dock.show_message(f"The evaluation failed:\n{text}")
            self._message("Evaluation failed: see the Evaluation dock.")
            return
        dock.show_view(read_evaluation(out))
        self._message(f"Evaluation written to {out}.")

    def compare(self) -> None:
        """Model > Compare...: ``dpstudio model compare`` on chosen runs, shown in a dock."""
        from annotator.ui.models.compare import CompareDialog

        session = self._session_of()
        has_gold = session is not None and bool(session.project.gold_person_ids())
        dialog = CompareDialog(self.runs(), has_gold, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        chosen = dialog.chosen()
        out = self.runs_dir() / "comparisons" / time.strftime("%Y%m%d-%H%M%S")
        try:
            if not chosen:
                raise ValueError("choose at least one run with a checkpoint")
            data = dialog.data_path()
            if data is None:
                assert session is not None
                data, images = self._export_gold(session, out)
                extra = ["--images", str(images)]
            else:
                extra = []
        except Exception as exc:
            self._warn("Cannot compare", str(exc))
            return
        timing = "3" if dialog.timing.isChecked() else "0"
        command = [python(), "-m", "annotator.cli", "model", "compare",
                   *(str(r.path) for r in chosen), "--data", str(data), *extra,
                   "--train-iterations", timing, "--out", str(out)]  # fmt: skip
        dock = self._comparison_dock()
        dock.show_message(f"Comparing {', '.join(r.name for r in chosen)}...")
        self._start("comparison", [command], lambda ok, text: self._compared(out, ok, text))

    def _comparison_dock(self) -> Any:
        if self.comparison_dock is None:
            from annotator.ui.models.compare import ReportDock

            self.comparison_dock = ReportDock(self.window)
            self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.comparison_dock)
        self.comparison_dock.show()
        self.comparison_dock.raise_()
        return self.comparison_dock

    def _compared(self, out: Path, ok: bool, text: str) -> None:
        dock = self._comparison_dock()
        if not ok:
            if "invalid choice: 'compare'" in text:
                text = "this installation has no `dpstudio model compare` yet."
            dock.show_message(f"The comparison failed:\n{text}")
            return
        dock.show_report(out)

    def show_runs(self) -> None:
        from annotator.ui.models.runs_dialog import RunsDialog

        dialog = RunsDialog(self.runs_dir(), self.window)
        dialog.statusMessage.connect(self._message)
        dialog.exec()

    # -- pre-annotation --------------------------------------------------------------------

    def choose_model(self) -> bool:
        """Ask which checkpoint pre-annotates; False if none was chosen."""
        options: dict[str, Path | str] = {
            f"{run.name}/{ckpt.name}": ckpt
            for run in self.runs()
            for ckpt in reversed(run.checkpoints)
        }
        options |= {name: name for name in local_zoo_models()}
        names = [*options, OTHER_FILE]
        name, ok = QInputDialog.getItem(
            self.window, "Pre-annotation", "The model that proposes:", names, 0, False
        )
        if not ok:
            return False
        if name == OTHER_FILE:
            path, _ = QFileDialog.getOpenFileName(
                self.window, "Checkpoint", str(self.runs_dir()), "Checkpoints (*.pth)"
            )
            if not path:
                return False
            self.checkpoint = Path(path)
        else:
            self.checkpoint = options[name]
        self._message(f"Pre-annotation uses {self.checkpoint}.")
        return True

    def _checkpoint_available(self) -> bool:
        if isinstance(self.checkpoint, str):
            return self.checkpoint in local_zoo_models()
        return self.checkpoint is not None and self.checkpoint.exists()

    def preannotate(self, scope: str) -> None:
        """Propose boxes, masks and answers on the current image, the listed images or all."""
        session = self._session_of()
        if session is None or session.readonly:
            return
        if not self._checkpoint_available() and not self.choose_model():
            return
        assert self.checkpoint is not None
        if scope == "image":
            image = self._current_image()
            ids = [] if image is None else [image]
        elif scope == "listed":
            ids = self._listed()
        else:
            ids = session.image_ids()
        if not ids:
            self._message("No image to pre-annotate.")
            return
        session.flush()
        out = self.runs_dir() / ".proposals" / f"{time.strftime('%Y%m%d-%H%M%S')}.npz"
        command = [python(), "-m", "model.inference.preannotate", "--checkpoint",
                   str(self.checkpoint), "--project", session.project.target,
                   "--out", str(out), "--progress-json",
                   "--score-threshold", str(self.find_threshold)]  # fmt: skip
        if scope != "project":
            command += ["--images", ",".join(map(str, ids))]
        path = session.path
        done = lambda ok, text: self._proposed(out, ok, text, path)  # noqa: E731
        if self._start("pre-annotation", [command], done):
            self._message(f"Pre-annotating {len(ids)} image(s) with {self.checkpoint}...")

    def _proposed(self, file: Path, ok: bool, text: str, path: str) -> None:
        session = self._session_of()
        if not ok:
            file.unlink(missing_ok=True)
            if text != "cancelled":
                self._warn("Pre-annotation failed", text)
            return
        if session is None or session.path != path or session.readonly:
            file.unlink(missing_ok=True)
            self._message("Pre-annotation ended after its project was closed: nothing stored.")
            return
        from model.inference.annotation_proposals import read_proposals

        try:
            model, checkpoint, proposals = read_proposals(file)
            persons = session.add_proposals(model, checkpoint, proposals)
        except Exception as exc:
            self._warn("Pre-annotation failed", f"{file}: {exc}")
            return
        finally:
            file.unlink(missing_ok=True)
        found = sum(1 for p in proposals if p.person_id is None)
        notes = "".join(f" {n}." for n in self.notes)
        self.notes.clear()
        self._message(
            f"{model} proposed for {len(persons)} person(s) ({found} found by the model): "
            f"K accepts the selected person's proposal, Shift+K rejects it.{notes}"
        )

    def accept(self) -> None:
        session, pid = self._session_of(), self._current_person()
        if session is None or pid is None or session.readonly:
            return
        count = session.accept_proposal(pid)
        self._message(
            f"Person #{pid}: proposal accepted." if count else f"Person #{pid} has no proposal."
        )

    def reject(self) -> None:
        session, pid = self._session_of(), self._current_person()
        if session is None or pid is None or session.readonly:
            return
        count, deleted = session.reject_proposal(pid)
        if not count:
            self._message(f"Person #{pid} has no proposal.")
        elif deleted:
            self._message(f"Person #{pid}: proposal rejected; the person the model found is gone.")
        else:
            self._message(f"Person #{pid}: proposal rejected (the model's mask and answers).")
