"""The runs of a project, read from their folders (what the Runs window lists). Qt-free.

A run folder (``dpstudio model train --out RUN``) holds ``config.yaml`` (its first line names
the preset), ``run.json`` (data, start), ``metrics.jsonl`` (one record per iteration and
event), ``tensorboard/`` and the checkpoints ``model_NNNNNNN.pth`` / ``model_final.pth``.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.ui.models.train_core import RUNS_FOLDER

_PRESET_LINE = re.compile(r"^# resolved configuration of this run \((.+)\)")
_MAX_ITER = re.compile(r"^\s+max_iter:\s*(\d+)", re.MULTILINE)


@dataclass
class RunInfo:
    """What a run folder says about its run.

    Attributes:
        path: the run folder.
        preset: the preset (configuration name) it was trained with.
        status: "done", "stopped" (resumable), "failed or running" (no end recorded),
            "empty" (no iteration yet).
        iteration, max_iter: iterations done and planned.
        figures: the last held-out figures (name -> value), if any.
        total_loss: the last logged total loss (NaN if none).
        checkpoints: checkpoint files, oldest first (``model_final.pth`` last).
        data: the training data it read.
    """

    path: Path
    preset: str = ""
    status: str = "empty"
    iteration: int = 0
    max_iter: int = 0
    figures: dict[str, float] = field(default_factory=dict)
    total_loss: float = float("nan")
    checkpoints: list[Path] = field(default_factory=list)
    data: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def best_checkpoint(self) -> Path | None:
        """The final checkpoint if there is one, else the newest."""
        return self.checkpoints[-1] if self.checkpoints else None

    def figures_text(self) -> str:
        """The headline held-out figures, e.g. "gps_AP 0.123 · auc10 0.210"."""
        keys = ("gps_AP", "gpsm_AP", "auc10", "auc30", "mask_iou")
        shown = [f"{k} {self.figures[k]:.3f}" for k in keys if k in self.figures]
        return " · ".join(shown) or "-"


def runs_folder(project_dir: Path) -> Path:
    """Where the app puts a project's runs."""
    return Path(project_dir) / RUNS_FOLDER


def is_run(path: Path) -> bool:
    return (path / "run.json").is_file() or (path / "config.yaml").is_file()


def list_runs(folder: Path) -> list[RunInfo]:
    """Every run under ``folder``, by name."""
    if not folder.is_dir():
        return []
    return [read_run(p) for p in sorted(folder.iterdir()) if p.is_dir() and is_run(p)]


def read_run(path: Path) -> RunInfo:
    """Read a run folder (missing or damaged files leave their fields empty)."""
    info = RunInfo(path)
    config = path / "config.yaml"
    if config.is_file():
        text = config.read_text(errors="replace")
        found = _PRESET_LINE.match(text)
        info.preset = found.group(1) if found else ""
        found_iter = _MAX_ITER.search(text)
        info.max_iter = int(found_iter.group(1)) if found_iter else 0
    run = _json(path / "run.json")
    if isinstance(run, dict):
        info.data = str(run.get("data") or "")
    _read_metrics(path / "metrics.jsonl", info)
    info.checkpoints = checkpoints(path)
    return info


def checkpoints(path: Path) -> list[Path]:
    """The run's checkpoints, oldest first, ``model_final.pth`` last."""
    numbered = sorted(p for p in path.glob("model_*.pth") if p.name != "model_final.pth")
    final = path / "model_final.pth"
    return numbered + ([final] if final.is_file() else [])


def _read_metrics(file: Path, info: RunInfo) -> None:
    if not file.is_file():
        return
    ended = ""
    for line in file.read_text(errors="replace").splitlines():
        try:
            record: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        event = record.get("event")
        if event is None and "iteration" in record:
            info.iteration = int(record["iteration"])
            info.total_loss = float(record.get("total_loss", info.total_loss))
            ended = ""
        elif event in ("done", "stopped"):
            ended = str(event)
            info.iteration = int(record.get("iteration", info.iteration))
        elif event == "evaluation":
            info.figures = {
                k: float(v)
                for k, v in record.get("metrics", {}).items()
                if isinstance(v, int | float)
            }
    if ended:
        info.status = ended
    elif info.iteration:
        info.status = "failed or running"


def _json(file: Path) -> Any:
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError):
        return None


def tensorboard_command(path: Path) -> str:
    """The command that shows a run (or a folder of runs) in TensorBoard."""
    logdir = path / "tensorboard" if (path / "tensorboard").is_dir() else path
    return f"tensorboard --logdir {logdir}"


def delete_run(path: Path) -> None:
    """Delete a run folder (refuses a folder that is not a run).

    Raises:
        ValueError: ``path`` is not a run folder.
    """
    if not path.is_dir() or not is_run(path):
        raise ValueError(f"{path} is not a run folder (no run.json or config.yaml)")
    shutil.rmtree(path)
