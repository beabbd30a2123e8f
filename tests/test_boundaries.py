"""The import boundaries of the code, enforced: `make test` fails when one is crossed.

The contracts live in pyproject.toml (``[tool.importlinter]``, run by import-linter, which
counts imports inside functions too): the layers surface < dataset < synth | accuracy < ui,
Qt only in ``annotator.ui``, ``model`` never importing the app and the Qt-free annotator
never importing ``model``. The start-up tests check what the import graph cannot: which heavy
modules ``dpstudio --help`` and the app's start really load.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the packages under ``root`` with ``root``'s pyproject.toml."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=dict(os.environ, PYTHONPATH=str(root), COLUMNS="200"),  # one line per contract
        capture_output=True,
        text=True,
        timeout=300,
    )


def contract_names() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


def test_every_import_contract_is_kept() -> None:
    names = contract_names()
    assert len(names) >= 4
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Contracts: {len(names)} kept, 0 broken." in run.stdout


#: A crossing planted in a copy of the code -> the contract that must catch it.
CROSSINGS = [
    ("annotator/dataset/masks.py", "import PySide6.QtGui", "Qt (PySide6"),
    ("annotator/surface/parts.py", "from annotator.dataset import records", "Layers"),
    ("annotator/synth/people.py", "from annotator.accuracy import metrics", "Layers"),
    ("model/__init__.py", "import annotator.ui.app", "model never imports the app"),
    ("annotator/accuracy/metrics.py", "import model", "never imports model"),
]


@pytest.mark.parametrize(("file", "line", "contract"), CROSSINGS)
def test_a_crossing_breaks_its_contract(tmp_path: Path, file: str, line: str, contract: str):
    """The contracts have teeth: one planted import (inside a function, as lazy imports are)
    in a copy of the code breaks the contract it crosses."""
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("annotator", "model"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / file
    target.write_text(target.read_text() + f"\n\ndef _planted():\n    {line}\n")
    run = lint_imports(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    broken = [x for x in run.stdout.splitlines() if x.rstrip().endswith("BROKEN")]
    assert any(contract in x for x in broken), run.stdout


HEAVY = ("torch", "torchvision", "pyrender", "anny", "PySide6", "shiboken6", "pyqtgraph")

LOADED = """
import json, sys
{code}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(code: str) -> list[str]:
    """The heavy modules loaded by a fresh interpreter after running ``code``."""
    run = subprocess.run(
        [sys.executable, "-c", LOADED.format(code=code, heavy=HEAVY)],
        env=dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_dpstudio_help_loads_no_qt_torch_or_renderer() -> None:
    code = """
from annotator.cli import build_parser
parser = build_parser()
parser.format_help()
for name in ("app", "project", "dataset", "synth", "accuracy", "body"):
    try:
        parser.parse_args([name, "--help"])
    except SystemExit:
        pass
"""
    assert loaded_after(code) == []


def test_the_app_window_modules_load_qt_but_no_torch_or_renderer() -> None:
    code = (
        "import annotator.ui.app, annotator.ui.main_window, annotator.ui.stage2_host, "
        "annotator.ui.models.host"
    )
    assert loaded_after(code) == ["PySide6", "shiboken6"]


def test_the_model_docks_load_pyqtgraph_but_never_torch() -> None:
    """The Model menu's docks draw with pyqtgraph (imported when first shown) and read the
    model's outputs (proposal files, run folders, reports) without the model's stack: the
    model itself only ever runs in child processes (docs/adr/0009-models-in-the-app.md)."""
    code = (
        "import annotator.ui.models.train_dock, annotator.ui.models.evaluate, "
        "annotator.ui.models.compare, annotator.ui.models.runs_dialog, "
        "annotator.ui.models.train_dialog, model.inference.annotation_proposals\n"
        "annotator.ui.models.train_dialog.presets()"
    )
    assert loaded_after(code) == ["PySide6", "pyqtgraph", "shiboken6"]
