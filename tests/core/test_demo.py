"""The demo school (`union serve --demo`, `union seed --demo`): complete, idempotent, and every
demo account signs in with the documented password and holds the documented role."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.devdata.seed import DEMO_ACCOUNTS, DEMO_MEMBERS, DEMO_PASSWORD, DEMO_SUB_UNIONS, seed_demo
from server.domain.accounts.models import RoleBinding, User
from server.domain.members.models import Member
from server.domain.org.models import SubUnion
from tests.support.api_asserts import reread
from tests.support.world import FAST_HASH

EXPECTED = {
    "admin": ("super_admin", "school", None),
    "chair": ("school_chair", "school", None),
    "staff": ("school_operator", "school", None),
    "sub_chair": ("subunion_chair", "sub_union", "计算机学院分工会"),
    "sub_staff": ("subunion_operator", "sub_union", "计算机学院分工会"),
    "member": ("member", "self", None),
}


def counts(db) -> tuple[int, int, int, int]:  # noqa: ANN001
    reread(db)
    return tuple(db.scalar(select(func.count()).select_from(t)) for t in (SubUnion, User, RoleBinding, Member))


@pytest.fixture
def demo(db):  # noqa: ANN001, ANN201
    seed_demo(db, hash_method=FAST_HASH)
    db.commit()
    return db


def test_seed_demo_is_idempotent(demo):
    """Running the seed again (a restart with --demo) must not duplicate anything."""
    first = counts(demo)
    assert first == (20, 6, 6, DEMO_MEMBERS)
    seed_demo(demo, hash_method=FAST_HASH)
    demo.commit()
    assert counts(demo) == first
    names = demo.scalars(select(SubUnion.name).order_by(SubUnion.sort_order)).all()
    assert names == [name for name, _ in DEMO_SUB_UNIONS]
    retirees = demo.scalars(select(SubUnion.name).where(SubUnion.is_retirees.is_(True))).all()
    assert retirees == ["离退休分工会"]


def test_seed_demo_completes_a_partly_seeded_school(db):
    """A school that already has some sub-unions gets the rest, without duplicates."""
    from server.domain.org import sub_unions

    sub_unions.create(db, None, {"name": "计算机学院分工会", "code": "JSJ", "sort_order": 2})
    db.commit()
    seed_demo(db, hash_method=FAST_HASH)
    db.commit()
    assert counts(db)[:2] == (20, 6)


def test_demo_accounts_match_the_documented_list(demo):
    assert {u for u, *_ in DEMO_ACCOUNTS} == set(EXPECTED)


@pytest.mark.parametrize("username", list(EXPECTED))
def test_every_demo_account_signs_in_with_its_role(app, demo, username):
    client = app.test_client()
    resp = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    token = resp.get_json()["token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    role, scope, sub_name = EXPECTED[username]
    assert [(r["role"], r["scope"], r["sub_union_name"]) for r in me["roles"]] == [(role, scope, sub_name)]
    if username == "member":
        member = demo.get(Member, me["member_id"])
        assert member is not None and member.name == me["user"]["display_name"]
        assert demo.get(SubUnion, member.sub_union_id).name == "计算机学院分工会"
    else:
        assert me["member_id"] is None


def test_demo_password_is_only_for_demo_accounts(app, demo):
    """A wrong password is still refused on the demo school."""
    resp = app.test_client().post("/api/v1/auth/login", json={"username": "admin", "password": "demo1234"})
    assert resp.status_code == 401
