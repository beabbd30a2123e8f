"""Check the exact truth of synthetic people over many image sizes and seeds (minutes).

The tests render a few scenes at one size; a wrong label that only a rare sliver face
produces (one pixel in a million) slips through them. This script renders several
hundred images through the real pipeline, ``dpstudio synth --check`` (worker processes,
files written to a temporary folder), one run per size, each with its own seed, and then:

* collects the checks of :mod:`annotator.synth.checks` that every worker ran on every image
  (re-projection within 0.5 px, depth within 2 mm, visible surface);
* reads the written files back: the instance and part PNGs agree with ``gt/*.npz`` at every
  skin pixel (same person, part of the chart), and every DensePose point of
  ``densepose.json`` lies on a surface point of its own person.

It prints per size: images, labelled (skin) pixels, pixels cast exactly (where the
rasterizer misjudged a sliver, :mod:`annotator.synth.exact`), the largest re-projection and
depth errors, failures; and exits 1 on any failure. Not part of ``make test`` (too slow);
``tests/synth/test_truth.py`` runs a short version.

    python scripts/check_synth_truth.py                     # 8 sizes x 48 images
    python scripts/check_synth_truth.py --sizes 160 333 --count 10 --seed 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_SIZES = (128, 199, 256, 333, 512, 640, 777, 1024)
DEFAULT_COUNT = 48
DEFAULT_SEED = 100


@dataclass
class SizeResult:
    """What the runs at one image size found."""

    size: int
    seed: int
    images: int = 0
    labelled: int = 0
    cast: int = 0
    max_reprojection: float = 0.0
    max_depth_error: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return len(self.problems)


def check_size(
    size: int, count: int, seed: int, folder: Path, workers: int | None, people: tuple[int, int]
) -> SizeResult:
    """Render ``count`` images of ``size`` x ``size`` with checks into ``folder``; read back."""
    from annotator.synth.runner import SynthSettings, prepare_output, run_synth

    settings = SynthSettings(
        out=folder, count=count, seed=seed, width=size, height=size, people=people, check=True
    )
    prepare_output(folder)
    run_synth(settings, workers=workers)
    result = SizeResult(size, seed)
    for line in (folder / "scenes.jsonl").read_text(encoding="utf-8").splitlines():
        scene = json.loads(line)
        check = scene["check"]
        result.images += 1
        result.labelled += check["pixels"]
        result.cast += scene["cast"]
        result.max_reprojection = max(result.max_reprojection, check["max_reprojection"])
        result.max_depth_error = max(result.max_depth_error, check["max_depth_error"])
        result.problems += [f"{size} px, image {scene['index']}: {p}" for p in check["problems"]]
    result.problems += files_problems(folder)
    return result


def files_problems(folder: Path) -> list[str]:
    """Disagreements between the written files (maps, dense truth, DensePose points)."""
    import cv2

    from annotator.surface.parts import FINE_TO_COARSE
    from annotator.synth.writer import load_ground_truth

    document = json.loads((folder / "densepose.json").read_text(encoding="utf-8"))
    by_image: dict[int, list[dict]] = {}
    for ann in document["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    problems = []
    for image in document["images"]:
        name = f"{folder.name} px, {image['file_name']}"
        truth = load_ground_truth(folder / image["gt_file"])
        instances = cv2.imread(str(folder / image["instances_file"]), cv2.IMREAD_UNCHANGED)
        parts = cv2.imread(str(folder / image["parts_file"]), cv2.IMREAD_UNCHANGED)
        skin = truth.face >= 0
        agree = (instances[skin] == truth.instance[skin]) & (
            parts[skin] == FINE_TO_COARSE[truth.i[skin]]
        )
        if not np.all(agree) or np.any(parts[instances == 0]):
            problems.append(f"{name}: the instance or part map disagrees with the dense truth")
        for ann in by_image.get(image["id"], []):
            if "dp_x" not in ann:
                continue
            x, y, w, h = ann["bbox"]
            cols = np.floor(np.asarray(ann["dp_x"]) / 255.0 * w + x).astype(int)
            rows = np.floor(np.asarray(ann["dp_y"]) / 255.0 * h + y).astype(int)
            own = (truth.face[rows, cols] >= 0) & (instances[rows, cols] == ann["instance"])
            if not np.all(own):
                problems.append(f"{name}: a DensePose point of {ann['id']} has no surface point")
    return problems


def print_table(results: list[SizeResult]) -> None:
    print(
        f"{'size':>5} {'seed':>5} {'images':>7} {'labelled px':>12} {'cast px':>8} "
        f"{'max reproj (px)':>16} {'max depth err (mm)':>19} {'failures':>9}"
    )
    for r in results:
        print(
            f"{r.size:>5} {r.seed:>5} {r.images:>7} {r.labelled:>12,} {r.cast:>8,} "
            f"{r.max_reprojection:>16.4f} {1000 * r.max_depth_error:>19.3f} {r.failures:>9}"
        )
    total = SizeResult(0, 0)
    for r in results:
        total.images += r.images
        total.labelled += r.labelled
        total.cast += r.cast
        total.max_reprojection = max(total.max_reprojection, r.max_reprojection)
        total.max_depth_error = max(total.max_depth_error, r.max_depth_error)
        total.problems += r.problems
    print(
        f"{'all':>5} {'':>5} {total.images:>7} {total.labelled:>12,} {total.cast:>8,} "
        f"{total.max_reprojection:>16.4f} {1000 * total.max_depth_error:>19.3f} "
        f"{total.failures:>9}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="images per size")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the first size")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    parser.add_argument("--people", default="1-4", help="people per image, N or MIN-MAX")
    args = parser.parse_args(argv)
    from annotator.synth.cli import parse_people

    people = parse_people(args.people)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="synth-truth-") as tmp:
        for k, size in enumerate(args.sizes):
            folder = Path(tmp) / str(size)
            results.append(
                check_size(size, args.count, args.seed + k, folder, args.workers, people)
            )
            shutil.rmtree(folder)
            r = results[-1]
            print(f"  {size} px: {r.images} images, {r.failures} failures", file=sys.stderr)
    seconds = time.perf_counter() - started
    print_table(results)
    print(
        f"wall time {seconds:.0f} s; load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    problems = [p for r in results for p in r.problems]
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
