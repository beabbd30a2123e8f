"""The Accuracy panel computes in a worker thread and shows the same numbers as the report."""

import numpy as np
import pytest

from annotator.accuracy.report import measure, numbers
from annotator.accuracy.simulate import RAYLEIGH_CV, SimulatedAnnotator
from annotator.surface.geodesic import Geodesics
from annotator.ui.accuracy.panel import AccuracyPanel

from ..accuracy.gold_project import make_gold_project

pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("panel") / "project"
    project, atlas = make_gold_project(directory, azimuths=(0.0, 180.0))
    geo = Geodesics.load_or_build(atlas)
    for name, error, seed in (("alice", 0.03, 1), ("bob", 0.06, 2)):
        sim = SimulatedAnnotator(name, dict.fromkeys(range(1, 15), error), seed=seed)
        sim.annotate(project, atlas, geodesics=geo)
    expected = numbers(measure(project, geo))
    project.close()
    return directory, expected


def test_panel_shows_the_report_numbers(qtbot, project_dir):
    directory, expected = project_dir
    panel = AccuracyPanel(directory, ["alice", "bob"])
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.statusMessage, timeout=300_000):
        panel.compute()
    assert panel.last_numbers["annotators"].keys() == expected["annotators"].keys()
    assert panel.summary.rowCount() == 3  # alice, bob, all
    names = [panel.summary.item(r, 0).text() for r in range(3)]
    assert names == ["alice", "bob", "all"]
    alice_mean = float(panel.summary.item(0, 2).text())
    assert abs(alice_mean - expected["annotators"]["alice"]["stage2"]["mean_cm"]) < 1e-3
    # Rayleigh-distributed errors of mean 3 cm: the sample mean is within 4 standard errors.
    count = expected["annotators"]["alice"]["stage2"]["count"]
    assert abs(alice_mean - 3.0) < 4 * RAYLEIGH_CV * 3.0 / np.sqrt(count)
    assert not panel.rcp.pixmap().isNull() and not panel.heatmap.pixmap().isNull()
    assert panel.parts.rowCount() > 10  # every part of both annotators


def test_filter_by_annotator_and_export(qtbot, project_dir, tmp_path):
    directory, expected = project_dir
    panel = AccuracyPanel(directory, ["alice", "bob"])
    qtbot.addWidget(panel)
    panel.annotator.setCurrentText("bob")
    with qtbot.waitSignal(panel.statusMessage, timeout=300_000):
        panel.compute(export_to=tmp_path / "report")
    assert list(panel.last_numbers["annotators"]) == ["bob"]
    assert np.isclose(
        panel.last_numbers["annotators"]["bob"]["stage2"]["mean_cm"],
        expected["annotators"]["bob"]["stage2"]["mean_cm"],
    )
    assert (tmp_path / "report" / "report.html").is_file()
    assert "Report written" in panel.message.text()


def test_a_project_without_gold_tasks_says_so(qtbot, tmp_path):
    from annotator.dataset.store import Project

    Project.create(tmp_path / "empty").close()
    panel = AccuracyPanel(tmp_path / "empty", [])
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.statusMessage, timeout=60_000):
        panel.compute()
    assert "no gold tasks" in panel.message.text()
