"""Sub-unions (分工会): lists with head counts, scope, maintenance, and a creation race."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from server.core.models import AuditLog
from server.domain.members.models import Member
from server.domain.org.models import SubUnion
from tests.support.api_asserts import assert_error, reread
from tests.support.concurrency import at_once
from tests.support.world import ROLE_ACCOUNTS

SUBS = "/api/v1/sub-unions"
COUNT_KEYS = {"member_count", "reserved_count", "total_count"}


def sub_count(db) -> int:  # noqa: ANN001
    reread(db)
    return db.scalar(select(func.count()).select_from(SubUnion))


def audit_rows(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    reread(db)
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.actor_user_id.is_not(None))
                           .order_by(AuditLog.id)))


def add_members(db, sub_union_id: int, *statuses: str) -> None:  # noqa: ANN001
    start = db.scalar(select(func.count()).select_from(Member))
    for i, status in enumerate(statuses):
        db.add(Member(name=f"会员{start + i}", staff_no=f"T{sub_union_id}-{start + i}", sub_union_id=sub_union_id,
                      membership_status=status, gender="女", birth_date=date(1980, 1, 1),
                      employment_status="退休" if status == "保留会籍" else "在职"))
    db.commit()


# ---- lists and counts ------------------------------------------------------------------------


def test_list_shows_head_counts_per_sub_union(db, world, clients):
    """会籍正常, 保留会籍 and all records are counted separately; 转出 only in the total."""
    add_members(db, world.own_sub, "正常", "正常", "保留会籍", "转出")
    add_members(db, world.other_sub, "保留会籍")
    body = clients["chair"].get(SUBS).get_json()
    got = {s["id"]: (s["member_count"], s["reserved_count"], s["total_count"]) for s in body}
    assert got == {
        world.own_sub: (3, 1, 5),  # 陈思远 from `world` plus the four above
        world.other_sub: (1, 1, 2),
        world.empty_sub: (0, 0, 0),
    }
    own = next(s for s in body if s["id"] == world.own_sub)
    assert own["name"] == "计算机学院分工会" and own["code"] == "JSJ"
    assert own["is_retirees"] is False and own["sort_order"] == 0 and own["chair"] is None
    assert own["updated_at"].endswith("+08:00")
    detail = clients["chair"].get(f"{SUBS}/{world.own_sub}").get_json()
    assert (detail["member_count"], detail["reserved_count"], detail["total_count"]) == (3, 1, 5)


def test_list_is_ordered_by_sort_order(db, world, clients):
    db.get(SubUnion, world.empty_sub).sort_order = -1
    db.get(SubUnion, world.own_sub).sort_order = 9
    db.commit()
    ids = [s["id"] for s in clients["staff"].get(SUBS).get_json()]
    assert ids == [world.empty_sub, world.other_sub, world.own_sub]


@pytest.mark.parametrize("account, sub", [("sub_chair", "own_sub"), ("sub_staff", "own_sub"),
                                          ("other_chair", "other_sub"), ("other_staff", "other_sub")])
def test_sub_union_account_lists_only_its_own(db, world, clients, account, sub):
    """A sub-union account never sees another sub-union's head counts."""
    add_members(db, world.other_sub, "正常", "正常")
    body = clients[account].get(SUBS).get_json()
    assert [s["id"] for s in body] == [getattr(world, sub)]
    others = {world.own_sub, world.other_sub} - {getattr(world, sub)}
    assert_error(clients[account].get(f"{SUBS}/{others.pop()}"), 404, "not_found")


@pytest.mark.parametrize("account", list(ROLE_ACCOUNTS))
def test_options_lists_every_name_without_counts(world, clients, account):
    """Anyone signed in may choose a sub-union (joining, transfers) but learns no head counts."""
    body = clients[account].get(f"{SUBS}/options").get_json()
    assert [s["name"] for s in body] == ["计算机学院分工会", "机关分工会", "空分工会"]
    for s in body:
        assert set(s) == {"id", "name", "code"}


def test_options_require_sign_in(world, anon):
    assert_error(anon.get(f"{SUBS}/options"), 401, "unauthorized")


# ---- create --------------------------------------------------------------------------------


def test_create_sub_union_is_audited(db, world, clients):
    resp = clients["chair"].post(SUBS, json={"name": " 新材料学院分工会 ", "code": "XCL", "chair": "周敏",
                                             "sort_order": 7})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["name"] == "新材料学院分工会"
    assert (body["chair"], body["sort_order"], body["is_retirees"]) == ("周敏", 7, False)
    assert COUNT_KEYS <= set(body) and all(body[k] == 0 for k in COUNT_KEYS)
    [row] = audit_rows(db, "sub_union.create")
    assert row.actor_user_id == world.users["chair"] and row.object_id == str(body["id"])
    assert row.sub_union_id == body["id"]
    assert row.new == {"name": "新材料学院分工会", "code": "XCL", "chair": "周敏", "is_retirees": False,
                       "sort_order": 7}
    assert db.get(SubUnion, body["id"]).name == "新材料学院分工会"


@pytest.mark.parametrize("payload, bad_fields", [
    ({}, ("name", "code")),
    ({"code": "XCL"}, ("name",)),
    ({"name": "新分工会"}, ("code",)),
    ({"name": "", "code": "XCL"}, ("name",)),
    ({"name": "   ", "code": "XCL"}, ("name",)),
    ({"name": None, "code": "XCL"}, ("name",)),
    ({"name": 12, "code": "XCL"}, ("name",)),
    ({"name": "名" * 101, "code": "XCL"}, ("name",)),
    ({"name": "新分工会", "code": "a b"}, ("code",)),
    ({"name": "新分工会", "code": "编码"}, ("code",)),
    ({"name": "新分工会", "code": "C" * 33}, ("code",)),
    ({"name": "新分工会", "code": "XCL", "sort_order": "first"}, ("sort_order",)),
    ({"name": "新分工会", "code": "XCL", "sort_order": -1}, ("sort_order",)),
    ({"name": "新分工会", "code": "XCL", "sort_order": 100001}, ("sort_order",)),
    ({"name": "新分工会", "code": "XCL", "is_retirees": "maybe"}, ("is_retirees",)),
    ({"name": "新分工会", "code": "XCL", "chair": "张" * 65}, ("chair",)),
    ({"name": "新分工会", "code": "XCL", "chair": ["张三"]}, ("chair",)),
    ({"name": "新分工会", "code": "XCL", "member_count": 3}, ("member_count",)),
    (["新分工会"], ("_schema",)),
])
def test_create_bad_input_is_422_naming_fields_and_writes_nothing(db, world, clients, payload, bad_fields):
    before = sub_count(db)
    body = assert_error(clients["chair"].post(SUBS, json=payload), 422, "validation_error", fields=bad_fields)
    assert set(body["fields"]) == set(bad_fields)
    assert sub_count(db) == before
    assert audit_rows(db, "sub_union.create") == []


def test_create_with_broken_json_is_400(db, world, clients):
    resp = clients["chair"].post(SUBS, data='{"name": "新分工会", "code": "X"', content_type="application/json")
    assert_error(resp, 400, "bad_json")
    assert sub_count(db) == 3


@pytest.mark.parametrize("payload, field", [
    ({"name": "机关分工会", "code": "NEW"}, "name"),
    ({"name": " 机关分工会 ", "code": "NEW"}, "name"),
    ({"name": "新分工会", "code": "JG"}, "code"),
])
def test_create_duplicate_is_409_naming_the_field(db, world, clients, payload, field):
    body = assert_error(clients["chair"].post(SUBS, json=payload), 409, "conflict", fields=(field,))
    assert "已存在" in body["message"]
    assert sub_count(db) == 3
    assert audit_rows(db, "sub_union.create") == []


# ---- update ---------------------------------------------------------------------------------


def test_patch_is_audited_old_to_new(db, world, clients):
    url = f"{SUBS}/{world.own_sub}"
    resp = clients["chair"].patch(url, json={"chair": "张志强", "sort_order": 3, "name": "计算机学院分工会"})
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["chair"], resp.get_json()["sort_order"]) == ("张志强", 3)
    [row] = audit_rows(db, "sub_union.update")
    assert row.actor_user_id == world.users["chair"] and row.sub_union_id == world.own_sub
    assert (row.old, row.new) == ({"chair": None, "sort_order": 0}, {"chair": "张志强", "sort_order": 3})
    # The same values again change nothing and log nothing.
    assert clients["chair"].patch(url, json={"chair": "张志强"}).status_code == 200
    assert len(audit_rows(db, "sub_union.update")) == 1


@pytest.mark.parametrize("payload, field, status", [
    ({"name": ""}, "name", 422),
    ({"name": "  "}, "name", 422),
    ({"name": "名" * 101}, "name", 422),
    ({"code": "a b"}, "code", 422),
    ({"sort_order": "x"}, "sort_order", 422),
    ({"chair": 5}, "chair", 422),
    ({"name": "机关分工会"}, "name", 409),
    ({"code": "JG"}, "code", 409),
])
def test_patch_refused_changes_nothing(db, world, clients, payload, field, status):
    url = f"{SUBS}/{world.own_sub}"
    assert_error(clients["chair"].patch(url, json={"chair": "改了", **payload}), status,
                 "validation_error" if status == 422 else "conflict", fields=(field,))
    reread(db)
    sub = db.get(SubUnion, world.own_sub)
    assert (sub.name, sub.code, sub.chair, sub.sort_order) == ("计算机学院分工会", "JSJ", None, 0)
    assert audit_rows(db, "sub_union.update") == []


def test_patch_and_delete_unknown_sub_union_is_404(world, clients):
    assert_error(clients["chair"].patch(f"{SUBS}/999999", json={"chair": "x"}), 404, "not_found")
    assert_error(clients["chair"].delete(f"{SUBS}/999999"), 404, "not_found")
    assert_error(clients["chair"].get(f"{SUBS}/999999"), 404, "not_found")


# ---- delete ---------------------------------------------------------------------------------


def test_delete_with_members_is_409_and_keeps_it(db, world, clients):
    """Member records must never lose their sub-union."""
    body = assert_error(clients["chair"].delete(f"{SUBS}/{world.own_sub}"), 409, "conflict")
    assert "会员" in body["message"]
    assert clients["chair"].get(f"{SUBS}/{world.own_sub}").status_code == 200
    assert audit_rows(db, "sub_union.delete") == []


def test_delete_with_only_transferred_out_records_is_409(db, world, clients):
    """Even records of members who left are history that needs its sub-union."""
    add_members(db, world.empty_sub, "转出")
    assert_error(clients["chair"].delete(f"{SUBS}/{world.empty_sub}"), 409, "conflict")
    assert sub_count(db) == 3


def test_delete_with_role_bindings_is_409(db, world, clients):
    """An account bound to the sub-union would be left pointing at nothing."""
    resp = clients["admin"].post("/api/v1/users", json={
        "username": "empty.op", "display_name": "空操作员",
        "roles": [{"role": "subunion_operator", "sub_union_id": world.empty_sub}]})
    assert resp.status_code == 201
    body = assert_error(clients["chair"].delete(f"{SUBS}/{world.empty_sub}"), 409, "conflict")
    assert "账号" in body["message"]
    assert clients["chair"].get(f"{SUBS}/{world.empty_sub}").status_code == 200


def test_delete_empty_sub_union_is_204_and_audited(db, world, clients):
    resp = clients["chair"].delete(f"{SUBS}/{world.empty_sub}")
    assert resp.status_code == 204 and resp.get_data() == b""
    assert_error(clients["chair"].get(f"{SUBS}/{world.empty_sub}"), 404, "not_found")
    assert sub_count(db) == 2
    [row] = audit_rows(db, "sub_union.delete")
    assert row.actor_user_id == world.users["chair"] and row.object_id == str(world.empty_sub)
    assert row.old["name"] == "空分工会" and row.new is None


# ---- concurrency ------------------------------------------------------------------------------


@pytest.mark.committing  # parallel connections must see committed rows
@pytest.mark.parametrize("warm_token", [False, True], ids=["fresh-token", "warm-token"])
def test_concurrent_creates_of_one_name_leave_exactly_one(app, db, world, warm_token):
    """Five people press 新建 at once with the same name: one wins, the others get a clean 409
    (never a 500), and the table holds one row. With a warm token no request writes before the
    duplicate check, so the check-then-insert race is really exercised."""
    token = world.tokens["chair"]
    headers = {"Authorization": f"Bearer {token}"}
    if warm_token:
        assert app.test_client().get("/api/v1/auth/me", headers=headers).status_code == 200
    n = 5

    def create(i: int) -> tuple[int, dict]:
        resp = app.test_client().post(SUBS, json={"name": "并发分工会", "code": f"BF{i}"}, headers=headers)
        return resp.status_code, resp.get_json()

    results = at_once([lambda i=i: create(i) for i in range(n)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (n - 1), results
    for status, body in results:
        if status == 409:
            assert body["code"] == "conflict" and body["message"]
    reread(db)
    assert db.scalar(select(func.count()).select_from(SubUnion).where(SubUnion.name == "并发分工会")) == 1
    assert len(audit_rows(db, "sub_union.create")) == 1
