"""Authorization rows of identity: sign-in, the signed-in account, WeChat login and binding
(issue 6); Bearer accounts have no WeChat user."""

from __future__ import annotations

from tests.support.authz import OTHER_SUB, OWN_SUB, SCHOOL, STAFF, Row, Upload, each, expect, only  # noqa: F401

ROWS: list[Row] = [
    ("login", "POST", "/api/v1/auth/login", {"username": "member", "password": "secret123"},
     expect(200, anonymous=200)),
    ("me", "GET", "/api/v1/auth/me", None, expect(200)),
    ("logout", "POST", "/api/v1/auth/logout", None, expect(204)),
    ("wechat.login", "POST", "/api/v1/auth/wechat/login", {"code": "dev:matrix"}, expect(200, anonymous=200)),
    ("wechat.bind", "POST", "/api/v1/auth/wechat/bind", {"staff_no": "20150123", "name": "陈思远", "id_last6": "071236"},
     expect(403)),
    ("wechat.unbind", "DELETE", "/api/v1/auth/wechat/bind", None, expect(403)),
    ("wechat.bind_code", "POST", "/api/v1/auth/wechat/bind-code", None, expect(403)),
    ("wechat.unbind_member", "DELETE", "/api/v1/members/{member_id}/wechat-binding", None,
     only(SCHOOL, 404, **each(OTHER_SUB, 404))),  # school roles reach it; this member has no WeChat
]
