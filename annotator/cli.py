"""``dpstudio``: the one command-line entry point, with subcommands.

Each area of the tool registers its own subcommands from a small ``cli`` module that imports
nothing heavy at module level (torch, Qt and pyrender are imported inside the handlers), so
``dpstudio --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: Modules that contribute subcommands, each with ``register(subparsers)``.
COMMAND_MODULES = (
    "annotator.surface.cli",
    "annotator.dataset.cli",
    "annotator.dataset.team_cli",
    "annotator.synth.cli",
    "annotator.accuracy.cli",
    "annotator.ui.cli",
    "model.cli",
)


class UserError(Exception):
    """An error the user can fix: printed as one clear message, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpstudio",
        description="DensePose Studio: annotate people, measure annotators, export "
        "DensePose-COCO, train and compare models.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # that area is not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"dpstudio {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run the package's module, not this __main__ copy: subcommands raise annotator.cli's
    # UserError, which this copy's main() would not recognise.
    from annotator.cli import main as package_main

    sys.exit(package_main())
