"""``dpstudio body ...`` from the command line, as a user runs it."""

import subprocess
import sys

import pytest

from annotator.cli import main


def test_body_info_lists_parts_and_charts(capsys):
    assert main(["body", "info"]) == 0
    out = capsys.readouterr().out
    assert "12408 vertices" in out and "24724 faces" in out
    assert out.count(" faces\n") == 14  # the coarse parts
    for name in ("torso back", "right hand", "left head"):
        assert name in out


def test_a_missing_atlas_is_one_clear_line(tmp_path, capsys):
    assert main(["body", "info", "--atlas", str(tmp_path / "none.npz")]) == 1
    err = capsys.readouterr().err
    assert "atlas file not found" in err and "Traceback" not in err


@pytest.mark.slow
def test_body_views_writes_contact_sheets(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "annotator.cli",
            "body",
            "views",
            "--out",
            str(tmp_path),
            "--size",
            "64",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    from PIL import Image

    sheet = Image.open(tmp_path / "views_charts.png")
    assert sheet.size == (6 * 64, 14 * 64)
    for name in ("views_uvgrid.png", "uv_layouts.png", "body.png"):
        assert (tmp_path / name).stat().st_size > 10_000
