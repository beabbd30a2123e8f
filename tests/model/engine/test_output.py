"""Commands print our lines only: no third-party banners."""

from __future__ import annotations

from pathlib import Path

from .conftest import SYNTH_OUTPUT


def test_synth_prints_no_warp_banner(synth_data: Path):
    """Anny's skinning runs on NVIDIA Warp, which announces itself and every cached kernel
    unless told to be quiet."""
    (output,) = SYNTH_OUTPUT
    lines = [line for line in output.replace("\r", "\n").splitlines() if line.strip()]
    assert not [line for line in lines if "Warp" in line or "Module anny" in line], lines
    assert any("persons" in line for line in lines)  # the summary line is ours
