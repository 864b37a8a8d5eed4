"""Every error leaves as JSON: an HTTP status, a stable ``code`` and a Chinese ``message``.

Validation errors add ``fields`` (field → message) so a form can show each beside its input.
A 404, 405, 413, 415, 422 or 429 is never rendered as HTML, and nothing a client sends can
produce a 500 page: an unexpected exception is logged and answered with a generic message.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, has_request_context, jsonify, make_response, request
from markupsafe import escape
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from server.core.errors import DomainError, TooManyRequests

log = logging.getLogger(__name__)

HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式有误"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "当前账号无权执行此操作"),
    404: ("not_found", "请求的资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "数据状态冲突，请刷新后重试"),
    413: ("payload_too_large", "上传内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("validation_error", "提交的数据有误"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
    500: ("internal_error", "服务器内部错误，请稍后再试"),
    503: ("service_unavailable", "服务暂不可用，请稍后再试"),
}


BROWSER_PREFIX = "/sso/"

ERROR_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录未完成 · 工会智慧平台</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto; padding: 0 1em">
<h1 style="font-size: 1.3em">登录未完成</h1>
<p>{message}</p>
<p style="color: #666">错误代码：{code}（HTTP {status}）</p>
<p><a href="/">返回首页重新登录</a></p>
</body></html>
"""


def _wants_page() -> bool:
    """A person's browser on a sign-on route gets a page; scripts and the API keep JSON.

    SSO callbacks are reached by redirects, so the one reading the answer is a person: a bare
    JSON body would be the "clear page" nobody can read. Anything that does not prefer HTML
    (``Accept: */*`` included) still gets the JSON error.
    """
    if not has_request_context() or not request.path.startswith(BROWSER_PREFIX):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > request.accept_mimetypes["application/json"]


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None):
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    if _wants_page():
        resp = make_response(ERROR_PAGE.format(message=escape(message), code=escape(code), status=status))
        resp.mimetype = "text/html"
    else:
        resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _flatten(messages: Any, prefix: str = "") -> dict[str, str]:
    """webargs/marshmallow nest messages by location and field; flatten to 'a.b[0].c'."""
    out: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if prefix == "" and key in ("json", "query", "form", "files", "headers", "view_args"):
                out.update(_flatten(value, ""))
                continue
            if key == "_schema" and prefix:
                name = prefix  # a nested object that is not an object at all: name the field itself
            elif isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        out[prefix or "_schema"] = "；".join(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            out.update(_flatten(value, f"{prefix}[{i}]"))
    else:
        out[prefix or "_schema"] = str(messages)
    return out


def _label(field: str) -> str:
    return "请求体" if field == "_schema" else field


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        if getattr(exc, "keep_changes", False):
            g.keep_changes = True
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        return error_response(exc.status, exc.code, exc.message, exc.fields, headers)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        code, message = HTTP_CODES.get(status, ("http_error", exc.description or "请求失败"))
        fields = None
        data = getattr(exc, "data", None) or {}
        if status == 422 and data.get("messages"):
            fields = _flatten(data["messages"])
            message = "提交的数据有误：" + "；".join(f"{_label(k)} {v}" for k, v in fields.items())
        elif status == 400 and "JSON" in json_text(data.get("messages")) + (exc.description or ""):
            code, message = "bad_json", "请求体不是有效的 JSON"
        elif status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            if limit:
                message = f"上传内容过大，不能超过 {limit // (1024 * 1024)} MB"
        elif data.get("message") and isinstance(data["message"], str) and _is_chinese(data["message"]):
            message = data["message"]
        headers = {}
        if status == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)
        return error_response(status, code, message, fields, headers)

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError):
        # A race lost to a unique key or a vanished row: the transaction is rolled back.
        log.info("integrity error: %s", exc.orig)
        return error_response(409, "conflict", "数据已被他人修改或与已有记录重复，请刷新后重试")

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError):
        # The row's version moved between our read and our UPDATE: someone else saved first.
        return error_response(409, "stale_version", "该记录已被他人修改，请刷新后重试")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        code, message = HTTP_CODES[500]
        return error_response(500, code, message)


def json_text(messages: Any) -> str:
    return str(messages) if messages else ""


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
