"""``dpstudio model score``: a results file scored from the command line."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from annotator.cli import UserError
from model.evaluation import load_ground_truth, write_results
from model.evaluation.cli import register_score
from model.evaluation.oracle import ground_truth_detections

from .helpers import POINTS, document, person


def parse(argv: list[str]) -> argparse.Namespace:
    """``dpstudio model ...`` as the lead hooks it: a ``model`` command with actions."""
    parser = argparse.ArgumentParser(prog="dpstudio")
    model = parser.add_subparsers(dest="command").add_parser("model")
    register_score(model.add_subparsers(dest="model_command"))
    return parser.parse_args(["model", *argv])


@pytest.fixture()
def files(tmp_path, geodesics):  # geodesics: the table is cached before the command runs
    doc = document([person(1, 1, [50.0, 50.0, 100.0, 150.0], POINTS)])
    data = tmp_path / "gt.json"
    data.write_text(json.dumps(doc))
    results = tmp_path / "results.json"
    write_results(results, ground_truth_detections(load_ground_truth(doc)))
    return data, results


def test_score_prints_the_summary_and_writes_the_report(files, tmp_path, capsys):
    data, results = files
    out = tmp_path / "out" / "report.json"
    args = parse(
        ["score", str(results), "--data", str(data), "--out", str(out), "--kappa", "0.255"]
    )
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert "| GPS | 100.0 | 100.0 |" in printed and f"report: {out}" in printed
    report = json.loads(out.read_text())
    assert report["kappa"] == 0.255 and report["ap"]["gpsm"]["AP"] == pytest.approx(1.0)
    assert report["pointwise"]["persons"] == 1


def test_malformed_results_are_one_clear_error(files, tmp_path):
    data, _ = files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 1}]))
    args = parse(["score", str(bad), "--data", str(data)])
    with pytest.raises(UserError, match=r"bad\.json: result 0, category_id: missing"):
        args.handler(args)


def test_bad_options_are_user_errors(files):
    data, results = files
    args = parse(["score", str(results), "--data", str(data), "--kappa", "wide"])
    with pytest.raises(UserError, match="--kappa 'wide'"):
        args.handler(args)
    args = parse(["score", str(results), "--data", str(data), "--modes", "gps,oks"])
    with pytest.raises(UserError, match=r"--modes: unknown mode\(s\) \['oks'\]"):
        args.handler(args)
    args = parse(["score", str(results), "--data", str(data) + ".missing"])
    with pytest.raises(UserError, match=r"gt\.json\.missing: file not found"):
        args.handler(args)


def test_registering_the_command_imports_nothing_heavy():
    code = (
        "import sys, model.evaluation.cli; "
        "print(sorted(m for m in ('torch', 'scipy', 'pycocotools', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
