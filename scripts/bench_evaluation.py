"""Benchmark the DensePose evaluation: 10,000 persons with 100 points each, under a minute.

    .venv/bin/python scripts/bench_evaluation.py [--persons 10000] [--points 100]
        [--dense SYNTH_FOLDER]

Builds a synthetic DensePose-COCO ground truth (4 persons per 640 x 480 image, points on
random surface points, 3 coarse-part masks each) and predictions made from it: boxes moved
by a few pixels, the person's mask with one chart, and at every annotated pixel the true
(I, U, V) perturbed (U, V noise of 0.03, 10 % background, 5 % another chart), plus 20 %
false positives. The predictions go through the results format (encode, JSON, decode) and
are scored in all three modes with pointwise figures. Prints the time of each stage and
persons per second, the IUV -> surface speed-up over ``Atlas.from_iuv`` on the same points
(the baseline, measured in this run), and the machine's load (other jobs share the cores).

With ``--dense`` (a ``dpstudio synth`` folder, e.g. 200 images of 512 px), it also times the
dense figures: predictions are each person's true maps with U, V noise of 0.03.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils

from annotator.dataset.densepose_io import PERSON_CATEGORY
from annotator.surface.atlas import Atlas, load_atlas
from annotator.surface.geodesic import Geodesics
from annotator.surface.points import SurfacePoints
from model.evaluation import evaluate, load_ground_truth, read_results, write_results
from model.evaluation.masks import ground_truth_mask
from model.evaluation.results import Detection
from model.evaluation.surface_lookup import iuv_lookup
from model.structures import DensePoseResult

WIDTH, HEIGHT, PER_IMAGE = 640, 480, 4


def blob_masks(rng: np.random.Generator, count: int) -> list[list]:
    """``count`` dp_masks sets: torso, head and one arm as ellipses in the 256 x 256 frame."""
    yy, xx = np.mgrid[:256, :256]
    out = []
    for _ in range(count):
        entries: list = [[] for _ in range(14)]
        for part, (cy, cx, ry, rx) in ((1, (128, 128, 70, 50)), (14, (30, 128, 28, 22)),
                                       (10, (110, 60, 50, 14))):  # fmt: skip
            jitter = rng.normal(1, 0.1, 4)
            inside = ((yy - cy * jitter[0]) / (ry * jitter[2])) ** 2 + (
                (xx - cx * jitter[1]) / (rx * jitter[3])
            ) ** 2 < 1
            rle = mask_utils.encode(np.asfortranarray(inside.astype(np.uint8)))
            entries[part - 1] = {"size": [256, 256], "counts": rle["counts"].decode()}
        out.append(entries)
    return out


def ground_truth(atlas: Atlas, persons: int, points: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    masks = blob_masks(rng, 16)
    images = (persons + PER_IMAGE - 1) // PER_IMAGE
    anns = []
    for k in range(persons):
        w = float(rng.uniform(40, 140))
        h = min(float(w * rng.uniform(1.5, 2.5)), HEIGHT - 2.0)
        slot = k % PER_IMAGE  # side by side, 160 px apart
        x, y = slot * 160 + float(rng.uniform(0, 158 - w)), float(rng.uniform(0, HEIGHT - 1 - h))
        surface = SurfacePoints(rng.integers(0, len(atlas.faces), points),
                                rng.dirichlet([1, 1, 1], points))  # fmt: skip
        i, u, v = atlas.to_iuv(surface)
        anns.append({
            "id": k + 1, "image_id": k // PER_IMAGE + 1, "category_id": 1, "iscrowd": 0,
            "bbox": [x, y, w, h], "area": w * h * 0.6,
            "dp_x": rng.uniform(0, 254, points).round(2).tolist(),
            "dp_y": rng.uniform(0, 254, points).round(2).tolist(),
            "dp_I": i.tolist(), "dp_U": u.round(6).tolist(), "dp_V": v.round(6).tolist(),
            "dp_masks": masks[k % len(masks)],
        })  # fmt: skip
    return {
        "images": [
            {"id": k + 1, "file_name": f"{k:06d}.jpg", "width": WIDTH, "height": HEIGHT}
            for k in range(images)
        ],
        "annotations": anns,
        "categories": [PERSON_CATEGORY],
    }


def predictions(doc: dict, seed: int = 1) -> list[Detection]:
    """GT perturbed: see the module docstring."""
    rng = np.random.default_rng(seed)
    out = []
    for ann in doc["annotations"]:
        gx, gy, gw, gh = ann["bbox"]
        x, y = gx + rng.normal(0, 2), gy + rng.normal(0, 2)
        w, h = gw * rng.uniform(0.95, 1.05), gh * rng.uniform(0.95, 1.05)
        mask = ground_truth_mask(ann, HEIGHT, WIDTH).image(HEIGHT, WIDTH).astype(np.uint8)
        full = np.pad(mask, 32)
        labels = 2 * full[int(y) + 32 :][: int(h), int(x) + 32 :][:, : int(w)]
        uv = np.full((2, int(h), int(w)), 0.5, np.float32)
        px = (np.array(ann["dp_x"]) * gw / 255.0 + gx - x).astype(int)
        py = (np.array(ann["dp_y"]) * gh / 255.0 + gy - y).astype(int)
        ok = (px >= 0) & (py >= 0) & (px < int(w)) & (py < int(h))
        i = np.array(ann["dp_I"])
        i = np.where(rng.random(len(i)) < 0.05, rng.integers(1, 25, len(i)), i)
        i = np.where(rng.random(len(i)) < 0.10, 0, i)
        labels[py[ok], px[ok]] = i[ok]
        for c, key in enumerate(("dp_U", "dp_V")):
            noisy = np.clip(np.array(ann[key]) + rng.normal(0, 0.03, len(i)), 0, 1)
            uv[c, py[ok], px[ok]] = noisy[ok]
        result = DensePoseResult((int(x), int(y), int(w), int(h)), torch.from_numpy(labels),
                                 torch.from_numpy(uv))  # fmt: skip
        box = (float(x), float(y), float(w), float(h))
        out.append(Detection(ann["image_id"], 1, box, float(rng.uniform(0.5, 1)), result))
        if rng.random() < 0.2:  # a false positive elsewhere in the image
            fx = float(rng.uniform(0, WIDTH - w))
            fp = DensePoseResult((int(fx), int(y), int(w), int(h)), torch.from_numpy(labels),
                                 torch.from_numpy(uv))  # fmt: skip
            out.append(Detection(ann["image_id"], 1, (fx, y, w, h), float(rng.uniform(0, 1)), fp))
    return out


def lookup_speedup(atlas: Atlas, gt_doc: dict) -> tuple[float, float, int]:
    """Seconds of Atlas.from_iuv and of our lookup on the same 200,000 annotated points."""
    anns = gt_doc["annotations"][:2000]
    i = np.concatenate([a["dp_I"] for a in anns])
    u = np.concatenate([a["dp_U"] for a in anns])
    v = np.concatenate([a["dp_V"] for a in anns])
    lookup = iuv_lookup(atlas)
    atlas.from_iuv(i[:100], u[:100], v[:100])  # build the atlas's locators first
    start = time.perf_counter()
    atlas.from_iuv(i, u, v)
    t_atlas = time.perf_counter() - start
    start = time.perf_counter()
    lookup(i, u, v)
    return t_atlas, time.perf_counter() - start, len(i)


def dense_predictions(folder: Path, seed: int = 2) -> list[Detection]:
    """One detection per annotated person of a synthetic folder: its box, and the true
    (I, U, V) of its pixels with U, V noise of 0.03."""
    from annotator.synth.writer import load_ground_truth as load_truth

    rng = np.random.default_rng(seed)
    doc = load_ground_truth(folder / "densepose.json")
    out = []
    for image_id in doc.image_ids:
        truth = load_truth(folder / doc.images[image_id]["gt_file"])
        for a in np.flatnonzero((doc.image_of == image_id) & doc.has_points):
            ann = doc.annotations[a]
            x, y, w, h = (int(c) for c in ann["bbox"])
            own = truth.instance[y : y + h, x : x + w] == ann["instance"]
            labels = np.where(own, truth.i[y : y + h, x : x + w], 0).astype(np.uint8)
            uv = np.stack([truth.u[y : y + h, x : x + w], truth.v[y : y + h, x : x + w]])
            uv = np.clip(uv + rng.normal(0, 0.03, uv.shape), 0, 1).astype(np.float32)
            result = DensePoseResult((x, y, w, h), torch.from_numpy(labels), torch.from_numpy(uv))
            out.append(Detection(image_id, 1, tuple(map(float, ann["bbox"])), 0.9, result))
    return out


def bench_dense(folder: Path, geodesics: Geodesics) -> None:
    """Dense figures on a ``dpstudio synth`` folder (every skin pixel of every person)."""
    dets = dense_predictions(folder)
    cpu = time.process_time()
    start = time.perf_counter()
    report = evaluate(folder / "densepose.json", dets, geodesics=geodesics, modes=())
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu
    assert report.dense is not None
    d = report.dense
    pixels = d.figures.overall.points
    print(
        f"dense: {d.images} images, {d.persons} persons, {pixels:,} skin pixels in "
        f"{report.seconds['dense']:.1f} s ({pixels / report.seconds['dense']:,.0f} pixels/s); "
        f"evaluate total {total:.1f} s, CPU time {cpu:.1f} s"
    )
    o = d.figures.overall
    print(f"dense scores (sanity): AUC10 {o.auc10:.3f}, AUC30 {o.auc30:.3f}, misses {o.misses}")


def bench_points(atlas: Atlas, geodesics: Geodesics, persons: int, points: int) -> None:
    """The 10,000-person target (see the module docstring)."""
    start = time.perf_counter()
    doc = ground_truth(atlas, persons, points)
    dets = predictions(doc)
    print(
        f"setup: {persons} persons x {points} points, {len(dets)} detections on "
        f"{len(doc['images'])} images ({time.perf_counter() - start:.1f} s, not timed)"
    )
    cpu = time.process_time()
    start = time.perf_counter()
    gt = load_ground_truth(doc)
    t_load = time.perf_counter() - start
    cpu_total = time.process_time() - cpu
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        start = time.perf_counter()
        write_results(path, dets)
        t_encode = time.perf_counter() - start
        size = path.stat().st_size / 1e6
        del dets
        cpu = time.process_time()
        start = time.perf_counter()
        decoded = read_results(path)
        t_decode = time.perf_counter() - start
    start = time.perf_counter()
    report = evaluate(gt, decoded, geodesics=geodesics, dense=False)
    total = t_load + t_decode + time.perf_counter() - start
    cpu_total += time.process_time() - cpu
    print(f"encode (results file, {size:.0f} MB): {t_encode:.1f} s (not in the total)")
    print(f"ground truth check and arrays: {t_load:.1f} s")
    print(f"decode: {t_decode:.1f} s")
    for stage, seconds in report.seconds.items():
        print(f"{stage}: {seconds:.1f} s")
    print(
        f"total (ground truth, decode, evaluate): {total:.1f} s, "
        f"{persons / total:.0f} persons/s (target: {persons} persons under 60 s); "
        f"CPU time of this process {cpu_total:.1f} s (the wall time on an idle core)"
    )
    t_atlas, t_lookup, n = lookup_speedup(atlas, doc)
    print(
        f"IUV -> surface, {n} points: Atlas.from_iuv {n / t_atlas:,.0f}/s, our lookup "
        f"{n / t_lookup:,.0f}/s ({t_atlas / t_lookup:.1f}x)"
    )
    stats = {m: round(100 * s.ap, 1) for m, s in report.ap.items()}
    overall = report.pointwise.figures.overall
    print(
        f"scores (sanity): AP {stats}, pointwise AUC10 {overall.auc10:.3f} "
        f"AUC30 {overall.auc30:.3f}"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=10000)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument(
        "--dense", type=Path, help="also time dense figures on this `dpstudio synth` folder"
    )
    args = parser.parse_args()
    print(f"load average before: {load()} on {os.cpu_count()} cores")
    atlas = load_atlas()
    geodesics = Geodesics.load_or_build(atlas)
    if args.persons:
        bench_points(atlas, geodesics, args.persons, args.points)
    if args.dense:
        bench_dense(args.dense, geodesics)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
