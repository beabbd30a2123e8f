"""Model > Train... driven from the menu: a real ``dpstudio model train`` process on a tiny
synthetic folder, to a finished checkpoint; stopped and resumed; a failing run reported with
the end of its log; closing the window while a run trains asks first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from annotator.ui.models.runs import list_runs, read_run
from annotator.ui.models.train_dialog import FILE_DATA, NEW_RUN, TrainDialog

from .models_helpers import TINY, answer_dialog, dpstudio

pytestmark = [pytest.mark.gui, pytest.mark.slow]

#: Generous: the machine is shared; a tiny iteration takes 1-2 s, the process start ~10 s.
RUN_TIMEOUT = 240_000


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 synthetic 96 px images with exact truth (``dpstudio synth``)."""
    out = tmp_path_factory.mktemp("train-synth") / "synth"
    done = dpstudio("synth", "--count", "6", "--size", "96", "--out", str(out), "--seed", "5",
                    "--workers", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def queue_run(window, qtbot, synth: Path, name: str, iterations: int, extra=()) -> None:
    """Model > Train...: a new run on the synthetic folder, tiny settings."""

    def fill(dialog: TrainDialog) -> None:
        dialog.name.setText(name)
        dialog.source.setCurrentText(FILE_DATA)
        dialog.data.setText(str(synth))
        dialog.iterations.setValue(iterations)
        dialog.device.setCurrentText("cpu")
        dialog.overrides.setPlainText("\n".join([*TINY, *extra]))

    answer_dialog(TrainDialog, fill)
    window.models.actions.train.trigger()


def resume_run(window, name: str, iterations: int) -> None:
    def fill(dialog: TrainDialog) -> None:
        assert dialog.resume.findText(name) >= 0, "a stopped run is offered for resuming"
        dialog.resume.setCurrentText(name)
        dialog.iterations.setValue(iterations)

    answer_dialog(TrainDialog, fill)
    window.models.actions.train.trigger()


def wait_outcome(window, qtbot, count: int):
    runner = window.models.runner
    qtbot.waitUntil(lambda: len(runner.history) >= count, timeout=RUN_TIMEOUT)
    return runner.history[count - 1]


def test_train_from_the_menu_to_a_checkpoint_then_stop_and_resume(opened, qtbot, synth):
    window = opened
    runs = Path(window.session.path) / "runs"
    queue_run(window, qtbot, synth, "tiny", 3)
    dock = window.models.training_dock
    assert dock is not None and dock.isVisible()
    outcome = wait_outcome(window, qtbot, 1)
    assert outcome.status == "done", outcome.message
    run = read_run(runs / "tiny")
    assert run.status == "done" and run.iteration == 3
    assert (runs / "tiny" / "model_final.pth").is_file()
    assert run.preset == "densepose_rcnn_R_18_FPN_cpu"
    # The dock drew the live curves: one point per iteration of each loss.
    assert dock.losses.points("total_loss") == 3
    assert "loss_densepose_U" in dock.losses.names()
    assert dock.bar.value() == 1000

    # A longer run, stopped from the dock after its first iteration: resumable.
    queue_run(window, qtbot, synth, "long", 40)
    runner = window.models.runner
    qtbot.waitUntil(lambda: runner.progress.iteration >= 1, timeout=RUN_TIMEOUT)
    dock.cancel.click()
    outcome = wait_outcome(window, qtbot, 2)
    assert outcome.status == "stopped", outcome.message
    stopped = read_run(runs / "long")
    assert stopped.status == "stopped" and 1 <= stopped.iteration < 40
    assert stopped.checkpoints, "a stop leaves a checkpoint"

    # Resumed from the dialog, to one more iteration.
    resume_run(window, "long", stopped.iteration + 1)
    outcome = wait_outcome(window, qtbot, 3)
    assert outcome.status == "done", outcome.message
    resumed = read_run(runs / "long")
    assert resumed.status == "done" and resumed.iteration == stopped.iteration + 1
    assert any("resumed from" in note for note in outcome.progress.log)
    records = [json.loads(x) for x in (runs / "long" / "metrics.jsonl").read_text().splitlines()]
    iterations = [r["iteration"] for r in records if "total_loss" in r]
    assert iterations == list(range(1, stopped.iteration + 2)), "resume repeats no iteration"
    assert [r.name for r in list_runs(runs)] == ["long", "tiny"]


def test_a_failing_run_is_reported_with_the_end_of_its_log(opened, qtbot, synth):
    window = opened
    queue_run(window, qtbot, synth, "bad", 2, extra=["solver.base_lrr=1"])
    outcome = wait_outcome(window, qtbot, 1)
    assert outcome.status == "failed"
    assert "unknown field solver.base_lrr" in outcome.message
    dock = window.models.training_dock
    assert "unknown field solver.base_lrr" in dock.log.toPlainText()
    assert "failed" in dock.title.text()
    assert window.isVisible(), "a failed run never takes the app down"


def test_closing_while_training_asks_first(opened, qtbot, synth, monkeypatch):
    window = opened
    runs = Path(window.session.path) / "runs"
    queue_run(window, qtbot, synth, "close", 40)
    runner = window.models.runner
    qtbot.waitUntil(lambda: runner.progress.iteration >= 1, timeout=RUN_TIMEOUT)
    asked = []

    def answer(button):
        def question(*args, **kwargs):
            asked.append(args[2])
            return button

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    window.close()
    assert window.isVisible() and runner.busy() and "training" in asked[0]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=RUN_TIMEOUT)
    assert runner.history[-1].status == "stopped"
    assert read_run(runs / "close").checkpoints, "closing leaves a resumable checkpoint"


def test_new_run_needs_its_data(opened, qtbot, monkeypatch):
    window = opened
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))

    def fill(dialog: TrainDialog) -> None:
        assert dialog.resume.currentText() == NEW_RUN
        dialog.source.setCurrentText(FILE_DATA)
        dialog.data.setText("/nowhere/densepose.json")

    answer_dialog(TrainDialog, fill)
    window.models.actions.train.trigger()
    assert warned and "/nowhere/densepose.json" in warned[0]
    assert not window.models.runner.busy()
