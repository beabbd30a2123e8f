"""Training from the command line: resume exactly, stop cleanly, report progress, AMP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from model.engine.checkpoint import load_checkpoint

from .conftest import dpstudio, env, losses, train_args

pytestmark = pytest.mark.slow


def test_train_resume_repeats_the_uninterrupted_losses(synth_data: Path, tmp_path: Path):
    straight = tmp_path / "straight"
    done = dpstudio(*train_args(synth_data, straight, "--max-iter", "6"))
    assert done.returncode == 0, done.stderr[-3000:]
    expected = losses(straight)
    assert sorted(expected) == [1, 2, 3, 4, 5, 6]

    # The same run, interrupted (SIGINT) after a few iterations, then resumed.
    cut = tmp_path / "cut"
    command = [
        sys.executable,
        "-m",
        "annotator.cli",
        *train_args(synth_data, cut, "--max-iter", "6"),
    ]
    proc = subprocess.Popen(
        command, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (
        (cut / "metrics.jsonl").is_file() and len(losses(cut)) >= 2
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    stopped_at = load_checkpoint(cut).iteration
    assert 2 <= stopped_at < 6, "the stop must leave a checkpoint before the end"
    records = [json.loads(x) for x in (cut / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "stopped" for r in records)

    done = dpstudio("model", "train", "--out", str(cut), "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stderr
    resumed = losses(cut)
    assert sorted(resumed) == [1, 2, 3, 4, 5, 6]
    for it in range(1, 7):
        assert resumed[it] == expected[it], f"iteration {it}: {resumed[it]} != {expected[it]}"
    a, b = load_checkpoint(straight / "model_final.pth"), load_checkpoint(cut / "model_final.pth")
    for key, value in a.model.items():
        assert torch.equal(value, b.model[key]), key


def test_progress_json_and_bfloat16_autocast(synth_data: Path, tmp_path: Path):
    out = tmp_path / "amp"
    done = dpstudio(
        *train_args(
            synth_data, out, "--max-iter", "2", "--progress-json", "--set", "solver.amp=true"
        )
    )
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    progress = [e for e in events if e["event"] == "progress"]
    assert [e["iteration"] for e in progress] == [1, 2]
    assert all(e["max_iter"] == 2 and "eta_seconds" in e for e in progress)
    assert all(torch.isfinite(torch.tensor(e["total_loss"])) for e in progress)
    assert events[-1]["event"] == "done"
    assert any(e["event"] == "note" and "weights" in e["message"] for e in events)
    assert (out / "config.yaml").read_text().count("amp: true") == 1
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


def test_bad_requests_fail_with_one_line(synth_data: Path, tmp_path: Path):
    done = dpstudio(*train_args(synth_data, tmp_path / "r", "--set", "solver.base_lrr=1"))
    assert done.returncode == 1
    assert "unknown field solver.base_lrr" in done.stderr and "Traceback" not in done.stderr
    done = dpstudio("model", "train", "--out", str(tmp_path / "nothing"), "--resume")
    assert done.returncode == 1 and "no run to continue" in done.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [{"id": 1}]')
    done = dpstudio(*train_args(broken, tmp_path / "b"))
    assert done.returncode == 1 and "broken.json" in done.stderr
    assert "Traceback" not in done.stderr
