"""Every route × every role → the status it must answer, from the rows of every area.

Each area owns its rows in ``tests/<area>/authorization.py`` (``ROWS``; the vocabulary is in
``tests/support/authz.py``), says which row reads each kind of object it names by id
(``READERS``) and builds the objects its paths name with its own factories (``objects``).
This module gathers them, runs every row for every role (own and other sub-union) and fails on
a route that no area has a row for.
"""

from __future__ import annotations

import re
from importlib import import_module

import pytest

from tests.support.api_asserts import assert_documented
from tests.support.authz import Row, Upload
from tests.support.world import ALL_ROLES

# The areas in the order of server.app.AREAS, with the platform's own routes first.
AREAS = ["core", "identity", "accounts", "org", "audit", "members", "membership", "statistics"]
MODULES = [import_module(f"tests.{area}.authorization") for area in AREAS]
ROWS: list[Row] = [row for module in MODULES for row in module.ROWS]


@pytest.fixture(autouse=True)
def _area_objects(request):  # noqa: ANN001, ANN202
    """The objects the rows act on (applications, transfers and status changes in given
    states, a finished export and presets, an import job), each built by its area."""
    if "world" not in request.fixturenames:
        return
    world, db, app = (request.getfixturevalue(n) for n in ("world", "db", "app"))
    for module in MODULES:
        if hasattr(module, "objects"):
            module.objects(world, db, app)
    db.commit()


def _path(template: str, world) -> str:  # noqa: ANN001
    def sub(match: re.Match) -> str:
        key = match.group(1)
        if key.startswith("user:"):
            return str(world.users[key[5:]])
        return str(getattr(world, key))

    return re.sub(r"\{([a-z_:]+)\}", sub, template)


CASES = [
    pytest.param(method, path, body, role, statuses[role], id=f"{name}-{role}")
    for name, method, path, body, statuses in ROWS
    for role in ALL_ROLES
]


@pytest.mark.parametrize(("method", "path", "body", "role", "status"), CASES)
def test_authorization(app, clients, world, method, path, body, role, status):  # noqa: ANN001
    payload = body(world) if callable(body) else body
    if isinstance(payload, Upload):
        kwargs = {"data": dict(payload), "content_type": "multipart/form-data"}
    else:
        kwargs = {"json": payload} if payload is not None else {}
    response = clients[role].open(method, _path(path, world), **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status >= 400:
        assert response.is_json and response.json["code"] and response.json["message"]
    assert_documented(app, method, _path(path, world), response)


def test_matrix_covers_every_route(app):  # noqa: ANN001
    """A new route without a row in the table fails here."""
    covered = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for _, m, p, _, _ in ROWS}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<[^>]+>", "{}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, path) not in covered:
                missing.append(f"{method} {path}")
    assert not missing, f"routes without authorization rows: {missing}"


# --- an id from elsewhere reveals nothing ---------------------------------------------------
# Which row reads each kind of object: a role sees the object when that row answers it 200.
READERS = {key: row for module in MODULES for key, row in getattr(module, "READERS", {}).items()}
GHOST_ID = "987654321"
_BY_NAME = {name: statuses for name, _m, _p, _b, statuses in ROWS}
GHOST_CASES = [
    pytest.param(method, path, body, role, key, id=f"{name}-{role}")
    for name, method, path, body, statuses in ROWS
    for key in re.findall(r"\{([a-z_:]+)\}", path)[:1]
    for role in ALL_ROLES
    if _BY_NAME[READERS[key]][role] != 200
]


@pytest.mark.parametrize(("method", "path", "body", "role", "key"), GHOST_CASES)
def test_out_of_scope_answers_like_nonexistent(app, clients, world, method, path, body, role, key):  # noqa: ANN001
    """For a role that cannot see the object, the object's id and an id that exists nowhere get
    the same answer (status and code): probing ids tells nothing about what is elsewhere."""
    payload = body(world) if callable(body) else body
    if isinstance(payload, Upload):
        pytest.skip("uploads name no object by id")
    kwargs = {"json": payload} if payload is not None else {}
    real = clients[role].open(method, _path(path, world), **kwargs)
    ghost = clients[role].open(method, _path(path.replace("{" + key + "}", GHOST_ID), world), **kwargs)
    assert (real.status_code, real.json["code"]) == (ghost.status_code, ghost.json["code"]), (
        real.get_data(as_text=True)[:200], ghost.get_data(as_text=True)[:200])
