"""Campus single sign-on for the portal: CAS and OIDC login, CAS Single Logout, sign-out.

These are browser routes, not JSON API: they answer redirects, and their failures answer an
error with a stable code (the CAS error code included) — a short page for a browser, JSON for
anything else (see :func:`server.routes.errors.error_response`), never a 500. A successful login
starts a portal session (a signed cookie naming a server-side session row) and sets a readable
``union_csrf`` cookie whose value the portal sends back in ``X-CSRF-Token``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, request, session
from werkzeug.wrappers import Response

from server.core.errors import NotFound, Unauthorized, Unavailable
from server.domain.accounts import users as accounts
from server.domain.accounts.users import hash_token
from server.domain.identity import sessions, wechat
from server.domain.identity import sso as identities
from server.routes.context import (
    PORTAL_SESSION_KEY,
    client_address,
    config,
    current_identity,
    db_session,
    runtime,
)
from server.sso import oidc as oidc_mod
from server.sso.cas import CasClient, CasError, parse_logout_request
from server.sso.redirects import safe_next

log = logging.getLogger(__name__)

blp = Blueprint("sso", __name__, url_prefix="/sso")

CSRF_COOKIE = "union_csrf"
NEXT_KEY = "sso_next"
BIND_KEY = "sso_bind"
TICKET_MEMORY_SECONDS = 2 * 86400


class SsoFailed(Unauthorized, code="sso_failed"):
    """The provider's answer does not sign anyone in (a bad ticket, a refused login)."""


class SsoUnavailable(Unavailable, code="sso_unavailable"):
    """The CAS or OIDC server did not answer in time."""


def init_app(app) -> None:  # noqa: ANN001
    """Cookie settings for the portal session, and the OIDC client when one is configured."""
    app.config.update(
        SESSION_COOKIE_NAME="union_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["ENV"] == "production"
        or str(app.config.get("PUBLIC_URL") or "").startswith("https://"),
    )
    app.extensions["union_oidc"] = oidc_mod.init_app(app)
    app.register_blueprint(blp)


def _base_url() -> str:
    return config("PUBLIC_URL") or request.url_root.rstrip("/")


def cas_client() -> CasClient:
    if not config("CAS_SERVER_URL"):
        raise NotFound("本站未配置 CAS 统一身份认证", code="sso_not_configured")
    return CasClient(
        config("CAS_SERVER_URL"), _base_url() + "/sso/cas/callback", config("CAS_VERSION"),
        timeout=config("SSO_TIMEOUT_SECONDS"), max_bytes=config("CAS_MAX_RESPONSE_BYTES"),
    )


def _remember_next_and_bind() -> None:
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    bind = request.args.get("bind")
    if bind is not None:
        if not (0 < len(bind) <= 64):
            raise SsoFailed("绑定码无效", code="bind_code_invalid")
        session[BIND_KEY] = bind
    else:
        session.pop(BIND_KEY, None)


def _finish_login(user, source: str, *, cas_ticket: str | None = None) -> Response:  # noqa: ANN001
    """Bind a pending WeChat code, start the portal session, go to ``next``."""
    db = db_session()
    bind = session.pop(BIND_KEY, None)
    bound = None
    if bind:
        rt = runtime()
        bound = wechat.bind_by_sso(db, rt.redis, config("REDIS_PREFIX"), bind, user, address=client_address())
    target = safe_next(session.pop(NEXT_KEY, None))
    started = _start_session(db, user, source, cas_ticket=cas_ticket)
    if bound is not None:
        response = jsonify(bound=True, member=wechat.member_brief(db, bound),
                           message="绑定成功，请返回小程序")
    else:
        response = redirect(target, code=302)
    return _with_csrf_cookie(response, started)


def _start_session(db, user, source: str, *, cas_ticket: str | None = None) -> sessions.StartedSession:  # noqa: ANN001
    """A new portal session in the signed cookie (only its key: the row holds the rest)."""
    started = sessions.start_portal_session(db, user, source, ttl_hours=config("PORTAL_SESSION_HOURS"),
                                            address=client_address(), cas_ticket=cas_ticket)
    session[PORTAL_SESSION_KEY] = started.key
    session.permanent = False
    return started


def _with_csrf_cookie(response: Response, started: sessions.StartedSession) -> Response:
    """The session's CSRF token in a cookie the portal's script reads and sends back as
    ``X-CSRF-Token`` (not HttpOnly, by design; SameSite=Lax)."""
    response.set_cookie(CSRF_COOKIE, started.row.csrf_token, httponly=False, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"],
                        max_age=config("PORTAL_SESSION_HOURS") * 3600)
    return response


# ---- CAS ------------------------------------------------------------------------------------


@blp.get("/cas/login")
def cas_login():
    client = cas_client()
    _remember_next_and_bind()
    return redirect(client.login_url(), code=302)


@blp.route("/cas/callback", methods=["GET", "POST"])
def cas_callback():
    if request.method == "POST":
        return _cas_single_logout()
    client = cas_client()
    ticket = request.args.get("ticket", "")
    if not ticket or len(ticket) > 255:
        raise SsoFailed("缺少或无效的 CAS 票据（ticket）", code="cas_ticket_missing")
    db = db_session()
    # A ticket is good once: remembered before it is even validated, so two racing uses lose one.
    rt = runtime()
    fresh = rt.redis.set(f"{config('REDIS_PREFIX')}cas-ticket:{hash_token(ticket)}", "1", nx=True,
                         ex=TICKET_MEMORY_SECONDS)
    if not fresh or sessions.cas_ticket_seen(db, ticket):
        raise SsoFailed("该 CAS 票据已使用过，请重新登录", code="cas_ticket_replayed")
    try:
        result = client.validate(ticket)
    except CasError as exc:
        log.info("CAS validation failed: %s", exc)
        if exc.code == "CAS_UNAVAILABLE":
            raise SsoUnavailable(f"CAS 统一身份认证暂不可用，请稍后再试（{exc.code}）",
                                 code="cas_unavailable") from exc
        raise SsoFailed(f"CAS 认证失败（{exc.code}）：{exc.message}", code="cas_" + exc.code.lower()) from exc
    profile = identities.map_attributes("cas", result.user, result.attributes, config("CAS_ATTRIBUTE_MAP"),
                                        staff_no_from_subject=True)
    user = identities.sso_login(db, profile, address=client_address())
    return _finish_login(user, "cas", cas_ticket=ticket)


def _cas_single_logout() -> Response:
    """The CAS server POSTs ``logoutRequest`` here when the person signs out of CAS."""
    ticket = parse_logout_request(request.form.get("logoutRequest", ""), config("CAS_MAX_RESPONSE_BYTES"))
    if ticket is None:
        raise SsoFailed("无效的单点登出请求", code="cas_bad_logout_request")
    ended = sessions.end_sessions_by_cas_ticket(db_session(), ticket, address=client_address())
    return jsonify(ended=ended)


# ---- OIDC -----------------------------------------------------------------------------------


def _oidc() -> Any:
    client = current_app.extensions.get("union_oidc")
    if client is None:
        raise NotFound("本站未配置 OIDC 统一身份认证", code="sso_not_configured")
    return client


@blp.get("/oidc/login")
def oidc_login():
    client = _oidc()
    _remember_next_and_bind()
    try:
        return client.authorize_redirect(_base_url() + "/sso/oidc/callback")
    except Exception as exc:  # noqa: BLE001  (discovery: network, HTTP status or bad JSON)
        log.warning("OIDC discovery failed: %s", exc)
        raise SsoUnavailable("OIDC 统一身份认证暂不可用，请稍后再试", code="oidc_unavailable") from exc


@blp.get("/oidc/callback")
def oidc_callback():
    from authlib.common.errors import AuthlibBaseError
    from joserfc.errors import JoseError
    from requests import RequestException

    client = _oidc()
    if request.args.get("error"):  # the provider sent the person back without a code
        log.info("OIDC provider answered %r: %r", request.args["error"][:64],
                 request.args.get("error_description", "")[:200])
        raise SsoFailed(oidc_mod.failure_message(request.args["error"]), code="oidc_denied")
    if not request.args.get("code") or not request.args.get("state"):
        raise SsoFailed("缺少 code 或 state", code="oidc_bad_callback")
    try:
        # authlib checks aud only through azp unless told; the audience must be us, explicitly.
        issuer = client.load_server_metadata().get("issuer")
        token = client.authorize_access_token(claims_options={
            "iss": {"essential": True, "values": [issuer]},
            "aud": {"essential": True, "values": [config("OIDC_CLIENT_ID")]},
        })
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise SsoFailed("OIDC 响应缺少 ID 令牌", code="oidc_no_id_token")
        if client.load_server_metadata().get("userinfo_endpoint"):
            info = client.userinfo(token=token)
            if info.get("sub") != claims.get("sub"):
                raise SsoFailed("UserInfo 与 ID 令牌的用户不一致", code="oidc_sub_mismatch")
            claims = {**info, **claims}
    except (AuthlibBaseError, JoseError) as exc:  # state, code, signature, iss, aud, nonce, expiry
        log.info("OIDC callback refused: %s", exc)
        error = getattr(exc, "error", None) or type(exc).__name__
        message = oidc_mod.failure_message(error, getattr(exc, "claim", None))
        raise SsoFailed(message, code="oidc_" + _slug(error)) from exc
    except RequestException as exc:
        raise SsoUnavailable("OIDC 统一身份认证暂不可用，请稍后再试", code="oidc_unavailable") from exc
    subject = str(claims.get("sub") or "")
    if not subject:
        raise SsoFailed("ID 令牌缺少 sub", code="oidc_no_subject")
    profile = identities.map_attributes("oidc", subject, claims, config("OIDC_ATTRIBUTE_MAP"),
                                        staff_no_from_subject=True)
    user = identities.sso_login(db_session(), profile, address=client_address())
    return _finish_login(user, "oidc")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(text).lower())[:40] or "error"


# ---- the session itself -----------------------------------------------------------------------


@blp.post("/local/login")
def local_login():
    """The portal's sign-in with a local account (bootstrap and small deployments): the password
    check and throttle of ``POST /api/v1/auth/login``, then a portal session as an SSO login
    starts one. JSON in → JSON out (the CSRF token); a form post is redirected to ``next``."""
    from server.core.errors import Forbidden, Invalid

    origin = request.headers.get("Origin")
    if origin and origin.rstrip("/") != _base_url() and origin.rstrip("/") != request.host_url.rstrip("/"):
        raise Forbidden("登录请求来自其他网站，已拒绝", code="cross_site_login")
    as_json = request.is_json
    data = (request.get_json(silent=True) if as_json else request.form) or {}
    username, password = data.get("username"), data.get("password")
    problems = {}
    if not isinstance(username, str) or not 1 <= len(username.strip()) <= 64:
        problems["username"] = "请输入用户名（最长 64 个字符）"
    if not isinstance(password, str) or not 1 <= len(password) <= 128:
        problems["password"] = "请输入密码（最长 128 个字符）"
    if problems:
        raise Invalid(problems, "请填写用户名和密码")
    db = db_session()
    user = accounts.authenticate(db, runtime().throttle, username, password, address=client_address(),
                                 hash_method=config("PASSWORD_HASH_METHOD"))
    session.clear()
    started = _start_session(db, user, "local")
    from server.core import audit

    audit.record(db, accounts.identity_of(user, address=client_address()), "auth.login", object_type="user",
                 object_id=user.id, new={"portal_session_id": started.row.id, "source": "local"})
    target = safe_next(data.get("next") if isinstance(data.get("next"), str) else None)
    response = jsonify(ok=True, csrf_token=started.row.csrf_token, next=target) if as_json else redirect(target, 303)
    return _with_csrf_cookie(response, started)


@blp.get("/providers")
def providers():
    """Which sign-in buttons the portal shows; with no SSO configured, local login only."""
    return jsonify(cas=bool(config("CAS_SERVER_URL")), oidc=bool(config("OIDC_METADATA_URL")), local=True)


def _portal_identity():  # noqa: ANN202
    identity = current_identity()
    if identity is None or "portal_session_id" not in identity.extra:
        raise Unauthorized("请先通过统一身份认证登录", code="no_portal_session")
    return identity


@blp.post("/logout")
def logout():
    """End the portal session (CSRF-checked); answers where to end the provider's session too
    (``logout_url``: CAS logout, or the OIDC provider's end_session_endpoint; ``cas_logout_url``
    stays for clients written before OIDC single logout)."""
    identity = _portal_identity()
    sessions.end_portal_session(db_session(), identity)
    session.clear()
    source, provider_logout = identity.extra.get("source"), None
    if source == "cas" and config("CAS_SERVER_URL"):
        provider_logout = cas_client().logout_url(_base_url() + "/")
    elif source == "oidc" and current_app.extensions.get("union_oidc") is not None:
        provider_logout = oidc_mod.logout_url(current_app.extensions["union_oidc"], config("OIDC_CLIENT_ID"),
                                              _base_url() + "/portal/")
    response = jsonify(ok=True, logout_url=provider_logout,
                       cas_logout_url=provider_logout if source == "cas" else None)
    response.delete_cookie(CSRF_COOKIE)
    return response


@blp.post("/token")
def api_token():
    """An API token for the signed-in person (the mini-program's web-view, scripts)."""
    identity = _portal_identity()
    db = db_session()
    user = accounts.get_user(db, identity.user_id)
    issued = accounts.issue_token(db, user, config("TOKEN_TTL_HOURS"), kind="sso", address=client_address())
    from server.core import audit

    audit.record(db, identity, "auth.token_issued", object_type="user", object_id=user.id,
                 new={"token_id": issued.row.id, "kind": "sso"})
    return jsonify(token=issued.token, expires_at=issued.row.expires_at)
