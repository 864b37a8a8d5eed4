"""What every blueprint shares: the request's session, the runtime, pagination, local times,
and marshmallow's messages in Chinese (they reach people unchanged through 422 answers)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from server.timeutil import to_local

# ---- marshmallow in Chinese -------------------------------------------------------------

fields.Field.default_error_messages.update(
    required="缺少必填项", null="不能为空", validator_failed="值无效"
)
fields.String.default_error_messages.update(invalid="应为文本", invalid_utf8="不是有效的 UTF-8 文本")
fields.Integer.default_error_messages.update(invalid="应为整数")
fields.Number.default_error_messages.update(invalid="应为数字", too_large="数值过大")
fields.Boolean.default_error_messages.update(invalid="应为 true 或 false")
fields.DateTime.default_error_messages.update(
    invalid="应为日期时间（YYYY-MM-DDTHH:MM:SS）", invalid_awareness="日期时间的时区信息有误", format="无法格式化为日期时间"
)
fields.Date.default_error_messages.update(invalid="应为日期（YYYY-MM-DD）", format="无法格式化为日期")
fields.Email.default_error_messages.update(invalid="电子邮箱格式不正确")
fields.Nested.default_error_messages.update(type="应为对象")
fields.Mapping.default_error_messages.update(invalid="应为对象")
fields.List.default_error_messages.update(invalid="应为列表")
Schema._default_error_messages = {"type": "应为 JSON 对象", "unknown": "未知字段"}
validate.Length.message_min = "长度不能少于 {min}"
validate.Length.message_max = "长度不能超过 {max}"
validate.Length.message_all = "长度应在 {min} 到 {max} 之间"
validate.Length.message_equal = "长度应为 {equal}"
validate.Range.message_min = "应{min_op} {{min}}"
validate.Range.message_max = "应{max_op} {{max}}"
validate.Range.message_all = "应{min_op} {{min}} 且{max_op} {{max}}"
validate.Range.message_gte, validate.Range.message_gt = "不小于", "大于"
validate.Range.message_lte, validate.Range.message_lt = "不大于", "小于"
validate.OneOf.default_message = "应为以下之一：{choices}"
validate.Regexp.default_message = "格式不正确"
validate.Email.default_message = "电子邮箱格式不正确"


# ---- input the database could not even be asked about ----------------------------------------

# The largest BIGINT. SQLite cannot bind a larger Python int (OverflowError), so an id beyond it
# must be refused before it reaches a query: 404 in a path, 422 in a body or query string.
MAX_ID = 2**63 - 1
# Far beyond any real page, yet OFFSET (page - 1) * page_size stays a valid integer on both backends.
MAX_PAGE = 10**9


def id_field(**kwargs: Any) -> fields.Integer:
    """A row id in a body or query string: a positive integer that fits a BIGINT."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a number beyond a BIGINT matches no route (404)."""

    def __init__(self, map, *args: Any, **kwargs: Any):  # noqa: A002, ANN001
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class _Parser(FlaskParser):
    """JSON nested deeper than the parser can recurse is bad JSON (400), not a 500; one schema
    instance per argument schema class for the life of the process."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[Schema], Schema] = {}

    def _get_schema(self, argmap, req):  # noqa: ANN001, ANN202
        # webargs instantiates a Schema class on every request; building one deep-copies all of
        # its fields, about a tenth of a millisecond on a list request. Loading keeps no state
        # in the instance, so one serves every request and thread.
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)

    def load_json(self, req, schema):  # noqa: ANN001, ANN201
        try:
            return super().load_json(req, schema)
        except RecursionError as exc:
            return self._handle_invalid_json_error(exc, req)


# Every blueprint, including those written later, parses arguments with it.
Blueprint.ARGUMENTS_PARSER = _Parser()


# ---- runtime ---------------------------------------------------------------------------


def runtime() -> Any:
    return current_app.extensions["union"]


def db_session() -> Session:
    return runtime().db.session()


def config(key: str) -> Any:
    return current_app.config[key]


# ---- shared schemas ----------------------------------------------------------------------


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


class ErrorSchema(Schema):
    status = fields.Integer()
    code = fields.String(metadata={"description": "稳定的错误代码"})
    message = fields.String(metadata={"description": "中文错误信息"})
    fields_ = fields.Dict(data_key="fields", metadata={"description": "字段 → 错误信息"})


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
