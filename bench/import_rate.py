"""Member import benchmark: the rate of a 10k-row xlsx import (dry run and real run), with
peak memory, through the domain function the route and the job use; and once through HTTP.

Reproduce (MariaDB + Redis on their default local ports):

    .venv/bin/python bench/import_rate.py --rows 10000

It (re)creates the tables of the database `union_bench_import` (created if missing; nothing
else uses it), writes a registry of --existing generated members, and builds an xlsx of the
import template's 44 columns from generated members: mostly new people, plus --updated rows
that change a stored member and --unchanged rows that repeat one as stored. Then:

* dry run and real run, each in a fresh child process calling
  ``server.domain.members.imports.run_file`` in one unit of work (what the job runs; the route
  calls the same function for small files). Peak memory is the child's peak RSS
  (``ru_maxrss``: interpreter, app and the import together); "base" is its RSS just before
  the import started, so the import's own growth is the difference.
* with --http (default on): the same file through ``POST /api/v1/members/import`` under
  gunicorn (1 sync worker) and one `union worker`: dry run, then the real run (202, polled on
  GET /api/v1/members/imports/{id} until done); wall time from the POST to the report.

Targets (issue 3): 10k-row real run well under 10 s on MariaDB, peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.members import free_port, request, start_server  # noqa: E402

DEFAULT_DB = "mysql+pymysql://root@127.0.0.1:3306/union_bench_import"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
BENCH_USER = "bench_import"
SEED = 20240601


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), in MB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


# ---- data ----------------------------------------------------------------------------------------


def _cell(code: str, value: Any, names: dict[int, str]) -> Any:
    """A generated value as a person would type it into the template."""
    from server.domain.members import catalogue as cat

    if value is None or value == []:
        return None
    f = cat.BY_CODE[code]
    if f.type == cat.REF:
        return names[value]
    if f.type == cat.DATE:
        return date.fromisoformat(value) if isinstance(value, str) else value
    if f.type == cat.MULTI:
        return "、".join(value)
    if f.type == cat.LIST:
        return "；".join(f"{c['name']}/{c['gender']}/{c['birth_date']}" for c in value) or "无"
    return value


def prepare(app, rows: int, *, existing: int, updated: int, unchanged: int, path: str) -> dict:  # noqa: ANN001
    """Fresh tables, sub-unions, the bench account, ``existing`` stored members, and the xlsx
    at ``path``: ``updated`` + ``unchanged`` rows naming stored members, the rest new."""
    from openpyxl import Workbook
    from sqlalchemy import MetaData, insert, select

    from server.devdata.generator import generator_for, to_row
    from server.devdata.seed import retirees_sub_union_id, seed_sub_unions
    from server.domain.accounts import users as accounts
    from server.domain.members import catalogue as cat
    from server.domain.members.models import Member
    from server.domain.org.models import SubUnion

    rt = app.extensions["union"]
    old = MetaData()
    old.reflect(rt.db.engine)  # every table there, also those of another version of the models
    old.drop_all(rt.db.engine)
    rt.db.create_all()
    with rt.db.unit_of_work() as s:
        seed_sub_unions(s)
        s.flush()
        accounts.create_user(s, None, username=BENCH_USER, display_name="导入基准", password="bench123x",
                             roles=[{"role": "school_operator"}], hash_method="pbkdf2:sha256:1000")
    with rt.db.unit_of_work() as s:
        subs = list(s.execute(select(SubUnion.id, SubUnion.name).order_by(SubUnion.sort_order)))
        gen = generator_for(s, [i for i, _ in subs], retirees_sub_union_id(s), seed=SEED)
        names = dict(subs)
        stored = gen.many(existing)
        for start in range(0, existing, 2000):
            s.execute(insert(Member.__table__), [to_row(v) for v in stored[start:start + 2000]])
    touched = min(existing, updated + unchanged)
    file_rows = []
    for i, values in enumerate(stored[:touched]):
        values = dict(values)
        if i < updated:
            values["hobbies"] = "围棋、书法"
            values["office_phone"] = f"0335-8{i % 1_000_000:06d}"
        file_rows.append(values)
    file_rows.extend(gen.many(rows - len(file_rows)))

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("会员信息")
    ws.append([f.label for f in cat.CATALOGUE])
    for values in file_rows:
        ws.append([_cell(f.code, values.get(f.code), names) for f in cat.CATALOGUE])
    wb.save(path)
    return {"rows": rows, "existing": existing, "updated": min(updated, touched),
            "unchanged": touched - min(updated, touched), "created": rows - touched,
            "file_mb": os.path.getsize(path) / 1e6}


# ---- one run in a child process ------------------------------------------------------------------


def child(path: str, dry_run: bool, profile: str | None) -> None:
    """Run one import in this (fresh) process and print its figures as JSON."""
    from sqlalchemy import select

    from server.app import create_app
    from server.domain.accounts import users as accounts
    from server.domain.accounts.models import User

    app = create_app()
    rt = app.extensions["union"]
    with rt.db.unit_of_work() as s:
        identity = accounts.identity_of(s.scalar(select(User).where(User.username == BENCH_USER)))
    base, peak_before = _rss_mb(), _peak_rss_mb()
    sampled = [base]
    stop = threading.Event()

    def sample() -> None:
        # ru_maxrss is the process's lifetime peak, which loading the app may already have set
        # (pypinyin's dictionaries pass through a large JSON parse): sample RSS during the run too.
        while not stop.wait(0.02):
            sampled.append(_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    with rt.db.unit_of_work() as session, open(path, "rb") as fh:
        report = _run(session, identity, fh, dry_run)
        if dry_run:
            session.rollback()
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    out = {k: report[k] for k in ("total", "created", "updated", "unchanged", "error_rows", "applied")}
    peak_after = _peak_rss_mb()
    out.update(seconds=seconds, base_rss_mb=base, peak_rss_mb=max(max(sampled), peak_after),
               import_peak_rss_mb=max(sampled), app_load_peak_rss_mb=peak_before,
               peak_raised_by_import=peak_after > peak_before, errors=report["errors"][:3])
    print(json.dumps(out, ensure_ascii=False))


def _run(session, identity, fh, dry_run: bool) -> dict:  # noqa: ANN001
    """What the route runs for a small file and the job for a large one."""
    from server.domain.members import importer, imports

    return imports.run_file(session, identity, fh, filename="bench.xlsx", dry_run=dry_run,
                            mode=importer.ALL_OR_NOTHING)


def _child_env(app) -> dict[str, str]:  # noqa: ANN001
    cfg = app.config
    env = {**os.environ, "UNION_DATABASE_URL": cfg["DATABASE_URL"], "UNION_REDIS_URL": cfg["REDIS_URL"] or "",
           "UNION_INSTANCE_PATH": app.instance_path, "UNION_SECRET_KEY": cfg["SECRET_KEY"],
           "UNION_ENV": "test", "UNION_QUEUE_NAME": cfg["QUEUE_NAME"]}
    if not cfg["REDIS_URL"]:
        env.pop("UNION_REDIS_URL")
    return env


def run_child(app, path: str, dry_run: bool, profile: str | None = None) -> dict:  # noqa: ANN001
    cmd = [sys.executable, __file__, "--child", "dry" if dry_run else "real", "--file", path]
    if profile:
        cmd += ["--profile-to", profile]
    done = subprocess.run(cmd, env=_child_env(app), cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_import(app, rows: int = 10_000, *, existing: int | None = None, updated: int | None = None,  # noqa: ANN001
                   unchanged: int | None = None, profile: bool = False) -> dict:
    """Dry run then real run of a ``rows``-row xlsx through the domain function, each in a
    fresh child process (same database and Redis as ``app``). Returns seconds, rows/s and
    peak RSS in MB for both."""
    existing = rows if existing is None else existing
    updated = rows // 10 if updated is None else updated
    unchanged = rows // 10 if unchanged is None else unchanged
    path = os.path.join(tempfile.mkdtemp(prefix="import-bench-"), f"members-{rows}.xlsx")
    t0 = time.perf_counter()
    data = prepare(app, rows, existing=existing, updated=updated, unchanged=unchanged, path=path)
    data["prepare_seconds"] = time.perf_counter() - t0
    for phase, dry in (("dry_run", True), ("real_run", False)):
        prof = f"{path}.{phase}.prof" if profile else None
        res = run_child(app, path, dry, prof)
        if res["error_rows"]:
            raise SystemExit(f"{phase}: {res['error_rows']} rows with errors, e.g. {res['errors']}")
        res["rows_per_second"] = res["total"] / res["seconds"]
        if prof:
            res["profile"] = prof
        data[phase] = res
    data["file"] = path
    data["memory"] = ("peak RSS of a fresh child process running only that import: the larger of ru_maxrss and "
                      "RSS sampled every 20 ms during the import")
    return data


# ---- through HTTP ----------------------------------------------------------------------------------


def _post_file(port: int, token: str, path: str, dry_run: bool) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    with open(path, "rb") as fh:
        content = fh.read()
    parts = [
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\n{'true' if dry_run else 'false'}\r\n",
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.xlsx\"\r\n"
        "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n",
    ]
    body = "".join(parts).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    status, data = request(port, token, "POST", "/api/v1/members/import", body=body,
                           content_type=f"multipart/form-data; boundary={boundary}", expect=None, timeout=300)
    return status, json.loads(data)


def _get(port: int, token: str, path: str) -> dict:
    return json.loads(request(port, token, "GET", path)[1])


def measure_http(app, path: str) -> dict:  # noqa: ANN001
    """The file through the API: dry run, then the real run (a job when the file is large)."""
    from sqlalchemy import select

    from server.domain.accounts import users as accounts
    from server.domain.accounts.models import User

    rt = app.extensions["union"]
    with rt.db.unit_of_work() as s:
        token = accounts.issue_token(s, s.scalar(select(User).where(User.username == BENCH_USER)), 4).token
    env = _child_env(app)
    port = free_port()
    server = start_server(env, port)
    worker = None
    if app.config["REDIS_URL"]:
        worker = subprocess.Popen([str(ROOT / ".venv/bin/union"), "worker"], env=env, cwd=ROOT)
    out: dict[str, Any] = {}
    try:
        # gunicorn binds the port before its worker has loaded the app: wait for a real answer.
        _get(port, token, "/api/v1/health")
        for phase, dry in (("dry_run", True), ("real_run", False)):
            t0 = time.perf_counter()
            status, body = _post_file(port, token, path, dry)
            answered = time.perf_counter() - t0
            if status == 202:
                while body["status"] not in ("done", "failed"):
                    time.sleep(0.1)
                    body = _get(port, token, f"/api/v1/members/imports/{body['id']}")
                report = body.get("report") or {}
            else:
                report = body
            seconds = time.perf_counter() - t0
            if status not in (200, 202) or report.get("error_rows"):
                raise SystemExit(f"HTTP {phase}: {status} {json.dumps(body, ensure_ascii=False)[:500]}")
            out[phase] = {"status": status, "answered_seconds": answered, "seconds": seconds,
                          "rows_per_second": report["total"] / seconds, "created": report["created"],
                          "updated": report["updated"], "unchanged": report["unchanged"]}
    finally:
        server.terminate()
        server.wait(timeout=10)
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=10)
    return out


# ---- command line -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--existing", type=int, default=None, help="stored members before the import (default: --rows)")
    parser.add_argument("--updated", type=int, default=None, help="rows changing a stored member (default: rows/10)")
    parser.add_argument("--unchanged", type=int, default=None, help="rows repeating a stored member (default: rows/10)")
    parser.add_argument("--no-http", action="store_true", help="skip the run through gunicorn")
    parser.add_argument("--profile", action="store_true", help="cProfile each child; print the top functions")
    parser.add_argument("--database-url", default=os.environ.get("UNION_BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("UNION_BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--child", choices=("dry", "real"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.file, args.child == "dry", args.profile_to)
        return

    from sqlalchemy.engine import make_url

    from server.core.db import ensure_database

    url = make_url(args.database_url)
    ensure_database(args.database_url)
    instance = tempfile.mkdtemp(prefix="import-bench-instance-")
    os.environ.update({"UNION_DATABASE_URL": args.database_url, "UNION_REDIS_URL": args.redis_url,
                       "UNION_INSTANCE_PATH": instance, "UNION_SECRET_KEY": "bench-" + "x" * 40,
                       "UNION_ENV": "test", "UNION_QUEUE_NAME": "union-bench-import"})
    from server.app import create_app

    app = create_app()
    figures = measure_import(app, args.rows, existing=args.existing, updated=args.updated,
                             unchanged=args.unchanged, profile=args.profile)
    http_figures = None
    if not args.no_http:
        # The real run changed the registry: start again from the same data for the HTTP pass.
        prepare(app, args.rows, existing=figures["existing"], updated=figures["updated"],
                unchanged=figures["unchanged"], path=figures["file"])
        http_figures = measure_http(app, figures["file"])

    cmd = f".venv/bin/python bench/import_rate.py --rows {args.rows}"
    print(f"\n# bench/import_rate.py — {args.rows}-row xlsx ({figures['file_mb']:.1f} MB, 44 columns) into "
          f"{figures['existing']} stored members on {url.get_backend_name()} ({url.host}/{url.database})")
    print(f"# command: {cmd}")
    print(f"# file rows: {figures['created']} new, {figures['updated']} changed, {figures['unchanged']} unchanged")
    print(f"# memory: {figures['memory']}; in-run = sampled RSS peak during the import; "
          "base = RSS before it")
    print(f"{'run':28} {'seconds':>8} {'rows/s':>8} {'peak MB':>8} {'in-run':>8} {'base MB':>8}")
    for phase in ("dry_run", "real_run"):
        r = figures[phase]
        print(f"{'domain ' + phase:28} {r['seconds']:8.2f} {r['rows_per_second']:8.0f} "
              f"{r['peak_rss_mb']:8.0f} {r['import_peak_rss_mb']:8.0f} {r['base_rss_mb']:8.0f}")
    if http_figures:
        for phase in ("dry_run", "real_run"):
            r = http_figures[phase]
            label = f"HTTP {phase} ({r['status']}, {r['answered_seconds']:.2f}s)"
            print(f"{label:28} {r['seconds']:8.2f} {r['rows_per_second']:8.0f} {'':>8} {'':>8}")
    if args.profile:
        import pstats

        for phase in ("dry_run", "real_run"):
            print(f"\n# profile of the {phase} (cumulative, top 30)")
            pstats.Stats(figures[phase]["profile"]).sort_stats("cumulative").print_stats(30)
    else:
        shutil.rmtree(os.path.dirname(figures["file"]), ignore_errors=True)  # generated personal data
    shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
