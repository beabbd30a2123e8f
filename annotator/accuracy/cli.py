"""``dpstudio accuracy ...``: measure annotators against gold tasks."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from annotator.cli import UserError


def register(sub: argparse._SubParsersAction) -> None:
    acc = sub.add_parser(
        "accuracy",
        help="annotator accuracy on gold tasks: report, simulated annotator",
        description="Measure annotators against gold tasks (synthetic people with exact ground "
        "truth): geodesic error of every stage-2 answer, stage-1 IoU per part, agreement "
        "between annotators, heat maps on the body.",
    )
    cmds = acc.add_subparsers(dest="accuracy_command", metavar="ACTION")
    report = cmds.add_parser(
        "report",
        help="write an HTML report with figures and a JSON of the numbers",
        description="Writes DIR/report.html, DIR/accuracy.json, DIR/rcp.png and heat maps. The "
        "first run on a machine precomputes the geodesic table (once per machine; how long: "
        "docs/adr/0002-geodesics.md).",
    )
    report.add_argument("project", help="project folder, or a postgresql:// URL")
    report.add_argument("--out", type=Path, required=True, help="output folder")
    report.add_argument(
        "--annotator", action="append", help="only this annotator (repeat for several)"
    )
    report.add_argument("--since", help="only answers from this date on (YYYY-MM-DD)")
    report.add_argument("--until", help="only answers before this date (YYYY-MM-DD)")
    report.set_defaults(handler=_report)

    sim = cmds.add_parser(
        "simulate",
        help="answer the gold tasks as a simulated annotator with a known error",
        description="Paints the true part masks, samples points and answers each one by moving "
        "the true surface point along the body, in a random direction, by a random distance "
        "(Rayleigh-distributed, as a click with a Gaussian error) whose mean is set per part. "
        "Use it to check the pipeline: a report must recover the configured mean errors.",
    )
    sim.add_argument("project", help="project folder, or a postgresql:// URL")
    sim.add_argument("--name", default="simulated", help="annotator name (default: simulated)")
    sim.add_argument(
        "--error-cm",
        help="one mean error for every part, or per part as PART=CM,... (part names with _ for "
        "spaces, e.g. torso=7,head=2); default: close to the paper's humans",
    )
    sim.add_argument("--not-visible", type=float, default=0.0, help="share marked not visible")
    sim.add_argument("--seed", type=int, default=0)
    sim.set_defaults(handler=_simulate)
    acc.set_defaults(handler=lambda args: acc.print_help() or 2)


def _date(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise UserError(f"{flag}: {text!r} is not a date (use YYYY-MM-DD)") from exc


def _open(path: str, readonly: bool):  # -> Project
    from annotator.dataset.errors import ProjectError
    from annotator.dataset.store import Project

    try:
        return Project.open(path, readonly=readonly)
    except (ProjectError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from exc


def _geodesics(body: str):  # -> Geodesics
    from tqdm import tqdm

    from annotator.surface.atlas import load_atlas
    from annotator.surface.geodesic import Geodesics

    bar = tqdm(desc="geodesic table (once per machine, about a minute)", unit="step", leave=False)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        return Geodesics.load_or_build(load_atlas(body), progress=progress)
    finally:
        bar.close()


def _report(args: argparse.Namespace) -> int:
    from annotator.accuracy.report import measure, numbers, write_report

    since, until = _date(args.since, "--since"), _date(args.until, "--until")
    with _open(args.project, readonly=True) as project:
        if not project.gold_person_ids():
            raise UserError(f"{args.project} has no gold tasks: add synthetic people first")
        geo = _geodesics(project.body)
        data = measure(project, geo, args.annotator, since, until)
    path = write_report(data, geo, args.out)
    nums = numbers(data)
    for name, a in nums["annotators"].items():
        s = a["stage2"]
        print(
            f"{name}: {s['count']} points, mean {s['mean_cm']} cm, median {s['median_cm']} cm, "
            f"AUC10 {s['auc10']:.3f}, AUC30 {s['auc30']:.3f}, not visible {s['not_visible']}"
        )
    print(f"report: {path}")
    return 0


def _parse_errors(text: str | None) -> dict[int, float] | None:
    from annotator.surface.parts import COARSE_PARTS, N_COARSE

    if text is None:
        return None
    try:
        if "=" not in text:
            return {p: float(text) / 100 for p in range(1, N_COARSE + 1)}
        out = {}
        for item in text.split(","):
            name, value = item.split("=")
            part = COARSE_PARTS.index(name.strip().replace("_", " ")) + 1
            out[part] = float(value) / 100
        return out
    except ValueError as exc:
        raise UserError(
            f"--error-cm {text!r}: use a number or PART=CM pairs with parts among "
            f"{', '.join(p.replace(' ', '_') for p in COARSE_PARTS)}"
        ) from exc


def _simulate(args: argparse.Namespace) -> int:
    from annotator.accuracy.simulate import PAPER_LIKE_ERRORS, SimulatedAnnotator
    from annotator.surface.atlas import load_atlas

    errors = dict(PAPER_LIKE_ERRORS)
    errors.update(_parse_errors(args.error_cm) or {})
    sim = SimulatedAnnotator(args.name, errors, args.not_visible, args.seed)
    with _open(args.project, readonly=False) as project:
        geo = _geodesics(project.body)  # walks that wrap round a finger are redrawn
        n = sim.annotate(project, load_atlas(project.body), geodesics=geo)
        tasks = len(project.gold_person_ids())
    print(f"{args.name} answered {n} points on {tasks} gold tasks")
    return 0
