"""``dpstudio synth`` (synthetic people with exact DensePose truth) and ``dpstudio demo``.

Nothing heavy is imported at module level; the handlers import what they need.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from annotator.cli import UserError

_SYNTH_HELP = """\
Render synthetic people (the Anny body model) with exact DensePose ground truth: images,
instance and part maps, dense I/U/V and surface points, and a DensePose-COCO file whose
points are sampled as the annotation protocol samples them. The output is the same for a
seed whatever the number of workers.

Output folder:
  images/000000.jpg    instances/000000.png    parts/000000.png    gt/000000.npz
  densepose.json       scenes.jsonl            synth.json

Examples:
  dpstudio synth --count 1000 --out synth_train --seed 1
  dpstudio synth --count 200 --out synth_val --seed 2 --backgrounds ~/Pictures/rooms
  dpstudio synth --count 16 --out sheet --sheet sheet.png
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``synth`` and ``demo`` to ``dpstudio``."""
    synth = subparsers.add_parser(
        "synth",
        help="render synthetic people with exact DensePose ground truth",
        description=_SYNTH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    synth.add_argument("--count", type=int, required=True, help="number of images")
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    synth.add_argument("--size", type=int, default=512, help="image side in pixels (512)")
    synth.add_argument("--people", default="1-4", help="people per image, N or MIN-MAX (1-4)")
    synth.add_argument("--backgrounds", type=Path, help="folder of background images")
    synth.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    synth.add_argument("--first", type=int, default=0, help="number of the first image (0)")
    synth.add_argument("--png", action="store_true", help="write images as PNG, not JPEG")
    synth.add_argument("--check", action="store_true", help="check the truth of every image")
    synth.add_argument("--sheet", type=Path, help="also write a contact sheet PNG here")
    synth.add_argument("--force", action="store_true", help="overwrite an earlier output")
    synth.set_defaults(handler=_synth)

    demo = subparsers.add_parser(
        "demo",
        help="create (once) the demo project of synthetic people and print its folder",
        description="Creates, on first use, a project of synthetic images in the user data "
        "folder, persons pre-boxed and a third of them gold tasks with exact truth, so that "
        "annotation can start at once. Later calls just print the folder.",
    )
    demo.add_argument("--rebuild", action="store_true", help="delete and rebuild it")
    demo.set_defaults(handler=_demo)


def parse_people(text: str) -> tuple[int, int]:
    """``"3"`` -> (3, 3); ``"1-4"`` -> (1, 4)."""
    try:
        lo, _, hi = text.partition("-")
        low, high = int(lo), int(hi or lo)
    except ValueError:
        raise UserError(f"--people must be N or MIN-MAX, got {text!r}") from None
    if not 1 <= low <= high <= 9:
        raise UserError(f"--people must satisfy 1 <= MIN <= MAX <= 9, got {text!r}")
    return low, high


def _synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from annotator.synth.runner import SynthSettings, prepare_output, run_synth

    if args.count < 1:
        raise UserError("--count must be at least 1")
    if not 32 <= args.size <= 4096:
        raise UserError("--size must be between 32 and 4096 pixels")
    if args.backgrounds is not None:
        from annotator.synth.backgrounds import list_images

        try:
            if not list_images(args.backgrounds):
                raise UserError(f"no images (jpg, png, bmp, webp) in {args.backgrounds}")
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from None
    settings = SynthSettings(
        out=args.out,
        count=args.count,
        seed=args.seed,
        width=args.size,
        height=args.size,
        people=parse_people(args.people),
        backgrounds=args.backgrounds,
        png=args.png,
        check=args.check,
        first=args.first,
    )
    try:
        prepare_output(args.out, force=args.force)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    with tqdm(total=args.count, unit="img", desc="synth") as bar:
        report = run_synth(settings, workers=args.workers, progress=lambda n, t: bar.update(1))
    print(
        f"{report.images} images, {report.persons} persons ({report.annotated} with "
        f"DensePose points, {report.points} points) in {report.seconds:.1f} s "
        f"({report.images_per_second:.1f} images/s, {report.workers} workers) -> {args.out}"
    )
    if args.sheet:
        from annotator.synth.contact_sheet import save_contact_sheet

        print(f"contact sheet: {save_contact_sheet(args.out, args.sheet)}")
    if args.check:
        print(
            f"checked: largest re-projection error {report.max_reprojection:.3f} px, depth "
            f"error {1000 * report.max_depth_error:.2f} mm ({report.cast} pixels cast exactly "
            "where the rasterizer misjudged a sliver)"
        )
        for problem in report.check_problems:
            print(f"  {problem}", file=sys.stderr)
        if report.check_problems:
            return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    import shutil

    from tqdm import tqdm

    from annotator.synth.demo import demo_path, ensure_demo_project

    if args.rebuild and demo_path().exists():
        shutil.rmtree(demo_path())
    bar: tqdm | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="img", desc="demo project")
        bar.update(done - bar.n)

    path = ensure_demo_project(progress=progress)
    if bar is not None:
        bar.close()
    print(path)
    return 0
