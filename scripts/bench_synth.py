"""Benchmark the synthetic renderer end to end: images per second, files written included.

    .venv/bin/python scripts/bench_synth.py [--count 96] [--workers N] [--size 512]

Runs ``dpstudio synth`` (the same code: :func:`annotator.synth.runner.run_synth`) into a
temporary folder and prints:

* images per second end to end (worker start-up, model loading and the final JSON included)
  and in steady state (after the first image);
* CPU seconds per image (summed over the workers, start-up excluded) and the rate that
  implies on this many idle cores: other jobs on a shared machine lower the wall-clock
  figures but not this one;
* where the time goes: mean CPU milliseconds per image of each stage (pose = body model and
  layout, raster = the OpenGL pass, background = background and compositing, truth = maps,
  boxes, keypoints, annotate = point sampling and COCO records, write = files);
* the load average before and after, to judge how busy the machine was.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from annotator.synth.runner import SynthSettings, default_workers, prepare_output, run_synth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=96, help="images to render")
    parser.add_argument("--workers", type=int, default=default_workers(), help="processes")
    parser.add_argument("--size", type=int, default=512, help="image side, pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="keep the output here (default: temporary)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        out = args.out or Path(tmp)
        prepare_output(out, force=True)
        settings = SynthSettings(
            out=out, count=args.count, seed=args.seed, width=args.size, height=args.size
        )
        report = run_synth(settings, workers=args.workers)
    load_after = os.getloadavg()
    n = report.images
    steady = (n - 1) / max(report.seconds - report.startup, 1e-9)
    cpu = report.cpu_seconds / n
    print(f"synth {args.size}x{args.size}: {n} images, {report.workers} worker processes")
    print(
        f"end to end: {report.images_per_second:.2f} images/s ({report.seconds:.1f} s, "
        f"of which {report.startup:.1f} s until the first image)"
    )
    print(f"steady state: {steady:.2f} images/s")
    print(
        f"CPU: {cpu * 1000:.0f} ms per image -> {report.workers / cpu:.2f} images/s "
        f"on {report.workers} idle cores"
    )
    stages = ", ".join(f"{k} {v / n * 1000:.0f}" for k, v in report.stage_seconds.items())
    print(f"CPU per image and stage (ms): {stages}")
    print(
        f"persons {report.persons} ({report.annotated} with DensePose points, "
        f"{report.points} points)"
    )
    print(
        "load average before {:.1f} {:.1f} {:.1f}, after {:.1f} {:.1f} {:.1f}".format(
            *load_before, *load_after
        )
    )


if __name__ == "__main__":
    main()
