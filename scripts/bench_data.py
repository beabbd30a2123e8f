"""Benchmark the training data loader: images per second by size, workers and points mode.

    .venv/bin/python scripts/bench_data.py [--count 64] [--sizes 256 512] [--workers 0 1 2]

Renders (once, then reuses) ``dpstudio synth`` folders of ``--count`` images per size under
the cache folder, then for each size, points mode (sparse: the annotated points; dense:
every skin pixel) and number of loader workers, reads ``--batches`` batches of 2 images
through :func:`model.data.loader.build_train_loader` with the flip augmentation and prints:

* images per second in steady state (after a warm-up of a few batches), and the ratio to
  the baseline measured in the same run: reading and decoding the same JPEGs into float
  tensors in this process, nothing else;
* CPU milliseconds per image: with 0 workers the loading cost itself (which a busy machine
  does not inflate much) and the rate it allows per idle core; with workers, what the
  training process spends receiving the batches;
* DensePose points per person: annotated (sparse) and dense (skin pixels), at each size;
* ``dp_masks``: decoding the 14 RLEs of a person with pycocotools against expanding the
  cached run-length copy;
* the load average before and after, to judge how busy the machine was.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def synth_folder(root: Path, size: int, count: int) -> Path:
    """A synth folder of ``count`` images at ``size`` (rendered on first use).

    Rendered by ``dpstudio synth`` in a child process: this process then forks the loader
    workers, which must not inherit an OpenGL or OpenCV thread state.
    """
    out = root / f"synth-{size}-{count}"
    if (out / "densepose.json").is_file():
        return out
    print(f"rendering {count} synthetic images at {size} px into {out} ...", flush=True)
    command = [sys.executable, "-m", "annotator.cli", "synth", "--count", str(count)]
    command += ["--size", str(size), "--seed", "1", "--out", str(out), "--force"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return out


def baseline(folder: Path, n: int) -> float:
    """Images/s of cv2 decode + RGB + float tensor of the folder's images, in process."""
    import cv2
    import torch

    files = sorted((folder / "images").iterdir())
    start = time.perf_counter()
    for path in itertools.islice(itertools.cycle(files), n):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        torch.from_numpy(np.divide(rgb.transpose(2, 0, 1), np.float32(255), dtype=np.float32))
    return n / (time.perf_counter() - start)


def loader_rate(dataset, workers: int, batches: int, flip_table) -> tuple[float, float]:
    """(steady images/s, CPU ms per image in this process) over ``batches`` batches of 2."""
    from model.data.loader import build_train_loader
    from model.data.transforms import TrainTransform

    loader = build_train_loader(
        dataset,
        batch_size=2,
        num_workers=workers,
        seed=0,
        transform=TrainTransform(flip_table=flip_table),
    )
    stream = iter(loader)
    for _ in range(max(2, 2 * workers)):  # warm-up: workers started, queues filled
        next(stream)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(stream)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del stream
    return 2 * batches / wall, cpu / (2 * batches) * 1000


def points_per_person(dataset) -> np.ndarray:
    counts = []
    for k in range(len(dataset)):
        dp = dataset[k].target["densepose"]
        per = np.bincount(dp.person.numpy(), minlength=len(dp))[dp.has_points.numpy()]
        counts.extend(per.tolist())
    return np.array(counts)


def mask_decode_rates(dataset, repeats: int = 20) -> tuple[float, float]:
    """(ms per person decoding the 14 RLEs, ms per person expanding the cached copy)."""
    from model.data.targets import DpMaskCache, decode_dp_masks

    masks = []
    for k in range(len(dataset)):
        persons = dataset._entries[k].persons
        masks += [m for m in persons.dp_masks if m is not None]
    cache = DpMaskCache()
    for j, m in enumerate(masks):
        cache.labels(j, m)
    start = time.perf_counter()
    for _ in range(repeats):
        for m in masks:
            decode_dp_masks(m)
    decode = (time.perf_counter() - start) / (repeats * len(masks)) * 1000
    start = time.perf_counter()
    for _ in range(repeats):
        for j, m in enumerate(masks):
            cache.labels(j, m)
    cached = (time.perf_counter() - start) / (repeats * len(masks)) * 1000
    print(f"  dp_masks cache: {cache.nbytes / len(masks) / 1024:.1f} KB per person")
    return decode, cached


def flip_table_build() -> None:
    """Seconds to build the flip table, against mirroring every cell through the atlas."""
    from annotator.surface.atlas import load_atlas
    from model.data.flip import cell_centres
    from model.data.flip_build import build_flip_table

    atlas = load_atlas("anny")
    start = time.perf_counter()
    build_flip_table(atlas)
    built = time.perf_counter() - start
    c = cell_centres()
    u, v = np.meshgrid(c, c)
    start = time.perf_counter()
    chart = np.full(u.size, 9)  # one chart, the 24 charts take 24 times as long
    atlas.to_iuv(atlas.mirror(atlas.from_iuv(chart, u.ravel(), v.ravel())))
    direct = 24 * (time.perf_counter() - start)
    through = f"through Atlas.from_iuv + mirror per cell: {direct:.0f} s"
    print(f"flip table build: {built:.2f} s; {through} ({direct / built:.0f} x)")


def main() -> None:
    import warnings

    from annotator.paths import cache_dir
    from model.data.dataset import DensePoseCocoDataset
    from model.data.flip import load_flip_table

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # pycocotools on numpy 2
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=64, help="images per synth folder")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=32, help="batches of 2 timed per case")
    parser.add_argument("--root", type=Path, help="where the synth folders are kept")
    args = parser.parse_args()
    root = args.root or cache_dir() / "bench-data"
    load_before = os.getloadavg()
    table = load_flip_table()
    flip_table_build()
    for size in args.sizes:
        folder = synth_folder(root, size, args.count)
        base = baseline(folder, 2 * args.batches)
        head = f"{size} x {size} px, {args.count} images"
        print(f"\n{head}; baseline (decode only): {base:.0f} images/s")
        for mode in ("sparse", "dense"):
            dataset = DensePoseCocoDataset.from_synth(folder, points=mode)
            counts = points_per_person(dataset)
            stats = f"mean {counts.mean():.0f}, median {np.median(counts):.0f}"
            print(f"  {mode}: points per person {stats}, max {counts.max()} ({len(counts)})")
            for workers in args.workers:
                rate, cpu_ms = loader_rate(dataset, workers, args.batches, table)
                line = f"    {workers} workers: {rate:6.1f} images/s ({rate / base:.2f} x baseline)"
                if workers == 0:
                    line += f", {cpu_ms:.1f} CPU ms/image -> {1000 / cpu_ms:.0f} images/s per core"
                else:  # what the training process pays to receive the batches
                    line += f", {cpu_ms:.1f} CPU ms/image in the training process"
                print(line, flush=True)
        decode, cached = mask_decode_rates(DensePoseCocoDataset.from_synth(folder))
        ratio = decode / cached
        times = f"pycocotools {decode:.3f} ms, cached {cached:.3f} ms ({ratio:.1f} x)"
        print(f"  dp_masks per person: {times}")
    load_after = os.getloadavg()
    loads = f"before {load_before}, after {load_after}"
    print(f"\nload average (1, 5, 15 min): {loads}; {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
