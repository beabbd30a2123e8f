"""``dpstudio app [PROJECT]``: the annotation app (Qt is imported only when it runs)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app",
        help="open the annotation app",
        description="Open the annotation app on a project folder; with no project, on the "
        "demo project (created on first use).",
    )
    parser.add_argument("project", nargs="?", help="project folder (default: the demo project)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from annotator.ui.app import run

    return run(args.project)
