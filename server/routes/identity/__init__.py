"""HTTP face of identity: password login and the caller (auth), WeChat login and binding,
campus single sign-on (CAS, OIDC) with the portal's cookie session."""

from __future__ import annotations

from typing import Any

from server import wechat as wechat_client
from server.routes.identity import auth, sso
from server.routes.identity import wechat as wechat_routes

blueprints = [auth.blp, wechat_routes.blp]


def init_app(app: Any) -> None:
    wechat_client.init_app(app)
    sso.init_app(app)  # /sso/* is a plain Flask blueprint: browser redirects, not API operations
