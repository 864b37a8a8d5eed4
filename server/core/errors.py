"""Errors the domain raises; the web layer renders them as JSON with a stable code.

Messages are Chinese because they reach people unchanged; ``fields`` maps a field code to
what is wrong with it, so a form can show each message beside its input.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    """Input that does not satisfy a rule; ``fields`` names each offending field."""

    status = 422
    code = "validation_error"

    def __init__(self, fields: dict[str, str], message: str | None = None, *, code: str | None = None):
        if message is None:
            message = "；".join(f"{k}：{v}" for k, v in fields.items())
        super().__init__(message, code=code, fields=fields)


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
