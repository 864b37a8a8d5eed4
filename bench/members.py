"""Member registry benchmark: list and name search through the HTTP API vs the same SQL run
directly, and the import rate of a 10k-row xlsx.

Reproduce (MariaDB + Redis on their default local ports):

    .venv/bin/python bench/members.py --members 100000

It creates (or reuses) the database `union_bench`, fills it with generated members up to
--members, starts the service under gunicorn on a free local port, and prints one table of
figures. Target of issue 3: API/direct median ratio ≤ 2.0 for the list.

Each case is measured twice through HTTP: with a new TCP connection per request to one sync
gunicorn worker (the worst case: a client that never reuses a connection), and with one
kept-alive connection to a gthread worker (how a browser or the mini-program's wx.request
talks to the service). The direct SQL runs on a pooled connection in both.

Then it runs ``bench/import_rate.py --rows N --no-http`` (its own database
`union_bench_import`) and prints its table: the import rate of a 10k-row xlsx and peak
memory (target < 300 MB). ``--import-rows 0`` skips it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "mysql+pymysql://root@127.0.0.1:3306/union_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/10"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pctl(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timed(fn, n: int, warmup: int = 10) -> list[float]:  # noqa: ANN001
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def paired(api, direct, n: int, block: int = 25, warm: int = 5) -> tuple[list[float], list[float]]:  # noqa: ANN001
    """``n`` timings (ms) of each of two callables, taken in alternating blocks of ``block``,
    each block after ``warm`` untimed calls.

    This machine's speed drifts by tens of percent within seconds (bench/stats.py, the same
    sub-union summary statement: p50 4.4 ms in one run, 9.3 ms in the next); timing all API
    calls and then all direct runs let such a drift fall on one side only and decide the ratio. Alternating
    spreads it over both. The untimed calls matter: a gunicorn worker that has sat idle
    while the other side ran answers its first calls slowly (blocks of 10 with one warm-up
    call made the API look 10% slower than blocks of 300).
    """
    api_ms: list[float] = []
    direct_ms: list[float] = []
    timed(api, 0)
    timed(direct, 0)
    while len(api_ms) < n:
        k = min(block, n - len(api_ms))
        api_ms += timed(api, k, warmup=warm)
        direct_ms += timed(direct, k, warmup=warm)
    return api_ms, direct_ms


def ensure_data(app, members: int) -> dict:  # noqa: ANN001
    """Sub-unions, two bench accounts with tokens, and `members` generated members."""
    from sqlalchemy import func, select

    from server.devdata import generator
    from server.devdata.seed import seed_sub_unions
    from server.domain.accounts import users as accounts
    from server.domain.accounts.models import User
    from server.domain.members.models import Member
    from server.domain.org.models import SubUnion

    rt = app.extensions["union"]
    rt.db.create_all()
    with rt.db.unit_of_work() as s:
        subs = seed_sub_unions(s)
        target = subs["计算机学院分工会"]
        for username, role, sub in (("bench_staff", "school_operator", None), ("bench_sub", "subunion_operator", target.id)):
            if s.scalar(select(User).where(User.username == username)) is None:
                accounts.create_user(s, None, username=username, display_name=username, password="bench123x",
                                     roles=[{"role": role, "sub_union_id": sub}], hash_method="pbkdf2:sha256:1000")
    with rt.db.unit_of_work() as s:
        have = s.scalar(select(func.count()).select_from(Member))
        sub_ids = [i for i, in s.execute(select(SubUnion.id).where(SubUnion.is_retirees.is_(False)))]
        retirees = s.scalar(select(SubUnion.id).where(SubUnion.is_retirees.is_(True)))
    if have < members:
        t0 = time.perf_counter()
        generator.insert_members(rt.db.engine, members - have, sub_ids, retirees)
        print(f"# generated {members - have} members in {time.perf_counter() - t0:.1f} s")
    rt.db.analyze("members")
    with rt.db.unit_of_work() as s:
        tokens = {u: accounts.issue_token(s, s.scalar(select(User).where(User.username == u)), 4).token
                  for u in ("bench_staff", "bench_sub")}
        total = s.scalar(select(func.count()).select_from(Member))
        in_target = s.scalar(select(func.count()).select_from(Member).where(Member.sub_union_id == target.id))
    return {"tokens": tokens, "target": target.id, "total": total, "in_target": in_target}


WORKERS = {"sync": ["-w", "1"], "gthread": ["-w", "1", "-k", "gthread", "--threads", "2", "--keep-alive", "30"]}


def start_server(env: dict, port: int, worker: str = "sync", *options: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), *WORKERS[worker], *options, "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "server.app:create_app()"],
        env=env, cwd=ROOT,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def request(port: int, token: str, method: str, path: str, *, body: bytes | None = None,
            content_type: str | None = None, expect: tuple[int, ...] | None = (200,), timeout: float = 30,
            conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    """One request as the bearer of ``token``: (status, body). On ``conn`` (kept alive) when
    given, else on a new connection closed after it. A status outside ``expect`` ends the
    bench with the answer (``expect=None``: the caller looks at the status itself). Every
    bench script's HTTP goes through here."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if own:
        conn.close()
    if expect is not None and resp.status not in expect:
        raise SystemExit(f"{method} {path} answered {resp.status}: {data[:300]!r}")
    return resp.status, data


def fetch(port: int, token: str, path: str, params: dict, conn: http.client.HTTPConnection | None = None) -> bytes:
    """One GET, timed up to the last byte of the answer.

    The body is not decoded here: turning 18 KB of JSON back into Python objects (0.27 ms with
    the standard library) is the client's work after the answer has arrived, and the direct
    side has no counterpart to it."""
    return request(port, token, "GET", f"{path}?{urlencode(params)}", conn=conn)[1]


def api_call(port: int, token: str, path: str, params: dict) -> dict:
    return json.loads(fetch(port, token, path, params))


def direct_list(engine, scope, query, page_size: int):  # noqa: ANN001
    """The statements the list endpoint runs (count, then the page with the sub-union's name
    joined in), built by the same function and executed directly on a pooled connection."""
    from server.domain.members import registry
    from server.routes.members.records import SUMMARY

    count_stmt, page_stmt, params = registry.list_statements(scope, query, 1, page_size, SUMMARY)

    def run() -> None:
        with engine.connect() as conn:
            conn.execute(count_stmt, params).scalar()
            conn.execute(page_stmt, params).all()

    return run


def bench_queries(app, data: dict, port: int, n: int, keep_alive: bool = False) -> list[tuple]:  # noqa: ANN001
    from server.core.access import Scope
    from server.domain.members.registry import MemberQuery

    engine = app.extensions["union"].db.engine
    school = Scope(everything=True)
    rows = []
    cases = [
        ("list: sub-union filter, page 1 of 50", data["tokens"]["bench_staff"],
         {"sub_union_id": data["target"], "page": 1, "page_size": 50},
         school, MemberQuery(sub_union_id=data["target"])),
        ("name search 王 (school scope)", data["tokens"]["bench_staff"], {"q": "王", "page_size": 50},
         school, MemberQuery(q="王")),
        ("initials search zw (school scope)", data["tokens"]["bench_staff"], {"q": "zw", "page_size": 50},
         school, MemberQuery(q="zw")),
        ("list as sub-union operator", data["tokens"]["bench_sub"], {"page_size": 50},
         Scope(everything=False, sub_union_ids=frozenset({data["target"]})), MemberQuery()),
    ]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30) if keep_alive else None
    for label, token, params, scope, query in cases:
        api, direct = paired(lambda t=token, p=params: fetch(port, t, "/api/v1/members", p, conn),
                             direct_list(engine, scope, query, params.get("page_size", 20)), n)
        total = api_call(port, token, "/api/v1/members", params)["total"]
        rows.append((label, total, statistics.median(api), pctl(api, 0.95), statistics.median(direct),
                     pctl(direct, 0.95), statistics.median(api) / statistics.median(direct)))
    if conn is not None:
        conn.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("UNION_BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("UNION_BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--import-rows", type=int, default=10_000, help="rows of the import bench (0: skip it)")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    from server.core.db import ensure_database

    url = make_url(args.database_url)
    ensure_database(args.database_url)
    instance = tempfile.mkdtemp()
    env = {**os.environ, "UNION_DATABASE_URL": args.database_url, "UNION_REDIS_URL": args.redis_url,
           "UNION_INSTANCE_PATH": instance, "UNION_SECRET_KEY": "bench-" + "x" * 40, "UNION_ENV": "test"}
    os.environ.update({k: v for k, v in env.items() if k.startswith("UNION_")})
    from server.app import create_app

    app = create_app()
    data = ensure_data(app, args.members)
    results = {}
    for worker, keep_alive in (("sync", False), ("gthread", True)):
        port = free_port()
        server = start_server(env, port, worker)
        try:
            results[worker] = bench_queries(app, data, port, args.requests, keep_alive)
        finally:
            server.terminate()
            server.wait(timeout=10)

    print(f"\n# bench/members.py — {data['total']} members on {url.get_backend_name()} "
          f"({url.host}), {args.requests} requests per case")
    print(f"# command: .venv/bin/python bench/members.py --members {args.members} --requests {args.requests}")
    titles = {"sync": "new connection per request, gunicorn 1 sync worker",
              "gthread": "one kept-alive connection, gunicorn 1 gthread worker"}
    for worker, query_rows in results.items():
        print(f"\n## {titles[worker]}")
        print(f"{'case':40} {'rows':>7} {'api p50':>8} {'api p95':>8} {'sql p50':>8} {'sql p95':>8} {'ratio':>6}")
        for label, total, a50, a95, d50, d95, ratio in query_rows:
            print(f"{label:40} {total:7d} {a50:7.2f}ms {a95:7.2f}ms {d50:7.2f}ms {d95:7.2f}ms {ratio:6.2f}")
    sys.stdout.flush()
    if args.import_rows:
        subprocess.run([sys.executable, str(ROOT / "bench" / "import_rate.py"), "--rows", str(args.import_rows),
                        "--no-http"], cwd=ROOT, check=True,
                       env={k: v for k, v in os.environ.items() if not k.startswith("UNION_")})


if __name__ == "__main__":
    main()
