"""``dpstudio app`` says what stops a window from opening, before Qt aborts (Qt-free check)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from annotator.ui import display_check
from annotator.ui.display_check import (
    XCB_LIBRARIES,
    can_dlopen,
    install_commands,
    missing_libraries,
    parse_ldd,
    qt_platform,
    window_problem,
    xcb_plugin,
)

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 check")


@pytest.mark.parametrize(
    ("env", "platform"),
    [
        ({}, "xcb"),
        ({"DISPLAY": ":0"}, "xcb"),
        ({"QT_QPA_PLATFORM": "offscreen"}, "offscreen"),
        ({"QT_QPA_PLATFORM": "XCB"}, "xcb"),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, "wayland"),
        ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, "vnc"),
        ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "wayland"),
        ({"XDG_SESSION_TYPE": "wayland"}, "xcb"),  # no compositor to talk to
    ],
)
def test_the_platform_qt_will_try(env, platform) -> None:
    assert qt_platform(env) == platform


@linux_only
def test_no_display_is_named_with_the_way_out() -> None:
    message = window_problem({}, missing=[])
    assert message is not None
    assert "DISPLAY is not set" in message and "xvfb-run -a dpstudio app" in message
    assert "missing system libraries" not in message


@linux_only
def test_xcb_asked_for_in_a_wayland_session_says_how_to_use_wayland() -> None:
    message = window_problem({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w-0"}, missing=[])
    assert message is not None and "unset QT_QPA_PLATFORM" in message


@linux_only
def test_missing_libraries_give_one_apt_and_one_dnf_line() -> None:
    present = {lib.soname for lib in XCB_LIBRARIES} - {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    missing = missing_libraries([lib.soname for lib in XCB_LIBRARIES], present.__contains__)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    message = window_problem({"DISPLAY": ":0"}, missing=missing)
    assert message is not None and "no display" not in message
    lines = message.splitlines()
    assert [x.strip() for x in lines if "apt-get" in x] == [
        "Debian/Ubuntu: sudo apt-get install libxcb-icccm4 libxcb-keysyms1"
    ]
    assert [x.strip() for x in lines if "dnf" in x] == [
        "Fedora:        sudo dnf install xcb-util-wm xcb-util-keysyms"
    ]


def test_packages_are_listed_once_and_unknown_libraries_by_name() -> None:
    apt, dnf, unknown = install_commands(
        ["libxcb-randr.so.0", "libxcb-shm.so.0", "libfoo.so.9", "libglib-2.0.so.0"]
    )
    assert apt == "sudo apt-get install libxcb-randr0 libxcb-shm0 libglib2.0-0"
    assert dnf == "sudo dnf install libxcb glib2"  # one package for both xcb libraries
    assert unknown == ["libfoo.so.9"]
    message = window_problem({"DISPLAY": ":0"}, missing=["libfoo.so.9"])
    assert message is not None and "libfoo.so.9" in message and "apt-file search" in message


@linux_only
def test_a_window_can_open_when_nothing_is_missing() -> None:
    assert window_problem({"DISPLAY": ":0"}, missing=[]) is None
    assert window_problem({"QT_QPA_PLATFORM": "offscreen"}) is None  # no check at all
    assert window_problem({display_check.SKIP_VARIABLE: "1"}) is None


def test_ldd_output_is_read_for_missing_libraries() -> None:
    text = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x00007f5d)\n"
        "\tlibxcb-icccm.so.4 => not found\n"
        "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f5d)\n"
        "\tlibxcb-keysyms.so.1 => not found\n"
        "\tlibxcb-icccm.so.4 => not found\n"
    )
    assert parse_ldd(text) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


@linux_only
def test_ldd_and_the_loader_agree_on_this_machine() -> None:
    """The two ways of finding missing libraries (``ldd`` on the real plugin, ``dlopen`` of
    each known library) give the same answer here, whatever is installed."""
    plugin = xcb_plugin()
    if plugin is None:
        pytest.skip("PySide6 ships no xcb plugin here")
    by_ldd = display_check.missing_xcb_libraries(plugin)
    listed = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    known = [lib.soname for lib in XCB_LIBRARIES if f"{lib.soname} =>" in listed]
    assert len(known) >= 15  # the plugin's system libraries are in the table
    assert [s for s in by_ldd if s in known] == missing_libraries(known, can_dlopen)
    assert can_dlopen("libc.so.6") and not can_dlopen("libdpstudio-none.so.0")


@linux_only
def test_dpstudio_app_without_a_display_exits_with_the_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env |= {
        "QT_QPA_PLATFORM": "xcb",
        "PYTHONPATH": str(ROOT),
        "DPSTUDIO_DATA_DIR": str(tmp_path / "data"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "annotator.cli", "app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr  # not Qt's abort (-6)
    assert run.stderr.startswith("dpstudio app: error: cannot open the app's window:")
    assert "DISPLAY is not set" in run.stderr and "xvfb-run" in run.stderr
    assert "qt.qpa" not in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "data").exists()  # stopped before the app made anything
