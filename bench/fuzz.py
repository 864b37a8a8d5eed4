"""A bounded fuzz run of the whole API over HTTP: schemathesis against the real service.

Reproduce:

    .venv/bin/python bench/fuzz.py                       # embedded default, 60 examples per operation
    .venv/bin/python bench/fuzz.py --examples 200 --mariadb

It starts the service under gunicorn on a free loopback port with the demo school (a fresh
instance folder; with --mariadb the database `union_fuzz` on the local MariaDB and Redis db 9),
then runs `schemathesis run` against /api/v1/openapi.json once per demo role (each with a bearer
token of its own), and once anonymously. Every answer is checked: never a 5xx, its status
documented for the operation, its body matching the documented schema, its content type the
documented one. Sign-in is fuzzed in the anonymous run only (its throttle would lock the demo
accounts the other runs sign in with); operations that end their own session (sign-out, revoking
one's own tokens) run in the anonymous run too, where they answer 401.

Prints, per run: test cases generated, failures by check; then the totals and the command. Not a
test: tests/core/test_openapi_conformance.py is the bounded in-process version in `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.members import free_port, start_server  # noqa: E402

ROLES = ("admin", "chair", "staff", "sub_chair", "sub_staff", "member")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SESSION_ENDING = ("POST /api/v1/auth/login", "POST /api/v1/auth/logout", "DELETE /api/v1/users/{user_id}/tokens")


def sign_in(port: int, username: str) -> str:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/api/v1/auth/login", body=json.dumps({"username": username, "password": "demo123"}),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    if resp.status != 200:
        raise SystemExit(f"{username}: sign-in answered {resp.status}: {body}")
    return body["token"]


CONFIG = "[auth]\nauto-signup = false\n"  # the anonymous run must not try to register accounts


def run(port: int, token: str | None, examples: int, seed: int, exclude: tuple[str, ...] = (),
        include: tuple[str, ...] = ()) -> dict:
    config = Path(tempfile.mkdtemp(prefix="union-fuzz-st-")) / "schemathesis.toml"
    config.write_text(CONFIG)
    cmd = [str(ROOT / ".venv/bin/schemathesis"), "--config-file", str(config), "run",
           f"http://127.0.0.1:{port}/api/v1/openapi.json",
           "--checks", CHECKS, "-n", str(examples), "--seed", str(seed), "--request-timeout", "30",
           "--continue-on-failure", "--no-color", "--suppress-health-check", "all"]
    for label in exclude:
        cmd += ["--exclude-name", label]
    for label in include:
        cmd += ["--include-name", label]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    text = out.stdout + out.stderr
    generated = _number(r"([\d,]+) generated", text)
    failures = _number(r"found ([\d,]+) unique failure", text)
    server_errors = _number(r"Server error: ([\d,]+)", text)
    return {"cases": generated, "failures": failures, "server_errors": server_errors, "seconds": time.perf_counter() - t0,
            "ok": out.returncode == 0 and "Test Execution Error" not in text, "output": text}


def _number(pattern: str, text: str) -> int:
    found = re.findall(pattern, text)
    return sum(int(n.replace(",", "")) for n in found) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60, help="examples per operation (default 60)")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--mariadb", action="store_true", help="MariaDB + Redis instead of the embedded default")
    parser.add_argument("--show", action="store_true", help="print schemathesis's own report of each run")
    args = parser.parse_args()

    instance = tempfile.mkdtemp(prefix="union-fuzz-")
    env = {**os.environ, "UNION_INSTANCE_PATH": instance, "UNION_ENV": "development",
           "UNION_SECRET_KEY": "fuzz-" + "x" * 40}
    if args.mariadb:
        from server.core.db import ensure_database

        url = "mysql+pymysql://root@127.0.0.1:3306/union_fuzz"
        ensure_database(url)
        env.update(UNION_DATABASE_URL=url, UNION_REDIS_URL="redis://127.0.0.1:6379/9")
        subprocess.run([str(ROOT / ".venv/bin/python"), "-c",
                        "from server.app import create_app; d = create_app().extensions['union'].db; "
                        "d.drop_all(); d.create_all()"], env=env, cwd=ROOT, check=True)
        subprocess.run(["redis-cli", "-n", "9", "flushdb"], check=False, capture_output=True)
    subprocess.run([str(ROOT / ".venv/bin/union"), "seed", "--demo"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    port = free_port()
    # Every request reaches the app: gunicorn's own limit on the request line answers an HTML 414
    # before the app sees it (a front-end's matter, not the API's).
    server = start_server(env, port, "gthread", "--limit-request-line", "0")
    worker = None
    if args.mariadb:
        worker = subprocess.Popen([str(ROOT / ".venv/bin/union"), "worker"], env=env, cwd=ROOT)
    try:
        time.sleep(1.0)
        # The admin's run changes accounts (passwords, roles, tokens), so it comes last; the
        # operations that end their session run as staff after staff's own run.
        tokens = {role: sign_in(port, role) for role in ROLES}
        results = []
        for role in ROLES[1:]:
            results.append((role, run(port, tokens[role], args.examples, args.seed, exclude=SESSION_ENDING)))
        results.append(("session-ending", run(port, tokens["staff"], args.examples, args.seed,
                                              include=SESSION_ENDING[1:])))
        results.append(("anonymous", run(port, None, args.examples, args.seed)))
        results.append(("admin", run(port, tokens["admin"], args.examples, args.seed, exclude=SESSION_ENDING)))
    finally:
        server.terminate()
        if worker:
            worker.terminate()
    backend = "MariaDB + Redis" if args.mariadb else "embedded default (SQLite)"
    print(f"## schemathesis over HTTP, {backend}, {args.examples} examples per operation, seed {args.seed}")
    print(f"{'run as':<16}{'cases':>8}{'failures':>10}{'5xx':>6}{'seconds':>9}")
    total = failed = errors = 0
    for role, r in results:
        print(f"{role:<16}{r['cases']:>8}{r['failures']:>10}{r['server_errors']:>6}{r['seconds']:>9.1f}")
        total, failed, errors = total + r["cases"], failed + r["failures"], errors + r["server_errors"]
        if args.show or not r["ok"]:
            log = Path(instance) / f"schemathesis-{role}.txt"
            log.write_text(r["output"])
            print(f"  (schemathesis's report: {log})")
    print(f"{'total':<16}{total:>8}{failed:>10}{errors:>6}")
    print("$ .venv/bin/python bench/fuzz.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
