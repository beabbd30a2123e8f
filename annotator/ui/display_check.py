"""Can Qt open a window here? Answered before Qt is imported, because Qt cannot say it.

When Qt's platform plugin fails to load (no display, or a system library missing) Qt prints
a misleading line ("xcb-cursor0 ... is needed" whatever is missing) and calls ``abort()``:
a core-dump message and nothing from us. ``dpstudio app`` therefore checks first, without
importing Qt, and turns what it finds into one message with the commands that fix it.

The platform Qt will use: ``QT_QPA_PLATFORM`` if set (its first entry), otherwise ``wayland``
in a Wayland session (``XDG_SESSION_TYPE=wayland`` with ``WAYLAND_DISPLAY`` set) and ``xcb``
(X11) everywhere else. Only ``xcb`` is checked, the platform of every X11 desktop and of
virtual screens (``xvfb-run``):

- a display: ``DISPLAY`` must be set;
- the system libraries of the xcb plugin (``PySide6/Qt/plugins/platforms/libqxcb.so``): the
  wheel ships Qt, not the X11 client libraries, and a minimal system lacks some of them
  (``libxcb-icccm4``, ``libxcb-keysyms1``, ``libxcb-cursor0`` on a Debian without a desktop).
  ``ldd`` on the plugin lists them as the dynamic loader resolves them (every dependency,
  transitively, honouring ``LD_LIBRARY_PATH``); where ``ldd`` is absent each library of
  :data:`XCB_LIBRARIES` is opened with ``dlopen`` instead.

``DPSTUDIO_SKIP_DISPLAY_CHECK=1`` skips the check (should it ever be wrong on some system).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SystemLibrary:
    """A shared library and the distribution packages that install it.

    Attributes:
        soname: the name the loader looks for, e.g. ``libxcb-icccm.so.4``.
        debian: its Debian / Ubuntu package.
        fedora: its Fedora package.
    """

    soname: str
    debian: str
    fedora: str


#: What Qt's xcb platform plugin (and the Qt libraries it loads) link against, outside the
#: wheel, read with ``readelf -d`` off PySide6 6.11's ``libqxcb.so`` and ``libQt6XcbQpa.so``.
XCB_LIBRARIES: tuple[SystemLibrary, ...] = (
    SystemLibrary("libxcb.so.1", "libxcb1", "libxcb"),
    SystemLibrary("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    SystemLibrary("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    SystemLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    SystemLibrary("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    SystemLibrary("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    SystemLibrary("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    SystemLibrary("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    SystemLibrary("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    SystemLibrary("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    SystemLibrary("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    SystemLibrary("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    SystemLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    SystemLibrary("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    SystemLibrary("libX11.so.6", "libx11-6", "libX11"),
    SystemLibrary("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    SystemLibrary("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    SystemLibrary("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    SystemLibrary("libGL.so.1", "libgl1", "mesa-libGL"),
    SystemLibrary("libEGL.so.1", "libegl1", "mesa-libEGL"),
    SystemLibrary("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    SystemLibrary("libfreetype.so.6", "libfreetype6", "freetype"),
    SystemLibrary("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
    SystemLibrary("libgthread-2.0.so.0", "libglib2.0-0", "glib2"),
    SystemLibrary("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
)
_BY_SONAME = {lib.soname: lib for lib in XCB_LIBRARIES}

SKIP_VARIABLE = "DPSTUDIO_SKIP_DISPLAY_CHECK"


def qt_platform(env: Mapping[str, str]) -> str:
    """The platform plugin Qt will try first in this environment (``xcb``, ``wayland``, ...)."""
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0].strip().lower()
    if env.get("XDG_SESSION_TYPE", "").lower() == "wayland" and env.get("WAYLAND_DISPLAY"):
        return "wayland"
    return "xcb"


def display_problem(env: Mapping[str, str]) -> str | None:
    """Why the xcb platform has no display to open, or None when ``DISPLAY`` is set."""
    if env.get("DISPLAY", "").strip():
        return None
    if env.get("WAYLAND_DISPLAY", "").strip():
        return (
            "no X11 display: DISPLAY is not set and QT_QPA_PLATFORM asks for X11 (xcb). "
            "In this Wayland session, unset QT_QPA_PLATFORM or set it to `wayland`."
        )
    return (
        "no display: DISPLAY is not set (a machine without a desktop, or an ssh session "
        "without X forwarding). Run the app from a desktop session (or `ssh -X`), or on a "
        "virtual screen: `xvfb-run -a dpstudio app` (Debian/Ubuntu: `sudo apt-get install "
        "xvfb xauth`; Fedora: `sudo dnf install xorg-x11-server-Xvfb`)."
    )


def parse_ldd(text: str) -> list[str]:
    """The libraries ``ldd`` reports as ``not found``, each once, in order of appearance."""
    missing: list[str] = []
    for line in text.splitlines():
        name, sep, where = line.strip().partition("=>")
        if sep and where.strip() == "not found" and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def xcb_plugin() -> Path | None:
    """The xcb platform plugin of the installed PySide6 (found without importing it)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def can_dlopen(soname: str) -> bool:
    """Whether the dynamic loader finds and loads ``soname``."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(
    needed: Iterable[str], available: Callable[[str], bool] = can_dlopen
) -> list[str]:
    """The libraries of ``needed`` that ``available`` says are absent."""
    return [soname for soname in needed if not available(soname)]


def missing_xcb_libraries(plugin: Path | None = None) -> list[str]:
    """The system libraries the xcb plugin needs and the loader cannot find, by soname.

    Args:
        plugin: the plugin to check (default: the installed PySide6's ``libqxcb.so``).

    Returns:
        Missing sonames; empty when everything is there or when there is no plugin to check.
    """
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return []
    ldd = shutil.which("ldd")
    if ldd:
        try:
            run = subprocess.run(
                [ldd, str(plugin)], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            run = None
        if run is not None and run.returncode == 0:
            return parse_ldd(run.stdout)
    return missing_libraries(lib.soname for lib in XCB_LIBRARIES)


def install_commands(missing: Iterable[str]) -> tuple[str, str, list[str]]:
    """The apt and dnf lines that install ``missing``, and the sonames of no known package.

    Returns:
        ``(apt line, dnf line, unknown sonames)``; the lines are empty when no package is known.
    """
    debian: list[str] = []
    fedora: list[str] = []
    unknown: list[str] = []
    for soname in missing:
        lib = _BY_SONAME.get(soname)
        if lib is None:
            unknown.append(soname)
            continue
        debian += [lib.debian] if lib.debian not in debian else []
        fedora += [lib.fedora] if lib.fedora not in fedora else []
    apt = f"sudo apt-get install {' '.join(debian)}" if debian else ""
    dnf = f"sudo dnf install {' '.join(fedora)}" if fedora else ""
    return apt, dnf, unknown


def libraries_problem(missing: list[str]) -> str | None:
    """The paragraph that names ``missing`` libraries and how to install them, or None."""
    if not missing:
        return None
    apt, dnf, unknown = install_commands(missing)
    lines = [
        "missing system libraries: Qt's X11 platform plugin (xcb) needs "
        + ", ".join(missing)
        + ". Install them:"
    ]
    if apt:
        lines.append(f"    Debian/Ubuntu: {apt}")
    if dnf:
        lines.append(f"    Fedora:        {dnf}")
    if unknown:
        lines.append(
            "    for " + ", ".join(unknown) + ": `apt-file search NAME` or `dnf provides '*/NAME'` "
            "names the package"
        )
    return "\n".join(lines)


def window_problem(
    env: Mapping[str, str] | None = None, missing: list[str] | None = None
) -> str | None:
    """Everything that stops Qt from opening a window here, as one message; None if nothing.

    Args:
        env: the environment (default: ``os.environ``).
        missing: the missing system libraries (default: :func:`missing_xcb_libraries`);
            tests pass their own list.
    """
    env = os.environ if env is None else env
    if env.get(SKIP_VARIABLE) or not sys.platform.startswith("linux"):
        return None
    if qt_platform(env) != "xcb":
        return None
    problems = [
        display_problem(env),
        libraries_problem(missing_xcb_libraries() if missing is None else missing),
    ]
    found = [p for p in problems if p]
    if not found:
        return None
    return "cannot open the app's window:\n" + "\n".join(f"  - {p}" for p in found)
