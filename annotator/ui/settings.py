"""The app's persistent settings (QSettings): who annotates, theme, tools, layout, recents.

Everything the user sets once and expects to find again. Tests point QSettings at a
temporary folder (``QSettings.setPath``) so they never touch the user's own settings.
"""

from __future__ import annotations

import getpass
import hashlib
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "DensePoseStudio"
APPLICATION = "dpstudio"
THEMES = ("light", "dark")
MAX_RECENT = 10


def default_annotator() -> str:
    """The OS user name (the default annotator identity)."""
    try:
        return getpass.getuser() or "annotator"
    except Exception:  # no user name in some containers
        return "annotator"


class Settings:
    """Typed access to the app's QSettings.

    Args:
        store: the QSettings to use (default: the application's, by organisation and name).
    """

    def __init__(self, store: QSettings | None = None) -> None:
        self._s = store if store is not None else QSettings(ORGANIZATION, APPLICATION)

    def sync(self) -> None:
        self._s.sync()

    def _get(self, key: str, default: Any, kind: type) -> Any:
        value = self._s.value(key, default)
        try:
            if kind is bool and isinstance(value, str):
                return value.lower() in ("1", "true", "yes")
            return kind(value)
        except (TypeError, ValueError):
            return default

    # -- identity and look -----------------------------------------------------------------

    @property
    def annotator(self) -> str:
        """Name stored with every edit (default: the OS user name)."""
        name = str(self._get("annotator", "", str)).strip()
        return name or default_annotator()

    @annotator.setter
    def annotator(self, name: str) -> None:
        self._s.setValue("annotator", name.strip())

    @property
    def theme(self) -> str:
        value = str(self._get("theme", "light", str))
        return value if value in THEMES else "light"

    @theme.setter
    def theme(self, value: str) -> None:
        if value not in THEMES:
            raise ValueError(f"theme must be one of {THEMES}")
        self._s.setValue("theme", value)

    # -- stage-1 tools ---------------------------------------------------------------------

    @property
    def brush_size(self) -> float:
        """Brush diameter in image pixels."""
        return min(max(self._get("tools/brush_size", 24.0, float), 1.0), 2000.0)

    @brush_size.setter
    def brush_size(self, value: float) -> None:
        self._s.setValue("tools/brush_size", float(value))

    @property
    def opacity(self) -> float:
        """Opacity of the part masks over the image, 0..1."""
        return min(max(self._get("tools/opacity", 0.55, float), 0.0), 1.0)

    @opacity.setter
    def opacity(self, value: float) -> None:
        self._s.setValue("tools/opacity", float(value))

    @property
    def protect_parts(self) -> bool:
        """Brush strokes leave other painted parts alone."""
        return bool(self._get("tools/protect_parts", False, bool))

    @protect_parts.setter
    def protect_parts(self, value: bool) -> None:
        self._s.setValue("tools/protect_parts", bool(value))

    # -- stage 2 ---------------------------------------------------------------------------

    @property
    def advance_after_pick(self) -> bool:
        """Stage 2: a pick on a view goes on to the next point to do (on by default: the
        paper's flow, one click per point)."""
        return bool(self._get("stage2/advance_after_pick", True, bool))

    @advance_after_pick.setter
    def advance_after_pick(self, value: bool) -> None:
        self._s.setValue("stage2/advance_after_pick", bool(value))

    # -- projects --------------------------------------------------------------------------

    @property
    def recent_projects(self) -> list[str]:
        value = self._s.value("projects/recent", [])
        if isinstance(value, str):
            value = [value]
        items = value if isinstance(value, list) else []
        return [str(v) for v in items if v]

    def add_recent(self, path: str) -> None:
        """Put ``path`` first in the recent projects."""
        items = [path] + [p for p in self.recent_projects if p != path]
        self._s.setValue("projects/recent", items[:MAX_RECENT])

    def remove_recent(self, path: str) -> None:
        self._s.setValue("projects/recent", [p for p in self.recent_projects if p != path])

    def last_image(self, project_path: str) -> int | None:
        """The image last shown in a project, to come back to it."""
        value = self._s.value(f"projects/last_image/{_key(project_path)}")
        try:
            return None if value is None else int(value)
        except (TypeError, ValueError):
            return None

    def set_last_image(self, project_path: str, image_id: int) -> None:
        self._s.setValue(f"projects/last_image/{_key(project_path)}", int(image_id))

    # -- window layout ---------------------------------------------------------------------

    def window_geometry(self) -> QByteArray | None:
        value = self._s.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self._s.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._s.setValue("window/geometry", geometry)
        self._s.setValue("window/state", state)

    def splitter_sizes(self, stage: int) -> list[int] | None:
        """Widths of the canvas and the stage panel in ``stage`` (1 or 2)."""
        value = self._s.value(f"window/splitter{stage}")
        try:
            sizes = [int(v) for v in value] if isinstance(value, list) else None
        except (TypeError, ValueError):
            return None
        return sizes if sizes and len(sizes) == 2 and min(sizes) >= 0 else None

    def set_splitter_sizes(self, stage: int, sizes: list[int]) -> None:
        self._s.setValue(f"window/splitter{stage}", [int(s) for s in sizes])

    @property
    def stage(self) -> int:
        return 2 if self._get("window/stage", 1, int) == 2 else 1

    @stage.setter
    def stage(self, value: int) -> None:
        self._s.setValue("window/stage", int(value))


def _key(path: str) -> str:
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:16]
