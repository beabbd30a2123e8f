"""Many synthetic images on all cores: one renderer per worker process, deterministic.

Workers are started with the ``spawn`` method (a forked OpenGL or torch state is unsafe);
each builds its own body model and renderer once, then renders the image numbers it is
handed. Image ``k`` depends only on the run's settings and ``k`` (its scene is drawn from
``scene_rng(seed, k)``, its point sampling from seeds drawn there), so the output is the same
for any number of workers. Each worker uses one thread (torch, Mesa's llvmpipe, BLAS):
processes, not threads, use the cores.

Workers write the image and truth files themselves and send back the COCO records; the
parent writes ``scenes.jsonl`` in image order as results arrive, then ``densepose.json``
(atomically) and ``synth.json``.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Environment of the worker processes: one thread each.
WORKER_ENV = {
    "LP_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYOPENGL_PLATFORM": "egl",
}

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SynthSettings:
    """A synthetic data run.

    Attributes:
        out: output folder (layout in :mod:`annotator.synth.writer`).
        count: number of images.
        seed: run seed; image k of seed S is always the same.
        width, height: image size, pixels.
        people: least and most people per image.
        backgrounds: a folder of background images, or None for procedural backgrounds.
        png: write images as PNG (lossless) instead of JPEG.
        check: run the ground-truth checks on every image (slower).
        first: number of the first image (to extend a data set).
    """

    out: Path
    count: int
    seed: int = 0
    width: int = 512
    height: int = 512
    people: tuple[int, int] = (1, 4)
    backgrounds: Path | None = None
    png: bool = False
    check: bool = False
    first: int = 0


@dataclass
class SynthReport:
    """What a run did.

    Attributes:
        images: images written.
        persons: COCO persons written.
        annotated: persons with DensePose points.
        points: DensePose points in all.
        cast: pixels whose truth comes from an exact ray (the rasterizer misjudged them).
        workers: worker processes used.
        seconds: wall time from start to the last file written.
        startup: seconds until the first image arrived (model loading, contexts).
        cpu_seconds: CPU time the workers spent on the images (startup excluded).
        stage_seconds: summed CPU time per stage over all images (in the workers).
        max_reprojection: largest re-projection error seen when checking, pixels.
        max_depth_error: largest depth error seen when checking, metres.
        check_problems: problems found by the checks (image number: problem).
    """

    images: int = 0
    persons: int = 0
    annotated: int = 0
    points: int = 0
    cast: int = 0
    workers: int = 0
    seconds: float = 0.0
    startup: float = 0.0
    cpu_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    max_reprojection: float = 0.0
    max_depth_error: float = 0.0
    check_problems: list[str] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


# -- worker side ---------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(settings: SynthSettings) -> None:
    import torch

    from annotator.synth.backgrounds import list_images
    from annotator.synth.render_scene import SceneRenderer

    torch.set_num_threads(1)
    images = list_images(settings.backgrounds) if settings.backgrounds else None
    _WORKER["settings"] = settings
    _WORKER["renderer"] = SceneRenderer(settings.width, settings.height, background_images=images)
    _WORKER["n_backgrounds"] = len(images or [])


def render_one(index: int) -> dict[str, Any]:
    """Render, check (if asked), annotate and write image ``index`` (in a worker)."""
    from annotator.synth.annotate import image_record, person_annotations
    from annotator.synth.checks import check_sample
    from annotator.synth.scene import sample_scene
    from annotator.synth.writer import write_sample

    settings: SynthSettings = _WORKER["settings"]
    renderer = _WORKER["renderer"]
    cpu = time.process_time()
    scene = sample_scene(
        settings.seed,
        index,
        width=settings.width,
        height=settings.height,
        people=settings.people,
        n_folder_images=_WORKER["n_backgrounds"],
    )
    sample = renderer.render(scene)
    started = time.process_time()
    annotations = person_annotations(sample)
    sample.timings["annotate"] = time.process_time() - started
    started = time.process_time()
    files = write_sample(settings.out, sample, renderer.body.atlas.body, settings.png)
    sample.timings["write"] = time.process_time() - started
    result: dict[str, Any] = {
        "index": index,
        "image": image_record(sample, **files),
        "annotations": annotations,
        "timings": sample.timings,
        "cpu": time.process_time() - cpu,
    }
    line = scene.to_json()
    line["persons"] = [
        {"instance": p.instance, "pixels": p.pixels, "visible": round(p.visible_fraction, 3)}
        | {"annotated": p.annotated, "listed": p.listed}
        for p in sample.persons
    ]
    line["timings"] = {k: round(v, 4) for k, v in sample.timings.items()}
    line["cast"] = int(sample.cast.sum())
    if settings.check:
        report = check_sample(sample, renderer.body.atlas, renderer.renderer)
        line["check"] = {
            "pixels": report.pixels,
            "max_reprojection": report.max_reprojection,
            "max_depth_error": report.max_depth_error,
            "problems": report.problems,
        }
    result["scene"] = line
    return result


# -- parent side ---------------------------------------------------------------------------


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables while worker processes are spawned (they inherit them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def prepare_output(out: Path, *, force: bool = False) -> None:
    """Create the output folders; refuse to mix with an earlier run unless ``force``."""
    from annotator.synth.writer import DIRS, JSON_NAME

    if (out / JSON_NAME).exists() and not force:
        raise FileExistsError(
            f"{out} already holds a synthetic data set (use --force to overwrite)"
        )
    for name in DIRS:
        (out / name).mkdir(parents=True, exist_ok=True)


def run_synth(
    settings: SynthSettings,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> SynthReport:
    """Render ``settings.count`` images into ``settings.out`` with ``workers`` processes.

    Args:
        settings: what to render.
        workers: worker processes (default: one per core, at most one per image).
        progress: called as ``progress(done, total)`` after each image.
    """
    from annotator.dataset.densepose_io import PERSON_CATEGORY, atomic_write
    from annotator.dataset.jsonio import dumps
    from annotator.synth.writer import JSON_NAME, RUN_NAME, SCENES_NAME

    workers = max(1, min(workers or default_workers(), settings.count))
    report = SynthReport(workers=workers)
    images, annotations = [], []
    started = time.perf_counter()
    context = mp.get_context("spawn")
    indices = range(settings.first, settings.first + settings.count)
    with _environment(WORKER_ENV):
        pool = context.Pool(workers, initializer=_init_worker, initargs=(settings,))
    try:
        with (settings.out / SCENES_NAME).open("w", encoding="utf-8") as scenes:
            for n, result in enumerate(pool.imap(render_one, indices, chunksize=1), 1):
                if n == 1:
                    report.startup = time.perf_counter() - started
                images.append(result["image"])
                annotations.extend(result["annotations"])
                _tally(report, result)
                scenes.write(dumps(result["scene"]) + "\n")
                if progress:
                    progress(n, settings.count)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
    document = {
        "info": {"description": "DensePose Studio synthetic people", "body_model": "anny"},
        "images": images,
        "annotations": annotations,
        "categories": [PERSON_CATEGORY],
    }
    with atomic_write(settings.out / JSON_NAME) as handle:
        handle.write(dumps(document))
    report.seconds = time.perf_counter() - started
    run = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()}
    }
    run["report"] = asdict(report) | {"images_per_second": report.images_per_second}
    (settings.out / RUN_NAME).write_text(json.dumps(run, indent=2) + "\n")
    return report


def _tally(report: SynthReport, result: dict[str, Any]) -> None:
    report.images += 1
    report.cpu_seconds += result["cpu"]
    for ann in result["annotations"]:
        report.persons += 1
        if "dp_x" in ann:
            report.annotated += 1
            report.points += len(ann["dp_x"])
    for stage, seconds in result["timings"].items():
        report.stage_seconds[stage] = report.stage_seconds.get(stage, 0.0) + seconds
    report.cast += result["scene"]["cast"]
    check = result["scene"].get("check")
    if check:
        report.max_reprojection = max(report.max_reprojection, check["max_reprojection"])
        report.max_depth_error = max(report.max_depth_error, check["max_depth_error"])
        report.check_problems += [f"image {result['index']}: {p}" for p in check["problems"]]
