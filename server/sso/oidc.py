"""OIDC client: authlib's Flask integration, configured for the school's provider.

authlib does the protocol work that is easy to get subtly wrong: discovery from
``server_metadata_url``, PKCE (S256), the ``state`` kept in the signed session and checked once,
the ``nonce`` checked in the ID token, the token's signature (JWKS), issuer, audience and expiry.
``default_timeout`` puts a timeout on every HTTP call it makes (metadata, token, JWKS, userinfo).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Flask

NAME = "campus"
log = logging.getLogger(__name__)


def init_app(app: Flask) -> Any | None:
    """The registered OIDC client, or None when no provider is configured."""
    if not app.config.get("OIDC_METADATA_URL"):
        return None
    oauth = OAuth(app)
    return oauth.register(
        NAME,
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config.get("OIDC_CLIENT_SECRET") or None,
        server_metadata_url=app.config["OIDC_METADATA_URL"],
        client_kwargs={
            "scope": app.config["OIDC_SCOPE"],
            "code_challenge_method": "S256",
            "default_timeout": app.config["SSO_TIMEOUT_SECONDS"],
            # A public client (no secret) authenticates with PKCE alone.
            **({} if app.config.get("OIDC_CLIENT_SECRET") else {"token_endpoint_auth_method": "none"}),
        },
    )


def logout_url(client: Any, client_id: str, after: str) -> str | None:
    """Where to send the browser to sign out at the provider too (OpenID Connect RP-Initiated
    Logout 1.0: its ``end_session_endpoint`` with our ``client_id`` and where to come back), or
    None when the provider offers none or cannot be asked — signing out here still stands."""
    try:
        endpoint = client.load_server_metadata().get("end_session_endpoint")
    except Exception:  # noqa: BLE001  (the provider is down: our own sign-out has happened)
        log.warning("OIDC metadata unavailable at sign-out", exc_info=True)
        return None
    if not endpoint:
        return None
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode({'client_id': client_id, 'post_logout_redirect_uri': after})}"


# What a person should do after each error, by its OAuth 2.0 / OIDC error code (RFC 6749
# §4.1.2.1 and §5.2, OpenID Connect Core §3.1.2.6) or authlib's / joserfc's own.
ADVICE = {
    "invalid_grant": "登录凭证已失效或已被使用，请重新登录。",
    "access_denied": "统一身份认证没有授权本次登录（可能已取消或拒绝授权），请重新登录。",
    "invalid_request": "登录请求无效，请回到本站重新登录。",
    "mismatching_state": "登录请求已过期，或不是在本浏览器中从本站发起的，请回到本站重新登录。",
    "login_required": "统一身份认证的登录已失效，请重新登录。",
    "interaction_required": "需要在统一身份认证页面完成确认，请重新登录。",
    "consent_required": "需要在统一身份认证页面同意授权，请重新登录。",
    "account_selection_required": "请重新登录并选择要使用的账号。",
    "temporarily_unavailable": "统一身份认证暂时繁忙，请稍后重新登录。",
    "server_error": "统一身份认证暂时出错，请稍后重新登录。",
    "invalid_client": "本站的统一身份认证配置有误（客户端认证失败），请联系管理员。",
    "unauthorized_client": "本站未获准使用这种登录方式，请联系管理员。",
    "unsupported_response_type": "本站与统一身份认证的配置不一致，请联系管理员。",
    "unsupported_grant_type": "本站与统一身份认证的配置不一致，请联系管理员。",
    "invalid_scope": "本站申请的授权范围不被统一身份认证接受，请联系管理员。",
    "expired_token": "身份令牌已过期，请重新登录；如反复出现，请联系管理员检查服务器时间。",
    "invalid_claim": "身份令牌未通过校验，请重新登录；如仍失败，请联系管理员。",
    "missing_claim": "身份令牌未通过校验，请重新登录；如仍失败，请联系管理员。",
    "insecure_claim": "身份令牌未通过校验，请重新登录；如仍失败，请联系管理员。",
    "bad_signature": "身份令牌的签名无效，请重新登录；如仍失败，请联系管理员。",
}
DEFAULT_ADVICE = "请重新登录；如仍失败，请联系管理员。"
ERROR_CODE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def error_code(value: object) -> str:
    """The error code when it is fit to show: OAuth codes are short ASCII words, and the
    ``error`` query parameter is whatever the link said, so anything else is not repeated."""
    text = str(value or "")
    return text if ERROR_CODE_RE.fullmatch(text) else "unknown_error"


def failure_message(error: str, claim: str | None = None) -> str:
    """「OIDC 认证失败（code）：what to do」 — the code named once, the advice in Chinese.

    The provider's ``error_description`` is not shown: it is English at most providers, and on
    the callback anyone can put text of their choosing into a link to this site. It is logged.
    """
    code = error_code(error)
    named = f"{code}：{error_code(claim)}" if claim else code
    return f"OIDC 认证失败（{named}）：{ADVICE.get(code, DEFAULT_ADVICE)}"
