"""Schemas many routes share: pages of items, ids, local times, the record of a background job."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

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
