"""The one hook through which every workflow state change becomes a notice.

``emit`` writes an outbox row in the caller's transaction and asks for
``jobs.notices.deliver`` once that transaction commits, so a rolled-back step notifies nobody
and a worker never looks for a row that is not there yet. The messaging module will replace
the delivery provider; the row and its status stay the contract.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.core import queue
from server.core.models import Outbox

DELIVER = "jobs.notices.deliver"


def emit(session: Session, event: str, *, object_type: str, object_id: Any, recipient_user_id: int | None,
         payload: dict[str, Any] | None = None) -> Outbox:
    row = Outbox(event=event, object_type=object_type, object_id=str(object_id),
                 recipient_user_id=recipient_user_id, payload=payload or {}, status="pending")
    session.add(row)
    session.flush()
    # By keyword: JobQueue.enqueue hands rq an explicit kwargs=, which rq refuses to mix with positional args.
    queue.current().enqueue_after_commit(session, DELIVER, outbox_id=row.id, retry=(3, 30))
    return row
