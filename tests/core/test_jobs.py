"""Jobs start only after the transaction that asked for them commits, and run on a real
worker on the MariaDB + Redis pass (inline on the embedded default)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from server.core.timeutil import utcnow
from server.domain.accounts import users as accounts
from server.domain.accounts.models import ApiToken, User
from tests.support.world import wait_for

PURGE = "jobs.maintenance.purge_expired_tokens"


def _stale_token(rt, world) -> int:  # noqa: ANN001
    with rt.db.unit_of_work() as s:
        user = s.get(User, world.users["member"])
        issued = accounts.issue_token(s, user, 1)
        issued.row.expires_at = utcnow() - timedelta(days=60)
        return issued.row.id


def _exists(rt, token_id: int) -> bool:  # noqa: ANN001
    with rt.db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.id == token_id)) == 1


def test_rolled_back_transaction_enqueues_nothing(rt, world, worker):  # noqa: ANN001
    token_id = _stale_token(rt, world)
    session = rt.db.factory()
    rt.queue.enqueue_after_commit(session, PURGE)
    session.rollback()
    session.close()
    assert rt.queue.queue.count == 0
    assert _exists(rt, token_id)


def test_committed_transaction_runs_job(rt, world, worker):  # noqa: ANN001
    token_id = _stale_token(rt, world)
    live = accounts_count = None
    with rt.db.unit_of_work() as session:
        accounts_count = session.scalar(select(func.count()).select_from(ApiToken))
        rt.queue.enqueue_after_commit(session, PURGE)
    wait_for(lambda: not _exists(rt, token_id))
    with rt.db.unit_of_work() as session:
        live = session.scalar(select(func.count()).select_from(ApiToken))
    assert live == accounts_count - 1  # only the stale one went; the world's live tokens remain


def test_job_is_idempotent(rt, world, worker):  # noqa: ANN001
    _stale_token(rt, world)
    first = rt.queue.enqueue(PURGE)
    wait_for(lambda: first.get_status(refresh=True) == "finished")
    second = rt.queue.enqueue(PURGE)
    wait_for(lambda: second.get_status(refresh=True) == "finished")
    assert first.return_value() == 1 and second.return_value() == 0


def test_job_names_of_the_old_layout_still_resolve():
    """Jobs queued before the areas moved (issue 13) sit in a deployed Redis under their old
    names; RQ resolves a job's function with ``import_attribute``, so each old name must give
    the very function of the new module for one release."""
    from rq.utils import import_attribute

    from jobs.members import run_import
    from jobs.statistics import run_export

    assert import_attribute("jobs.exports.run_export") is run_export
    assert import_attribute("jobs.member_import.run_import") is run_import
