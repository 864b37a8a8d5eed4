"""Helpers for the identity tests: a second app with extra settings on the same database, served
on a real loopback port when a peer (the CAS server's Single Logout) must reach it."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from server.app import create_app
from server.core import db as db_mod
from server.core import queue as queue_mod


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_app(app_config: dict[str, Any], **overrides: Any):  # noqa: ANN201
    """An app on the test database with more settings; the process-wide database and queue
    stay those of the suite's app."""
    from tests.support.transaction import adopt

    saved = (db_mod._slot.peek(), queue_mod._slot.peek())
    try:
        application = create_app({**app_config, **overrides})
        adopt(application.extensions["union"].db)  # it must see what the test wrote
        return application
    finally:
        db_mod.set_current(saved[0])
        queue_mod.set_current(saved[1])


@contextmanager
def serve(app, port: int):  # noqa: ANN001, ANN201
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def wait_until_up(url: str, proc: subprocess.Popen, log_path: Path, what: str, *, seconds: float = 60) -> None:
    """Wait until a peer started in ``proc`` answers ``url`` below 500; fail the test with the
    tail of its log when it exits or takes longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what} did not start: " + log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.2)


class LoopbackHttp:
    """A stand-in peer: ``http.server`` on a free loopback port, serving from a daemon thread
    once started, until :meth:`close`."""

    def start_serving(self, handler: type, path: str = "/") -> None:
        from http.server import ThreadingHTTPServer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
