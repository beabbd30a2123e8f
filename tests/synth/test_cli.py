"""``dpstudio synth`` end to end, and the same images whatever the number of workers."""

import json

import numpy as np
import pytest

from annotator.cli import main
from annotator.dataset.validate import validate_file
from annotator.synth.cli import parse_people
from annotator.synth.runner import SynthSettings, run_synth
from annotator.synth.writer import load_ground_truth

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*"),
]

COUNT = 4
SIZE = 160


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One run through the command line, two workers, with checks and a contact sheet."""
    out = tmp_path_factory.mktemp("cli") / "synth"
    sheet = out.parent / "sheet.png"
    argv = ["synth", "--count", str(COUNT), "--out", str(out), "--seed", "3"]
    argv += ["--size", str(SIZE), "--people", "2-3", "--workers", "2", "--check"]
    argv += ["--sheet", str(sheet)]
    assert main(argv) == 0
    return out, sheet


def test_synth_writes_every_file_and_valid_densepose_coco(cli_run):
    from pycocotools.coco import COCO

    out, sheet = cli_run
    stems = [f"{k:06d}" for k in range(COUNT)]
    for stem in stems:
        for name in (f"images/{stem}.jpg", f"instances/{stem}.png", f"parts/{stem}.png"):
            assert (out / name).is_file(), name
        truth = load_ground_truth(out / "gt" / f"{stem}.npz")
        assert truth.i.shape == (SIZE, SIZE) and truth.i.max() > 0
    report = validate_file(out / "densepose.json")
    assert report.ok, report.problems[:5]
    assert report.images == COUNT and report.densepose > 0
    coco = COCO(str(out / "densepose.json"))
    assert len(coco.getImgIds()) == COUNT
    image = coco.loadImgs(1)[0]
    assert image["gt_file"] == "gt/000000.npz" and image["file_name"] == "000000.jpg"
    lines = (out / "scenes.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(COUNT))
    assert all(json.loads(line)["check"]["problems"] == [] for line in lines)
    run = json.loads((out / "synth.json").read_text())
    assert run["report"]["images"] == COUNT and run["report"]["workers"] == 2
    assert sheet.is_file() and sheet.stat().st_size > 10_000


def test_output_is_the_same_for_any_number_of_workers(cli_run, tmp_path):
    out, _ = cli_run
    single = tmp_path / "one"
    from annotator.synth.runner import prepare_output

    prepare_output(single)
    settings = SynthSettings(out=single, count=COUNT, seed=3, width=SIZE, height=SIZE)
    settings = SynthSettings(**{**settings.__dict__, "people": (2, 3), "check": True})
    run_synth(settings, workers=1)
    for stem in (f"{k:06d}" for k in range(COUNT)):
        for name in (f"images/{stem}.jpg", f"instances/{stem}.png", f"parts/{stem}.png"):
            assert (single / name).read_bytes() == (out / name).read_bytes(), name
        a = load_ground_truth(single / "gt" / f"{stem}.npz")
        b = load_ground_truth(out / "gt" / f"{stem}.npz")
        for key in ("face", "bary", "i", "u", "v", "instance"):
            assert np.array_equal(getattr(a, key), getattr(b, key)), (stem, key)
    assert (single / "densepose.json").read_bytes() == (out / "densepose.json").read_bytes()


def test_command_line_errors_are_one_line(tmp_path, capsys):
    assert main(["synth", "--count", "2", "--out", str(tmp_path), "--people", "5-2"]) == 1
    assert "--people" in capsys.readouterr().err
    (tmp_path / "densepose.json").write_text("{}")
    assert main(["synth", "--count", "2", "--out", str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert (
        main(["synth", "--count", "1", "--out", str(tmp_path / "o"), "--backgrounds", str(missing)])
        == 1
    )
    assert parse_people("3") == (3, 3) and parse_people("1-4") == (1, 4)
