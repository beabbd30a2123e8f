"""Compare trained models on the same data, measured on the same machine in one call.

:func:`compare_runs` measures every run in a process of its own (:mod:`model.compare.measure`)
and writes the report (:mod:`model.compare.report`). A run whose checkpoint is missing or
unreadable is named and skipped; the others are still compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model.compare.report import Comparison


def compare_runs(
    runs: list[Path],
    data: Path,
    images: Path,
    out: Path,
    *,
    train_iterations: int = 3,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
    reference_data: Path | None = None,
) -> Comparison:
    """Measure each run and write the report into ``out``.

    Args:
        reference_data: folder of detectron2's reference geodesics: GPS and the errors are
            measured with them (each run's process reads them); None: the body's geodesics.
    """
    comparison = Comparison(data=str(data))
    names = _names(runs)
    for run, name in zip(runs, names, strict=True):
        if progress is not None:
            progress(f"measuring {name} ({run})")
        spec: dict[str, Any] = {
            "run": str(run),
            "data": str(data),
            "images": str(images),
            "train_iterations": train_iterations,
            "limit": limit,
            "reference_data": None if reference_data is None else str(reference_data),
        }
        done = subprocess.run(
            [sys.executable, "-m", "model.compare.measure", json.dumps(spec)],
            capture_output=True,
            text=True,
            env=_env(),
        )
        if done.returncode != 0:
            comparison.skipped[name] = _reason(done.stderr)
            continue
        comparison.rows[name] = json.loads(done.stdout.strip().splitlines()[-1])
    comparison.notes.append(
        f"measured on {os.cpu_count()} CPU(s), one run at a time; load average "
        f"{os.getloadavg()[0]:.1f} at the end; training time: median of {train_iterations} "
        "iterations of each run's own configuration on this data"
    )
    if reference_data is not None:
        comparison.notes.append(
            f"geodesic errors and GPS from detectron2's reference geodesics ({reference_data})"
        )
    comparison.write(out)
    return comparison


def _names(runs: list[Path]) -> list[str]:
    """Short unique names: the folder name, or the checkpoint's folder and file."""
    names = [f"{r.parent.name}/{r.stem}" if r.suffix == ".pth" else r.name for r in runs]
    return [n if names.count(n) == 1 else f"{n}#{k}" for k, n in enumerate(names)]


def _reason(stderr: str) -> str:
    """The last meaningful line of a failed measurement."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "the measurement failed without a message"


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{path}" if path else root)
