"""Who is asking, and what they may touch.

The caller is identified once per request from ``Authorization: Bearer <token>`` or, failing
that, from the portal's session cookie (Flask's signed session holding the key of a server-side
portal session, see :mod:`server.domain.identity.sso`). A cookie-authenticated unsafe request must
carry the session's CSRF token in ``X-CSRF-Token``; a Bearer request needs none, since a
browser never attaches a bearer token by itself. Routes declare what they need with
``@blp.requires`` (:class:`server.routes.common.Blueprint`), which checks the identity found here
with :func:`server.core.access.check`; handlers read the caller with :func:`current_identity`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request, session
from sqlalchemy.orm import Session

from server.core.access import Identity
from server.core.errors import Forbidden
from server.domain.accounts import users as accounts
from server.domain.identity import sessions


def runtime() -> Any:
    return current_app.extensions["union"]


def db_session() -> Session:
    return runtime().db.session()


def config(key: str) -> Any:
    return current_app.config[key]


def client_address() -> str | None:
    return request.remote_addr


def current_identity() -> Identity | None:
    if "identity" not in g:
        g.identity = _identify()
    return g.identity


PORTAL_SESSION_KEY = "psid"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _identify() -> Identity | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return accounts.resolve_token(db_session(), token.strip(), client_address())
    if header:
        return None
    return _identify_portal_session()


def _identify_portal_session() -> Identity | None:
    key = session.get(PORTAL_SESSION_KEY)
    if not isinstance(key, str) or not key:
        return None
    identity = sessions.resolve_portal_session(db_session(), key, client_address())
    if identity is not None and request.method not in SAFE_METHODS and not sessions.csrf_ok(
            identity, request.headers.get(CSRF_HEADER)):
        raise Forbidden("缺少或无效的 CSRF 令牌（请求头 X-CSRF-Token），请刷新页面后重试", code="csrf_failed")
    return identity


def answer_after_commit(answer: Callable[[], Response]) -> None:
    """Answer with ``answer()`` once the request's transaction has committed and the work
    registered to follow the commit has run, instead of with what the view returned (which
    stands if nothing is committed). For an answer that must show that work: a job the
    embedded queue ran in this process."""
    g.answer_after_commit = answer
