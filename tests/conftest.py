"""Shared test set-up: headless platforms, and caches kept out of the user's folders."""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from annotator.dataset.pg_server import LocalServer

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


# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalServer]:
    """A real PostgreSQL server for the session, started from the installed binaries (as the
    ``postgres`` user under root), on 127.0.0.1 and a socket in its own temporary folder;
    stopped and deleted at the end. Skips when the machine has no server binaries (``make
    test`` installs them)."""
    from annotator.dataset.pg_server import LocalServer, ServerUnavailable

    try:
        server = LocalServer.create()
    except ServerUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture()
def shared_url(pg_server: LocalServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's server (dropped afterwards)."""
    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    name += f"_{next(_DATABASES)}"
    url = pg_server.url(name)
    yield url
    from annotator.dataset.store_shared import local_folder

    shutil.rmtree(local_folder(url), ignore_errors=True)
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


_DATABASES = itertools.count()
