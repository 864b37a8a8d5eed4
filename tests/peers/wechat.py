"""A stand-in for api.weixin.qq.com on loopback: code2session, token and subscribe-send.

``js_code`` chooses the answer: ``ok:<openid>`` succeeds, ``err:<errcode>`` fails with that
code. Tokens are ``TOKEN-<n>``; a token in ``expired`` is refused with 40001. Every request is
counted, so tests can see how often the token was fetched.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.peers.apps import LoopbackHttp


class WechatPeer(LoopbackHttp):
    def __init__(self, appid: str = "wx-test-app", secret: str = "wx-test-secret"):
        self.appid, self.secret = appid, secret
        self.token_fetches = 0
        self.token_delay = 0.0
        self.expired: set[str] = set()
        self.reject_all_tokens = False
        self.sent: list[dict] = []
        self.send_tokens: list[str] = []
        self.code2session_params: list[dict] = []
        self.lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # noqa: ANN002
                pass

            def _json(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/sns/jscode2session":
                    peer.code2session_params.append(q)
                    if q.get("appid") != peer.appid or q.get("secret") != peer.secret:
                        return self._json({"errcode": 40013, "errmsg": "invalid appid"})
                    code = q.get("js_code", "")
                    if code.startswith("ok:"):
                        return self._json({"openid": code[3:], "session_key": "SECRET-SESSION-KEY",
                                           "unionid": "u-" + code[3:]})
                    if code.startswith("err:"):
                        return self._json({"errcode": int(code[4:]), "errmsg": "simulated"})
                    return self._json({"errcode": 40029, "errmsg": "invalid code"})
                if url.path == "/cgi-bin/token":
                    with peer.lock:
                        peer.token_fetches += 1
                        n = peer.token_fetches
                    time.sleep(peer.token_delay)
                    if q.get("secret") != peer.secret:
                        return self._json({"errcode": 40001, "errmsg": "invalid credential"})
                    return self._json({"access_token": f"TOKEN-{n}", "expires_in": 7200})
                return self._json({"errcode": 404, "errmsg": "not found"}, 404)

            def do_POST(self):  # noqa: N802
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if url.path == "/cgi-bin/message/subscribe/send":
                    token = q.get("access_token", "")
                    peer.send_tokens.append(token)
                    if peer.reject_all_tokens or token in peer.expired:
                        return self._json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
                    peer.sent.append(body)
                    return self._json({"errcode": 0, "errmsg": "ok"})
                return self._json({"errcode": 404, "errmsg": "not found"}, 404)

        self.handler = Handler

    def __enter__(self) -> WechatPeer:
        self.start_serving(self.handler)
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.close()
