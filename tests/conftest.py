"""Shared test set-up: headless platforms, and caches kept out of the user's folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
# Geodesic tables and rendered views take minutes to build: keep them across test runs in an
# ignored folder of the checkout rather than in the user's cache.
os.environ.setdefault("DPSTUDIO_CACHE_DIR", str(ROOT / ".test-cache"))


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user data folder (demo project, user atlases) for one test."""
    path = tmp_path / "data"
    monkeypatch.setenv("DPSTUDIO_DATA_DIR", str(path))
    return path
