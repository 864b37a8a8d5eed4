"""Writing the audit log (reading it is the audit area's, :mod:`server.domain.audit.log`).

Every change to member data, every export, every sign-in and every write of any kind is
recorded in the same transaction as the change itself, so the log and the data never disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from server.core.access import Identity
from server.core.db import BULK_ROWS
from server.core.models import AuditLog
from server.core.timeutil import utcnow


def record(
    session: Session,
    actor: Identity | None,
    action: str,
    *,
    object_type: str | None = None,
    object_id: Any = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    sub_union_id: int | None = None,
    address: str | None = None,
    actor_name: str | None = None,
) -> AuditLog:
    entry = AuditLog(**_columns(actor, action, object_type=object_type, object_id=object_id, old=old, new=new,
                                sub_union_id=sub_union_id, address=address, actor_name=actor_name))
    session.add(entry)
    session.flush()
    return entry


def _columns(actor: Identity | None, action: str, *, object_type: str | None = None, object_id: Any = None,
             old: dict[str, Any] | None = None, new: dict[str, Any] | None = None, sub_union_id: int | None = None,
             address: str | None = None, actor_name: str | None = None) -> dict[str, Any]:
    """An audit row's columns: the one rule for :func:`record` and :func:`record_many`."""
    return {
        "actor_user_id": actor.user_id if actor else None,
        "actor_name": actor_name or (actor.username if actor else None),
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "sub_union_id": sub_union_id,
        "old": _jsonable(old),
        "new": _jsonable(new),
        "address": address or (actor.address if actor else None),
    }


def record_many(session: Session, actor: Identity | None, action: str, entries: list[dict[str, Any]]) -> None:
    """One audit row per entry (keyword arguments of :func:`record`: ``object_type``,
    ``object_id``, ``sub_union_id``, ``old``, ``new``), written with one executemany INSERT per
    :data:`~server.core.db.BULK_ROWS` instead of an ORM flush per row: a 10,000-row import spent
    seconds flushing its audit rows one at a time. Same columns as :func:`record`, in the same
    transaction."""
    if not entries:
        return
    at = utcnow()
    rows = [{"at": at, **_columns(actor, action, **e)} for e in entries]
    for start in range(0, len(rows), BULK_ROWS):
        session.execute(insert(AuditLog.__table__), rows[start:start + BULK_ROWS])


def changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value differs, as (old values, new values)."""
    keys = [k for k in new if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys}, {k: new.get(k) for k in keys}


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    out: dict[str, Any] = {}
    for k, v in values.items():
        if hasattr(v, "isoformat"):
            v = v.isoformat()
        out[k] = v
    return out
