"""``dpstudio project ...`` and ``dpstudio dataset validate``: projects from the command line.

Nothing heavy is imported at module level; each handler imports what it needs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from annotator.dataset.team_cli import add_transfer_actions

_STATES = ("todo", "segmented", "corresponded", "reviewed")

_PROJECT_HELP = """\
An annotation project is a folder holding one file, project.dpstudio (SQLite), that keeps
every image reference, person, part mask, sampled point and answer. Every edit is saved as
it is made. Images stay where they are; the project refers to them by relative path.

Typical use:
  dpstudio project new myproj --images photos/        start from a folder of images
  dpstudio project import myproj --coco person_keypoints_val2017.json --images val2017/
  dpstudio project sample myproj                      points for stage 2 (after stage 1)
  dpstudio project stats myproj
  dpstudio project export myproj --out densepose_myproj.json

A team shares a project on a PostgreSQL server: every DIR above may be a postgresql:// URL
(the project's database), and push / pull move a project between a folder and a server:
  dpstudio project push myproj postgresql://admin@dbhost/myproj
  dpstudio project pull postgresql://admin@dbhost/myproj myproj_copy
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``project`` and ``dataset`` commands to ``dpstudio``."""
    formatter = argparse.RawDescriptionHelpFormatter
    project = subparsers.add_parser(
        "project",
        help="create, fill, sample, inspect and export annotation projects",
        description=_PROJECT_HELP,
        formatter_class=formatter,
    )
    sub = project.add_subparsers(dest="project_command", metavar="ACTION")
    project.set_defaults(handler=lambda args: _print_help(project))
    _add_new(sub, formatter)
    _add_import(sub, formatter)
    _add_sample(sub, formatter)
    _add_stats(sub, formatter)
    _add_export(sub, formatter)
    add_transfer_actions(sub, formatter)
    dataset = subparsers.add_parser(
        "dataset",
        help="check DensePose-COCO / COCO files",
        description="Work with DensePose-COCO and COCO JSON files.",
    )
    dsub = dataset.add_subparsers(dest="dataset_command", metavar="ACTION")
    dataset.set_defaults(handler=lambda args: _print_help(dataset))
    _add_validate(dsub, formatter)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _add_new(sub: Any, formatter: type) -> None:
    p = sub.add_parser(
        "new",
        help="create an empty project (optionally with a folder of images)",
        description="Create a new annotation project in DIR (created if needed).",
        epilog="example:\n  dpstudio project new myproj --images photos/",
        formatter_class=formatter,
    )
    p.add_argument("dir", metavar="DIR", help="project folder, or a postgresql:// URL")
    p.add_argument(
        "--body",
        choices=("anny", "smpl"),
        default="anny",
        help="body model of the surface points (default: anny; smpl needs your own model file)",
    )
    p.add_argument("--images", metavar="FOLDER", help="add every image under FOLDER")
    p.set_defaults(handler=_new)


def _add_import(sub: Any, formatter: type) -> None:
    p = sub.add_parser(
        "import",
        help="add images, COCO persons or DensePose-COCO annotations to a project",
        description=(
            "Add data to a project. Everything is checked first: if anything is wrong\n"
            "(missing or unreadable images, malformed JSON, bad values, ids already in the\n"
            "project) every problem is listed and nothing is imported."
        ),
        epilog=(
            "examples:\n"
            "  dpstudio project import myproj --images more_photos/\n"
            "  dpstudio project import myproj --coco instances_val2017.json --images val2017/\n"
            "  dpstudio project import myproj --densepose densepose_minival2014.json "
            "--images val2014/"
        ),
        formatter_class=formatter,
    )
    p.add_argument("dir", metavar="DIR", help="project folder, or a postgresql:// URL")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--coco",
        metavar="FILE",
        help="COCO instances/keypoints JSON: person boxes, masks, keypoints",
    )
    source.add_argument(
        "--densepose",
        metavar="FILE",
        help="DensePose-COCO JSON: persons with their part masks and points, for review",
    )
    p.add_argument(
        "--images",
        metavar="FOLDER",
        required=True,
        help="image folder (alone: add all its images; with a JSON: where its file_names are)",
    )
    p.add_argument(
        "--annotator",
        default="imported",
        help="name the imported DensePose answers are filed under (default: imported)",
    )
    p.add_argument(
        "--state",
        choices=_STATES,
        default="corresponded",
        help="task state of imported persons with DensePose points (default: corresponded)",
    )
    p.add_argument(
        "--verify-images",
        action="store_true",
        help="decode every image of a JSON import fully (slower; finds truncated files)",
    )
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="leave out images missing from the folder instead of failing",
    )
    p.set_defaults(handler=_import)


def _add_sample(sub: Any, formatter: type) -> None:
    p = sub.add_parser(
        "sample",
        help="sample the stage-2 points inside each segmented person's part masks",
        description=(
            "For every person whose stage 1 is done (state 'segmented' or later), place\n"
            "roughly equidistant points inside each part by k-means; the count grows with\n"
            "the part's area. Persons whose points already have answers are left alone\n"
            "unless --force (which discards those answers)."
        ),
        formatter_class=formatter,
    )
    p.add_argument("dir", metavar="DIR", help="project folder, or a postgresql:// URL")
    p.add_argument("--max-per-part", type=int, default=14, help="points per part at most (14)")
    p.add_argument(
        "--per-person", type=int, default=96, help="about this many points per person (96)"
    )
    p.add_argument(
        "--min-spacing", type=float, default=8.0, help="points at least ~this far apart, px (8)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (0); same seed, same points")
    p.add_argument("--annotator", help="use this annotator's masks (default: the latest mask)")
    p.add_argument("--force", action="store_true", help="re-sample persons with answers too")
    p.set_defaults(handler=_sample)


def _add_stats(sub: Any, formatter: type) -> None:
    p = sub.add_parser(
        "stats",
        help="show what a project holds",
        description=(
            "Count images, persons by task state (todo, segmented, corresponded,\n"
            "reviewed), part masks, sampled points, answers (and 'not visible' ones),\n"
            "annotators and gold tasks; with model pre-annotation, the proposals by review\n"
            "status and how many answers are machine-made and confirmed by people.\n"
            "Reads only: works while the app has it open."
        ),
        formatter_class=formatter,
    )
    p.add_argument("dir", metavar="DIR", help="project folder, or a postgresql:// URL")
    p.set_defaults(handler=_stats)


def _add_export(sub: Any, formatter: type) -> None:
    p = sub.add_parser(
        "export",
        help="write the project as DensePose-COCO JSON (detectron2 reads it unchanged)",
        description=(
            "Write DensePose-COCO JSON. Every image with at least one person at --state\n"
            "or later is written with all its persons; those at the state carry their\n"
            "DensePose data (dp_masks from 'segmented', points from 'corresponded').\n"
            "A person's answer always wins over a model's proposed one; --confirmed-only\n"
            "leaves out model proposals nobody accepted. The file is replaced only when\n"
            "the export succeeds. Works while the app has the project open."
        ),
        epilog="example:\n  dpstudio project export myproj --out dp_train.json --state reviewed",
        formatter_class=formatter,
    )
    p.add_argument("dir", metavar="DIR", help="project folder, or a postgresql:// URL")
    p.add_argument("--out", metavar="FILE", required=True, help="output JSON file")
    p.add_argument(
        "--state",
        choices=_STATES,
        default="corresponded",
        help="export DensePose data of tasks at this state or later (default: corresponded)",
    )
    p.add_argument(
        "--annotator", help="export only this annotator's work (default: latest answer per point)"
    )
    p.add_argument(
        "--confirmed-only",
        action="store_true",
        help="leave out what models proposed (pre-annotation) and nobody accepted",
    )
    p.set_defaults(handler=_export)


def _add_validate(sub: Any, formatter: type) -> None:
    p = sub.add_parser(
        "validate",
        help="check a DensePose-COCO (or COCO) JSON file and list every problem",
        description=(
            "Check any DensePose-COCO file (ours or the official ones) against the format\n"
            "detectron2 loads: ids, references, boxes inside images, dp_x/dp_y in [0, 255],\n"
            "dp_I in 1..24, dp_U/dp_V in [0, 1], 14 valid 256 x 256 RLE dp_masks.\n"
            "Each problem names the annotation (or image) id, the field and the value.\n"
            "Exit code: 0 when the file is valid, 1 otherwise."
        ),
        formatter_class=formatter,
    )
    p.add_argument("file", metavar="FILE", help="the JSON file")
    p.add_argument(
        "--limit", type=int, default=200, help="list at most this many problems (0: all; 200)"
    )
    p.set_defaults(handler=_validate)


# -- handlers ------------------------------------------------------------------------------


class _Bars:
    """Progress bars on stderr (shown on a terminal only), one per stage."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = tqdm(total=total, desc=stage, file=sys.stderr, disable=None, leave=False)
            self._bars[stage] = bar
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


@contextlib.contextmanager
def _session(directory: str, *, readonly: bool = False) -> Iterator[tuple[Any, _Bars]]:
    """Open a project and progress bars; turn project errors into one-line user errors."""
    from annotator.cli import UserError
    from annotator.dataset.errors import ProjectError
    from annotator.dataset.store import Project

    bars = _Bars()
    try:
        with Project.open(directory, readonly=readonly) as project:
            yield project, bars
    except ProjectError as exc:
        raise UserError(str(exc)) from None
    finally:
        bars.close()


def _user_errors(func: Callable[..., int]) -> Callable[..., int]:
    def wrapper(args: argparse.Namespace) -> int:
        from annotator.cli import UserError
        from annotator.dataset.errors import ProjectError

        try:
            return func(args)
        except ProjectError as exc:
            raise UserError(str(exc)) from None

    return wrapper


@_user_errors
def _new(args: argparse.Namespace) -> int:
    from annotator.dataset.coco_import import import_image_folder
    from annotator.dataset.pg import is_url
    from annotator.dataset.store import Project, remove_project

    folder_existed = is_url(args.dir) or Path(args.dir).exists()
    project = Project.create(args.dir, body=args.body)
    try:
        if args.images:
            bars = _Bars()
            try:
                report = import_image_folder(project, args.images, progress=bars)
            finally:
                bars.close()
    except BaseException:
        project.close()
        if not folder_existed or not is_url(args.dir):
            remove_project(args.dir, remove_folder=not folder_existed)  # leave nothing half-made
        else:
            remove_project(args.dir)
        raise
    where = project.location if project.shared else project.file
    print(f"created project {where} (body model: {project.body})")
    if args.images:
        print(f"added {report.images_added} image(s) from {args.images}")
    project.close()
    return 0


def _import(args: argparse.Namespace) -> int:
    from annotator.dataset.coco_import import Verify, import_coco, import_image_folder
    from annotator.dataset.densepose_io import import_densepose
    from annotator.dataset.records import TaskState

    verify: Verify = "decode" if args.verify_images else "header"
    with _session(args.dir) as (project, bars):
        if args.densepose:
            report = import_densepose(
                project,
                args.densepose,
                args.images,
                annotator=args.annotator,
                state=TaskState.parse(args.state),
                verify=verify,
                skip_missing=args.skip_missing,
                progress=bars,
            )
        elif args.coco:
            report = import_coco(
                project,
                args.coco,
                args.images,
                verify=verify,
                skip_missing=args.skip_missing,
                progress=bars,
            )
        else:
            report = import_image_folder(project, args.images, progress=bars)
    parts = [f"{report.images_added} new image(s)"]
    if report.images_reused:
        parts.append(f"{report.images_reused} already in the project")
    if args.coco or args.densepose:
        parts.append(f"{report.persons} person(s)")
    if args.densepose:
        parts.append(f"{report.densepose} with DensePose points ({report.points} points)")
        parts.append(f"{report.masks} with part masks")
    if report.skipped_images:
        parts.append(f"skipped {report.skipped_images} missing image(s)")
    print("imported " + ", ".join(parts))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from annotator.cli import UserError
    from annotator.dataset.sampling import SamplingParams, sample_project

    try:
        params = SamplingParams(
            max_per_part=args.max_per_part,
            target_per_person=args.per_person,
            min_spacing=args.min_spacing,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with _session(args.dir) as (project, bars):
        report = sample_project(
            project,
            params=params,
            seed=args.seed,
            force=args.force,
            annotator=args.annotator,
            progress=bars,
        )
    print(f"sampled {report.points} point(s) for {report.sampled} person(s)")
    if report.skipped_answered:
        print(f"left {report.skipped_answered} person(s) with answers alone (--force to redo)")
    if report.without_mask:
        print(f"{report.without_mask} segmented person(s) have no part mask")
    return 0


def _stats(args: argparse.Namespace) -> int:
    with _session(args.dir, readonly=True) as (project, _):
        s = project.stats()
        path = project.file
    rows = [
        ("project", str(path)),
        ("body model", s.body),
        ("images", s.images),
        ("persons", f"{s.persons} ({s.crowd} crowd regions)"),
    ]
    rows += [(f"  {state.name.lower()}", count) for state, count in s.by_state.items()]
    rows += [
        ("part masks", f"{s.masks} person(s)"),
        ("sampled points", f"{s.points} in {s.persons_with_points} person(s)"),
        ("answers", f"{s.answers} ({s.not_visible} not visible)"),
        ("annotators", ", ".join(s.annotators) or "-"),
        ("gold tasks", s.gold),
    ]
    if any(s.proposals.values()):
        rows += [
            ("model proposals", ", ".join(f"{n} {k.name.lower()}" for k, n in s.proposals.items())),
            ("  machine masks", s.machine_masks),
            (
                "  machine answers",
                f"{s.machine_answers} ({s.confirmed_machine_answers} confirmed by people)",
            ),
        ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from annotator.dataset.densepose_io import export_densepose
    from annotator.dataset.records import TaskState

    with _session(args.dir, readonly=True) as (project, bars):
        report = export_densepose(
            project,
            args.out,
            min_state=TaskState.parse(args.state),
            annotator=args.annotator,
            confirmed_only=args.confirmed_only,
            progress=bars,
        )
    print(
        f"wrote {report.file}: {report.images} image(s), {report.persons} person(s), "
        f"{report.densepose} with DensePose points ({report.points} points), "
        f"{report.masks} with part masks"
    )
    if report.left_out:
        print(f"left out {report.left_out} unanswered or 'not visible' point(s)")
    if report.machine_points:
        print(f"{report.machine_points} point(s) carry a model's answer that no person gave")
    if report.unconfirmed_left_out:
        print(
            f"left out {report.unconfirmed_left_out} unconfirmed model proposal(s) "
            "(found persons, masks, answer sets)"
        )
    if report.clipped:
        print(
            f"warning: {report.clipped} point(s) lay outside their person's box (box edited "
            "after sampling?) and were moved onto its edge",
            file=sys.stderr,
        )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from annotator.dataset.validate import summarize, validate_file

    bars = _Bars()
    try:
        report = validate_file(Path(args.file), progress=bars)
    finally:
        bars.close()
    if report.ok:
        print(
            f"OK {args.file}: {report.images} image(s), {report.annotations} annotation(s), "
            f"{report.densepose} with DensePose points ({report.points} points)"
        )
        return 0
    shown = report.problems if args.limit <= 0 else report.problems[: args.limit]
    for problem in shown:
        print(problem)
    if len(shown) < len(report.problems):
        print(f"... {len(report.problems) - len(shown)} more (--limit 0 lists all)")
    print(f"\n{len(report.problems)} problem(s) in {args.file}:")
    for (field, message), count in summarize(report.problems).items():
        print(f"  {count:>8}  {field or '-'}: {message}")
    return 1
