"""Evaluate, pre-annotate, accept and reject from the Model menu, with a real tiny checkpoint
and real child processes; then what the project holds. The comparison report's display, and
the Runs window."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from annotator.dataset.densepose_io import export_densepose
from annotator.dataset.records import ProposalStatus, TaskState
from annotator.dataset.store import Project
from annotator.ui.models.compare import FILE as COMPARE_FILE
from annotator.ui.models.compare import CompareDialog
from annotator.ui.models.evaluate import FILE, GOLD, EvaluateDialog
from annotator.ui.models.runs_dialog import RunsDialog

from .models_helpers import TINY, answer_dialog, dpstudio

pytestmark = [pytest.mark.gui, pytest.mark.slow]

TIMEOUT = 300_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(synthetic folder, run folder): a tiny model trained for 4 iterations (seeded)."""
    root = tmp_path_factory.mktemp("review")
    synth = root / "synth"
    done = dpstudio("synth", "--count", "6", "--size", "96", "--out", str(synth), "--seed", "5",
                    "--workers", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    run = root / "run"
    args = ["model", "train", "--config", "R_18_FPN_cpu", "--data", str(synth), "--out", str(run)]
    for item in TINY:
        args += ["--set", item]
    done = dpstudio(*args, "--max-iter", "4", "--device", "cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    return synth, run


def use_run(window, run: Path) -> Path:
    """Put the run in the project's runs folder (where the menu finds it)."""
    target = Path(window.session.path) / "runs" / "tiny"
    shutil.copytree(run, target)
    return target


def test_evaluate_a_checkpoint_from_the_menu(opened, qtbot, trained):
    window = opened
    synth, run = trained
    run = use_run(window, run)

    def fill(dialog: EvaluateDialog) -> None:
        assert dialog.checkpoint.currentText() == "tiny/model_final.pth"
        dialog.source.setCurrentText(FILE)
        dialog.data.setText(str(synth))

    answer_dialog(EvaluateDialog, fill)
    window.models.actions.evaluate.trigger()
    dock = window.models.evaluation_dock
    qtbot.waitUntil(lambda: not window.models.busy(), timeout=TIMEOUT)
    (out,) = (run / "evaluations").iterdir()
    report = json.loads((out / "evaluation.json").read_text())
    assert dock.parts.rowCount() >= 2, dock.title.text()
    assert dock.parts.item(0, 0).text() == "all"
    assert dock.parts.item(0, 1).text() == str(report["pointwise"]["overall"]["points"])
    assert dock.ap.rowCount() == 3 and dock.ap.item(0, 0).text() == "GPS"
    assert dock.rcp.points("model (evaluation)") == len(report["pointwise"]["rcp"]["values"])


@pytest.fixture(scope="module")
def gold_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two gold tasks (the rest body, front and back) answered by a simulated annotator."""
    from annotator.accuracy.simulate import SimulatedAnnotator
    from annotator.surface.geodesic import Geodesics

    from ..accuracy.gold_project import make_gold_project

    directory = tmp_path_factory.mktemp("gold") / "project"
    project, atlas = make_gold_project(directory, azimuths=(0.0, 180.0))
    sim = SimulatedAnnotator("alice", dict.fromkeys(range(1, 15), 0.04), seed=1)
    sim.annotate(project, atlas, geodesics=Geodesics.load_or_build(atlas))
    project.close()
    return directory


def test_evaluate_on_the_gold_tasks_beside_the_annotators(window, qtbot, trained, gold_dir):
    """The default data: the project's gold tasks; the heat maps of the model's errors and of
    the annotators' are side by side, with the same per-part table."""
    assert window.projects.open_path(gold_dir)
    qtbot.waitUntil(window.canvas.has_image, timeout=10_000)
    run = use_run(window, trained[1])

    def fill(dialog: EvaluateDialog) -> None:
        assert dialog.source.currentText() == GOLD and dialog.heatmap.isChecked()

    answer_dialog(EvaluateDialog, fill)
    window.models.actions.evaluate.trigger()
    dock = window.models.evaluation_dock
    qtbot.waitUntil(lambda: not window.models.busy(), timeout=TIMEOUT)
    (out,) = (run / "evaluations").iterdir()
    assert (out / "gold.json").is_file() and (out / "evaluation.json").is_file()
    gold = json.loads((out / "gold_errors.json").read_text())
    assert gold["people"]["overall"]["points"] > 0 and gold["model"]["overall"]["points"] > 0
    names = [dock.heatmaps.itemAt(k).widget().objectName() for k in range(dock.heatmaps.count())]
    assert names == ["heatmap-model", "heatmap-people"], dock.title.text()
    assert dock.people.rowCount() >= 2 and dock.people.item(0, 0).text() == "all"
    assert dock.rcp.points("people (gold tasks)") > 0
    window.session.flush()
    people = window.session.project.annotators()
    assert [a.name for a in people] == ["alice"], "evaluating writes nothing in the project"


def test_preannotate_accept_one_reject_another(opened, qtbot, trained, monkeypatch):
    window = opened
    use_run(window, trained[1])
    session = window.session
    first, second = (p for p in session.project.persons() if not p.iscrowd)
    monkeypatch.setattr(
        QInputDialog, "getItem", lambda *a, **k: ("tiny/model_final.pth", True)
    )  # Model > Choose the model...
    window.models.actions.choose_model.trigger()
    assert window.models.checkpoint.name == "model_final.pth"
    window.models.actions.preannotate_project.trigger()
    qtbot.waitUntil(lambda: not window.models.busy(), timeout=TIMEOUT)
    pending = session.pending_proposals()
    assert {first.id, second.id} <= set(pending), "each boxed person got a proposal"
    proposal = pending[first.id]
    assert proposal.model == "model:tiny@4" and proposal.made_mask and proposal.made_answers > 0
    # Shown differently: the box is a dashed proposal, the model's mask is on the canvas.
    window.navigator.set_image(first.image_id, first.id)
    item = window.boxes.item(first.id)
    assert item.proposal is not None and "proposed" in item._text
    assert window.overlays.item(first.id).label_map.any()

    window.navigator.set_person(first.id)
    window.models.actions.accept.trigger()  # K
    window.navigator.set_image(second.image_id, second.id)
    window.models.actions.reject.trigger()  # Shift+K
    assert window.boxes.item(second.id).proposal is None  # back to a plain box
    assert not window.overlays.item(second.id).label_map.any()

    session.flush()
    project = session.project
    (accepted,) = project.proposals(person_id=first.id)
    assert accepted.status == ProposalStatus.ACCEPTED and accepted.decided_by == session.annotator
    assert project.person(first.id).state == TaskState.CORRESPONDED
    (rejected,) = project.proposals(person_id=second.id)
    assert rejected.status == ProposalStatus.REJECTED
    assert (
        project.part_mask(second.id) is None and project.answers(second.id, rejected.model) is None
    )
    assert project.person(second.id).state == TaskState.TODO  # the person a human drew stays
    stats = project.stats()
    assert stats.confirmed_machine_answers == accepted.made_answers
    assert stats.machine_answers >= accepted.made_answers
    confirmed = f"({stats.confirmed_machine_answers} confirmed)"
    assert "machine-made answers" in window.status.progress.text()
    assert confirmed in window.status.progress.text()
    # Export: the accepted proposal is data; unconfirmed found persons can be left out.
    out = Path(session.path) / "export.json"
    with Project.open(session.path, readonly=True) as reader:
        report = export_densepose(reader, out, confirmed_only=True)
    annotations = {a["id"]: a for a in json.loads(out.read_text())["annotations"]}
    assert len(annotations[first.id]["dp_I"]) == accepted.made_answers
    assert report.machine_points == accepted.made_answers


def test_comparison_report_is_shown(opened, tmp_path):
    window = opened
    folder = tmp_path / "cmp"
    folder.mkdir()
    (folder / "report.html").write_text(
        "<html><body><h1>Comparison</h1><table><tr><td>tiny</td><td>0.123</td></tr></table>"
        '<img src="accuracy_vs_speed.png"></body></html>'
    )
    window.models._compared(folder, True, "")
    dock = window.models.comparison_dock
    assert dock.isVisible() and dock.folder == folder
    assert "Comparison" in dock.browser.toPlainText() and "0.123" in dock.browser.toPlainText()
    window.models._compared(folder, False, "usage: ... invalid choice: 'compare'")
    assert "no `dpstudio model compare`" in dock.browser.toPlainText()


def test_compare_from_the_menu(opened, qtbot, trained):
    """The real ``dpstudio model compare`` on the tiny run, its report shown in the dock."""
    window = opened
    synth, run = trained
    use_run(window, run)

    def fill(dialog: CompareDialog) -> None:
        assert dialog.list.count() == 1
        dialog.source.setCurrentText(COMPARE_FILE)
        dialog.data.setText(str(synth))
        dialog.timing.setChecked(False)

    answer_dialog(CompareDialog, fill)
    window.models.actions.compare.trigger()
    qtbot.waitUntil(lambda: not window.models.busy(), timeout=TIMEOUT)
    dock = window.models.comparison_dock
    assert dock.folder is not None, dock.browser.toPlainText()
    assert (dock.folder / "report.csv").is_file()
    assert "tiny" in dock.browser.toPlainText()


def test_runs_window_lists_and_deletes(opened, qtbot, trained, monkeypatch):
    window = opened
    run = use_run(window, trained[1])
    dialog = RunsDialog(run.parent)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 1
    cells = [dialog.table.item(0, c).text() for c in range(dialog.table.columnCount())]
    assert cells[:4] == ["tiny", "densepose_rcnn_R_18_FPN_cpu", "done", "4 / 4"]
    assert "model_final.pth" in cells[-1]
    dialog.tensorboard.click()
    assert "tensorboard --logdir" in dialog.note.text()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    dialog.delete.click()
    assert not run.exists() and dialog.table.rowCount() == 0


ZOO_TINY = "R_50_FPN_s1x_legacy"


@pytest.fixture()
def zoo_model_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """zoo:R_50_FPN_s1x_legacy on this machine (the fixture's narrow version, imported into
    a fresh user cache that the app's child processes inherit)."""
    from model.zoo.catalog import zoo_config, zoo_model
    from model.zoo.convert import import_detectron2
    from model.zoo.local import imported_checkpoint
    from tests.model.zoo.test_detectron2_fixture import FIXTURE, SPEC

    monkeypatch.setenv("DPSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    cfg = zoo_config(zoo_model(ZOO_TINY), [*SPEC["overrides"], "model.min_size_test=240"])
    import_detectron2(FIXTURE / f"{ZOO_TINY}.pkl", cfg, imported_checkpoint(zoo_model(ZOO_TINY)))
    return f"zoo:{ZOO_TINY}"


def _preannotate_with(window, qtbot, monkeypatch, name: str) -> dict:
    offered: list[list[str]] = []

    def choose(parent, title, label, names, *args, **kwargs):
        offered.append(list(names))
        return name, True

    monkeypatch.setattr(QInputDialog, "getItem", choose)
    window.models.actions.choose_model.trigger()
    assert name in offered[0] and window.models.checkpoint == name
    messages: list[str] = []
    monkeypatch.setattr(window.models, "_message", messages.append)
    window.models.actions.preannotate_project.trigger()
    qtbot.waitUntil(lambda: not window.models.busy(), timeout=TIMEOUT)
    window.session.flush()
    return {"pending": window.session.pending_proposals(), "messages": messages}


def test_a_zoo_model_preannotates_an_anny_project(opened, qtbot, monkeypatch, zoo_model_here):
    """Boxes and 14-part masks, no stage-2 answers, and the reason in the status bar."""
    found = _preannotate_with(opened, qtbot, monkeypatch, zoo_model_here)
    persons = [p for p in opened.session.project.persons() if not p.iscrowd]
    assert {p.id for p in persons} <= set(found["pending"])
    for person in persons:
        proposal = found["pending"][person.id]
        assert proposal.model == f"model:{zoo_model_here}@0"
        assert proposal.made_mask and proposal.made_answers == 0
    assert any("no stage-2 answers" in m for m in found["messages"]), found["messages"]


def test_a_zoo_model_preannotates_a_project_of_the_official_charts(
    window, qtbot, monkeypatch, zoo_model_here, project_path, data_dir
):
    """In a project of the official charts (SMPL with UV_Processed.mat; here a stand-in atlas
    of that identity, tests/model/zoo/standin.py) the answers come too."""
    from tests.model.zoo.standin import write_official_standin

    write_official_standin(data_dir)
    with Project.open(project_path) as project:
        project.set_meta("body", "smpl")  # a fresh project, no surface point stored yet
    assert window.projects.open_path(project_path)
    qtbot.waitUntil(window.canvas.has_image, timeout=5000)
    found = _preannotate_with(window, qtbot, monkeypatch, zoo_model_here)
    answered = [p for p in found["pending"].values() if p.made_answers > 0]
    assert answered, "stage-2 answers in a project of the official charts"
    assert not any("no stage-2 answers" in m for m in found["messages"])
