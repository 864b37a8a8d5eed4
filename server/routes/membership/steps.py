"""A workflow step as an operation: ``POST …/<id>/approve`` (or confirm, accept, reject,
cancel, withdraw) calls the area's step function with the caller and the id — and the reason
when it rejects — and answers the object in its new state. Every step of every workflow is the
same shape; only the permission, the rule that decides who may take it (in the domain) and the
summary differ, so each is declared in one call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.views import MethodView
from marshmallow import Schema

from server.core.access import Requirement
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session
from server.routes.schemas import RejectIn

MINIPROGRAM = "小程序"


def step(blp: Blueprint, rule: str, name: str, action: Callable[..., Any], out: type[Schema],
         requires: Requirement, summary: str, *, rejects: bool = False, miniprogram: bool = False) -> None:
    """Register ``POST rule`` as the MethodView ``name`` calling ``action(session, identity, id)``
    (``…, id, reason)`` with ``rejects``, the body then being :class:`RejectIn`)."""

    if rejects:
        def post(self: MethodView, data: dict, **ids: int) -> Any:
            return action(db_session(), current_identity(), *ids.values(), data["reason"])
    else:
        def post(self: MethodView, **ids: int) -> Any:
            return action(db_session(), current_identity(), *ids.values())
    post.__doc__ = summary
    view = blp.response(200, out)(blp.requires(requires)(post))
    if rejects:
        view = blp.arguments(RejectIn)(view)
    if miniprogram:
        view = blp.doc(tags=[MINIPROGRAM, blp.name])(view)
    blp.route(rule)(type(name, (MethodView,), {"post": view, "__doc__": summary}))
