"""The member registry through the API: catalogue, validation, scope, masking, history, versions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from stdnum.cn import ric

from server.core.models import AuditLog
from server.domain.members.models import Member
from tests.support.concurrency import at_once
from tests.support.world import OWN_ID


def valid_id(birth: str, male: bool, seq: str = "12") -> str:
    """A GB 11643 number for region 130302 with the given birth date (YYYYMMDD) and sex."""
    body = f"130302{birth}{seq}{'1' if male else '2'}"
    return body + ric.calc_check_digit(body + "0")


NEW = {"name": "周新", "gender": "女", "birth_date": "1992-05-01", "staff_no": "20240001",
       "id_number": valid_id("19920501", male=False), "mobile": "13700001111"}


def count_members(db) -> int:  # noqa: ANN001
    return db.scalar(select(func.count()).select_from(Member))


# ---- catalogue ----------------------------------------------------------------------------


def test_catalogue_lists_44_fields_with_rules(clients):  # noqa: ANN001
    body = clients["member"].get("/api/v1/fields").json
    assert len(body) == 44
    by_code = {f["code"]: f for f in body}
    assert by_code["id_number"]["sensitive"] and by_code["id_number"]["unique"]
    assert by_code["gender"]["choices"] == ["男", "女"]
    assert by_code["name"]["label"] == "姓名" and by_code["name"]["required"]
    assert "self" in by_code["mobile"]["editable_by"] and "self" not in by_code["title_level"]["editable_by"]
    assert [p["code"] for p in by_code["children"]["item_fields"]] == ["name", "gender", "birth_date"]


# ---- create and validation --------------------------------------------------------------


def test_sub_union_operator_creates_in_own_sub_union(clients, world, db):  # noqa: ANN001
    r = clients["sub_staff"].post("/api/v1/members", json=NEW)
    assert r.status_code == 201, r.json
    assert r.json["sub_union"] == world.own_sub and r.json["sub_union_name"] == "计算机学院分工会"
    assert r.json["membership_status"] == "正常" and r.json["employment_status"] == "在职"
    assert r.json["id_number"].startswith("1303") and "*" in r.json["id_number"]  # operator sees it masked
    assert r.headers["ETag"] == '"1"'
    row = db.scalar(select(AuditLog).where(AuditLog.action == "member.create"))
    assert row.new["name"] == "周新" and row.actor_name == "sub_staff"


def test_sub_union_operator_cannot_create_in_another(clients, world, db):  # noqa: ANN001
    before = count_members(db)
    r = clients["sub_staff"].post("/api/v1/members", json={**NEW, "sub_union": world.other_sub})
    assert r.status_code == 422 and "sub_union" in r.json["fields"]
    assert count_members(db) == before


BAD_INPUTS = [
    ("bad checksum", {"id_number": NEW["id_number"][:-1] + ("0" if NEW["id_number"][-1] != "0" else "1")},
     "id_number", "校验位"),
    ("id vs birth", {"birth_date": "1992-05-02"}, "id_number", "出生日期"),
    ("id vs gender", {"gender": "男"}, "id_number", "性别"),
    ("id vs birth and gender", {"birth_date": "1992-05-02", "gender": "男"}, "id_number", "出生日期"),
    ("id vs gender and birth", {"birth_date": "1992-05-02", "gender": "男"}, "id_number", "性别"),
    ("unknown choice", {"ethnicity": "火星族"}, "ethnicity", "不是可选值"),
    ("overlong text", {"department": "院" * 101}, "department", "100"),
    ("wrong type", {"name": 123}, "name", "文本"),
    ("bad date", {"birth_date": "1992-13-40"}, "birth_date", "日期"),
    ("future date", {"work_start_date": "2999-01-01"}, "work_start_date", "今天"),
    ("bad mobile", {"mobile": "12345"}, "mobile", "手机"),
    ("bad email", {"email": "not-an-email"}, "email", "邮箱"),
    ("bad children", {"children": [{"name": "小明", "gender": "男"}]}, "children", "出生日期"),
    ("children not list", {"children": "小明"}, "children", "列表"),
    ("missing name", {"name": ""}, "name", "不能为空"),
    ("unknown field", {"shoe_size": 42}, "shoe_size", "未知字段"),
    ("formula name", {"name": "=HYPERLINK(\"http://x\",\"y\")"}, "name", "汉字"),
]


@pytest.mark.parametrize(("case", "change", "field", "fragment"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_naming_the_field(clients, db, case, change, field, fragment):  # noqa: ANN001
    before = count_members(db)
    r = clients["staff"].post("/api/v1/members", json={**NEW, **change, "sub_union": _own(db)})
    assert r.status_code == 422, r.json
    assert field in r.json["fields"] and fragment in r.json["fields"][field], r.json
    assert r.json["code"] == "validation_error" and r.json["message"]
    assert count_members(db) == before


def _own(db) -> int:  # noqa: ANN001
    from server.domain.org.models import SubUnion

    return db.scalar(select(SubUnion.id).where(SubUnion.code == "JSJ"))


def test_duplicate_staff_no_and_id_number(clients, world, db):  # noqa: ANN001
    r = clients["staff"].post("/api/v1/members", json={**NEW, "staff_no": "20150123", "sub_union": world.own_sub})
    assert r.status_code == 409 and "staff_no" in r.json["fields"]
    r = clients["staff"].post("/api/v1/members", json={**NEW, "id_number": OWN_ID, "gender": "男",
                                                       "birth_date": "1985-03-07", "sub_union": world.own_sub})
    assert r.status_code == 409 and "id_number" in r.json["fields"]
    assert "1303" in r.json["fields"]["id_number"] and OWN_ID not in r.json["message"]  # masked even here


# ---- reading, scope, masking -------------------------------------------------------------


def test_list_is_scoped_and_counts_only_own(clients, world):  # noqa: ANN001
    own = clients["sub_staff"].get("/api/v1/members").json
    assert own["total"] == 1 and [m["name"] for m in own["items"]] == ["陈思远"]
    other = clients["sub_staff"].get(f"/api/v1/members?sub_union_id={world.other_sub}").json
    assert other["total"] == 0 and other["items"] == []
    school = clients["staff"].get("/api/v1/members").json
    assert school["total"] == 2


def test_lists_of_the_same_shape_keep_each_callers_scope(clients, world):  # noqa: ANN001
    """The list's statements are built once per shape and reused: two sub-unions' accounts
    asking the very same question, turn about, each get only their own members."""
    for _ in range(3):
        for who, name, total in (("sub_staff", "陈思远", 1), ("other_staff", None, 1), ("staff", None, 2)):
            for params in ({}, {"q": "陈思"}, {"page": 1, "page_size": 5, "sort": "-name"}):
                body = clients[who].get("/api/v1/members", query_string=params).json
                if who == "other_staff":
                    assert "陈思远" not in [m["name"] for m in body["items"]], params
                    assert body["total"] == (0 if "q" in params else total), params
                elif who == "sub_staff":
                    assert [m["name"] for m in body["items"]] == [name] and body["total"] == 1, params
                else:
                    assert body["total"] == (1 if "q" in params else total), params


def test_search_by_name_initials_and_staff_no(clients):  # noqa: ANN001
    for q in ("陈思", "csy", "CSY", "2015"):
        body = clients["staff"].get("/api/v1/members", query_string={"q": q}).json
        assert [m["name"] for m in body["items"]] == ["陈思远"], q
    assert clients["staff"].get("/api/v1/members", query_string={"q": "%"}).json["total"] == 0


def test_pagination_and_sorting(clients, world):  # noqa: ANN001
    for i in range(5):
        clients["sub_staff"].post("/api/v1/members", json={
            "name": f"测试{'甲乙丙丁戊'[i]}", "gender": "男", "birth_date": f"198{i}-01-01", "staff_no": f"3000{i}"})
    page = clients["sub_staff"].get("/api/v1/members?page=2&page_size=2&sort=-staff_no").json
    assert page["total"] == 6 and page["page"] == 2
    assert [m["staff_no"] for m in page["items"]] == ["30002", "30001"]
    bad = clients["sub_staff"].get("/api/v1/members?page=0&sort=password")
    assert bad.status_code == 422 and {"page", "sort"} <= set(bad.json["fields"])


def test_lists_always_mask_sensitive_fields(clients):  # noqa: ANN001
    item = clients["chair"].get("/api/v1/members?q=csy").json["items"][0]
    assert item["mobile"] == "138****5678"


def test_list_answers_exactly_the_documented_page_schema(clients, world):  # noqa: ANN001
    """The list skips marshmallow's dump (a Response goes out as built), so what it sends must be
    what MemberPage documents: dumping it through the schema changes nothing."""
    from server.routes.members.records import SUMMARY, MemberSummary
    from server.routes.schemas import page_schema

    body = clients["staff"].get("/api/v1/members?sort=name").json
    assert body["total"] == 2 and body["page"] == 1 and body["page_size"] == 20
    assert page_schema(MemberSummary, "MemberPage")().dump(body) == body
    assert all(set(item) == {*SUMMARY, "id", "sub_union_name"} for item in body["items"])
    by_name = {item["name"]: item for item in body["items"]}
    assert by_name["陈思远"]["sub_union_name"] == "计算机学院分工会"
    assert by_name["赵敏"]["sub_union_name"] == "机关分工会" and by_name["赵敏"]["sub_union"] == world.other_sub
    assert by_name["陈思远"]["birth_date"] == "1985-03-07" and by_name["陈思远"]["mobile"] == "138****5678"


def test_detail_masks_for_operator_and_audits_unmasked_read(clients, world, db):  # noqa: ANN001
    masked = clients["sub_staff"].get(f"/api/v1/members/{world.member_id}").json
    assert masked["id_number"] == "1303**********1236" and masked["mobile"] == "138****5678"
    assert masked["home_address"].endswith("****") and set(masked["masked_fields"]) >= {"id_number", "mobile"}
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "member.read_sensitive")) == 0
    full = clients["sub_chair"].get(f"/api/v1/members/{world.member_id}").json
    assert full["id_number"] == OWN_ID and full["masked_fields"] == []
    row = db.scalar(select(AuditLog).where(AuditLog.action == "member.read_sensitive"))
    assert row.actor_name == "sub_chair" and "id_number" in row.new["fields"]


def test_member_reads_own_record_in_full(clients, world):  # noqa: ANN001
    me = clients["member"].get("/api/v1/me/member").json
    assert me["id"] == world.member_id and me["id_number"] == OWN_ID
    assert clients["member"].get(f"/api/v1/members/{world.member_id}").status_code == 403


# ---- editing, versions, history ----------------------------------------------------------


def test_patch_changes_history_and_bumps_version(clients, world):  # noqa: ANN001
    c = clients["sub_staff"]
    r = c.patch(f"/api/v1/members/{world.member_id}", json={"title_level": "副高", "title": "副教授", "version": 1})
    assert r.status_code == 200 and r.json["version"] == 2 and r.headers["ETag"] == '"2"'
    r = c.patch(f"/api/v1/members/{world.member_id}", json={"mobile": "13900001111"}, headers={"If-Match": '"2"'})
    assert r.status_code == 200 and r.json["version"] == 3
    history = c.get(f"/api/v1/members/{world.member_id}/history").json
    changes = {(h["field"], h["old"], h["new"]) for h in history}
    assert ("title_level", None, "副高") in changes and ("title", None, "副教授") in changes
    assert ("mobile", "138****5678", "139****1111") in changes  # the operator may not see them in full
    assert all(h["actor_name"] == "sub_staff" for h in history)
    full = clients["chair"].get(f"/api/v1/members/{world.member_id}/history").json
    assert ("mobile", "13812345678", "13900001111") in {(h["field"], h["old"], h["new"]) for h in full}


def test_stale_version_is_refused_and_changes_nothing(clients, world):  # noqa: ANN001
    c = clients["sub_staff"]
    assert c.patch(f"/api/v1/members/{world.member_id}", json={"hobbies": "书法", "version": 1}).status_code == 200
    r = c.patch(f"/api/v1/members/{world.member_id}", json={"hobbies": "围棋", "version": 1})
    assert r.status_code == 409 and r.json["code"] == "stale_version"
    assert c.get(f"/api/v1/members/{world.member_id}").json["hobbies"] == "书法"


def test_patch_without_version_is_refused(clients, world):  # noqa: ANN001
    r = clients["sub_staff"].patch(f"/api/v1/members/{world.member_id}", json={"hobbies": "书法"})
    assert r.status_code == 400 and r.json["code"] == "version_required"
    r = clients["sub_staff"].patch(f"/api/v1/members/{world.member_id}", json={"hobbies": "书法"},
                                   headers={"If-Match": "abc"})
    assert r.status_code == 400 and r.json["code"] == "bad_if_match"


def test_sub_union_staff_cannot_change_school_only_fields(clients, world):  # noqa: ANN001
    for change in ({"membership_status": "退会"}, {"member_no": "2024000001"}, {"sub_union": world.other_sub}):
        r = clients["sub_chair"].patch(f"/api/v1/members/{world.member_id}", json={**change, "version": 1})
        assert r.status_code == 422 and set(change) <= set(r.json["fields"]), change
    r = clients["chair"].patch(f"/api/v1/members/{world.member_id}", json={"member_no": "2015000123", "version": 1})
    assert r.status_code == 200 and r.json["member_no"] == "2015000123"


def test_member_edits_only_member_editable_fields(clients, world):  # noqa: ANN001
    c = clients["member"]
    r = c.patch("/api/v1/me/member", json={"mobile": "13600002222", "marital_status": "已婚", "version": 1})
    assert r.status_code == 200 and r.json["mobile"] == "13600002222"
    r = c.patch("/api/v1/me/member", json={"title_level": "正高", "version": 2})
    assert r.status_code == 422 and "title_level" in r.json["fields"]
    assert clients["staff"].get(f"/api/v1/members/{world.member_id}").json["title_level"] is None


def test_resending_unchanged_values_is_not_an_edit(clients, world, db):  # noqa: ANN001
    r = clients["chair"].patch(f"/api/v1/members/{world.member_id}", json={"name": "陈思远", "version": 1})
    assert r.status_code == 200 and r.json["version"] == 1
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "member.update")) == 0


@pytest.mark.committing  # parallel connections must see committed rows
def test_concurrent_patches_with_same_version_one_wins(app, world):  # noqa: ANN001
    """Two editors saved the same version at once: exactly one succeeds, the other gets 409."""
    def edit(value: str) -> int:
        return app.test_client().patch(f"/api/v1/members/{world.member_id}", json={"hobbies": value, "version": 1},
                                       headers={"Authorization": f"Bearer {world.tokens['chair']}"}).status_code

    results = at_once([lambda: edit("书法"), lambda: edit("围棋")])
    assert sorted(results) == [200, 409]


def test_an_id_number_in_full_width_digits_is_refused_by_the_api(clients, world):  # noqa: ANN001
    """stdnum folds full-width digits itself; stored as typed, the number would escape the unique key.
    (The Excel import folds full-width characters first and reports it.)"""
    from tests.support.api_asserts import assert_error

    r = clients["sub_staff"].patch(f"/api/v1/members/{world.member_id}",
                                   json={"id_number": "１３０３０２１９８５０３０７１２３６", "version": 1})
    body = assert_error(r, 422, "validation_error", fields=("id_number",))
    assert "不能包含「全角字符 １（请用半角 1）」" in body["fields"]["id_number"]


def test_a_masked_answer_is_one_the_document_promises(app, db, clients, world):  # noqa: ANN001
    """A choice field that is sensitive comes back as *** to those who may not see it: the
    OpenAPI document must not promise its list of values there (found by bench/fuzz.py)."""
    from server.domain.members.models import Member
    from tests.support.api_asserts import assert_documented

    db.get(Member, world.member_id).hardship_level = "深度困难"
    db.commit()
    for role, shown in (("sub_staff", "***"), ("sub_chair", "深度困难")):
        r = clients[role].get(f"/api/v1/members/{world.member_id}")
        assert r.json["hardship_level"] == shown
        assert_documented(app, "GET", f"/api/v1/members/{world.member_id}", r)
