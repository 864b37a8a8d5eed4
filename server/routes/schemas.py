"""Schemas many routes share: pages of items, ids, local times, values read along a
relationship, labels of codes, the record of a background job."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import jsonify
from marshmallow import Schema, fields, missing, validate

from server.core.timeutil import to_local
from server.routes.common import MAX_ID

# Far beyond any real page, yet OFFSET (page - 1) * page_size stays a valid integer on both backends.
MAX_PAGE = 10**9


def id_field(**kwargs: Any) -> fields.Integer:
    """A row id in a body or query string: a positive integer that fits a BIGINT."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class LocalDateTime(fields.DateTime):
    """A UTC column shown in Asia/Shanghai with its offset."""

    def _serialize(self, value, attr, obj, **kwargs):  # noqa: ANN001
        return super()._serialize(to_local(value), attr, obj, **kwargs)


def through(path: str, field: type[fields.Field] = fields.String, **kwargs: Any) -> fields.Field:
    """A value read along the model's relationships (``"requester.display_name"``), null when
    a relationship on the way is empty (no such person, not decided yet)."""
    return field(attribute=path, allow_none=True, dump_default=None, **kwargs)


class Label(fields.String):
    """The Chinese label of a code the model holds: ``status_label = Label(STATUS_LABELS, "status")``."""

    def __init__(self, labels: Mapping[str, str], source: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.labels, self.source = labels, source

    def get_value(self, obj, attr, accessor=None, default=missing):  # noqa: ANN001, ANN201
        # Read from ``source``, not ``attribute``: a second field with the attribute of another
        # (``status``) is refused by marshmallow.
        return super().get_value(obj, self.source, accessor, default)

    def _serialize(self, value, attr, obj, **kwargs):  # noqa: ANN001
        return None if value is None else self.labels[value]


class JobOut(Schema):
    """A background job run for one person (an import, an export): what every such answer shows."""

    id = fields.Integer()
    job_id = fields.String()
    status = fields.String()
    error = fields.String(allow_none=True, metadata={"description": "失败原因"})
    created_at = LocalDateTime()
    started_at = LocalDateTime(allow_none=True)
    finished_at = LocalDateTime(allow_none=True)


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE),
                          metadata={"description": "页码，从 1 开始"})
    page_size = fields.Integer(
        load_default=20, validate=validate.Range(min=1, max=200), metadata={"description": "每页条数，1–200"}
    )


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """The envelope of every page: ``{total, page, page_size, items}``."""
    return type(
        name,
        (Schema,),
        {
            "total": fields.Integer(),
            "page": fields.Integer(),
            "page_size": fields.Integer(),
            "items": fields.List(fields.Nested(item)),
        },
    )


def page_of(total: int, items: list, args: dict) -> dict:
    return {"total": total, "page": args["page"], "page_size": args["page_size"], "items": items}


def paged(blp: Any, args: type[PageArgs], item: type[Schema], name: str, *, dump: bool = True) -> Callable:
    """The one way a route answers a page: ``@paged(blp, TransferListArgs, TransferOut, "TransferPage")``.

    The query string is parsed with ``args`` (a :class:`PageArgs`), handed to the view as usual,
    and the view returns ``(total, items)`` for that page; the answer is the envelope
    ``{total, page, page_size, items}`` documented as ``name``, each item dumped by ``item``.
    The envelope is the mini-program's contract (flask-smorest's own pagination would move the
    counts into a header). ``dump=False``: the items are plain dicts already in ``item``'s shape
    and are sent as they are (the member list, where dumping every value again cost more than
    its queries).
    """

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def view(*a: Any, **kw: Any) -> Any:
            total, items = func(*a, **kw)
            page = page_of(total, items, a[-1])
            return page if dump else jsonify(page)

        return blp.arguments(args, location="query")(blp.response(200, page_schema(item, name))(view))

    return decorator


def reason_field(description: str, **kwargs: Any) -> fields.String:
    """A reason a person writes (for a request, a rejection): required, 1–500 characters."""
    return fields.String(required=True, validate=validate.Length(min=1, max=500),
                         metadata={"description": description}, **kwargs)


class RejectIn(Schema):
    """What every workflow step's rejection carries: the reason, shown to the people involved."""

    reason = reason_field("驳回原因")


class MemberCaseOut(Schema):
    """What every workflow answer about one member starts with: its id, the member and their name."""

    id = fields.Integer()
    member_id = fields.Integer()
    member_name = through("member.name")
