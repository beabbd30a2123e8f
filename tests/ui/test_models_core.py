"""The Qt-free cores of the Model menu, headless: run commands, progress, run folders,
evaluation views, training data exported from a project, proposal files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from annotator.dataset.errors import ProjectError
from annotator.dataset.records import AnswerStatus, Box, PartMask, TaskState
from annotator.dataset.store import Project
from annotator.dataset.training_data import export_for_training
from annotator.ui.models.eval_core import read_evaluation
from annotator.ui.models.runs import delete_run, list_runs, read_run, tensorboard_command
from annotator.ui.models.train_core import TrainProgress, TrainSpec, format_eta, next_run_name


def test_a_new_run_becomes_its_command_line(tmp_path: Path) -> None:
    spec = TrainSpec(
        out=tmp_path / "r",
        preset="R_18_FPN_cpu",
        data=tmp_path / "synth",
        val=tmp_path / "val.json",
        iterations=10,
        device="cpu",
        eval_period=5,
        overrides=["solver.base_lr=0.01"],
    )
    argv = spec.command("python")
    assert argv[:4] == ["python", "-m", "annotator.cli", "model"]
    joined = " ".join(argv)
    for part in ("train --out", "--progress-json", "--config R_18_FPN_cpu", "--max-iter 10",
                 "--device cpu", "--set solver.base_lr=0.01", "--set solver.eval_period=5",
                 f"--val {tmp_path / 'val.json'}"):  # fmt: skip
        assert part in joined
    resumed = TrainSpec(out=tmp_path / "r", resume=True, iterations=12, gpus=2).command("py")
    assert resumed[:4] == ["py", "-m", "torch.distributed.run", "--nproc-per-node=2"]
    assert "--resume" in resumed and "--config" not in resumed and "--data" not in resumed
    with pytest.raises(ValueError, match="needs its data"):
        TrainSpec(out=tmp_path / "r").arguments()


def _progress(iteration: int, eta: float, loss_u: float, total: float) -> str:
    return json.dumps(
        {
            "event": "progress",
            "iteration": iteration,
            "max_iter": 4,
            "eta_seconds": eta,
            "losses": {"loss_densepose_U": loss_u},
            "total_loss": total,
        }
    )


def test_progress_follows_the_json_lines() -> None:
    progress = TrainProgress()
    lines = [
        '{"event": "note", "message": "weights: none (training from scratch)"}',
        "INFO model.data.dataset: 6 images kept",
        json.dumps(
            {
                "event": "progress",
                "iteration": 1,
                "max_iter": 4,
                "eta_seconds": 9.0,
                "losses": {"loss_densepose_U": 0.5},
                "total_loss": 3.0,
            }
        ),
        json.dumps(
            {
                "event": "progress",
                "iteration": 2,
                "max_iter": 4,
                "eta_seconds": 4.5,
                "losses": {"loss_densepose_U": 0.25},
                "total_loss": 2.0,
            }
        ),
        json.dumps(
            {
                "event": "evaluation",
                "iteration": 2,
                "metrics": {"gps_AP": 0.1, "auc10": float("nan")},
            }
        ),
        json.dumps({"event": "checkpoint", "iteration": 2, "path": "model_0000001.pth"}),
        json.dumps({"event": "stopped", "iteration": 2, "max_iter": 4}),
    ]
    for line in lines:
        progress.feed_line(line)
    assert (progress.iteration, progress.max_iter, progress.fraction) == (2, 4, 0.5)
    assert progress.losses["total_loss"] == ([1, 2], [3.0, 2.0])
    assert progress.losses["loss_densepose_U"] == ([1, 2], [0.5, 0.25])
    assert progress.figures == {"gps_AP": ([2], [0.1])}  # no value, no point
    assert progress.checkpoints == ["model_0000001.pth"] and progress.ended == "stopped"
    assert "6 images kept" in progress.tail() and "weights: none" in progress.tail()
    assert progress.describe() == "iteration 2 / 4 · loss 2.000"
    assert (format_eta(4.5), format_eta(3725), format_eta(None)) == ("0:04", "1:02:05", "-")


def _fake_run(folder: Path, *, stopped: bool) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(
        "# resolved configuration of this run (densepose_rcnn_R_18_FPN_cpu)\n"
        "name: densepose_rcnn_R_18_FPN_cpu\nsolver:\n  max_iter: 6\n"
    )
    (folder / "run.json").write_text(json.dumps({"data": "/data/train.json"}))
    records = [{"iteration": k, "total_loss": 5.0 - k} for k in (1, 2, 3)]
    records += [{"event": "evaluation", "iteration": 3, "metrics": {"gps_AP": 0.25}}]
    records += [{"event": "stopped" if stopped else "done", "iteration": 3}]
    (folder / "metrics.jsonl").write_text("\n".join(map(json.dumps, records)) + "\n")
    (folder / "model_0000002.pth").write_bytes(b"x")
    if not stopped:
        (folder / "model_final.pth").write_bytes(b"x")
    return folder


def test_run_folders_are_read_listed_and_deleted(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _fake_run(runs / "b", stopped=True)
    _fake_run(runs / "a", stopped=False)
    (runs / "not-a-run").mkdir()
    listed = list_runs(runs)
    assert [r.name for r in listed] == ["a", "b"]
    a, b = listed
    assert (a.status, b.status) == ("done", "stopped")
    assert a.preset == "densepose_rcnn_R_18_FPN_cpu" and (a.iteration, a.max_iter) == (3, 6)
    assert a.total_loss == 2.0 and a.figures == {"gps_AP": 0.25} and a.data == "/data/train.json"
    assert [p.name for p in a.checkpoints] == ["model_0000002.pth", "model_final.pth"]
    assert a.best_checkpoint == runs / "a" / "model_final.pth"
    assert "gps_AP 0.250" in a.figures_text()
    assert next_run_name(runs, "a") == "a-2" and next_run_name(runs, "R 18/cpu") == "R-18-cpu"
    assert tensorboard_command(runs) == f"tensorboard --logdir {runs}"
    with pytest.raises(ValueError, match="not a run folder"):
        delete_run(runs / "not-a-run")
    delete_run(runs / "a")
    assert [r.name for r in list_runs(runs)] == ["b"]
    assert read_run(runs / "nothing").status == "empty"


def test_evaluation_view_reads_the_report_files(tmp_path: Path) -> None:
    per = {"points": 10, "misses": 5, "auc10": 0.1, "auc30": 0.3, "mean": 0.2, "median": 0.15}
    rcp = {"thresholds_m": [0.0, 0.1, 0.2], "values": [0.0, 0.4, None]}
    (tmp_path / "evaluation.json").write_text(json.dumps({
        "checkpoint": "/runs/tiny/model_final.pth", "iteration": 4,
        "ground_truth": "/d/gold.json",
        "ap": {"gps": {"AP": 0.123, "AP50": 0.5, "AP75": -1.0, "AR": 0.2}},
        "pointwise": {"overall": per, "rcp": rcp, "per_coarse": {"torso": per, "head": {
            "points": 0}}},
    }))  # fmt: skip
    (tmp_path / "gold_errors.json").write_text(json.dumps({
        "iteration": 4, "model": {"overall": per, "rcp": rcp, "per_coarse": {}},
        "people": {"overall": per, "rcp": rcp, "per_coarse": {"torso": per}},
        "heatmaps": {"model": "heatmap_model.png"},
    }))  # fmt: skip
    view = read_evaluation(tmp_path)
    assert view.title == "tiny at iteration 4 on gold.json"
    assert view.ap_rows == [["GPS", "12.3", "50.0", "-", "20.0"]]
    assert view.part_rows[0] == ["all", "10", "50%", "0.100", "0.300", "20.0", "15.0"]
    assert [r[0] for r in view.part_rows] == ["all", "torso"]
    assert view.rcp["model (evaluation)"] == ([0.0, 10.0], [0.0, 0.4])
    assert set(view.rcp) == {"model (evaluation)", "model (gold tasks)", "people (gold tasks)"}
    assert view.heatmaps == [("model", tmp_path / "heatmap_model.png")]
    assert [r[0] for r in view.people_rows] == ["all", "torso"]
    with pytest.raises(ValueError, match=r"no evaluation\.json"):
        read_evaluation(tmp_path / "empty")


def test_the_project_is_exported_and_split_for_training(tmp_path: Path) -> None:
    from .helpers import make_project

    path = make_project(tmp_path / "work", n_images=4)
    with Project.open(path) as project:
        with pytest.raises(ProjectError, match="nothing to train on"):
            export_for_training(project, tmp_path / "none")
        for person in project.persons():
            labels = np.zeros((20, 10), np.uint8)
            labels[:10], labels[10:] = 1, 14
            x0, y0 = int(person.box.x), int(person.box.y)
            project.save_part_mask(person.id, "ann", PartMask(labels, x0, y0))
            from annotator.dataset.sampling import sample_person

            points = sample_person(project, person.id)
            for k in range(len(points)):
                project.save_answer(person.id, k, "ann", iuv=(2, 0.5, 0.5))
            project.set_state(person.id, TaskState.CORRESPONDED)
        data = export_for_training(project, tmp_path / "data", held_out=0.34, seed=1)
    assert (data.train_images, data.val_images, data.persons) == (2, 1, 3)
    train = json.loads(data.train.read_text())
    val = json.loads(data.val.read_text())
    assert not {i["id"] for i in train["images"]} & {i["id"] for i in val["images"]}
    for doc in (train, val):
        for image in doc["images"]:
            assert (data.images / image["file_name"]).is_file()  # relative to the project
        assert all(len(a["dp_I"]) > 0 for a in doc["annotations"] if "dp_I" in a)


def test_a_proposal_file_round_trips(tmp_path: Path) -> None:
    from annotator.surface.atlas import load_atlas
    from model.inference.annotation_proposals import read_proposals, to_proposal, write_proposals

    atlas = load_atlas("anny")
    labels = np.zeros((40, 20), np.uint8)
    labels[:20], labels[20:] = 2, 23  # torso front, head
    uv = np.full((2, 40, 20), 0.5, np.float32)
    proposal = to_proposal(
        image_id=3, box=Box(10, 5, 20, 40), score=0.8, maps_box=(10, 5, 20, 40),
        labels=labels, uv=uv, model="model:t@1", atlas=atlas, image_size=(25, 40),
    )  # fmt: skip
    assert proposal.mask is not None and proposal.mask.labels.shape == (35, 15)  # cut at 40 x 25
    assert set(np.unique(proposal.mask.labels)) == {1, 14}
    assert proposal.points is not None and len(proposal.points) == len(proposal.answers)
    answered = proposal.answers.status == AnswerStatus.ANSWERED
    assert answered.all() and set(proposal.answers.i) <= {2, 23}
    assert (proposal.answers.face >= 0).all()
    write_proposals(tmp_path / "p.npz", "model:t@1", "/c.pth", [proposal])
    model, checkpoint, (back,) = read_proposals(tmp_path / "p.npz")
    assert (model, checkpoint, back.score, back.box) == ("model:t@1", "/c.pth", 0.8, proposal.box)
    assert np.array_equal(back.mask.labels, proposal.mask.labels)
    assert np.array_equal(back.answers.face, proposal.answers.face)
    assert back.answers.annotator == "model:t@1"
    (tmp_path / "bad.npz").write_bytes(b"not an archive")
    with pytest.raises(Exception):  # noqa: B017 (numpy's own error for a broken file)
        read_proposals(tmp_path / "bad.npz")


def test_undo_of_a_deletion_gives_the_proposals_back(tmp_path: Path) -> None:
    from annotator.ui.snapshot import PersonSnapshot

    from ..dataset.test_proposals import MODEL, _project, _proposal

    project, image, person = _project(tmp_path)
    project.add_proposals(MODEL, [_proposal(image, person)])
    snapshot = PersonSnapshot.take(project, person)
    project.delete_person(person)
    assert project.proposals()[0].person_id is None
    snapshot.restore(project)
    assert project.pending_proposals()[person].model == MODEL
    assert project.answers(person, MODEL).answered.all()


def test_a_repainted_mask_gets_fresh_points_under_a_models_answers(tmp_path: Path) -> None:
    """Stage 2 re-samples a person whose only answers are a model's (they go with their
    points); a person's answer settles the points, as before."""
    from annotator.ui.stage2.session import run_sampling, sampling_job, store_points

    from ..dataset.test_proposals import MODEL, _project, _proposal

    project, image, person = _project(tmp_path)
    project.add_proposals(MODEL, [_proposal(image, person)])
    labels = np.zeros((120, 80), np.uint8)
    labels[:, :40], labels[:, 40:] = 2, 3  # the person paints other parts
    project.save_part_mask(person, "alice", PartMask(labels, 20, 20))
    job = sampling_job(project, person)
    assert job is not None and job.mask.annotator == "alice"
    points = run_sampling(job)
    store_points(project, person, points)
    assert set(project.sample_points(person).part) == {2, 3}
    assert project.answers(person, MODEL) is None  # made for the old points
    project.save_answer(person, 0, "alice", iuv=(3, 0.5, 0.5))
    assert sampling_job(project, person) is None
