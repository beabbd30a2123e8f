"""Fixtures of the data tests: a real synthetic folder (rendered once per session), the
Anny atlas and its flip table (built once per session in a temporary cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def atlas():
    from annotator.surface.atlas import load_atlas

    return load_atlas("anny")


@pytest.fixture(scope="session")
def flip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flip-cache")


@pytest.fixture(scope="session")
def flip_table(atlas, flip_cache):
    from model.data.flip import load_flip_table

    return load_flip_table(atlas, cache_dir=flip_cache)


@pytest.fixture(scope="session")
def synth_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dpstudio synth --count 3 --size 128``: 3 images of 1-4 people with exact truth."""
    out = tmp_path_factory.mktemp("synth") / "synth"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "annotator.cli", "synth", "--count", "3", "--size", "128"]
    command += ["--out", str(out), "--seed", "3", "--workers", "1"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return out
