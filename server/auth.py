"""Who is asking, and what they may touch.

The caller is identified once per request from ``Authorization: Bearer <token>`` (the portal's
session cookie joins later with SSO). :func:`require` is the one permission check every route
uses; it delegates to :func:`server.domain.roles.require`, so jobs and later modules apply the
very same rule.
"""

from __future__ import annotations

from flask import g, request

from server.domain import accounts, roles
from server.domain.errors import Unauthorized
from server.domain.roles import Identity, Scope
from server.routes.common import db_session


def client_address() -> str | None:
    return request.remote_addr


def current_identity() -> Identity | None:
    if "identity" not in g:
        g.identity = _identify()
    return g.identity


def _identify() -> Identity | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return accounts.resolve_token(db_session(), token.strip(), client_address())


def require(permission: str, sub_union_id: int | None = None, *, scoped: bool = False) -> Scope:
    """401 without identity, 403 without the permission, 404 outside the caller's scope."""
    return roles.require(current_identity(), permission, sub_union_id, scoped=scoped)


def require_identity() -> Identity:
    identity = current_identity()
    if identity is None:
        raise Unauthorized("请先登录")
    return identity
