"""What every blueprint is built on: the project's Blueprint and Api subclasses, the request
parser (one text rule, unknown query parameters refused), the ``Error`` schema, and
marshmallow's messages in Chinese (they reach people unchanged through 422 answers).

The request's session, runtime and caller are :mod:`server.routes.context`; the schemas that
many routes share (pages, local times, job records) are :mod:`server.routes.schemas`."""

from __future__ import annotations

from copy import deepcopy
from functools import wraps
from http import HTTPStatus
from typing import Any

import flask_smorest
from flask.views import MethodView
from flask_smorest import Api
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from server.core import access
from server.core import text as text_rule
from server.core.access import AnyOf, Requirement

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


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a number beyond a BIGINT matches no route (404)."""

    def __init__(self, map, *args: Any, **kwargs: Any):  # noqa: A002, ANN001
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class _Parser(FlaskParser):
    """How every argument of every route is read.

    - JSON nested deeper than the parser can recurse is bad JSON (400), not a 500;
    - every string that arrives (JSON keys and values, query and form fields, upload names)
      meets the one text rule of :mod:`server.core.text` before any schema sees it: a 422 naming
      the field, instead of a lone surrogate failing in the database driver;
    - a query parameter the operation does not declare is refused (422 naming it, with the
      ones it takes), so nobody believes a filter applied that did not;
    - one schema instance per argument schema class for the life of the process.
    """

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE, "querystring": RAISE}

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

    def pre_load(self, location_data, *, schema, req, location):  # noqa: ANN001, ANN201
        if location in ("query", "querystring"):
            _refuse_unknown_query(location_data, schema)
        problems = dict(_text_problems(location_data))
        if problems:
            raise ValidationError({path: [why] for path, why in problems.items()})
        return location_data


def _refuse_unknown_query(args: Any, schema: Schema) -> None:
    known = {f.data_key or name for name, f in schema.load_fields.items()}
    unknown = [key for key in args if key not in known]
    if unknown:
        accepted = "、".join(sorted(known)) if known else "无"
        raise ValidationError({key: [f"未知的查询参数（本接口可用：{accepted}）"] for key in unknown})


def _text_problems(data: Any):  # noqa: ANN202
    """(path, why) for each string in ``data`` that the text rule refuses, paths written as the
    422 answer's ``fields`` name them (``filter.all[0].value``). Iterative: a body nested as deep
    as the JSON decoder allows must not overflow the stack here."""
    if hasattr(data, "items") and hasattr(data, "getlist"):  # query string or form: a MultiDict
        data = {key: data.getlist(key) if len(data.getlist(key)) > 1 else data.get(key) for key in data}
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if why := text_rule.problem(value):
                yield path or "_schema", why
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and (why := text_rule.problem(key)):
                    yield (f"{path}." if path else "") + ascii(key)[1:-1], "字段名" + why
                    continue
                stack.append(((f"{path}.{key}" if path else str(key)), item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif getattr(value, "filename", None):  # an upload: its name is text too
            if why := text_rule.problem(value.filename):
                yield path or "file", "文件名" + why


class NoQueryArgs(Schema):
    """The query string of an operation that takes none: any parameter is refused."""


_BODY_LOCATIONS = ("json", "form", "files", "json_or_form")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Blueprint(flask_smorest.Blueprint):
    """Every blueprint of the API (the one customisation point, as flask-smorest suggests).

    At registration each operation is given what the whole API promises, so no route has to
    remember it: its query string is parsed even when it declares no parameters (so an unknown
    one is refused), and its error answers are documented as ``Error`` under the statuses it
    can really give — 401 and 403 unless it is public (``security=[]``: no or insufficient
    identity, a missing CSRF token), 404 on a
    path with an id, 400 and 413 with a body, 409 on a write (a unique key or a concurrent
    change at commit), 422 with any argument. An operation adds its own with :meth:`errors`
    (a 404 for an id in the body, 429 …). There is no catch-all ``default`` response: the
    status-code conformance test then proves that nothing answers a status the document does
    not name.

    Every operation declares once who may call it, directly above its ``def``:
    ``@blp.requires("members.read")`` (several: all of them; ``any_of(a, b)``: one of them;
    ``SIGNED_IN``: any identity) or ``@blp.public`` (no identity at all: ``security=[]``). The
    declaration is in the document as ``x-permission``; tests/core/test_route_permissions.py fails on
    an operation without one. Which object the caller may then touch is the area's ``policy.py``.
    """

    ARGUMENTS_PARSER = _Parser()
    PUBLIC = "public"

    @staticmethod
    def requires(*requirements: Requirement):  # noqa: ANN205
        """401 without an identity, 403 without the permissions, checked after the arguments are
        parsed (an invalid body is a 422 whoever sends it) and before the handler runs. The
        handler reads the caller with :func:`server.routes.context.current_identity`."""
        if not requirements or not all(isinstance(r, (str, AnyOf)) for r in requirements):
            raise TypeError("@blp.requires takes permissions, any_of(…) or SIGNED_IN")

        def decorator(func):  # noqa: ANN001, ANN202
            if getattr(func, "_apidoc", None) or hasattr(func, "__wrapped__"):
                raise TypeError(f"@blp.requires goes directly above def {func.__qualname__}: "
                                "the check runs after the arguments are parsed, right before the handler")

            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                from server.routes.context import current_identity

                access.check(current_identity(), requirements)
                return func(*args, **kwargs)

            return _declare(wrapper, requirements)

        return decorator

    @staticmethod
    def public(func):  # noqa: ANN001, ANN205
        """No identity needed (health, login): documented with ``security=[]``, so no 401/403."""
        func._apidoc = deepcopy(getattr(func, "_apidoc", {}))
        func._apidoc.setdefault("manual_doc", {})["security"] = []
        return _declare(func, Blueprint.PUBLIC)

    @staticmethod
    def errors(*statuses: int):  # noqa: ANN205
        """Document further error statuses of an operation (each answered as ``Error``)."""

        def decorator(func):  # noqa: ANN001, ANN202
            _document_errors(func, statuses)
            return func

        return decorator

    def add_url_rule(self, rule, endpoint=None, view_func=None, provide_automatic_options=None, **options):  # noqa: ANN001, ANN201
        if isinstance(view_func, type(MethodView)):
            for method in self.HTTP_METHODS:
                if method in (view_func.methods or ()):
                    name = method.lower()
                    setattr(view_func, name, self._operation(getattr(view_func, name), rule, method))
        return super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)

    def _operation(self, func: Any, rule: str, method: str) -> Any:
        declared = getattr(func, "_apidoc", {}).get("arguments", {}).get("parameters", [])
        locations = {p["in"] for p in declared if isinstance(p, dict)}
        if not locations & {"query", "querystring"}:
            func = self.arguments(NoQueryArgs, location="query", as_kwargs=True)(func)
        public = func._apidoc.get("manual_doc", {}).get("security") == []
        statuses = [] if public else [401, 403]
        if "<" in rule:
            statuses.append(404)
        if locations & set(_BODY_LOCATIONS):
            statuses += [400, 413]
        if method in _WRITES:
            statuses.append(409)
        _document_errors(func, statuses)
        return func


def declared_access(func: Any) -> str | None:
    """What an operation declared (``x-permission``): ``public``, ``signed_in``, a permission,
    ``a + b`` (all), ``a | b`` (one of); None when it declared nothing."""
    return getattr(func, "_union_access", None)


def _declare(func: Any, requirements: Any) -> Any:
    if requirements == Blueprint.PUBLIC:
        text = Blueprint.PUBLIC
    else:
        text = " + ".join(f"({r})" if isinstance(r, AnyOf) and len(requirements) > 1 else str(r)
                          for r in requirements)
    func._union_access = text
    func._apidoc = deepcopy(getattr(func, "_apidoc", {}))
    func._apidoc.setdefault("manual_doc", {})["x-permission"] = text
    return func


def _document_errors(func: Any, statuses: Any) -> None:
    doc = func.__dict__.setdefault("_apidoc", {})
    responses = doc.setdefault("response", {}).setdefault("responses", {})
    for status in statuses:
        responses.setdefault(status, [HTTPStatus(status).name])


class UnionApi(Api):
    """flask-smorest's Api with our error shape in the document, and no catch-all response."""

    ERROR_SCHEMA = None  # set below, once ErrorSchema exists
    DEFAULT_ERROR_RESPONSE_NAME = None


class ErrorSchema(Schema):
    """Every error answer of the API (see :func:`server.routes.errors.error_response`)."""

    class Meta:
        name = "Error"

    status = fields.Integer(required=True, metadata={"description": "HTTP 状态码"})
    code = fields.String(required=True, metadata={"description": "稳定的错误代码，如 validation_error"})
    message = fields.String(required=True, metadata={"description": "中文错误信息"})
    fields_ = fields.Dict(keys=fields.String(), values=fields.String(), data_key="fields",
                          metadata={"description": "字段 → 错误信息（校验错误时）"})


UnionApi.ERROR_SCHEMA = ErrorSchema
