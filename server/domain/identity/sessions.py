"""Portal sessions: a database row found by the SHA-256 of a random key the cookie holds, so
sign-out and CAS Single Logout end it for every web process at once; the CSRF token it carries."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.core import audit
from server.core.access import Identity
from server.core.db import plain_rows
from server.core.timeutil import utcnow
from server.domain.accounts.models import User
from server.domain.accounts.users import (
    hash_token,
    holder_statement,
    identity_from_rows,
)
from server.domain.identity.models import PortalSession


@dataclass
class StartedSession:
    key: str
    row: PortalSession


def start_portal_session(session: Session, user: User, source: str, *, ttl_hours: int, address: str | None,
                         cas_ticket: str | None = None) -> StartedSession:
    key = secrets.token_urlsafe(32)
    row = PortalSession(
        user_id=user.id, key_hash=hash_token(key), csrf_token=secrets.token_urlsafe(32), source=source,
        cas_ticket=cas_ticket, expires_at=utcnow() + timedelta(hours=ttl_hours), created_address=address,
    )
    session.add(row)
    session.flush()
    return StartedSession(key, row)


_SESSION_HOLDER = holder_statement(PortalSession.key_hash, PortalSession.id.label("session_id"),
                                   PortalSession.revoked_at, PortalSession.expires_at, PortalSession.csrf_token,
                                   PortalSession.source)


def resolve_portal_session(session: Session, key: str, address: str | None) -> Identity | None:
    rows = plain_rows(session, _SESSION_HOLDER, {"digest": hash_token(key)}).all()
    if not rows or rows[0].revoked_at is not None or rows[0].expires_at <= utcnow():
        return None
    row = rows[0]
    return identity_from_rows(rows, address=address, extra={
        "portal_session_id": row.session_id, "csrf_token": row.csrf_token, "source": row.source})


def csrf_ok(identity: Identity, presented: str | None) -> bool:
    expected = identity.extra.get("csrf_token")
    return bool(expected and presented) and hmac.compare_digest(str(expected), str(presented))


def end_portal_session(session: Session, identity: Identity) -> None:
    sid = identity.extra.get("portal_session_id")
    if sid is not None:
        session.execute(update(PortalSession).where(PortalSession.id == sid, PortalSession.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
    audit.record(session, identity, "auth.logout", object_type="user", object_id=identity.user_id,
                 new={"portal_session_id": sid})


def end_sessions_by_cas_ticket(session: Session, ticket: str, *, address: str | None) -> int:
    """CAS Single Logout: the session the ticket opened ends; an unknown ticket changes nothing."""
    row = session.scalar(select(PortalSession).where(PortalSession.cas_ticket == ticket))
    if row is None or row.revoked_at is not None:
        return 0
    row.revoked_at = utcnow()
    session.flush()
    audit.record(session, None, "auth.sso_logout", object_type="user", object_id=row.user_id,
                 new={"portal_session_id": row.id, "by": "cas_slo"}, address=address, actor_name="CAS")
    return 1


def cas_ticket_seen(session: Session, ticket: str) -> bool:
    return session.scalar(select(PortalSession.id).where(PortalSession.cas_ticket == ticket)) is not None
