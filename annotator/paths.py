"""Where DensePose Studio keeps things on a user's machine.

Data (the demo project, user-built atlases) and caches (rendered part views, geodesic
tables) live in the platform's usual folders. ``DPSTUDIO_DATA_DIR`` and
``DPSTUDIO_CACHE_DIR`` override them (tests point them at temporary folders).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "densepose-studio"


def data_dir() -> Path:
    """Folder for user data: demo project, atlases built from user-supplied body models."""
    override = os.environ.get("DPSTUDIO_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Folder for caches that can be rebuilt at any time (renders, geodesic tables)."""
    override = os.environ.get("DPSTUDIO_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False))
