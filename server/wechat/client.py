"""WeChat mini-program API through wechatpy 1.8, with the guarantees wechatpy alone lacks.

wechatpy 1.8 refreshes the access token in every process that notices it is stale (no lock,
so N processes fetch N tokens and each new one invalidates the last), retries 40001/42001
without bound, fetches the token without a timeout, and attaches an access token even to
``jscode2session``, which needs none. Here:

- the access token lives in Redis, shared by every web process and worker;
- one process refreshes it at a time (a Redis lock); the others wait and read its result;
- a call that meets 40001/42001/40014 drops that token (only if it is still the cached one),
  refreshes once under the lock and retries, at most ``MAX_TOKEN_RETRIES`` times;
- every HTTP call has a timeout; the API base URL is configurable (tests point it at a peer).
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from redis.exceptions import WatchError
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
MAX_TOKEN_RETRIES = 2
LOCK_TIMEOUT = 15  # seconds a refresh may hold the lock
EARLY_REFRESH = 300  # refresh this long before WeChat says the token expires


class WechatError(Exception):
    """A WeChat answer with ``errcode`` (None when WeChat could not be reached at all)."""

    def __init__(self, errcode: int | None, errmsg: str):
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class Session:
    openid: str
    unionid: str | None


class _Client(WeChatClient):
    """wechatpy's client with our token store and base URL; its own retry is switched off."""

    def __init__(self, owner: MiniProgram):
        super().__init__(owner.appid, owner.secret, timeout=owner.timeout, auto_retry=False)
        self.owner = owner
        self.API_BASE_URL = owner.base_url + "cgi-bin/"
        self.wxa.API_BASE_URL = owner.base_url

    @property
    def access_token(self) -> str:  # wechatpy reads it for every call
        return self.owner.access_token()

    def fetch_access_token(self) -> dict:
        return {"access_token": self.owner.refresh_access_token(force=True)}

    def _request(self, method, url_or_endpoint, **kwargs):  # noqa: ANN001, ANN003, ANN202
        if "sns/jscode2session" in url_or_endpoint:
            # requests drops a None parameter, and wechatpy adds a token only when the key is absent.
            kwargs.setdefault("params", {})["access_token"] = None
        return super()._request(method, url_or_endpoint, **kwargs)


class MiniProgram:
    def __init__(self, appid: str, secret: str, redis: Any, prefix: str, *,
                 base_url: str = "https://api.weixin.qq.com/", timeout: float = 5):
        self.appid = appid
        self.secret = secret
        self.redis = redis
        self.base_url = base_url
        self.timeout = timeout
        self.key = f"{prefix}wechat:access-token:{appid}"
        self.lock_key = f"{prefix}wechat:access-token-lock:{appid}"
        self.client = _Client(self)

    # ---- access token ------------------------------------------------------------------

    def access_token(self) -> str:
        cached = self.redis.get(self.key)
        if cached:
            return cached.decode() if isinstance(cached, bytes) else cached
        return self.refresh_access_token()

    def refresh_access_token(self, *, force: bool = False, stale: str | None = None) -> str:
        """Fetch a new token, one process at a time. A process that waited for the lock
        uses what the holder fetched instead of fetching again."""
        with self._lock():
            cached = self.redis.get(self.key)
            if cached:
                cached = cached.decode() if isinstance(cached, bytes) else cached
                if not force or (stale is not None and cached != stale):
                    return cached
            token, expires_in = self._fetch_token()
            self.redis.set(self.key, token, ex=max(int(expires_in) - EARLY_REFRESH, 60))
            return token

    @contextmanager
    def _lock(self):  # noqa: ANN202
        """SET NX with an expiry, released only by its holder (WATCH/MULTI, no Lua scripting,
        so the embedded default's fakeredis behaves like Redis)."""
        me = secrets.token_hex(16)
        deadline = time.monotonic() + LOCK_TIMEOUT + self.timeout
        while not self.redis.set(self.lock_key, me, nx=True, ex=LOCK_TIMEOUT):
            if time.monotonic() > deadline:
                raise WechatError(-1, "等待刷新 access_token 超时")
            time.sleep(0.05)
        try:
            yield
        finally:
            self._delete_if(self.lock_key, me)

    def _delete_if(self, key: str, value: str) -> None:
        """Delete ``key`` only while it still holds ``value``."""
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                current = pipe.get(key)
                if current in (value, value.encode()):
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
                else:
                    pipe.unwatch()
            except WatchError:
                pass  # changed meanwhile: no longer ours to delete

    def _fetch_token(self) -> tuple[str, int]:
        try:
            resp = requests.get(
                self.base_url + "cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                timeout=self.timeout,
            )
            resp.raise_for_status()
            data = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise WechatError(None, f"获取 access_token 失败（{type(exc).__name__}）") from exc
        if data.get("errcode"):
            raise WechatError(int(data["errcode"]), str(data.get("errmsg", "")))
        if not data.get("access_token"):
            raise WechatError(None, "获取 access_token 的响应缺少 access_token")
        log.info("WeChat access token refreshed")
        return data["access_token"], int(data.get("expires_in") or 7200)

    def _invalidate(self, token: str) -> None:
        """Drop the token if it is still the cached one (another process may have replaced it)."""
        self._delete_if(self.key, token)

    def _call(self, fn, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN001
        """Run a wechatpy call; on an expired token refresh once under the lock and retry."""
        for attempt in range(MAX_TOKEN_RETRIES + 1):
            token = self.access_token()
            try:
                return fn(*args, **kwargs)
            except WeChatClientException as exc:
                code = int(exc.errcode) if exc.errcode is not None else None
                if code in TOKEN_ERRORS and attempt < MAX_TOKEN_RETRIES:
                    log.info("WeChat token rejected (%s), refreshing", code)
                    self._invalidate(token)
                    self.refresh_access_token(force=True, stale=token)
                    continue
                raise WechatError(code, str(exc.errmsg or "")) from exc
            except requests.RequestException as exc:
                raise WechatError(None, f"无法连接微信服务器（{type(exc).__name__}）") from exc
        raise WechatError(42001, "access_token 多次失效")  # not reached: the loop raises

    # ---- the calls we make ---------------------------------------------------------------

    def code_to_session(self, code: str) -> Session:
        """code2session; ``session_key`` is dropped here and never leaves this function."""
        try:
            data = self.client.wxa.code_to_session(code)
        except WeChatClientException as exc:
            raise WechatError(int(exc.errcode) if exc.errcode is not None else None, str(exc.errmsg or "")) from exc
        except requests.RequestException as exc:
            raise WechatError(None, f"无法连接微信服务器（{type(exc).__name__}）") from exc
        if not isinstance(data, dict) or not data.get("openid"):
            raise WechatError(None, "code2session 的响应缺少 openid")
        return Session(str(data["openid"])[:64], (str(data["unionid"])[:64] if data.get("unionid") else None))

    def send_subscribe_message(self, openid: str, template_id: str, data: dict, page: str | None = None) -> dict:
        return self._call(self.client.wxa.send_subscribe_message, openid, template_id, data, page)


class LoggingMiniProgram:
    """The embedded default: no WeChat app, development codes, messages written to the log."""

    sent: list[dict]

    def __init__(self) -> None:
        self.sent = []

    def code_to_session(self, code: str) -> Session:
        raise WechatError(40029, "未配置微信小程序，只接受 dev:<openid> 形式的开发登录码")

    def send_subscribe_message(self, openid: str, template_id: str, data: dict, page: str | None = None) -> dict:
        message = {"touser": openid, "template_id": template_id, "data": data, "page": page, "at": time.time()}
        log.info("WeChat subscribe message (not sent, no app configured): %s", message)
        self.sent.append(message)
        return {"errcode": 0, "errmsg": "logged"}
