"""WeChat mini-program: login (code2session), the access token, subscribe messages.

:func:`init_app` picks the real client when ``UNION_WECHAT_APPID`` is set and the logging
stand-in otherwise (the embedded default, where ``dev:<openid>`` codes sign in)."""

from __future__ import annotations

from typing import Any

from server.wechat.client import LoggingMiniProgram, MiniProgram, WechatError

__all__ = ["LoggingMiniProgram", "MiniProgram", "WechatError", "init_app", "make_client"]


def make_client(config: Any, redis: Any) -> MiniProgram | LoggingMiniProgram:
    if not config.get("WECHAT_APPID"):
        return LoggingMiniProgram()
    return MiniProgram(config["WECHAT_APPID"], config["WECHAT_SECRET"], redis, config["REDIS_PREFIX"],
                       base_url=config["WECHAT_API_BASE_URL"], timeout=config["WECHAT_TIMEOUT_SECONDS"])


def init_app(app: Any) -> None:
    app.extensions["union_wechat"] = make_client(app.config, app.extensions["union"].redis)
