"""``dpstudio model zoo``, ``zoo get``, ``import-detectron2`` and ``zoo:NAME``, run as a user
runs them (a separate process, an empty cache; a local folder stands in for detectron2's
download server)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model.zoo.catalog import zoo_model

from .test_detectron2_fixture import FIXTURE, SPEC

ROOT = Path(__file__).resolve().parents[3]
TINY = "R_50_FPN_DL_WC2M_s1x"


def dpstudio(cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, PYTHONPATH=str(ROOT), DPSTUDIO_CACHE_DIR=str(cache), **env)
    command = [sys.executable, "-m", "annotator.cli", *args]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=600)


def test_the_list_names_all_27_with_their_figures(tmp_path: Path):
    done = dpstudio(tmp_path, "model", "zoo")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("R_")]
    assert len(rows) == 27
    r50 = next(r for r in rows if r.split()[0] == "R_50_FPN_s1x")
    assert r50.split()[1:4] == ["61.2", "63.7", "65.3"]
    assert "densepose_rcnn_R_50_FPN_s1x.yaml" in r50 and "model_final_162be9.pkl" in r50


def test_offline_get_says_where_to_put_the_file(tmp_path: Path):
    done = dpstudio(tmp_path, "model", "zoo", "get", "R_50_FPN_s1x", DPSTUDIO_OFFLINE="1")
    assert done.returncode == 1
    (line,) = [x for x in done.stderr.splitlines() if x.strip()]
    assert "model_final_162be9.pkl" in line and str(tmp_path / "zoo") in line
    missing = dpstudio(tmp_path, "model", "evaluate", "--checkpoint", "zoo:R_50_FPN_s1x",
                       "--data", str(FIXTURE / "fixture.json"))  # fmt: skip
    assert missing.returncode == 1
    assert "zoo:R_50_FPN_s1x is not on this machine" in missing.stderr
    unknown = dpstudio(tmp_path, "model", "zoo", "get", "R_7_FPN")
    assert "no zoo model 'R_7_FPN'" in unknown.stderr


def test_get_downloads_from_a_mirror_with_progress(tmp_path: Path):
    """The download itself (a file:// mirror of detectron2's layout); the file it fetches is
    the narrow fixture, which the full architecture then refuses by name."""
    model = zoo_model(TINY)
    mirror = tmp_path / "mirror"
    folder = mirror / model.url.removeprefix("https://dl.fbaipublicfiles.com/densepose/")
    folder.parent.mkdir(parents=True)
    shutil.copy(FIXTURE / f"{TINY}.pkl", folder)
    cache = tmp_path / "cache"
    done = dpstudio(cache, "model", "zoo", "get", TINY, DPSTUDIO_ZOO_MIRROR=mirror.as_uri())
    assert (cache / "zoo" / model.file_name).read_bytes() == (FIXTURE / f"{TINY}.pkl").read_bytes()
    assert not list((cache / "zoo").glob("*.part"))
    assert done.returncode == 1 and "has shape" in done.stderr  # narrow, not the real one


def test_import_command_and_zoo_names_everywhere(tmp_path: Path):
    cache = tmp_path / "cache"
    target = cache / "zoo" / TINY / "model_imported.pth"
    args = ["model", "import-detectron2", str(FIXTURE / f"{TINY}.pkl"), "--config", TINY]
    args += ["--out", str(target)]
    for item in SPEC["overrides"]:
        args += ["--set", item]
    done = dpstudio(cache, *args)
    assert done.returncode == 0, done.stderr
    assert target.is_file()
    # zoo:NAME now finds the imported model.
    out = tmp_path / "pictures"
    args = ["model", "predict", "--checkpoint", f"zoo:{TINY}", str(FIXTURE / "images")]
    predicted = dpstudio(cache, *args, "--out", str(out), "--score-threshold", "0.1")
    assert predicted.returncode == 0, predicted.stderr
    assert (out / "results.json").is_file() and (out / "000001_0.png").is_file()
    listed = dpstudio(cache, "model", "zoo")
    row = next(r for r in listed.stdout.splitlines() if r.startswith(TINY + " "))
    assert " imported " in row


@pytest.mark.parametrize("bad", ["cut", "evil"])
def test_import_refuses_bad_files_in_one_line(tmp_path: Path, bad: str):
    file = tmp_path / "model_final.pkl"
    data = (FIXTURE / f"{TINY}.pkl").read_bytes()
    if bad == "cut":
        file.write_bytes(data[: len(data) // 2])
    else:
        file.write_bytes(b"cos\nsystem\n(Vtouch " + str(tmp_path / "pwned").encode() + b"\ntR.")
    done = dpstudio(tmp_path, "model", "import-detectron2", str(file), "--config", TINY,
                    "--out", str(tmp_path / "out.pth"))  # fmt: skip
    assert done.returncode == 1
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and str(file) in lines[0]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out.pth").exists()
