"""The server enforces the roles, whatever the app does: direct SQL as each role."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from annotator.dataset.pg import AccessDeniedError
from annotator.dataset.records import Box, TaskState
from annotator.dataset.store import Project
from annotator.dataset.store_shared import SharedProject
from tests.team.helpers import member_url, sql, team_project

MEMBERS = {"alice": "annotator", "bob": "annotator", "rita": "reviewer"}


@pytest.fixture()
def team(shared_url: str, tmp_path: Path) -> list[int]:
    return team_project(shared_url, tmp_path, persons=4, gold=1, members=MEMBERS)


def _ids(url: str) -> dict[str, int]:
    return {name: int(i) for i, name in sql(url, "SELECT id, name FROM annotators")}


def test_annotator_writes_only_own_answers_of_held_tasks(shared_url: str, team: list[int]) -> None:
    alice = member_url(shared_url, "alice")
    ids = _ids(shared_url)
    insert = (
        "INSERT INTO answers (person_id, annotator_id, n_answered, n_not_visible, data, updated) "
        "VALUES (%s, %s, 1, 0, %s, 0)"
    )
    held = sql(alice, "SELECT dp_claim_next(60)")[0][0]
    assert held in team
    sql(alice, insert, (held, ids["alice"], b"x"))  # her own answer to her task: allowed
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        sql(alice, insert, (held, ids["bob"], b"x"))  # in bob's name: refused
    other = next(p for p in team if p != held)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        sql(alice, insert, (other, ids["alice"], b"x"))  # a task she never held: refused
    bob = member_url(shared_url, "bob")
    assert sql(bob, "SELECT COUNT(*) FROM answers") == [(0,)]  # sees nobody else's answers
    assert sql(bob, "UPDATE answers SET data = 'y' RETURNING 1") == []  # cannot touch them
    assert sql(shared_url, "SELECT data FROM answers") == [(b"x",)]


def test_annotator_cannot_see_gold_nor_change_set_up(shared_url: str, team: list[int]) -> None:
    alice = member_url(shared_url, "alice")
    assert sql(shared_url, "SELECT COUNT(*) FROM gold") == [(1,)]
    assert sql(alice, "SELECT COUNT(*) FROM gold") == [(0,)]  # gold tasks look like any other
    for statement in (
        "UPDATE persons SET x = 0",
        "DELETE FROM images",
        "INSERT INTO annotators (name, created) VALUES ('mallory', 0)",
        "SELECT * FROM leases",
        "UPDATE meta SET value = '1' WHERE key = 'team.gold_rate'",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sql(alice, statement)
    assert sql(alice, f"UPDATE persons SET state = 1 WHERE id = {team[1]} RETURNING id") == []
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="may not send tasks back"):
        sql(alice, f"SELECT dp_send_back({team[1]}, 0)")


def test_reviewer_moves_states_and_writes_no_answers(shared_url: str, team: list[int]) -> None:
    rita = member_url(shared_url, "rita")
    assert sql(rita, "SELECT COUNT(*) FROM gold") == [(1,)]
    assert sql(rita, f"UPDATE persons SET state = 3 WHERE id = {team[2]} RETURNING id") == [
        (team[2],)
    ]
    sql(rita, f"SELECT dp_send_back({team[2]}, 1)")
    assert sql(shared_url, f"SELECT state FROM persons WHERE id = {team[2]}") == [(1,)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        sql(
            rita,
            "INSERT INTO answers VALUES (%s, %s, 1, 0, %s, 0)",
            (team[2], _ids(shared_url)["rita"], b"x"),
        )


def test_the_app_gets_one_line_when_the_role_may_not(shared_url: str, team: list[int]) -> None:
    with Project.open(member_url(shared_url, "alice")) as project:
        assert isinstance(project, SharedProject)
        assert (project.role, project.user) == ("annotator", "alice")
        held = project.claim_next()
        assert held is not None
        project.save_answer(held, 0, "alice", iuv=(3, 0.5, 0.5))
        project.set_state(held, TaskState.SEGMENTED, annotator="alice")
        with pytest.raises(
            AccessDeniedError, match=r"alice@127\.0\.0\.1:\d+/t_\S+: the server"
        ) as e:
            project.update_box(held, Box(1, 1, 10, 10))
        assert "\n" not in str(e.value)
        with pytest.raises(AccessDeniedError):
            project.save_answer(held, 0, "bob", iuv=(3, 0.5, 0.5))
        assert project.answers(held, "alice") is not None
    with Project.open(shared_url) as admin:
        assert admin.person(held).box == Box(5.0 + team.index(held), 6.0, 50.0, 80.0)
        assert admin.person(held).state == TaskState.SEGMENTED


def test_claims_share_gold_and_agreement(shared_url: str, team: list[int]) -> None:
    gold = team[0]
    with Project.open(shared_url) as admin:
        assert isinstance(admin, SharedProject)
        admin.configure(agreement_share=1.0, gold_rate=1.0)
        admin.add_member("carol", "annotator", "pw")
    seen: dict[str, list[int]] = {}
    for name in ("alice", "bob", "carol"):
        password = "pw" if name == "carol" else None
        url = member_url(shared_url, name, password) if password else member_url(shared_url, name)
        with Project.open(url) as project:
            assert isinstance(project, SharedProject)
            got = []
            while (pid := project.claim_next()) is not None:
                assert project.claim_next() == pid  # the held task comes back until finished
                assert project.finish(pid)
                got.append(pid)
            seen[name] = got
    for name, got in seen.items():
        assert got[0] == gold, name  # gold first at rate 1.0, once for everyone
        assert len(set(got)) == len(got)
    regular = [p for got in seen.values() for p in got if p != gold]
    assert sorted(regular) == sorted(team[1:] * 2)  # each task answered by two, never three
    assert seen["carol"] == [gold]


def test_leases_expire_and_come_back(shared_url: str, team: list[int]) -> None:
    with Project.open(shared_url) as admin:
        assert isinstance(admin, SharedProject)
        admin.configure(agreement_share=0.0, gold_rate=0.0)
    with (
        Project.open(member_url(shared_url, "alice")) as alice,
        Project.open(member_url(shared_url, "bob")) as bob,
    ):
        assert isinstance(alice, SharedProject) and isinstance(bob, SharedProject)
        held = alice.claim_next(lease_seconds=0.5)
        finished = []
        while (pid := bob.claim_next(lease_seconds=30)) is not None:
            assert bob.finish(pid)
            finished.append(pid)
        assert held is not None and sorted([held, *finished]) == team  # all but hers
        time.sleep(0.7)
        assert bob.claim_next() == held  # her lease expired: the task is free again
        assert not alice.renew(held)  # and she cannot take it back from bob
        assert bob.renew_all(30) == 1 and alice.renew_all(30) == 0
        overview = alice.team_overview()
        assert {m.name: (m.finished, m.holding) for m in overview.members} == {
            "bob": (3, 1),
            "alice": (0, 0),
        }


def test_the_claim_runs_without_jit(shared_url: str, team: list[int]) -> None:
    # LLVM compiled the claim's query on every call (30 ms of a 34 ms claim, bench_team.py);
    # the function's own setting wins over the session's, whatever the server's default.
    config = sql(shared_url, "SELECT proconfig FROM pg_proc WHERE proname = 'dp_claim_next'")
    assert "jit=off" in config[0][0]
    with psycopg.connect(member_url(shared_url, "alice"), autocommit=True) as conn:
        conn.execute("SET jit = on")
        conn.execute("SET jit_above_cost = 0")  # a session that would compile everything
        row = conn.execute("SELECT dp_claim_next(60)").fetchone()
    assert row is not None and row[0] in team
