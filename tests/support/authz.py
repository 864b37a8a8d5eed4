"""The vocabulary of the authorization rows every area writes in ``tests/<area>/authorization.py``.

A row is ``(name, method, path, body, statuses)``: ``statuses`` maps every role of
``ALL_ROLES`` to the status it must answer. Paths may use {own_sub}, {other_sub}, {empty_sub},
{member_id}, {other_member_id}, {user:<name>} and any id an area's ``objects()`` sets on the
world; a body may be a dict or a function of the world, and an ``Upload`` (fields and files) is
sent as multipart/form-data instead of JSON. ``tests/test_authorization_matrix.py`` collects
the rows of every area and fails on a route without one.
"""

from __future__ import annotations

from typing import Any

from tests.support.world import ALL_ROLES

Row = tuple[str, str, str, Any, dict[str, int]]


class Upload(dict):
    """A multipart/form-data body: form fields, and files as (stream, filename)."""


SCHOOL = ("admin", "chair", "staff")
OWN_SUB = ("sub_chair", "sub_staff")
OTHER_SUB = ("other_chair", "other_staff")
STAFF = SCHOOL + OWN_SUB + OTHER_SUB


def expect(default: int, **by_role: int) -> dict[str, int]:
    """``default`` for every signed-in role, 401 for anonymous, overrides by role name."""
    table = {role: default for role in ALL_ROLES}
    table["anonymous"] = 401
    table.update(by_role)
    return table


def only(roles: tuple[str, ...] | list[str], ok: int, others: int = 403, **by_role: int) -> dict[str, int]:
    table = expect(others)
    for role in roles:
        table[role] = ok
    table.update(by_role)
    return table


def each(roles: tuple[str, ...], status: int) -> dict[str, int]:
    return {r: status for r in roles}
