"""The staff portal: the Vite build of ``portal/`` served at ``/portal/``.

The build lands in ``server/portal/dist`` (gitignored, shipped as package data). Hashed files
under ``assets/`` are cached for a year; every other path under ``/portal/`` that is not a file
of the build answers ``index.html`` (the router of the single-page app reads the path), never
cached so a new build is picked up at once. Without a build, ``/portal/`` answers a Chinese page
saying how to make one; the API is unaffected.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, redirect, request, send_from_directory

DIST = Path(__file__).resolve().parent / "dist"
YEAR = 365 * 86400
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")

NOT_BUILT = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>门户尚未构建 · 工会智慧平台</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em; line-height: 1.7">
<h1 style="font-size: 1.3em">工作人员门户尚未构建</h1>
<p>在项目目录执行 <code>make portal</code>（需要 Node.js 20.19 以上与 npm），构建完成后刷新本页。
<code>make run</code> 会自动构建。</p>
<p>接口不受影响：<a href="/docs">接口文档 /docs</a>。</p>
</body></html>
"""

blp = Blueprint("portal", __name__)


def built() -> bool:
    return (DIST / "index.html").is_file()


def _index() -> Response:
    if not built():
        response = Response(NOT_BUILT, status=503, mimetype="text/html")
        response.headers["Retry-After"] = "60"
    else:
        response = send_from_directory(DIST, "index.html", max_age=0)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blp.get("/portal")
def portal_root():
    return redirect("/portal/", code=308)


@blp.get("/portal/")
@blp.get("/portal/<path:path>")
def portal(path: str = ""):
    if path and built():
        target = DIST / path
        if path.startswith("assets/"):
            response = send_from_directory(DIST, path, max_age=YEAR)  # 404 when absent
            response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
            return response
        if target.is_file() and target.name != "index.html":
            return send_from_directory(DIST, path, max_age=3600)
    return _index()


def wants_page() -> bool:
    """A browser asking for ``/`` (it prefers HTML) is sent to the portal; JSON clients are not."""
    accept = request.accept_mimetypes
    return (accept.best_match(["application/json", "text/html"]) == "text/html"
            and accept["text/html"] > accept["application/json"])


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
