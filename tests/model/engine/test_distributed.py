"""torchrun with two CPU processes (gloo) trains the model one process trains."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from model.engine.checkpoint import load_checkpoint

from .conftest import env, losses, train_args

pytestmark = pytest.mark.slow

BATCH = ["--set", "solver.ims_per_batch=4", "--set", "solver.micro_batch=2", "--max-iter", "3"]


def test_two_processes_equal_one_with_the_same_global_batch(synth_data: Path, tmp_path: Path):
    one, two = tmp_path / "one", tmp_path / "two"
    # One process: 4 images per iteration as 2 micro-batches of 2 (gradients accumulated).
    done = subprocess.run(
        [sys.executable, "-m", "annotator.cli", *train_args(synth_data, one, *BATCH)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Two processes of 2 images each, DDP over gloo.
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29517",
        "-m",
        "annotator.cli",
    ]
    done = subprocess.run(
        [*torchrun, *train_args(synth_data, two, *BATCH, "--device", "cpu")],
        env=env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"processes": 2' in (two / "run.json").read_text()

    a, b = losses(one), losses(two)
    assert sorted(a) == sorted(b) == [1, 2, 3]
    for it in a:
        assert b[it] == pytest.approx(a[it], rel=1e-5), f"iteration {it}"
    wa = load_checkpoint(one / "model_final.pth").model
    wb = load_checkpoint(two / "model_final.pth").model
    worst = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
    assert worst < 1e-5, f"weights differ by up to {worst}"
    assert a[3] != a[1], "the model trained: its loss moved"
