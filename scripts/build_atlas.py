"""Rebuild a body model's chart atlas (assets/atlas/<body>.npz for Anny).

    python scripts/build_atlas.py                       # Anny -> assets/atlas/anny.npz
    python scripts/build_atlas.py --body smpl --smpl-model SMPL_NEUTRAL.pkl \
        [--uv-processed UV_Processed.mat] --out ~/smpl_atlas.npz

The output is deterministic: rebuilding with the same package versions gives the same bytes.
The Anny atlas is committed, so users never need to run this.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from annotator.surface.atlas_builder import build_for_body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--body", default="anny", choices=["anny", "smpl"])
    parser.add_argument("--smpl-model", help="SMPL model file (.pkl or .npz), for --body smpl")
    parser.add_argument("--uv-processed", help="DensePose's UV_Processed.mat, for --body smpl")
    parser.add_argument("--out", type=Path, help="output file (default: assets/atlas/<body>.npz)")
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).resolve().parents[1] / "assets" / "atlas" / f"{args.body}.npz"
    start = time.perf_counter()
    stats = build_for_body(
        args.body, out, smpl_model=args.smpl_model, uv_processed=args.uv_processed
    )
    print(f"wrote {out} in {time.perf_counter() - start:.1f} s")
    for s in stats:
        print(
            f"chart {s['chart']:2d} {s['method']:8s} faces {s['faces']:5d} fill {s['fill']:.3f} "
            f"flipped {s['flipped']} overlaps {s['overlaps']} "
            f"angle {s['angle_distortion']:.2f} (p95 {s['angle_distortion_p95']:.2f}) "
            f"area {s['area_distortion']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
