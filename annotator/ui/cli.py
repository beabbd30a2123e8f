"""``dpstudio app [PROJECT]``: the annotation app (Qt is imported only when it runs).

Before Qt is imported the handler checks that a window can open here (a display, the system
libraries of Qt's X11 plugin, :mod:`annotator.ui.display_check`): Qt itself would abort with
a core dump and a misleading message.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app",
        help="open the annotation app",
        description="Open the annotation app on a project folder or a shared project "
        "(postgresql://user:password@host/project); with no project, on the demo project "
        "(created on first use).",
    )
    parser.add_argument(
        "project",
        nargs="?",
        help="project folder or postgresql:// URL (default: the demo project)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from annotator.cli import UserError
    from annotator.ui.display_check import window_problem

    problem = window_problem()
    if problem:
        raise UserError(problem)
    from annotator.ui.app import run

    return run(args.project)
