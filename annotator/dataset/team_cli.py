"""``dpstudio project push / pull`` and ``dpstudio team ...``: shared projects from the
command line (docs/adr/0020-shared-projects.md).

Nothing heavy is imported at module level; each handler imports what it needs.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

_TEAM_HELP = """\
A team annotates one project on a PostgreSQL server (see 'dpstudio project push'). Members
log in with their own PostgreSQL role; the server decides what each may do:
  annotator  claims tasks, writes only their own masks and answers; never sees gold truth
  reviewer   reads everything, accepts tasks or sends them back
  admin      imports, exports, sets up, sees everyone's accuracy

Typical use (as the project's owner):
  dpstudio team add postgresql://owner@dbhost/proj alice --role annotator
  dpstudio team config postgresql://owner@dbhost/proj --agreement 0.1 --gold-rate 0.05
  dpstudio team status postgresql://owner@dbhost/proj
"""


def add_transfer_actions(sub: Any, formatter: type) -> None:
    """``project push`` and ``project pull`` (called by the ``project`` command)."""
    push = sub.add_parser(
        "push",
        help="copy a project folder to a PostgreSQL server (a shared project)",
        description="Copy every image, person, mask, point, answer and gold task of a project "
        "folder into a new shared project. Export before and after gives the same file.",
        epilog="example:\n  dpstudio project push myproj postgresql://owner@dbhost/myproj",
        formatter_class=formatter,
    )
    push.add_argument("dir", metavar="FOLDER", help="project folder")
    push.add_argument("url", metavar="URL", help="postgresql://user[:password]@host[:port]/name")
    push.set_defaults(handler=_push)
    pull = sub.add_parser(
        "pull",
        help="copy a shared project into a new project folder, images included",
        description="Copy a shared project into a new project folder (images included), to "
        "work alone or keep a snapshot.",
        epilog="example:\n  dpstudio project pull postgresql://owner@dbhost/myproj snapshot/",
        formatter_class=formatter,
    )
    pull.add_argument("url", metavar="URL", help="the shared project")
    pull.add_argument("dir", metavar="FOLDER", help="new project folder")
    pull.set_defaults(handler=_pull)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpstudio team``."""
    formatter = argparse.RawDescriptionHelpFormatter
    team = subparsers.add_parser(
        "team",
        help="members, roles and progress of a shared project",
        description=_TEAM_HELP,
        formatter_class=formatter,
    )
    sub = team.add_subparsers(dest="team_command", metavar="ACTION")
    team.set_defaults(handler=lambda args: team.print_help() or 2)
    add = sub.add_parser("add", help="give a person a login and a role in the project")
    add.add_argument("url", metavar="URL", help="the shared project (as its owner)")
    add.add_argument("name", help="login name (lower case)")
    add.add_argument("--role", choices=("annotator", "reviewer", "admin"), default="annotator")
    add.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the password from this environment variable (default: ask)",
    )
    add.set_defaults(handler=_add)
    config = sub.add_parser("config", help="share of tasks answered twice, rate of gold tasks")
    config.add_argument("url", metavar="URL", help="the shared project")
    config.add_argument("--agreement", type=float, help="share of tasks given to two annotators")
    config.add_argument("--gold-rate", type=float, help="share of claims that are gold tasks")
    config.set_defaults(handler=_config)
    status = sub.add_parser("status", help="progress, throughput per member, tasks to review")
    status.add_argument("url", metavar="URL", help="the shared project")
    status.set_defaults(handler=_status)
    claim = sub.add_parser("claim", help="claim the next task (prints its person id)")
    claim.add_argument("url", metavar="URL", help="the shared project (as the annotator)")
    claim.set_defaults(handler=_claim)


# -- handlers ------------------------------------------------------------------------------


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    from annotator.cli import UserError
    from annotator.dataset.errors import ProjectError

    try:
        yield
    except ProjectError as exc:
        raise UserError(str(exc)) from None


@contextlib.contextmanager
def _shared(url: str) -> Iterator[Any]:
    from annotator.cli import UserError
    from annotator.dataset.store import Project

    with _errors(), Project.open(url) as project:
        if not project.shared:
            raise UserError(f"{url} is a project folder; team commands take a postgresql:// URL")
        yield project


def _progress() -> Callable[[str, int, int], None]:
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def show(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, disable=None)
        bar.update(done - bar.n)

    return show


def _push(args: argparse.Namespace) -> int:
    from annotator.dataset.pg import describe
    from annotator.dataset.store_transfer import push

    with _errors():
        report = push(args.dir, args.url, _progress())
    print(
        f"pushed {args.dir} to {describe(args.url)}: {report.rows['persons']} person(s), "
        f"{report.images} image file(s), {report.image_bytes / 1e6:.1f} MB"
    )
    return 0


def _pull(args: argparse.Namespace) -> int:
    from annotator.dataset.pg import describe
    from annotator.dataset.store_transfer import pull

    with _errors():
        report = pull(args.url, args.dir, _progress())
    print(
        f"pulled {describe(args.url)} into {args.dir}: {report.rows['persons']} person(s), "
        f"{report.images} image file(s)"
    )
    return 0


def _add(args: argparse.Namespace) -> int:
    from annotator.cli import UserError

    if args.password_env:
        password = os.environ.get(args.password_env, "")
        if not password:
            raise UserError(f"--password-env: ${args.password_env} is empty or not set")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
    with _shared(args.url) as project:
        project.add_member(args.name, args.role, password)
        print(f"{args.name} is now {args.role} of {project.location}")
    return 0


def _config(args: argparse.Namespace) -> int:
    with _shared(args.url) as project:
        project.configure(agreement_share=args.agreement, gold_rate=args.gold_rate)
        overview = project.team_overview()
    print(f"agreement share {overview.agreement_share:g}, gold rate {overview.gold_rate:g}")
    return 0


def _status(args: argparse.Namespace) -> int:
    with _shared(args.url) as project:
        overview = project.team_overview()
        where = project.location
    states = ", ".join(f"{s.name.lower()} {n}" for s, n in overview.by_state.items())
    print(f"{where}: {states}; waiting for review {overview.waiting_review}")
    print(f"{'member':<20} {'holding':>8} {'finished':>9} {'answers':>8} {'tasks/h':>8}")
    for m in overview.members:
        print(f"{m.name:<20} {m.holding:>8} {m.finished:>9} {m.answers:>8} {m.per_hour:>8.1f}")
    return 0


def _claim(args: argparse.Namespace) -> int:
    with _shared(args.url) as project:
        person = project.claim_next()
    print("no task is free" if person is None else person)
    return 0
