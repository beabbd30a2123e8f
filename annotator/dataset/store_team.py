"""Team work on a shared project: who holds which task, members and roles, the team's figures.

Mixed into :class:`annotator.dataset.store_shared.SharedProject`. The rules run on the server
(functions of :mod:`annotator.dataset.schema_pg`), not here, so an app cannot bend them:

* :meth:`TeamMixin.claim_next` gives the calling annotator the task it holds, else a free one
  under a lease that expires (the server's clock). Free means: nobody else holds it, and fewer
  annotators than it needs have finished it (two for a configured share of tasks, to measure
  agreement; one otherwise). Gold tasks come at a configured rate, and the annotator cannot
  tell them from others: their role sees no gold truth. Candidates are locked with
  ``FOR UPDATE SKIP LOCKED``, so concurrent claims never wait for each other nor take the
  same task.
* A lease whose app died comes back to the pool when it expires; an app renews it while its
  annotator works (:meth:`TeamMixin.renew`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from annotator.dataset.errors import ProjectError
from annotator.dataset.records import TaskState
from annotator.dataset.schema_pg import ROLES, group_role
from annotator.dataset.store_core import StoreCore

#: How long a claimed task stays with its annotator without a renewal (seconds).
LEASE_SECONDS = 600.0

#: Meta keys of the team settings.
AGREEMENT_KEY = "team.agreement_share"
GOLD_RATE_KEY = "team.gold_rate"


@dataclass(frozen=True)
class MemberFigures:
    """One member's work in a shared project.

    Attributes:
        name: the annotator (the PostgreSQL login role).
        holding: tasks held right now.
        finished: tasks finished.
        answers: points answered (visible to reviewers and admins; 0 for others).
        per_hour: tasks finished per hour between their first and last finish.
    """

    name: str
    holding: int
    finished: int
    answers: int
    per_hour: float


@dataclass(frozen=True)
class TeamOverview:
    """What the team view shows.

    Attributes:
        by_state: persons (not crowd) by task state.
        waiting_review: tasks done and not reviewed yet.
        members: one line per member who claimed a task.
        agreement_share: share of tasks answered by two annotators.
        gold_rate: share of claims that are gold tasks.
    """

    by_state: dict[TaskState, int]
    waiting_review: int
    members: list[MemberFigures] = field(default_factory=list)
    agreement_share: float = 0.0
    gold_rate: float = 0.0


class TeamMixin(StoreCore):
    """Task leases, members and the team's figures of a shared project."""

    # -- the calling annotator's tasks ----------------------------------------------------

    def claim_next(self, lease_seconds: float = LEASE_SECONDS) -> int | None:
        """The person the calling role should annotate next (held for ``lease_seconds``).

        Returns the task it already holds if any; None when no task is free for it.
        """
        row = self._conn.execute("SELECT dp_claim_next(?)", (float(lease_seconds),)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def renew(self, person_id: int, lease_seconds: float = LEASE_SECONDS) -> bool:
        """Keep holding a task; False if this role does not hold it (finished or never held)."""
        row = self._conn.execute(
            "SELECT dp_renew(?, ?)", (int(person_id), float(lease_seconds))
        ).fetchone()
        return bool(row and row[0])

    def renew_all(self, lease_seconds: float = LEASE_SECONDS) -> int:
        """Keep every task this role holds (unexpired, unfinished); returns how many."""
        row = self._conn.execute("SELECT dp_renew_mine(?)", (float(lease_seconds),)).fetchone()
        return int(row[0]) if row else 0

    def release(self, person_id: int) -> None:
        """Give a held task back unfinished."""
        self._conn.execute("SELECT dp_release(?)", (int(person_id),))

    def finish(self, person_id: int) -> bool:
        """Mark a held task finished by this role; False if it never held it."""
        row = self._conn.execute("SELECT dp_finish(?)", (int(person_id),)).fetchone()
        return bool(row and row[0])

    def send_back(self, person_id: int, state: TaskState = TaskState.TODO) -> None:
        """A reviewer sends a task back: its state goes back and anyone may claim it again."""
        self._conn.execute("SELECT dp_send_back(?, ?)", (int(person_id), int(state)))

    # -- members and settings (admins) ---------------------------------------------------

    @property
    def user(self) -> str:
        """The login role this project is open as."""
        return str(self._conn.execute("SELECT session_user").fetchone()[0])

    @property
    def role(self) -> str:
        """``admin``, ``reviewer`` or ``annotator``: the strongest role of the login (the
        project's owner and superusers are admins); ``""`` for none."""
        row = self._conn.execute(
            "SELECT rolsuper OR pg_has_role(session_user, 'dpstudio_admin', 'MEMBER') "
            "OR EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'persons' "
            "AND tableowner = session_user), "
            "pg_has_role(session_user, 'dpstudio_reviewer', 'MEMBER'), "
            "pg_has_role(session_user, 'dpstudio_annotator', 'MEMBER') "
            "FROM pg_roles WHERE rolname = session_user"
        ).fetchone()
        for name, held in zip(("admin", "reviewer", "annotator"), row or (), strict=False):
            if held:
                return name
        return ""

    def add_member(self, name: str, role: str, password: str) -> None:
        """Create a login role for a person and make them an annotator of the project.

        Needs a role that may create roles (the project's owner). A role that exists already
        gets the project role and the new password.

        Raises:
            ProjectError: a bad name or role.
        """
        if role not in ROLES:
            raise ProjectError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if not re.fullmatch(r"[a-z_][a-z0-9_.-]{0,62}", name):
            raise ProjectError(
                f"{name!r}: a member's name is lower-case letters, digits, '_', '.', '-'"
            )
        with self.transaction():
            exists = self._scalar("SELECT COUNT(*) FROM pg_roles WHERE rolname = ?", (name,))
            verb = "ALTER" if exists else "CREATE"
            self._conn.execute(f'{verb} ROLE "{name}" LOGIN PASSWORD {_literal(password)}')
            self._conn.execute(f'GRANT {group_role(role)} TO "{name}"')
            database = self._conn.execute("SELECT current_database()").fetchone()[0]
            self._conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{name}"')
            self.annotator_id(name)

    def configure(
        self, *, agreement_share: float | None = None, gold_rate: float | None = None
    ) -> None:
        """Set the share of tasks answered twice and the rate of gold tasks (both in [0, 1])."""
        for key, value in ((AGREEMENT_KEY, agreement_share), (GOLD_RATE_KEY, gold_rate)):
            if value is None:
                continue
            if not 0.0 <= value <= 1.0:
                raise ProjectError(f"{key} must be in [0, 1], got {value}")
            self.set_meta(key, repr(float(value)))

    # -- figures ---------------------------------------------------------------------------

    def team_overview(self) -> TeamOverview:
        """Progress, each member's throughput, and the tasks waiting for review."""
        by_state = dict.fromkeys(TaskState, 0)
        for state, count in self._conn.execute(
            "SELECT state, COUNT(*) FROM persons WHERE iscrowd = 0 GROUP BY state"
        ):
            by_state[TaskState(state)] = int(count)
        answers = {
            str(name): int(n)
            for name, n in self._conn.execute(
                "SELECT a.name, COALESCE(SUM(s.n_answered), 0) FROM answers s "
                "JOIN annotators a ON a.id = s.annotator_id GROUP BY a.name"
            )
        }
        members = []
        for name, holding, finished, first, last in self._conn.execute(
            "SELECT * FROM dp_lease_summary()"
        ):
            hours = (last - first) / 3600.0 if first is not None and last > first else 0.0
            rate = (int(finished) - 1) / hours if hours > 0 else 0.0
            members.append(
                MemberFigures(str(name), int(holding), int(finished), answers.get(name, 0), rate)
            )
        return TeamOverview(
            by_state=by_state,
            waiting_review=by_state[TaskState.CORRESPONDED],
            members=members,
            agreement_share=float(self.meta(AGREEMENT_KEY) or 0),
            gold_rate=float(self.meta(GOLD_RATE_KEY) or 0),
        )


def _literal(text: str) -> str:
    """A SQL string literal (role passwords cannot be bound as parameters)."""
    return "'" + text.replace("'", "''") + "'"
