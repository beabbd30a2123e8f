"""Helpers of the Model menu tests: tiny training data and answering the menu's dialogs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog

ROOT = Path(__file__).resolve().parents[2]

#: A tiny model and schedule (the model tests' TINY): the R-18 CPU preset at 96 px, batches
#: of 2, a 2-conv head, logging and a checkpoint chance every iteration.
TINY = [
    "model.min_size_train=[96]",
    "model.min_size_test=96",
    "model.max_size=128",
    "model.rpn_post_nms_top_n_train=50",
    "model.rpn_post_nms_top_n_test=20",
    "model.box_batch_size_per_image=32",
    "model.detections_per_img=5",
    "model.densepose.num_convs=2",
    "model.densepose.conv_dim=32",
    "solver.ims_per_batch=2",
    "solver.log_period=1",
    "solver.warmup_iters=2",
    "solver.checkpoint_period=100",
    "data.num_workers=0",
]


def child_env() -> dict[str, str]:
    """The environment of the model processes the tests start (one thread each: the machine
    is shared)."""
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


def dpstudio(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "annotator.cli", *args]
    return subprocess.run(command, env=child_env(), capture_output=True, text=True, timeout=timeout)


def answer_dialog(kind: type, fill: Callable[[QDialog], None], accept: bool = True) -> None:
    """When a modal dialog of ``kind`` opens, ``fill`` it and accept (or reject) it.

    Polls for the dialog (it opens inside the action's own event loop).
    """
    deadline = time.monotonic() + 20

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, kind):
            fill(dialog)
            (dialog.accept if accept else dialog.reject)()
        elif time.monotonic() < deadline:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)
