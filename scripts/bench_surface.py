"""Benchmark the body surface: picking, IUV conversions, geodesics, view rendering.

    .venv/bin/python scripts/bench_surface.py [--pairs 1000000] [--exact-sources 12]
                                              [--cached-table]

Prints one line per figure. The geodesic table is built from scratch (in memory, the cache
is left alone) and its build time printed, with the CPU time and the load average, since
other jobs on the machine slow it down; --cached-table skips that and uses the cached table.
Error is measured against pygeodesic's exact solver on the full skin: random vertex pairs,
pairs near each source, and points inside faces (the face is split at the point so that the
exact solver can start there); the time of its rows gives the baseline of an exact all-pairs
table on the full skin.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from annotator.surface.atlas import load_atlas
from annotator.surface.geodesic import Geodesics, build_table
from annotator.surface.points import SurfacePoints
from annotator.surface.views import VIEW_AZIMUTHS, PartViews


def timed(fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def bench_views(atlas) -> None:
    views = PartViews(atlas, size=512)
    views.render(1, 0.0)  # warm up the context and shaders
    for part, name in ((1, "torso"), (14, "head"), (3, "left hand")):
        color = np.median(
            [timed(lambda p=part, a=az: views.render(p, a, ids=False)) for az in VIEW_AZIMUTHS]
        )
        full = np.median([timed(lambda p=part, a=az: views.render(p, a)) for az in VIEW_AZIMUTHS])
        print(
            f"view render 512x512, {name:9s}: {color * 1000:5.1f} ms shaded, "
            f"{full * 1000:5.1f} ms with pick buffer"
        )
    view = views.render(1, 0.0)
    rows, cols = np.nonzero(view.face >= 0)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(rows), 2000)
    pick = timed(lambda: [view.pick(cols[k] + 0.5, rows[k] + 0.5) for k in picks]) / len(picks)
    point = view.pick(cols[picks[0]] + 0.5, rows[picks[0]] + 0.5)
    six = views.views(1)  # rendered once here, not inside the timing
    show = timed(lambda: [v.project(point) for v in six], repeat=200)
    print(f"pick: {pick * 1e6:.0f} us per click; marker on all six views: {show * 1e6:.0f} us")
    views.close()


def bench_iuv(atlas, n: int) -> None:
    rng = np.random.default_rng(0)
    points = SurfacePoints(rng.integers(0, len(atlas.faces), n), rng.dirichlet([1, 1, 1], n))
    atlas.from_iuv(*atlas.to_iuv(points[:1000]))  # build the chart locators
    t_to = timed(lambda: atlas.to_iuv(points))
    i, u, v = atlas.to_iuv(points)
    t_from = timed(lambda: atlas.from_iuv(i, u, v))
    back = atlas.to_iuv(atlas.from_iuv(i, u, v))
    err = max(np.abs(back[1] - u).max(), np.abs(back[2] - v).max())
    print(
        f"point -> IUV: {n / t_to / 1e6:.1f} M/s; IUV -> point: {n / t_from / 1e6:.2f} M/s; "
        f"round trip max UV error {err:.1e}"
    )


def _split_at(atlas, face: int, bary: np.ndarray):
    """The atlas mesh with ``face`` split at a point: (vertices, faces, new vertex id)."""
    v = np.vstack([atlas.rest_vertices, bary @ atlas.rest_vertices[atlas.faces[face]]])
    a, b, c = atlas.faces[face]
    new = len(v) - 1
    faces = np.vstack(
        [np.delete(atlas.faces, face, axis=0), [[a, b, new], [b, c, new], [c, a, new]]]
    )
    return v, faces, new


def bench_geodesics(
    atlas, geo: Geodesics, n_pairs: int, n_sources: int, build_cpu: float | None
) -> None:
    import pygeodesic.geodesic as geodesic

    rng = np.random.default_rng(0)
    p = SurfacePoints(rng.integers(0, len(atlas.faces), n_pairs), rng.dirichlet([1, 1, 1], n_pairs))
    q = SurfacePoints(rng.integers(0, len(atlas.faces), n_pairs), rng.dirichlet([1, 1, 1], n_pairs))
    geo.distance(p[:1000], q[:1000])
    elapsed = timed(lambda: geo.distance(p, q))
    print(
        f"geodesic: {n_pairs / elapsed / 1e6:.2f} M pairs/s "
        f"({n_pairs} random pairs in {elapsed:.2f} s)"
    )

    exact = geodesic.PyGeodesicAlgorithmExact(atlas.rest_vertices, atlas.faces)
    n_vertices = len(atlas.rest_vertices)
    vertex_face = np.zeros(n_vertices, np.int64)
    vertex_face[atlas.faces.ravel()] = np.repeat(np.arange(len(atlas.faces)), 3)

    def vertex_points(ids: np.ndarray) -> SurfacePoints:
        faces = vertex_face[ids]
        return SurfacePoints(faces, (atlas.faces[faces] == ids[:, None]).astype(float))

    # A random sample: points uniform over the skin's area, the check.
    area = np.linalg.norm(
        np.cross(
            atlas.rest_vertices[atlas.faces[:, 1]] - atlas.rest_vertices[atlas.faces[:, 0]],
            atlas.rest_vertices[atlas.faces[:, 2]] - atlas.rest_vertices[atlas.faces[:, 0]],
        ),
        axis=1,
    )
    vertex_area = np.bincount(atlas.faces.ravel(), np.repeat(area, 3), minlength=n_vertices)
    uniform = []
    for _ in range(n_sources):
        face = int(rng.choice(len(atlas.faces), p=area / area.sum()))
        bary = rng.dirichlet([1, 1, 1])
        v, f, new = _split_at(atlas, face, bary)
        d_exact, _ = geodesic.PyGeodesicAlgorithmExact(v, f).geodesicDistances(
            np.array([new]), None
        )
        targets = rng.choice(n_vertices, 100, replace=False, p=vertex_area / vertex_area.sum())
        src = SurfacePoints(np.full(len(targets), face), np.tile(bary, (len(targets), 1)))
        uniform.append(np.c_[d_exact[targets], geo.distance(src, vertex_points(targets))])
    _report("random pairs (uniform over the skin)", np.vstack(uniform))

    # A harder sample: sources uniform over vertices (dense on face, hands and feet), with
    # many targets near each source.
    rows = []
    solve = 0.0  # CPU seconds of the exact solver, the baseline
    for source in rng.choice(n_vertices, n_sources, replace=False):
        start = time.process_time()
        d_exact, _ = exact.geodesicDistances(np.array([source]), None)
        solve += time.process_time() - start
        near = np.argsort(d_exact)[1:301:5]
        targets = np.r_[rng.choice(n_vertices, 100, replace=False), near]
        src = vertex_points(np.full(len(targets), source))
        rows.append(np.c_[d_exact[targets], geo.distance(src, vertex_points(targets))])
    # Points inside faces: split the face at the point, start the exact solver there.
    for _ in range(n_sources // 2):
        face, bary = int(rng.integers(len(atlas.faces))), rng.dirichlet([1, 1, 1])
        v, f, new = _split_at(atlas, face, bary)
        d_exact, _ = geodesic.PyGeodesicAlgorithmExact(v, f).geodesicDistances(
            np.array([new]), None
        )
        targets = np.r_[
            rng.choice(n_vertices, 100, replace=False), np.argsort(d_exact[:-1])[1:301:5]
        ]
        src = SurfacePoints(np.full(len(targets), face), np.tile(bary, (len(targets), 1)))
        rows.append(np.c_[d_exact[targets], geo.distance(src, vertex_points(targets))])
    _report("near-biased pairs", np.vstack(rows))
    all_pairs = len(np.unique(atlas.model_vertex_ids)) * solve / n_sources / 2
    ratio = f", {all_pairs / build_cpu:.0f} x the table's build" if build_cpu else ""
    print(
        f"baseline: the exact solver takes {solve / n_sources:.2f} s of CPU per source on the "
        f"full skin: exact rows from one side of the body would take {all_pairs / 60:.0f} min "
        f"of CPU{ratio}"
    )


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker processes)."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_table_build(atlas) -> tuple[Geodesics, float]:
    """Build the geodesic table from scratch (two workers), print its cost, return it with
    its CPU seconds."""
    load = os.getloadavg()[0]
    print("building the geodesic table from scratch (about a minute) ...", flush=True)
    start, cpu = time.perf_counter(), _cpu_seconds()
    table = build_table(atlas, workers=2)
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    print(
        f"geodesic table build: {wall:.1f} s wall with 2 workers, {cpu:.1f} s CPU "
        f"(on {os.cpu_count()} cores; load average {load:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after: other jobs slow the wall time); "
        f"{table.distances.nbytes / 1e6:.0f} MB. Previous method (v3, 9,000-vertex exact "
        "all-pairs): 16-17 min on 2 idle cores (docs/adr/0002-geodesics.md)"
    )
    return Geodesics(atlas, table), cpu


def _report(name: str, res: np.ndarray) -> None:
    err = np.abs(res[:, 1] - res[:, 0])
    ok = err <= np.maximum(0.02 * res[:, 0], 0.005)
    print(
        f"geodesic error vs exact, {name}, {len(res)} pairs: "
        f"{ok.mean() * 100:.2f}% within 2% or 5 mm; "
        f"mean {err.mean() * 1000:.2f} mm, p99 {np.percentile(err, 99) * 1000:.2f} mm, "
        f"max {err.max() * 1000:.1f} mm"
    )
    for lo, hi in ((0, 0.05), (0.05, 0.2), (0.2, 0.6), (0.6, 3.0)):
        m = (res[:, 0] >= lo) & (res[:, 0] < hi)
        if m.any():
            print(
                f"  {lo * 100:3.0f}-{hi * 100:3.0f} cm: {m.sum():4d} pairs, "
                f"{ok[m].mean() * 100:6.2f}% within, "
                f"max error {err[m].max() * 1000:.1f} mm"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--exact-sources", type=int, default=12)
    parser.add_argument(
        "--cached-table", action="store_true", help="use the cached geodesic table, no build"
    )
    args = parser.parse_args()
    atlas = load_atlas()
    print(f"atlas: {atlas}")
    bench_views(atlas)
    bench_iuv(atlas, args.pairs)
    build_cpu = None
    if args.cached_table:
        start = time.perf_counter()
        geo = Geodesics.load_or_build(atlas)
        print(f"geodesic table loaded (or built and cached) in {time.perf_counter() - start:.1f} s")
    else:
        geo, build_cpu = bench_table_build(atlas)
    bench_geodesics(atlas, geo, args.pairs, args.exact_sources, build_cpu)


if __name__ == "__main__":
    main()
