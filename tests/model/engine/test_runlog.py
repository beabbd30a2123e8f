"""The run log of a resumed run holds every iteration once."""

import io
import json
from pathlib import Path

from model.engine.runlog import RunLog


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_resumed_run_forgets_what_was_logged_after_its_checkpoint(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    lines = [json.dumps({"iteration": i, "total_loss": 10.0 - i}) for i in range(1, 7)]
    lines.insert(2, json.dumps({"event": "checkpoint", "iteration": 2, "file": "model_2.pth"}))
    lines.insert(5, json.dumps({"event": "evaluation", "iteration": 4, "metrics": {}}))
    (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"iteration": 7, "tot')  # killed

    stream = io.StringIO()
    log = RunLog(run, start_iter=3, max_iter=6, progress_json=True, stream=stream)
    log.step(4, {"total_loss": 1.5})
    log.close()

    records = _records(run / "metrics.jsonl")
    steps = [r["iteration"] for r in records if "total_loss" in r]
    assert steps == [1, 2, 3, 4]
    assert records[-1] == {"iteration": 4, "total_loss": 1.5}
    assert [r["event"] for r in records if "event" in r] == ["checkpoint"]
    notes = [json.loads(x) for x in stream.getvalue().splitlines() if '"note"' in x]
    assert "5 records after iteration 3 dropped" in notes[0]["message"]


def test_a_new_run_and_a_clean_resume_keep_the_log_as_it_is(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    text = "".join(json.dumps({"iteration": i, "total_loss": 1.0}) + "\n" for i in (1, 2))
    (run / "metrics.jsonl").write_text(text)
    stream = io.StringIO()
    RunLog(run, start_iter=2, max_iter=4, progress_json=True, stream=stream).close()
    assert (run / "metrics.jsonl").read_text() == text
    assert "dropped" not in stream.getvalue()
