"""Fixtures of the engine tests: a small synthetic folder and a command runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

#: A tiny model and schedule: the R-18 CPU preset at 96 px, batches of 2.
TINY = [
    "model.min_size_train=[96]",
    "model.min_size_test=96",
    "model.max_size=128",
    "model.rpn_post_nms_top_n_train=50",
    "model.rpn_post_nms_top_n_test=20",
    "model.box_batch_size_per_image=32",
    "model.detections_per_img=5",
    "model.densepose.num_convs=2",
    "model.densepose.conv_dim=32",
    "solver.ims_per_batch=2",
    "solver.log_period=1",
    "solver.warmup_iters=2",
    "solver.checkpoint_period=100",
    "data.num_workers=0",
]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


def dpstudio(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "annotator.cli", *args]
    return subprocess.run(command, env=env(), capture_output=True, text=True, timeout=timeout)


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    args = ["model", "train", "--config", "R_18_FPN_cpu", "--data", str(data), "--out", str(out)]
    for item in TINY:
        args += ["--set", item]
    return args + list(extra)


def losses(run: Path) -> dict[int, float]:
    """Iteration -> total loss from a run's metrics.jsonl."""
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "iteration" in record and "total_loss" in record:
            out[record["iteration"]] = record["total_loss"]
    return out


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dpstudio synth --count 6 --size 96``: people with exact truth, rendered once."""
    out = tmp_path_factory.mktemp("engine-synth") / "synth"
    done = dpstudio(
        "synth", "--count", "6", "--size", "96", "--out", str(out), "--seed", "5", "--workers", "1"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    SYNTH_OUTPUT.append(done.stdout + done.stderr)
    return out


#: What the ``synth_data`` fixture's command printed (the output tests read it).
SYNTH_OUTPUT: list[str] = []


LIGHT = [
    "--set",
    "model.cascade.mask_dims=[16]",
    "--set",
    "model.cascade.keypoint_dims=[16]",
    "--set",
    "model.densepose.decoder_channels=32",
    "--set",
    "model.densepose.decoder_conv_dim=32",
]


@pytest.fixture(scope="session")
def runs(synth_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two-iteration runs of the default CPU preset, the FCN and the cascade."""
    root = tmp_path_factory.mktemp("arch-runs")
    out = {}
    for name, preset in (
        ("rcnn", "R_18_FPN_cpu"),
        ("fcn", "densepose_fcn_R_18_FPN_cpu"),
        ("cascade", "densepose_cascade_R_18_FPN_cpu"),
    ):
        args = train_args(synth_data, root / name, "--max-iter", "2", *LIGHT)
        args[args.index("--config") + 1] = preset
        done = dpstudio(*args)
        assert done.returncode == 0, done.stderr[-3000:]
        out[name] = root / name
    return out
