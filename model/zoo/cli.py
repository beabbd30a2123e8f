"""``dpstudio model zoo`` and ``dpstudio model import-detectron2``.

Nothing heavy at import (torch only inside the handlers); errors end as one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.cli import UserError


def register(cmds: argparse._SubParsersAction) -> None:
    zoo = cmds.add_parser(
        "zoo",
        help="detectron2's 27 DensePose models: list, download (zoo:NAME everywhere)",
        description="Lists detectron2's DensePose model zoo with its published figures and "
        "what is on this machine. `zoo get NAME` downloads a model once (online) into the "
        "user cache and imports it; then zoo:NAME works wherever a checkpoint is asked for "
        "(predict, evaluate, compare, preannotate, train --weights).",
    )
    actions = zoo.add_subparsers(dest="zoo_command", metavar="ACTION")
    get = actions.add_parser("get", help="download and import zoo models")
    get.add_argument("names", nargs="+", help="zoo names (see `dpstudio model zoo`), or all")
    get.set_defaults(handler=_get)
    zoo.set_defaults(handler=_list)

    imp = cmds.add_parser(
        "import-detectron2",
        help="convert a detectron2 DensePose checkpoint (.pkl / .pth) into a studio one",
        description="Reads a detectron2 checkpoint without running anything it could carry "
        "(numpy arrays and plain data only), maps every tensor onto the studio's network of "
        "the same architecture, and writes an ordinary checkpoint (its (I, U, V) are the "
        "official DensePose charts).",
    )
    imp.add_argument("file", type=Path, help="detectron2's model_final_*.pkl (or a .pth)")
    imp.add_argument(
        "--config",
        required=True,
        help="its architecture: a zoo name (e.g. R_50_FPN_s1x) or a studio YAML",
    )
    imp.add_argument("--out", type=Path, required=True, help="checkpoint file or folder")
    imp.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the architecture (a detectron2 config of other widths)",
    )
    imp.set_defaults(handler=_import)


def _list(args: argparse.Namespace) -> int:
    from model.zoo.catalog import ZOO
    from model.zoo.local import downloaded_file, imported_checkpoint, zoo_dir

    print(f"{'name':44s} {'box':>5s} {'GPS':>5s} {'GPSm':>5s}  here      config, file, link")
    for m in ZOO:
        here = "imported" if imported_checkpoint(m).is_file() else ""
        here = here or ("file" if downloaded_file(m).is_file() else "-")
        print(
            f"{m.name:44s} {m.box_ap:5.1f} {m.gps_ap:5.1f} {m.gpsm_ap:5.1f}  {here:9s} "
            f"{m.config}  {m.file_name}  {m.url}"
        )
    print(
        "AP on DensePose-COCO minival (the Atop10P models: on DensePose-Chimps), as detectron2 "
        "publishes them; configs are in its projects/DensePose/configs. "
        f"Files and imports: {zoo_dir()}"
    )
    return 0


def _get(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from model.zoo.catalog import ZOO
    from model.zoo.convert import ZooImportError
    from model.zoo.local import ZooError, download, zoo_checkpoint

    names = [m.name for m in ZOO] if args.names == ["all"] else args.names
    for name in names:
        bars: list[tqdm] = []

        def progress(done: int, total: int, name: str = name, bars: list[tqdm] = bars) -> None:
            if not bars:  # made at the first bytes: no empty bar when offline
                bars.append(tqdm(desc=name, unit="B", unit_scale=True, leave=False))
            bars[0].total = total or None
            bars[0].update(done - bars[0].n)

        try:
            download(name, progress)
            ckpt = zoo_checkpoint(name)
        except (ZooError, ZooImportError) as exc:
            raise UserError(str(exc)) from exc
        finally:
            for bar in bars:
                bar.close()
        print(f"zoo:{name.removeprefix('zoo:')} -> {ckpt}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from model.config import ConfigError, load_config
    from model.zoo.catalog import zoo_model
    from model.zoo.convert import ZooImportError, import_detectron2

    name = args.config.removeprefix("zoo:")
    try:
        zoo_name: str | None = zoo_model(name).name
    except KeyError:
        zoo_name = None
    try:
        cfg = load_config(f"zoo:{zoo_name}" if zoo_name else args.config, args.overrides)
        out = import_detectron2(args.file, cfg, args.out, zoo_name=zoo_name)
    except (ZooImportError, ConfigError) as exc:
        raise UserError(str(exc)) from exc
    print(f"{args.file} -> {out}")
    return 0
