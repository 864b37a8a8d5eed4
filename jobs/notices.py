"""Delivering the outbox: one notice per row, marked sent exactly once.

The row is claimed by a conditional UPDATE (``… SET status = 'sent' WHERE id = ? AND status =
'pending'``) in the job's transaction, then handed to the provider; if the provider fails the
transaction rolls back, the row stays pending and RQ's retry tries again. A job that runs twice
finds the row already sent and does nothing. The provider for now only logs what it would send;
the messaging module replaces it (WeChat subscribe messages, SMS).
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from jobs.context import unit_of_work
from server.core.models import Outbox
from server.core.timeutil import utcnow

log = logging.getLogger("union.notices")


class LoggingProvider:
    """Records what would be sent."""

    def send(self, row: Outbox) -> None:
        log.info("notice %s → user %s: %s %s/%s %s", row.id, row.recipient_user_id, row.event,
                 row.object_type, row.object_id, row.payload)


provider = LoggingProvider()


def deliver(outbox_id: int) -> str:
    """'sent' when this run delivered the notice, 'skipped' when it was already sent (or gone)."""
    with unit_of_work() as session:
        claimed = session.execute(
            update(Outbox)
            .where(Outbox.id == outbox_id, Outbox.status == "pending")
            .values(status="sent", sent_at=utcnow(), attempts=Outbox.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            return "skipped"
        provider.send(session.get(Outbox, outbox_id))
        return "sent"
