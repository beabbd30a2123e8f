"""Show that the studio runs detectron2's DensePose models exactly as detectron2 does.

For each configuration of detectron2's DensePose model zoo (the 27 of its page by default):

1. build detectron2's own model from its config file, with random weights calibrated so that
   it detects people in real boxes (random affine on every norm layer, small random biases,
   frozen batch-norm statistics measured on a separate random image, heads scaled to a
   trained model's outputs: see :func:`calibrate`);
2. save it in the zoo's file format (a pickle of numpy arrays) and load that file back into
   detectron2 with its own checkpointer;
3. import the same file into the studio (``model/zoo``);
4. run both on the same images at each test size, detectron2 as its ``DefaultPredictor``
   does (``ResizeShortestEdge`` on the uint8 BGR image) and its chart-result converter, the
   studio through its ``Predictor``, twice: as it runs by default (detectron2's NCHW
   convolutions) and with ``fast`` (NHWC convolutions on the CPU);
5. print per configuration and size: detections equal (count and order), the largest box
   and score differences, the share of pixels with the same fine part, the largest U / V
   difference where both give the same part, whether the outputs are bit for bit
   detectron2's, and the median inference time of each (the same figures of the fast path
   go to ``--out``).

Nothing of detectron2 is in the repository: this script imports it from the checkout it is
given (and its pure-Python dependencies from ``--deps``; see the README).

``--fixture DIR`` instead writes the small fixture the tests use (tests/model/zoo): narrow
versions of a few configurations (same code paths, tiny widths), their zoo-format files, the
images and detectron2's outputs.

    python scripts/check_detectron2.py --detectron2 ~/detectron2 --deps ~/d2deps \\
        --images runs/synth_val/images --sizes 512,800 --out runs/check_detectron2.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectron2_reference import (  # noqa: E402 (this folder is on the path when run)
    DETECTIONS,
    SCORE_THRESH,
    calibrate,
    d2_config,
    d2_model,
    d2_predict,
    import_detectron2,
    model_input,
    save_zoo_file,
)

TINY_OURS = [
    "model.resnet_stem_channels=8",
    "model.resnet_res2_channels=16",
    "model.resnet_width_per_group=4",
    "model.fpn_channels=32",
    "model.box_head_dim=32",
    "model.densepose.conv_dim=32",
    "model.densepose.num_convs=2",
    "model.densepose.decoder_conv_dim=32",
    "model.densepose.decoder_channels=32",
]
#: The fixture's configurations: every code path of the 27 (decoder, DeepLab head, both UV
#: confidences, segmentation confidence, legacy head, the evolution models' box pooler).
FIXTURE_MODELS = ("R_50_FPN_DL_WC2M_s1x", "R_50_FPN_s1x_legacy", "R_50_FPN_DL_WC1M_3x_Atop10P_CA")
#: Detections per image whose IUV maps the fixture keeps (all keep their boxes and scores).
FIXTURE_MAPS = 5
#: Longer side of the fixture's images.
FIXTURE_SIDE = 128


@dataclass
class Comparison:
    """Both models on the same images at one size."""

    config: str
    size: int
    images: int
    detections_d2: int
    detections_ours: int
    same_detections: bool
    max_box_diff: float
    max_score_diff: float
    pixels: int
    same_part_share: float
    max_uv_diff: float
    bitwise: bool
    seconds_d2: float
    seconds_ours: float
    #: median over the runs of (ours / detectron2) on the same image one after the other
    ratio: float
    fast: dict[str, float]


# -- the studio ----------------------------------------------------------------------------


def our_predictor(
    file: Path, zoo_name: str, size: int, extra: list[str], out_dir: Path, fast: bool = False
) -> Any:
    from model.inference.predictor import Predictor
    from model.zoo.catalog import zoo_config, zoo_model
    from model.zoo.convert import import_detectron2

    overrides = [
        f"model.min_size_test={size}",
        f"model.box_score_thresh={SCORE_THRESH}",
        f"model.detections_per_img={DETECTIONS}",
        *extra,
    ]
    cfg = zoo_config(zoo_model(zoo_name), overrides)
    ckpt = import_detectron2(file, cfg, out_dir / f"{zoo_name}_{size}.pth", zoo_name=zoo_name)
    return Predictor.from_checkpoint(ckpt, device="cpu", score_threshold=0.0, fast=fast)


def our_predict(predictor: Any, rgb: np.ndarray) -> list[dict[str, Any]]:
    return [
        {
            "box": np.asarray(p.box, np.float64),
            "score": p.score,
            "labels": p.densepose.labels.numpy(),
            "uv": p.densepose.uv.numpy(),
        }
        for p in predictor(rgb)
    ]


# -- comparing -----------------------------------------------------------------------------


def compare(d2: list[dict[str, Any]], ours: list[dict[str, Any]]) -> dict[str, float]:
    """Figures of one image (see :class:`Comparison`)."""
    n = min(len(d2), len(ours))
    same_boxes = len(d2) == len(ours)
    box_diff = score_diff = uv_diff = 0.0
    pixels = same = 0
    for a, b in zip(d2[:n], ours[:n], strict=True):
        box_diff = max(box_diff, float(np.abs(a["box"] - b["box"]).max()))
        score_diff = max(score_diff, abs(a["score"] - b["score"]))
        pixels += a["labels"].size
        if a["labels"].shape != b["labels"].shape:
            continue  # a different integer box: every pixel counts as different
        agree = a["labels"] == b["labels"]
        same += int(agree.sum())
        on = agree & (a["labels"] > 0)
        if on.any():
            uv_diff = max(uv_diff, float(np.abs(a["uv"][:, on] - b["uv"][:, on]).max()))
    for extra in d2[n:]:
        pixels += extra["labels"].size
    return {
        "same": float(same_boxes and box_diff < 0.5),
        "box": box_diff,
        "score": score_diff,
        "pixels": pixels,
        "same_pixels": same,
        "uv": uv_diff,
    }


def run_config(
    zoo_name: str,
    args: argparse.Namespace,
    images: list[np.ndarray],
    work: Path,
    *,
    tiny: bool = False,
    seed: int = 0,
) -> list[Comparison]:
    """Build, calibrate, save, import and compare one configuration at every size."""
    from detectron2.modeling import build_model

    from model.zoo.catalog import zoo_model

    config_file = zoo_model(zoo_name).config
    file = work / f"{zoo_name}.pkl"
    base = d2_config(config_file, args.detectron2, args.sizes[0], tiny)
    torch.manual_seed(seed)
    model = build_model(base)
    calibrate(model, seed, model_input(images[0], base))
    save_zoo_file(model, file, protocol=4 if tiny else (3, 4, 2)[seed % 3])
    d2 = d2_model(base, file)  # the test size only changes the resize before the model
    extra = TINY_OURS if tiny else []
    ours = our_predictor(file, zoo_name, args.sizes[0], extra, work / "imported")
    fast = our_predictor(file, zoo_name, args.sizes[0], extra, work / "imported", fast=True)
    out = []
    for size in args.sizes:
        cfg = d2_config(config_file, args.detectron2, size, tiny)
        for predictor in (ours, fast):
            predictor.model.min_size_test = size
            predictor.model.transform.min_size = (size,)
        out.append(_compare_size(zoo_name, size, cfg, d2, (ours, fast), images, args.repeat))
    shutil.rmtree(work / "imported", ignore_errors=True)  # a few hundred MB per configuration
    if not tiny:
        file.unlink()
    return out


def _compare_size(
    name: str,
    size: int,
    cfg: Any,
    d2: Any,
    ours: tuple[Any, Any],
    images: list[np.ndarray],
    repeat: int,
) -> Comparison:
    """The default path's figures (and the fast path's in ``fast``), interleaved timings."""
    outputs: dict[str, list[list[dict[str, Any]]]] = {"d2": [], "ours": [], "fast": []}
    times: dict[str, list[float]] = {"d2": [], "ours": [], "fast": []}
    runs = {
        "d2": lambda rgb: d2_predict(d2, cfg, rgb),
        "ours": lambda rgb: our_predict(ours[0], rgb),
        "fast": lambda rgb: our_predict(ours[1], rgb),
    }
    for rgb in images:
        last: dict[str, list[dict[str, Any]]] = {}
        for _ in range(repeat):  # interleaved, so that all see the same machine
            for key, run in runs.items():
                start = time.perf_counter()
                last[key] = run(rgb)
                times[key].append(time.perf_counter() - start)
        for key, result in last.items():
            outputs[key].append(result)
    figures = {key: _figures(outputs["d2"], outputs[key]) for key in ("ours", "fast")}
    main = figures["ours"]
    return Comparison(
        config=name,
        size=size,
        images=len(images),
        detections_d2=sum(len(x) for x in outputs["d2"]),
        detections_ours=sum(len(x) for x in outputs["ours"]),
        same_detections=bool(main["same"]),
        max_box_diff=main["box"],
        max_score_diff=main["score"],
        pixels=int(main["pixels"]),
        same_part_share=main["share"],
        max_uv_diff=main["uv"],
        bitwise=all(_bitwise(a, b) for a, b in zip(outputs["d2"], outputs["ours"], strict=True)),
        seconds_d2=statistics.median(times["d2"]),
        seconds_ours=statistics.median(times["ours"]),
        ratio=_paired(times["ours"], times["d2"]),
        fast=figures["fast"]
        | {
            "seconds": statistics.median(times["fast"]),
            "ratio": _paired(times["fast"], times["d2"]),
        },
    )


def _paired(ours: list[float], d2: list[float]) -> float:
    """Median of the ratios of runs made one after the other (drifts of the machine cancel)."""
    return statistics.median(a / b for a, b in zip(ours, d2, strict=True))


def _figures(d2: list[list[dict[str, Any]]], ours: list[list[dict[str, Any]]]) -> dict[str, float]:
    """The comparison figures over all images (see :func:`compare`)."""
    per_image = [compare(a, b) for a, b in zip(d2, ours, strict=True)]
    pixels = sum(f["pixels"] for f in per_image)
    return {
        "same": float(all(f["same"] for f in per_image)),
        "box": max(f["box"] for f in per_image),
        "score": max(f["score"] for f in per_image),
        "uv": max(f["uv"] for f in per_image),
        "pixels": pixels,
        "share": sum(f["same_pixels"] for f in per_image) / max(1, pixels),
    }


def _bitwise(d2: list[dict[str, Any]], ours: list[dict[str, Any]]) -> bool:
    """The exact path gives detectron2's outputs bit for bit."""
    return len(d2) == len(ours) and all(
        np.array_equal(a[key], b[key]) for a, b in zip(d2, ours, strict=True) for key in a
    )


def print_row(c: Comparison) -> None:
    print(
        f"{c.config:44s} {c.size:4d}  dets {c.detections_d2:3d}/{c.detections_ours:3d} "
        f"{'same' if c.same_detections else 'DIFF'}  box {c.max_box_diff:.2e}  "
        f"score {c.max_score_diff:.2e}  parts {100 * c.same_part_share:.4f}% "
        f"of {c.pixels}  uv {c.max_uv_diff:.2e}  {'bitwise' if c.bitwise else 'not bitwise'}"
        f"  d2 {c.seconds_d2:.2f} s  ours {c.seconds_ours:.2f} s  ratio {c.ratio:.2f}  "
        f"fast {c.fast['seconds']:.2f} s (parts {100 * c.fast['share']:.4f}%, "
        f"uv {c.fast['uv']:.1e})",
        flush=True,
    )


def read_images(folder: Path, count: int) -> list[np.ndarray]:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"{folder}: no .png or .jpg images")
    return [np.asarray(Image.open(p).convert("RGB")) for p in files[:count]]


def write_fixture(args: argparse.Namespace, images: list[np.ndarray]) -> None:
    """The tests' fixture: narrow models, their files, images and detectron2's outputs."""
    from PIL import Image

    out: Path = args.fixture
    (out / "images").mkdir(parents=True, exist_ok=True)
    small = []
    for k, rgb in enumerate(images):  # small images keep the fixture small
        pil = Image.fromarray(rgb)
        pil.thumbnail((FIXTURE_SIDE, FIXTURE_SIDE), Image.Resampling.LANCZOS)
        pil.save(out / "images" / f"{k}.png")
        small.append(np.asarray(pil))
    images = small
    records: dict[str, Any] = {"sizes": args.sizes, "detections": DETECTIONS}
    records |= {"score_thresh": SCORE_THRESH, "overrides": TINY_OURS, "models": {}}
    arrays: dict[str, np.ndarray] = {}
    for seed, name in enumerate(FIXTURE_MODELS):
        rows = run_config(name, args, images, out, tiny=True, seed=seed)
        records["models"][name] = [asdict(r) for r in rows]
        for row in rows:
            print_row(row)
        for size in args.sizes:
            cfg = d2_config(zoo_config_file(name), args.detectron2, size, True)
            d2 = d2_model(cfg, out / f"{name}.pkl")
            for k, rgb in enumerate(images):
                people = d2_predict(d2, cfg, rgb)
                key = f"{name}/{size}/{k}"
                arrays[f"{key}/boxes"] = np.array([p["box"] for p in people]).reshape(-1, 4)
                arrays[f"{key}/scores"] = np.array([p["score"] for p in people])
                for j, person in enumerate(people[:FIXTURE_MAPS]):
                    arrays[f"{key}/{j}/labels"] = person["labels"]
                    arrays[f"{key}/{j}/uv"] = person["uv"]
    shutil.rmtree(out / "imported", ignore_errors=True)
    np.savez_compressed(out / "detectron2_outputs.npz", **arrays)
    (out / "fixture.json").write_text(json.dumps(records, indent=1))
    print(f"fixture -> {out}")


def zoo_config_file(name: str) -> str:
    from model.zoo.catalog import zoo_model

    return zoo_model(name).config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectron2", type=Path, required=True, help="detectron2 checkout")
    parser.add_argument("--deps", type=Path, help="folder of detectron2's Python dependencies")
    parser.add_argument("--images", type=Path, required=True, help="folder of test images")
    parser.add_argument("--count", type=int, default=2, help="images to use")
    parser.add_argument("--sizes", default="512,800", help="test sizes (shorter side)")
    parser.add_argument("--configs", help="comma-separated zoo names (default: all 27)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per image")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--fixture", type=Path, help="write the tests' fixture here instead")
    parser.add_argument("--work", type=Path, default=Path("runs/check_detectron2"))
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    import_detectron2(args.detectron2, args.deps)
    images = read_images(args.images, args.count)
    if args.fixture:
        write_fixture(args, images)
        return 0
    from model.zoo.catalog import ZOO

    names = args.configs.split(",") if args.configs else [m.name for m in ZOO]
    rows: list[Comparison] = []
    for seed, name in enumerate(names):
        for row in run_config(name, args, images, args.work, seed=seed):
            print_row(row)
            rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print(summary(rows))
    return 0 if all(meets_goal(_default_figures(r)) for r in rows) else 1


def _default_figures(r: Comparison) -> dict[str, float]:
    return {
        "same": float(r.same_detections),
        "box": r.max_box_diff,
        "uv": r.max_uv_diff,
        "share": r.same_part_share,
    }


def meets_goal(f: dict[str, float]) -> bool:
    """Same detections, boxes within 0.01 px, parts equal on 99.99 % of pixels, U / V
    within 1e-4."""
    return bool(f["same"]) and f["box"] <= 0.01 and f["share"] >= 0.9999 and f["uv"] <= 1e-4


def summary(rows: list[Comparison]) -> str:
    """Both paths against the goal, and their time against detectron2's."""
    default = sum(meets_goal(_default_figures(r)) for r in rows)
    fast = sum(meets_goal(r.fast) for r in rows)
    ratios = [r.ratio for r in rows]
    fast_ratios = [r.fast["ratio"] for r in rows]
    return (
        f"default: {default} of {len(rows)} configuration-sizes meet the goal, "
        f"{sum(r.bitwise for r in rows)} bit for bit; time / detectron2's: median "
        f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})\n"
        f"--fast: {fast} of {len(rows)} meet the goal; time / detectron2's: median "
        f"{statistics.median(fast_ratios):.2f} ({min(fast_ratios):.2f}-{max(fast_ratios):.2f})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
