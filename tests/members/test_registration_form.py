"""The printed 《工会会员登记表》: one A4 page per member, scoped, masked, audited."""

from __future__ import annotations

import io
import re
from datetime import date
from urllib.parse import quote

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from server.core.models import AuditLog
from server.domain.members import catalogue as cat
from server.domain.members import form_pdf
from server.domain.members.models import Member
from server.routes.members import forms as member_forms
from tests.support.api_asserts import assert_error, reread
from tests.support.world import OTHER_ID, OWN_ID

FORM = "/api/v1/members/{}/registration-form.pdf"
BATCH = "/api/v1/members/registration-forms.pdf"
MINE = "/api/v1/me/registration-form.pdf"


def pages(data: bytes) -> list[str]:
    """Each page's text with all white space removed (lines wrap and cells break words apart)."""
    assert data.startswith(b"%PDF-")
    return [re.sub(r"\s+", "", p.extract_text()) for p in PdfReader(io.BytesIO(data)).pages]


def audit_rows(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    reread(db)
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def add_members(db, sub_union_id: int, names: list[str]) -> list[int]:  # noqa: ANN001
    members = [Member(name=n, gender="女", birth_date=date(1990, 1, 1 + i), sub_union_id=sub_union_id,
                      staff_no=f"T{sub_union_id}{i:04d}", membership_status="正常", employment_status="在职")
               for i, n in enumerate(names)]
    db.add_all(members)
    db.commit()
    return [m.id for m in members]


# ---- one member --------------------------------------------------------------------------


def test_form_is_one_page_pdf_with_chinese_text_and_every_catalogue_label(clients, world):  # noqa: ANN001
    resp = clients["sub_staff"].get(FORM.format(world.member_id))
    assert resp.status_code == 200
    assert resp.mimetype == "application/pdf"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('工会会员登记表-陈思远.pdf')}" in disposition
    assert resp.headers["Cache-Control"] == "no-store"
    assert b"STSong-Light" in resp.data
    (text,) = pages(resp.data)
    assert "工会会员登记表" in text and "陈思远" in text and "计算机学院分工会" in text
    assert "一寸照片" in text and "本人签字" in text and "分工会意见（盖章）" in text and "校工会意见（盖章）" in text
    for f in cat.CATALOGUE:  # the form is generated from the catalogue: every field has its place
        assert re.sub(r"\s+", "", f.label) in text, f.label


def test_operator_prints_masked_values_and_chair_prints_them_in_full(clients, world, db):  # noqa: ANN001
    (masked,) = pages(clients["sub_staff"].get(FORM.format(world.member_id)).data)
    assert "1303**********1236" in masked and OWN_ID not in masked
    assert "138****5678" in masked and "13812345678" not in masked
    assert audit_rows(db, "member.read_sensitive") == []

    (full,) = pages(clients["sub_chair"].get(FORM.format(world.member_id)).data)
    assert OWN_ID in full and "13812345678" in full
    (row,) = audit_rows(db, "member.read_sensitive")
    assert row.actor_name == "sub_chair" and row.object_id == str(world.member_id)
    assert row.new["purpose"] == "registration_form" and "id_number" in row.new["fields"]

    exports = audit_rows(db, "member.export_form")
    assert [(r.actor_name, r.object_id) for r in exports] == [("sub_staff", str(world.member_id)),
                                                              ("sub_chair", str(world.member_id))]
    assert [r.new["sensitive"] for r in exports] == [False, True]


def test_another_sub_unions_member_is_not_found(clients, world, db):  # noqa: ANN001
    assert_error(clients["sub_chair"].get(FORM.format(world.other_member_id)), 404, "not_found")
    assert audit_rows(db, "member.export_form") == []


def test_member_prints_own_form_in_full(clients, world, db):  # noqa: ANN001
    resp = clients["member"].get(MINE)
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    (text,) = pages(resp.data)
    assert "陈思远" in text and OWN_ID in text and OTHER_ID not in text
    assert audit_rows(db, "member.read_sensitive") == []  # reading one's own record is not audited as such
    (row,) = audit_rows(db, "member.export_form")
    assert row.object_id == str(world.member_id) and row.new["own"] is True
    assert_error(clients["chair"].get(MINE), 404, "not_found")  # a staff account with no member record


def test_overlong_record_still_prints_on_one_page(clients, world, db):  # noqa: ANN001
    member = db.get(Member, world.member_id)
    for f in cat.CATALOGUE:
        if f.type in (cat.TEXT, cat.LONGTEXT) and f.code not in ("name", "id_number", "mobile", "member_no", "staff_no",
                                                                 "email", "office_phone", "photo"):
            setattr(member, f.attr, ("很长的内容" * 400)[: f.max_length])
    member.resume = "\n".join(f"{2000 + i}.09-{2001 + i}.07 某大学某学院学习与工作经历，担任某职务" for i in range(80))[:2000]
    member.children = [{"name": f"孩子{i}", "gender": "男", "birth_date": "2010-01-01"} for i in range(10)]
    member.union_posts = list(cat.UNION_POSTS)
    member.name = "阿卜杜热合曼·买买提艾力"
    db.commit()
    (text,) = pages(clients["chair"].get(FORM.format(world.member_id)).data)
    assert "…" in text and "2000.09-2001.07" in text and "孩子0" in text
    assert "阿卜杜热合曼・买买提艾力" in text  # the middle dot the font has, not a blank box


# ---- a batch -----------------------------------------------------------------------------


def test_batch_prints_one_page_per_member_of_the_callers_scope(clients, world, db, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(member_forms, "CHUNK", 3)  # several loads of members for one printout
    own = ["孙一", "孙二", "孙三", "孙四", "孙五"]
    other = ["钱一", "钱二", "钱三"]
    add_members(db, world.own_sub, own)
    add_members(db, world.other_sub, other)

    resp = clients["sub_staff"].get(BATCH)
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert f"filename*=UTF-8''{quote('工会会员登记表-6人-')}" in resp.headers["Content-Disposition"]
    texts = pages(resp.data)
    assert len(texts) == 6
    for text, name in zip(texts, ["陈思远", *own], strict=True):  # in the list's order, one member a page
        assert name in text and "工会会员登记表" in text
    assert not any(n in t for t in texts for n in ["赵敏", *other])
    assert "1303**********1236" in texts[0] and OWN_ID not in texts[0]

    assert len(pages(clients["admin"].get(BATCH).data)) == 10
    texts = pages(clients["chair"].get(BATCH, query_string={"sub_union_id": world.other_sub}).data)
    assert len(texts) == 4 and "赵敏" in texts[0]
    # another sub-union's id as a filter finds nothing in the caller's scope
    assert_error(clients["sub_chair"].get(BATCH, query_string={"sub_union_id": world.other_sub}), 422, "no_members")
    texts = pages(clients["sub_staff"].get(BATCH, query_string={"q": "孙", "sort": "-name"}).data)
    assert len(texts) == 5

    rows = audit_rows(db, "member.export_forms")
    assert [(r.actor_name, r.new["count"]) for r in rows] == [("sub_staff", 6), ("admin", 10), ("chair", 4),
                                                             ("sub_staff", 5)]
    assert rows[2].new["filter"]["sub_union_id"] == world.other_sub and rows[2].sub_union_id == world.other_sub
    assert rows[3].new["filter"]["q"] == "孙" and rows[3].new["filter"]["limit"] == 500


def test_batch_prints_sensitive_values_only_for_readers_who_may_see_them(clients, world, db):  # noqa: ANN001
    (masked,) = pages(clients["sub_staff"].get(BATCH).data)
    assert "1303**********1236" in masked and OWN_ID not in masked
    assert audit_rows(db, "member.read_sensitive") == []
    texts = pages(clients["chair"].get(BATCH).data)
    assert OWN_ID in texts[0] and OTHER_ID in texts[1]
    rows = audit_rows(db, "member.read_sensitive")
    assert sorted(r.object_id for r in rows) == sorted([str(world.member_id), str(world.other_member_id)])
    assert {r.new["purpose"] for r in rows} == {"registration_forms"}
    assert [r.new["sensitive_count"] for r in audit_rows(db, "member.export_forms")] == [0, 2]


def test_batch_over_the_limit_asks_to_narrow_the_filter(clients, world, db):  # noqa: ANN001
    add_members(db, world.own_sub, ["孙一", "孙二", "孙三"])
    body = assert_error(clients["admin"].get(BATCH, query_string={"limit": 3}), 422, "too_many_members",
                        fields=("limit",))
    assert "5" in body["message"] and "缩小筛选范围" in body["message"]
    assert_error(clients["admin"].get(BATCH, query_string={"limit": 2001}), 422, "validation_error", fields=("limit",))
    assert_error(clients["admin"].get(BATCH, query_string={"limit": 0}), 422, "validation_error", fields=("limit",))
    assert audit_rows(db, "member.export_forms") == []
    assert len(pages(clients["admin"].get(BATCH, query_string={"limit": 5}).data)) == 5


# ---- the renderer itself -------------------------------------------------------------------


def test_renderer_draws_exactly_one_page_per_entry():
    long = "长" * 3000
    values = {f.code: long for f in cat.CATALOGUE if f.type in (cat.TEXT, cat.LONGTEXT)}
    entries = [
        form_pdf.FormEntry({"name": "赵敏", "gender": "女"}, "机关分工会", date(2025, 1, 2)),
        form_pdf.FormEntry(values, None, None),
        form_pdf.FormEntry({"name": "钱三", "children": [{"name": "钱小", "gender": "女", "birth_date": date(2015, 5, 5)}]},
                           "计算机学院分工会", date(2025, 1, 2)),
    ]
    texts = pages(form_pdf.render_forms(iter(entries)))
    assert len(texts) == 3
    assert "赵敏" in texts[0] and "2025年1月2日" in texts[0] and "机关分工会" in texts[0]
    assert "…" in texts[1]
    assert "钱小" in texts[2] and "2015-05-05" in texts[2]
    with pytest.raises(ValueError):
        form_pdf.render_forms([])
