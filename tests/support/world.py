"""The backend under test and the world every test starts from: two sub-unions (ours and
another) plus an empty one, two members, one account per role with its token.

The world is built once per session (``tests/conftest.py``); each test sees it as built."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date

import pytest

from server.domain.accounts import users as accounts
from server.domain.members.models import Member
from server.domain.org import sub_unions

DB_URL = os.environ.get("UNION_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("UNION_TEST_REDIS_URL")
BACKEND = "mariadb" if DB_URL and REDIS_URL else "sqlite"
FAST_HASH = "pbkdf2:sha256:1000"
OWN_ID = "130302198503071236"  # 陈思远, 男, 1985-03-07: a valid GB 11643 number
OTHER_ID = "130302199006151248"  # 赵敏, 女, 1990-06-15

requires_mariadb = pytest.mark.skipif(BACKEND != "mariadb", reason="needs MariaDB + Redis (real parallel connections)")


@dataclass
class World:
    """Two sub-unions (ours and another) plus an empty one, accounts per role, tokens."""

    own_sub: int = 0
    other_sub: int = 0
    empty_sub: int = 0
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    member_id: int = 0
    other_member_id: int = 0


ROLE_ACCOUNTS: dict[str, tuple[str, str | None]] = {
    "admin": ("super_admin", None),
    "chair": ("school_chair", None),
    "staff": ("school_operator", None),
    "sub_chair": ("subunion_chair", "own"),
    "sub_staff": ("subunion_operator", "own"),
    "other_chair": ("subunion_chair", "other"),
    "other_staff": ("subunion_operator", "other"),
    "member": ("member", None),
}
ALL_ROLES = ["anonymous", *ROLE_ACCOUNTS]


def build_world(db) -> World:  # noqa: ANN001
    """Write the world and commit it."""
    w = World()
    own = sub_unions.create(db, None, {"name": "计算机学院分工会", "code": "JSJ"})
    other = sub_unions.create(db, None, {"name": "机关分工会", "code": "JG"})
    empty = sub_unions.create(db, None, {"name": "空分工会", "code": "EMPTY"})
    w.own_sub, w.other_sub, w.empty_sub = own.id, other.id, empty.id
    me = Member(name="陈思远", staff_no="20150123", sub_union_id=own.id, gender="男",
                birth_date=date(1985, 3, 7), id_number=OWN_ID, mobile="13812345678",
                home_address="河北省秦皇岛市海港区河北大街西段438号", membership_status="正常",
                employment_status="在职", name_initials="csy")
    them = Member(name="赵敏", staff_no="20160456", sub_union_id=other.id, gender="女",
                  birth_date=date(1990, 6, 15), id_number=OTHER_ID, mobile="13987654321",
                  membership_status="正常", employment_status="在职", name_initials="zm")
    db.add_all([me, them])
    db.flush()
    w.member_id, w.other_member_id = me.id, them.id
    subs = {"own": own.id, "other": other.id}
    for name, (role, where) in ROLE_ACCOUNTS.items():
        user = accounts.create_user(
            db, None, username=name, display_name=name, password="secret123",
            roles=[{"role": role, "sub_union_id": subs[where] if where else None}],
            member_id=me.id if role == "member" else None, hash_method=FAST_HASH,
        )
        w.users[name] = user.id
        w.tokens[name] = accounts.issue_token(db, user, 1).token
    db.commit()
    return w


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
