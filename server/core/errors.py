"""Errors the domain raises; the web layer renders them as JSON with a stable code.

Messages are Chinese because they reach people unchanged; ``fields`` maps a field code to
what is wrong with it, so a form can show each message beside its input.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs: object):
        """``class Forbidden(DomainError, status=403, code="forbidden")``: an error's HTTP status
        and stable code, declared in its class line."""
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class Unauthorized(DomainError, status=401, code="unauthorized"):
    """No identity, or one that no longer holds: the person signs in (again)."""


class Forbidden(DomainError, status=403, code="forbidden"):
    """The identity lacks the permission, or this step of a workflow is not theirs to take
    (another sub-union's chair, the wrong stage), or an unsafe cookie request had no CSRF token."""


class NotFound(DomainError, status=404, code="not_found"):
    """Nothing with that id — or nothing the caller may see: the two answer alike."""


class Conflict(DomainError, status=409, code="conflict"):
    """Someone else was first (a conditional UPDATE matched no row), or a unique key holds."""


class BadGateway(DomainError, status=502, code="bad_gateway"):
    """A provider we called answered with an error of its own (WeChat, CAS, OIDC)."""


class Unavailable(DomainError, status=503, code="service_unavailable"):
    """A provider we need could not be reached in time; the person tries again later, and
    nothing was changed meanwhile."""


class Invalid(DomainError, status=422, code="validation_error"):
    """Input that does not satisfy a rule; ``fields`` names each offending field."""

    def __init__(self, fields: dict[str, str], message: str | None = None, *, code: str | None = None):
        if message is None:
            message = "；".join(f"{k}：{v}" for k, v in fields.items())
        super().__init__(message, code=code, fields=fields)


class TooManyRequests(DomainError, status=429, code="too_many_requests"):
    """Refused for now (a sign-in throttle, a binding limit); ``retry_after`` says for how long."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
