"""``dpstudio body ...``: look at and prepare the body surface (charts, views, geodesics)."""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.cli import UserError


def register(sub: argparse._SubParsersAction) -> None:
    body = sub.add_parser(
        "body",
        help="the body surface: charts, part views, geodesics",
        description="Inspect and prepare a body model's surface: its 24 charts, the six views "
        "of each part used in stage 2, and the geodesic distance table.",
    )
    cmds = body.add_subparsers(dest="body_command", metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--body", default="anny", help="body model: anny (default) or smpl")
        p.add_argument("--atlas", type=Path, help="an atlas file instead of the body's own")

    info = cmds.add_parser("info", help="print parts, charts, sizes and chart distortion")
    common(info)
    info.set_defaults(handler=_info)

    views = cmds.add_parser(
        "views",
        help="write contact sheets of all 84 part views and the charts",
        description="Writes views_charts.png (14 parts x 6 views coloured by chart), "
        "views_uvgrid.png (the same with a UV grid), uv_layouts.png (each chart's triangles in "
        "its unit square) and body.png (whole body, front and back).",
    )
    common(views)
    views.add_argument("--out", type=Path, required=True, help="output folder")
    views.add_argument("--size", type=int, default=256, help="pixels per view (default 256)")
    views.set_defaults(handler=_views)

    atlas = cmds.add_parser(
        "atlas",
        help="build the atlas of a body model (needed once for SMPL)",
        description="Segment a body model's skin into the 24 DensePose charts and flatten them. "
        "For SMPL, pass your own model file; with DensePose's UV_Processed.mat the official "
        "charts are used, so exported data match official DensePose-COCO.",
    )
    atlas.add_argument("--body", default="smpl", choices=["anny", "smpl"])
    atlas.add_argument("--smpl-model", help="SMPL model file (.pkl or .npz)")
    atlas.add_argument("--uv-processed", help="DensePose's UV_Processed.mat (optional)")
    atlas.add_argument("--out", type=Path, help="output file (default: the user data folder)")
    atlas.set_defaults(handler=_atlas)

    geo = cmds.add_parser(
        "geodesics",
        help="precompute the geodesic distance table (about a minute, once per machine)",
        description="Precompute the geodesic distances between all skin vertices of the body "
        "and cache them (the first geodesic measurement does it otherwise): about a minute on "
        "two cores, see docs/adr/0002-geodesics.md.",
    )
    common(geo)
    geo.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    geo.set_defaults(handler=_geodesics)
    body.set_defaults(handler=lambda args: body.print_help() or 2)


def _load(args: argparse.Namespace):  # -> Atlas
    from annotator.surface.atlas import Atlas, AtlasError, load_atlas

    try:
        return Atlas.load(args.atlas) if args.atlas else load_atlas(args.body)
    except AtlasError as exc:
        raise UserError(str(exc)) from exc


def _info(args: argparse.Namespace) -> int:
    import numpy as np

    from annotator.surface.parts import COARSE_PARTS, FINE_PARTS

    atlas = _load(args)
    v = atlas.rest_vertices
    height = float(np.ptp(v @ atlas.frame[1]))
    print(f"body {atlas.body}  ({atlas.fingerprint}), atlas {atlas.source}")
    print(f"skin: {len(v)} vertices, {len(atlas.faces)} faces, height {height:.3f} m")
    print("\ncoarse parts (stage 1, dp_masks order):")
    for k, name in enumerate(COARSE_PARTS, start=1):
        print(f"  {k:2d} {name:18s} {int((atlas.face_coarse == k).sum()):6d} faces")
    print(
        "\ncharts (dp_I): method, faces, area m^2, fill of the unit square, flipped, "
        "overlapping, angle distortion median / p95, area distortion, slivers"
    )
    for c in atlas.chart_info():
        print(
            f"  {c.chart:2d} {FINE_PARTS[c.chart - 1]:24s} {c.method:9s} {c.faces:5d} "
            f"{c.area_m2:6.3f} {c.fill:5.3f} {c.flipped:2d} {c.overlaps:2d} "
            f"{c.angle_distortion:5.2f} / {c.angle_distortion_p95:5.2f} "
            f"{c.area_distortion:5.2f} {c.slivers:3d}"
        )
    return 0


def _views(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from annotator.surface.sheets import write_sheets

    atlas = _load(args)
    with tqdm(total=2 * 84, desc="rendering views", unit="view") as bar:
        written = write_sheets(atlas, args.out, size=args.size, progress=bar.update)
    for path in written:
        print(path)
    return 0


def _atlas(args: argparse.Namespace) -> int:
    from annotator.paths import data_dir
    from annotator.surface.atlas_builder import build_for_body

    out = args.out or data_dir() / "atlas" / f"{args.body}.npz"
    try:
        stats = build_for_body(args.body, out, args.smpl_model, args.uv_processed)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    bad = [s["chart"] for s in stats if s["flipped"] or s["overlaps"]]
    print(f"wrote {out}" + (f" (charts with folds or overlaps: {bad})" if bad else ""))
    return 0


def _geodesics(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from annotator.surface.geodesic import Geodesics

    atlas = _load(args)
    bar = tqdm(desc="geodesic table", unit="step")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    Geodesics.load_or_build(atlas, workers=args.workers, progress=progress)
    bar.close()
    print("geodesic table ready")
    return 0
