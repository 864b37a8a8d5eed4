"""Excel batch import (校工会批量修改), by behaviour: the template; the dry-run report;
all-or-nothing and valid-only runs; matching by 工号 / 证件号码 and what counts as a change;
sub-union scope; bad files and formulas; row errors; the bulk path's correctness across chunks
(duplicates in the file and against the database, history and audit of every change, stored
forms); and large imports as a job (202, progress, the report, for the requester only), through
a real worker on the MariaDB + Redis pass."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from stdnum.cn import ric

from server.core.errors import Conflict
from server.core.models import AuditLog
from server.domain.accounts.models import User
from server.domain.members import catalogue as cat
from server.domain.members import excel, importer, imports, writes
from server.domain.members.models import Member, MemberImport
from tests.support.api_asserts import assert_error, reread
from tests.support.world import BACKEND, OTHER_ID, OWN_ID, wait_for

TEMPLATE = "/api/v1/members/import-template.xlsx"
IMPORT = "/api/v1/members/import"
BASIC = ["姓名", "性别", "出生日期", "工号", "证件号码", "所属分工会"]
OWN_NAME, OTHER_NAME = "计算机学院分工会", "机关分工会"


# ---- helpers ---------------------------------------------------------------------------


def make_id(birth: date, seq: int = 1, gender: str = "男") -> str:
    """A valid 18-digit 居民身份证 number on region 130302 (GB 11643 check digit)."""
    order = seq * 2 + (1 if gender == "男" else 0)  # the 17th digit is odd for men
    body = f"130302{birth:%Y%m%d}{order % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # it reads the first 17 digits


def xlsx(rows: list[list[Any]], header: list[str] | None = None, *, raw_strings: tuple[str, ...] = ()) -> bytes:
    """A workbook whose first row is ``header`` (default BASIC). Values starting with = become
    formulas as openpyxl writes them, except those listed in ``raw_strings`` (kept as text)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "会员信息"
    ws.append(header if header is not None else BASIC)
    for row in rows:
        ws.append(row)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if cell.value in raw_strings:
                cell.data_type = "s"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(client, data: bytes, *, filename: str = "会员.xlsx", dry_run: bool = True,  # noqa: ANN001
           mode: str | None = None):  # noqa: ANN201
    form: dict[str, Any] = {"file": (io.BytesIO(data), filename), "dry_run": "true" if dry_run else "false"}
    if mode:
        form["mode"] = mode
    return client.post(IMPORT, data=form, content_type="multipart/form-data")


def members(db) -> dict[str, Member]:  # noqa: ANN001
    reread(db)
    return {m.staff_no or m.name: m for m in db.scalars(select(Member))}


def member_count(db) -> int:  # noqa: ANN001
    reread(db)
    return db.scalar(select(func.count()).select_from(Member))


def audit_rows(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    reread(db)
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def errors_by_row(report: dict) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for e in report["errors"]:
        out.setdefault(e["row"], []).append(e)
    return out


def new_row(name: str = "周新", staff_no: str = "20240001", birth: date = date(1992, 5, 1), gender: str = "女",
            seq: int = 7, sub: str | None = OWN_NAME) -> list[Any]:
    return [name, gender, birth.isoformat(), staff_no, make_id(birth, seq, gender), sub]


# ---- the template ----------------------------------------------------------------------


def test_template_has_chinese_headers_drop_downs_and_hidden_options(clients, world):
    resp = clients["staff"].get(TEMPLATE)
    assert resp.status_code == 200
    assert resp.mimetype == excel.XLSX_MIME
    assert "attachment" in resp.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["会员信息", "说明", "选项"]
    ws, options = wb["会员信息"], wb["选项"]
    assert [c.value for c in ws[1]] == [f.label for f in cat.CATALOGUE]
    assert ws.max_row == 1  # no sample row that could be imported by mistake
    assert ws.freeze_panes == "B2"
    assert ws["A1"].comment is not None and "必填" in ws["A1"].comment.text
    assert options.sheet_state == "hidden" and wb["说明"].sheet_state == "visible"
    assert ws.column_dimensions["A"].width >= 10

    col_of = {f.code: i for i, f in enumerate(cat.CATALOGUE, start=1)}
    validations = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            validations[rng.min_col] = dv
    choice_fields = [f for f in cat.CATALOGUE if f.type in (cat.CHOICE, cat.MULTI, cat.REF)]
    for f in choice_fields:
        dv = validations[col_of[f.code]]
        assert dv.type == "list" and dv.formula1.startswith("'选项'!$"), f.code
        # The referenced range holds the field's choices under its label.
        letter = dv.formula1.split("!$")[1].split("$")[0]
        listed = [c.value for c in options[letter] if c.value is not None]
        expected = list(f.choices) if f.choices else [OWN_NAME, OTHER_NAME, "空分工会"]
        assert listed == [f.label, *expected], f.code
    assert validations[col_of["ethnicity"]].showErrorMessage is True  # 56 民族: far past 255 characters inline
    assert validations[col_of["union_posts"]].showErrorMessage is False  # 多选 joined by 、 stays allowed
    notes = [c.value for c in wb["说明"]["A"] if c.value]
    assert any("不接受公式" in n for n in notes) and "子女信息" in notes


def test_template_for_a_sub_union_lists_only_its_own(clients, world):
    for role, name in (("sub_staff", OWN_NAME), ("other_chair", OTHER_NAME)):
        wb = load_workbook(io.BytesIO(clients[role].get(TEMPLATE).data))
        column = next(c for c in wb["选项"][1] if c.value == "所属分工会").column_letter
        assert [c.value for c in wb["选项"][column] if c.value] == ["所属分工会", name]


def test_template_route_does_not_clash_with_member_ids(clients, world):
    assert clients["staff"].get(TEMPLATE).status_code == 200
    assert clients["staff"].get(f"/api/v1/members/{world.member_id}").status_code == 200
    assert clients["member"].get(TEMPLATE).status_code == 403
    assert clients["anonymous"].get(TEMPLATE).status_code == 401


def test_the_template_itself_round_trips(clients, world, db):
    """A template filled in as is (school-only columns included) imports."""
    wb = load_workbook(io.BytesIO(clients["staff"].get(TEMPLATE).data))
    ws = wb["会员信息"]
    values = {"name": "钱多多", "gender": "男", "birth_date": datetime(1988, 8, 8), "staff_no": "20240088",
              "id_number": make_id(date(1988, 8, 8), 3, "男"), "sub_union": OTHER_NAME, "ethnicity": "汉族",
              "employment_status": "在职", "membership_status": "正常", "union_posts": "工会委员、会员代表",
              "children": "钱一/女/2015-03-02；钱二/男/2018/05/01", "union_join_date": datetime(2010, 9, 1),
              "mobile": "13700001111"}
    for i, f in enumerate(cat.CATALOGUE, start=1):
        if f.code in values:
            ws.cell(row=2, column=i, value=values[f.code])
    out = io.BytesIO()
    wb.save(out)
    resp = upload(clients["staff"], out.getvalue(), dry_run=False)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["created"] == 1
    m = members(db)["20240088"]
    assert m.sub_union_id == world.other_sub and m.birth_date == date(1988, 8, 8)
    assert m.union_posts == ["工会委员", "会员代表"] and m.union_join_date == date(2010, 9, 1)
    assert m.children == [{"name": "钱一", "gender": "女", "birth_date": "2015-03-02"},
                          {"name": "钱二", "gender": "男", "birth_date": "2018-05-01"}]
    assert m.children_count == 2 and m.name_initials == "qdd"


# ---- dry run ---------------------------------------------------------------------------


def test_dry_run_reports_per_row_and_writes_nothing(clients, world, db):
    header = [*BASIC, "兴趣爱好/特长"]
    rows = [
        [*new_row(), "羽毛球"],  # 2: new
        ["陈思远", "男", "1985-03-07", 20150123.0, None, None, "摄影"],  # 3: update by 工号 typed as a number
        [None] * 7,  # 4: empty, skipped
        ["赵敏", None, None, "20160456", None, None, None],  # 5: same as stored
        ["王五", "未知", "1990-01-01", "20240002", None, OWN_NAME, None],  # 6: bad gender
    ]
    resp = upload(clients["staff"], xlsx(rows, header))
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert (report["dry_run"], report["applied"], report["mode"]) == (True, False, "all_or_nothing")
    assert (report["total"], report["created"], report["updated"], report["unchanged"]) == (4, 1, 1, 1)
    assert report["error_rows"] == 1 and "试导入" in report["message"]
    assert report["errors"] == [{"row": 6, "column": "性别", "field": "gender",
                                 "message": report["errors"][0]["message"]}]
    assert "不是可选值" in report["errors"][0]["message"]
    assert member_count(db) == 2
    assert members(db)["20150123"].hobbies is None
    assert audit_rows(db, "member.import") == [] and audit_rows(db, "member.import_batch") == []


def test_dry_run_is_the_default(clients, world, db):
    resp = clients["staff"].post(IMPORT, data={"file": (io.BytesIO(xlsx([new_row()])), "a.xlsx")},
                                 content_type="multipart/form-data")
    assert resp.status_code == 200 and resp.get_json()["dry_run"] is True and resp.get_json()["created"] == 1
    assert member_count(db) == 2


# ---- real runs ----------------------------------------------------------------------------


def bad_checksum(birth: date, seq: int, gender: str) -> str:
    good = make_id(birth, seq, gender)
    return good[:-1] + ("1" if good[-1] == "0" else "0")


GOOD_AND_BAD = [
    new_row(),  # 2
    ["陈思远", None, None, "20150123", None, None],  # 3: unchanged
    ["坏数据", "男", "1990-01-01", "20240009", bad_checksum(date(1990, 1, 1), 1, "男"), OWN_NAME],  # 4
]


def test_all_or_nothing_with_one_bad_row_writes_nothing(clients, world, db):
    resp = upload(clients["staff"], xlsx(GOOD_AND_BAD), dry_run=False)
    body = assert_error(resp, 422, "import_rejected")
    assert body["applied"] is False and body["created"] == 1 and body["error_rows"] == 1
    assert body["errors"][0]["row"] == 4 and body["errors"][0]["column"] == "证件号码"
    assert "校验位" in body["errors"][0]["message"]
    assert "未写入" in body["message"]
    assert member_count(db) == 2
    assert audit_rows(db, "member.import") == [] and audit_rows(db, "member.import_batch") == []


def test_valid_only_writes_the_good_rows_and_audits(clients, world, db):
    header = [*BASIC, "工会职务", "子女信息", "入会时间", "兴趣爱好/特长"]
    rows = [
        [*new_row(), "工会委员、会员代表", "小周/男/2019-03-02", datetime(2016, 9, 1), None],  # 2: new
        ["陈思远", None, None, "20150123", None, None, None, None, None, "围棋"],  # 3: update
        ["赵敏", None, None, "20160456", None, None, None, None, None, None],  # 4: unchanged
        ["坏数据", "男", "1990-01-01", "20240009", bad_checksum(date(1990, 1, 1), 1, "男"), OWN_NAME,
         None, None, None, None],  # 5: bad checksum
    ]
    resp = upload(clients["chair"], xlsx(rows, header), dry_run=False, mode="valid_only")
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert report["applied"] is True
    assert (report["created"], report["updated"], report["unchanged"], report["error_rows"]) == (1, 1, 1, 1)
    assert [e["row"] for e in report["errors"]] == [5]
    got = members(db)
    assert set(got) == {"20150123", "20160456", "20240001"}
    new = got["20240001"]
    assert (new.name, new.gender, new.birth_date, new.sub_union_id) == ("周新", "女", date(1992, 5, 1), world.own_sub)
    assert new.union_posts == ["工会委员", "会员代表"] and new.union_join_date == date(2016, 9, 1)
    assert new.children == [{"name": "小周", "gender": "男", "birth_date": "2019-03-02"}]
    assert (new.membership_status, new.employment_status, new.id_type) == ("正常", "在职", "居民身份证")
    assert got["20150123"].hobbies == "围棋" and got["20150123"].version == 2
    assert got["20160456"].version == 1
    imports = audit_rows(db, "member.import")
    assert sorted(int(a.object_id) for a in imports) == sorted([new.id, world.member_id])
    changed = next(a for a in imports if int(a.object_id) == world.member_id)
    assert changed.old == {"hobbies": None} and changed.new == {"hobbies": "围棋"}
    assert all(a.actor_name == "chair" for a in imports)
    (batch,) = audit_rows(db, "member.import_batch")
    assert batch.new["created"] == 1 and batch.new["updated"] == 1 and batch.new["unchanged"] == 1
    assert batch.new["error_rows"] == 1 and batch.new["total"] == 4 and batch.new["file"] == "会员.xlsx"
    # The member's history shows the import.
    history = clients["chair"].get(f"/api/v1/members/{world.member_id}/history").get_json()
    assert any(h["action"] == "member.import" and h["field"] == "hobbies" for h in history)


def test_update_by_staff_no_and_by_id_number(clients, world, db):
    birth = date(1986, 12, 1)
    x_id = next(make_id(birth, seq, "男") for seq in range(1, 400) if make_id(birth, seq, "男").endswith("X"))
    db.add(Member(name="孙立", gender="男", birth_date=birth, id_number=x_id, sub_union_id=world.own_sub))
    db.commit()
    header = ["姓名", "工号", "证件号码", "办公电话", "婚姻状况"]
    rows = [
        ["陈思远", "20150123", None, "0335-8051234", None],  # by 工号
        ["赵敏", None, OTHER_ID, None, "已婚"],  # by 证件号码
        ["孙立", "20240100", x_id.lower(), None, "未婚"],  # by 证件号码 with a small x; gets a 工号
    ]
    resp = upload(clients["admin"], xlsx(rows, header), dry_run=False)
    assert resp.status_code == 200, resp.get_json()["errors"]
    assert (resp.get_json()["updated"], resp.get_json()["created"]) == (3, 0)
    got = members(db)
    assert got["20150123"].office_phone == "0335-8051234"
    assert got["20160456"].marital_status == "已婚"
    assert got["20240100"].name == "孙立" and got["20240100"].marital_status == "未婚"
    assert got["20240100"].id_number == x_id
    assert member_count(db) == 3


def test_unchanged_rows_are_reported_and_not_written(clients, world, db):
    rows = [["陈思远", "男", "1985-03-07", "20150123", OWN_ID.lower(), OWN_NAME],
            ["赵敏", "女", datetime(1990, 6, 15), "20160456", OTHER_ID, OTHER_NAME]]
    resp = upload(clients["staff"], xlsx(rows), dry_run=False)
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert (report["unchanged"], report["updated"], report["created"], report["applied"]) == (2, 0, 0, True)
    assert members(db)["20150123"].version == 1 and members(db)["20160456"].version == 1
    assert audit_rows(db, "member.import") == []
    assert audit_rows(db, "member.import_batch")[0].new["unchanged"] == 2


# ---- sub-union accounts -------------------------------------------------------------------


def test_sub_union_operator_imports_only_into_their_own(clients, world, db):
    header = ["姓名", "性别", "出生日期", "工号", "所属分工会", "兴趣爱好/特长", "人员状态"]
    rows = [
        ["新同事", "男", "1991-02-03", "20240201", None, None, "在职"],  # 2: no sub-union → ours
        ["外院人", "女", "1991-02-03", "20240202", OTHER_NAME, None, None],  # 3: another sub-union
        ["赵敏", None, None, "20160456", None, "跑步", None],  # 4: another sub-union's member
        ["陈思远", None, None, "20150123", OWN_NAME, "书法", "在职"],  # 5: ours; locked columns unchanged
        ["陈思远X", None, None, "20150124", "不存在的分工会", None, None],  # 6: unknown sub-union
    ]
    resp = upload(clients["sub_staff"], xlsx(rows, header), dry_run=False, mode="valid_only")
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert (report["created"], report["updated"], report["error_rows"]) == (1, 1, 3)
    errs = errors_by_row(report)
    assert [(e["column"], e["message"]) for e in errs[3]] == [("所属分工会", "分工会账号只能导入本分工会的会员")]
    # Another sub-union's member: only that the 工号 is taken — not whose, not where (issue 12, item 5).
    assert [(e["column"], e["message"]) for e in errs[4]] == [("工号", "工号「20160456」已被其他会员使用")]
    assert errs[6][0]["column"] == "所属分工会" and "不存在" in errs[6][0]["message"]
    got = members(db)
    assert got["20240201"].sub_union_id == world.own_sub
    assert "20240202" not in got
    assert got["20160456"].hobbies is None and got["20160456"].version == 1  # untouched
    assert got["20150123"].hobbies == "书法"
    (batch,) = audit_rows(db, "member.import_batch")
    assert batch.sub_union_id == world.own_sub


def test_sub_union_operator_cannot_change_school_only_fields(clients, world, db):
    header = ["姓名", "工号", "人员状态", "所属分工会"]
    rows = [["陈思远", "20150123", "退休", None], ["陈思远", "20150123", None, OTHER_NAME]]
    report = upload(clients["sub_chair"], xlsx(rows, header)).get_json()
    errs = errors_by_row(report)
    assert errs[2][0]["column"] == "人员状态" and errs[2][0]["message"] == "当前账号不能修改此字段"
    assert errs[3][0]["message"].startswith("与第 2 行")  # the same member twice in one file
    rows = [["陈思远", "20150123", None, OTHER_NAME]]
    errs = errors_by_row(upload(clients["sub_chair"], xlsx(rows, header)).get_json())
    assert errs[2][0]["column"] == "所属分工会" and "转会" in errs[2][0]["message"]


def test_matching_another_sub_unions_member_by_id_number_is_refused(clients, world, db):
    rows = [["赵敏", "女", "1990-06-15", None, OTHER_ID, None]]
    resp = upload(clients["sub_staff"], xlsx(rows), dry_run=False)
    body = assert_error(resp, 422, "import_rejected")
    assert body["errors"] == [{"row": 2, "column": "证件号码", "field": "id_number",
                               "message": "证件号码「1303**********1248」已被其他会员使用"}]
    assert member_count(db) == 2 and members(db)["20160456"].sub_union_id == world.other_sub


def test_a_sub_union_account_learns_only_that_a_number_is_taken(clients, world, db):
    """赵敏 belongs to another sub-union. Naming her 工号 or 证件号码 says the number is taken,
    in the words used for any taken number — not her name, her sub-union, her record, nor that
    two rows name the same person."""
    twin = make_id(date(1985, 3, 7), 60, "男")  # agrees with 陈思远's birth date and gender
    db.add(Member(name="孙立", gender="男", birth_date=date(1985, 3, 7), id_number=twin, sub_union_id=world.other_sub))
    db.commit()
    header = ["姓名", "性别", "出生日期", "工号", "证件号码", "所属分工会"]
    masked = f"{OTHER_ID[:4]}{'*' * 10}{OTHER_ID[-4:]}"
    twin_masked = f"{twin[:4]}{'*' * 10}{twin[-4:]}"
    sheets = {
        "her 工号, then her ID number (the same person)": (
            [["赵敏", None, None, "20160456", None, None], ["赵敏", None, None, None, OTHER_ID.lower(), None]],
            [(2, "工号", "工号「20160456」已被其他会员使用"), (3, "证件号码", f"证件号码「{masked}」已被其他会员使用")]),
        "a new 工号 with her ID number": (
            [["新人", "女", "1990-06-15", "20249999", OTHER_ID, None]],
            [(2, "证件号码", f"证件号码「{masked}」已被其他会员使用")]),
        "our own member given the ID number of another sub-union's 孙立": (
            [["陈思远", None, None, "20150123", twin, None]],
            [(2, "证件号码", f"证件号码「{twin_masked}」已被其他会员使用")]),
    }
    for case, (rows, expected) in sheets.items():
        report = upload(clients["sub_staff"], xlsx(rows, header), dry_run=False, mode="valid_only").get_json()
        assert [(e["row"], e["column"], e["message"]) for e in report["errors"]] == expected, case
        said = " ".join(e["message"] for e in report["errors"]) + " ".join(report["notes"])
        for secret in ("赵敏", "孙立", OTHER_NAME, "范围", "同一名会员", "转会"):
            assert secret not in said, (case, secret)
        assert all(set(e) == {"row", "column", "field", "message"} for e in report["errors"]), case  # no member id
        assert report["created"] == report["updated"] == 0, case
    assert member_count(db) == 3 and members(db)["20150123"].version == 1
    # The same words a school account gets for a number one of its own members holds.
    school = upload(clients["staff"], xlsx([["陈思远", None, None, "20150123", twin, None]], header)).get_json()
    assert school["errors"][0]["message"] == f"证件号码「{twin_masked}」已被其他会员使用"


# ---- bad files -------------------------------------------------------------------------------


def test_a_text_file_is_not_an_xlsx(clients, world):
    assert_error(upload(clients["staff"], "姓名,性别\n张三,男\n".encode(), filename="members.txt"), 422, "bad_file",
                 message="文件不是有效的 xlsx（请上传按导入模板填写的 .xlsx 文件）", fields=("file",))
    assert_error(upload(clients["staff"], "姓名,性别\n".encode(), filename="members.xlsx"), 422, "bad_file")


@pytest.mark.parametrize("content", [
    b"PK\x03\x04" + b"\x00" * 200,  # a broken zip
    b"",  # an empty upload
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
])
def test_a_corrupt_file_named_xlsx(clients, world, content):
    assert_error(upload(clients["staff"], content), 422, "bad_file")


def test_a_zip_that_is_not_a_workbook(clients, world):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    body = assert_error(upload(clients["staff"], buf.getvalue()), 422, "bad_file")
    assert body["message"] == "文件不是有效的 xlsx"


def test_no_file(clients, world):
    resp = clients["staff"].post(IMPORT, data={"dry_run": "true"}, content_type="multipart/form-data")
    assert_error(resp, 422, "file_required", fields=("file",))
    resp = clients["staff"].post(IMPORT, data={"file": (io.BytesIO(xlsx([new_row()])), "a.xlsx"), "mode": "all"},
                                 content_type="multipart/form-data")
    assert_error(resp, 422, "validation_error", fields=("mode",))


def test_unknown_and_missing_headers(clients, world):
    body = assert_error(upload(clients["staff"], xlsx([["张三", "x"]], ["姓名", "鞋码", "星座"])), 422,
                        "unknown_columns")
    assert "鞋码" in body["message"] and "星座" in body["message"]
    body = assert_error(upload(clients["staff"], xlsx([["男"]], ["性别"])), 422, "missing_columns")
    assert "姓名" in body["message"]
    body = assert_error(upload(clients["staff"], xlsx([["张三", "李四"]], ["姓名", "姓名"])), 422,
                        "duplicate_columns")


def test_field_codes_are_accepted_as_headers(clients, world):
    rows = [["周新", "女", "1992-05-01", "20240001", OWN_NAME]]
    report = upload(clients["staff"], xlsx(rows, ["name", "gender", "birth_date", "staff_no", "sub_union"])).get_json()
    assert report["created"] == 1 and report["errors"] == []


def test_empty_workbooks(clients, world):
    wb = Workbook()
    out = io.BytesIO()
    wb.save(out)
    assert_error(upload(clients["staff"], out.getvalue()), 422, "empty_file")
    body = assert_error(upload(clients["staff"], xlsx([])), 422, "empty_file")
    assert "没有数据行" in body["message"]


def test_too_large_and_too_many_rows(clients, world, monkeypatch):
    big = b"PK" + b"\x00" * (excel.MAX_FILE_BYTES + 1)
    body = assert_error(upload(clients["staff"], big), 413, "file_too_large")
    assert "10 MB" in body["message"]
    monkeypatch.setattr(excel, "MAX_ROWS", 3)
    rows = [new_row(staff_no=f"2024000{i}", seq=i) for i in range(1, 5)]
    body = assert_error(upload(clients["staff"], xlsx(rows)), 413, "too_many_rows")
    assert "3 行" in body["message"]
    assert upload(clients["staff"], xlsx(rows[:3])).status_code == 200
    # Blank rows do not count (the quick estimate includes them; over the limit, rows are counted).
    spaced = [rows[0], ["  "], rows[1], ["  "], rows[2]]
    assert upload(clients["staff"], xlsx(spaced)).get_json()["created"] == 3


def test_a_formula_is_never_evaluated_or_stored(clients, world, db):
    header = [*BASIC, "备注"]
    rows = [
        [*new_row(), '=HYPERLINK("http://evil","x")'],  # written by openpyxl as a formula
        [*new_row("吴用", "20240002", seq=9), "=1+1"],  # a text cell that starts with =
        [*new_row("郑和", "20240003", seq=11), "正常备注"],
    ]
    data = xlsx(rows, header, raw_strings=("=1+1",))
    cell_types = [c.data_type for c in load_workbook(io.BytesIO(data))["会员信息"]["G"][1:3]]
    assert cell_types == ["f", "s"]
    resp = upload(clients["staff"], data, dry_run=False)
    body = assert_error(resp, 422, "import_rejected")
    assert [(e["row"], e["column"], e["message"]) for e in body["errors"]] == [
        (2, "备注", "不接受公式，请直接填写内容"), (3, "备注", "不接受公式，请直接填写内容")]
    assert member_count(db) == 2
    resp = upload(clients["staff"], data, dry_run=False, mode="valid_only")
    assert resp.status_code == 200 and resp.get_json()["created"] == 1
    got = members(db)
    assert set(got) == {"20150123", "20160456", "20240003"}
    assert not any("HYPERLINK" in (m.remarks or "") or (m.remarks or "").startswith("=") for m in got.values())


def as_saved_by_excel(data: bytes) -> bytes:
    """The same workbook the way Excel and WPS write it: text in a shared-strings table (not
    inline), cells with a namespace prefix, and a <dimension> tag."""
    import re

    src = zipfile.ZipFile(io.BytesIO(data))
    strings: list[str] = []

    def shared(match: re.Match) -> str:
        strings.append(match.group(3))
        return f'<x:c r="{match.group(1)}"{match.group(2) or ""} t="s"><x:v>{len(strings) - 1}</x:v></x:c>'

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            content = src.read(name)
            if name == "xl/worksheets/sheet1.xml":
                xml = content.decode()
                xml = re.sub(r'<c r="([A-Z]+[0-9]+)"( s="[0-9]+")? t="inlineStr"><is><t[^>]*>(.*?)</t></is></c>', shared, xml)
                xml = re.sub(r"<(/?)(row|c|v|f|sheetData)([ >/])", r"<\1x:\2\3", xml)
                xml = xml.replace('<worksheet xmlns="', '<worksheet xmlns:x="http://schemas.openxmlformats.org/'
                                  'spreadsheetml/2006/main" xmlns="', 1)
                xml = xml.replace("<sheetViews>", '<dimension ref="A1:F9"/><sheetViews>', 1)
                content = xml.encode()
            elif name == "[Content_Types].xml":
                content = content.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="'
                                          b'application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings'
                                          b'+xml"/></Types>')
            elif name == "xl/_rels/workbook.xml.rels":
                content = content.replace(b"</Relationships>", b'<Relationship Type="http://schemas.openxmlformats.org/'
                                          b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml" '
                                          b'Id="rId9"/></Relationships>')
            dst.writestr(name, content)
        items = "".join(f"<si><t>{t}</t></si>" for t in strings)
        dst.writestr("xl/sharedStrings.xml", '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                     f'count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>')
    return out.getvalue()


def test_a_workbook_saved_by_excel_reads_the_same(clients, world, db):
    header = [*BASIC, "备注", "入会时间"]
    rows = [[*new_row(), "正常备注", datetime(2016, 9, 1)],
            [*new_row("吴用", "20240002", seq=9, gender="男"), "=1+1", None],
            ["陈思远", None, None, 20150123, None, None, "更新", None],
            ["王五", "未知", "1990-01-01", "20240003", None, OWN_NAME, None, None]]
    plain = xlsx(rows, header, raw_strings=("=1+1",))
    excel_like = as_saved_by_excel(plain)
    assert b"sharedStrings" in excel_like and b"inlineStr" not in zipfile.ZipFile(io.BytesIO(excel_like)).read(
        "xl/worksheets/sheet1.xml")
    first, second = upload(clients["staff"], plain).get_json(), upload(clients["staff"], excel_like).get_json()
    assert first == second
    assert (first["created"], first["updated"], first["error_rows"]) == (1, 1, 2)
    assert [(e["row"], e["column"]) for e in first["errors"]] == [(3, "备注"), (5, "性别")]


# ---- row errors ------------------------------------------------------------------------------


def test_row_errors_name_the_row_and_the_column(clients, world, db):
    db.get(Member, world.other_member_id).member_no = "HY0001"
    taken = make_id(date(1990, 6, 15), 50, "女")  # agrees with 赵敏's birth date and gender
    db.add(Member(name="钱七", gender="女", birth_date=date(1990, 6, 15), id_number=taken, sub_union_id=world.own_sub))
    db.commit()
    header = [*BASIC, "民族", "籍贯", "会员证号", "子女信息"]
    long_text = "长" * 51
    birth = date(1992, 5, 1)
    rows = [
        ["甲", "女", "1992-05-01", "20240001", bad_checksum(birth, 8, "女"), OWN_NAME, None, None, None, None],  # 2
        ["乙", "男", "1992-05-02", "20240002", make_id(birth, 5, "男"), OWN_NAME, None, None, None, None],  # 3 birth
        ["丙", "男", "1993-01-01", "20240003", None, OWN_NAME, "火星族", None, None, None],  # 4 unknown choice
        ["丁", "男", "1993-01-01", "20240004", None, OWN_NAME, None, long_text, None, None],  # 5 overlong
        ["戊", "男", "1993-01-01", "20240004", None, OWN_NAME, None, None, None, None],  # 6 duplicate 工号 in file
        ["赵敏", None, None, "20160456", taken, None, None, None, None, None],  # 7 ID number held by 钱七
        ["己", "男", "1993-01-01", "20240007", None, OWN_NAME, None, None, "hy0001", None],  # 8 会员证号 taken
        ["庚", "男", "1993-01-01", "20240008", None, OWN_NAME, None, None, None, "小庚/男"],  # 9 bad children
        ["辛", "男", "1992-05-01", "20240009", make_id(birth, 6, "女"), OWN_NAME, None, None, None, None],  # 10
        ["壬", None, "1993-01-01", "20240010", None, OWN_NAME, None, None, None, None],  # 11 required
    ]
    report = upload(clients["staff"], xlsx(rows, header)).get_json()
    errs = errors_by_row(report)
    assert report["created"] == 0 and report["error_rows"] == 10

    def one(row: int) -> tuple[str, str]:
        assert len(errs[row]) == 1, errs[row]
        return errs[row][0]["column"], errs[row][0]["message"]

    assert one(2) == ("证件号码", "身份证号码校验位错误")
    assert one(3)[0] == "证件号码" and "出生日期 1992-05-01 不一致" in one(3)[1]
    assert one(4)[0] == "民族" and "「火星族」不是可选值" in one(4)[1]
    assert one(5) == ("籍贯", "不能超过 50 个字符")
    assert one(6) == ("工号", "与第 5 行的工号重复")
    assert one(7)[0] == "证件号码" and "已被其他会员使用" in one(7)[1] and taken not in one(7)[1]
    assert one(8) == ("会员证号", "会员证号「hy0001」已被其他会员使用")
    assert one(9)[0] == "子女信息" and "姓名/性别/出生日期" in one(9)[1]
    assert one(10)[0] == "证件号码" and "性别「女」不一致" in one(10)[1]
    assert one(11) == ("性别", "必填")


def test_refusals_name_what_is_wrong(clients, world):
    """Not just the rule: how many digits a mobile or ID number has, which character is not
    allowed, which part of an ID number is invalid."""
    def with_check(body: str) -> str:
        return body + ric.calc_check_digit(body + "0")

    header = ["姓名", "性别", "出生日期", "工号", "证件号码", "手机号码", "所属分工会"]
    rows = [
        ["甲", "女", "1992-05-01", "20240001", None, "139123456790", OWN_NAME],  # 2
        ["乙", "女", "1992-05-01", "20240002", make_id(date(1992, 5, 1), 7, "女")[:17], None, OWN_NAME],  # 3
        ["丙", "女", "1992-05-01", "20240003", "130302920501124", None, OWN_NAME],  # 4: a 15-digit old number
        ["丁", "女", "1992-05-01", "20240004", "1303021992O501124X", None, OWN_NAME],  # 5: a letter O
        ["戊", "女", "1992-05-01", "20240005", with_check("99999919920501124"), None, OWN_NAME],  # 6
        ["己", "女", "1992-05-01", "20240006", with_check("13030219921301124"), None, OWN_NAME],  # 7
        ["王芳2", "女", "1992-05-01", "20240007", None, None, OWN_NAME],  # 8
        ["庚", "女", "1992-05-01", "A#01", None, None, OWN_NAME],  # 9
    ]
    errs = errors_by_row(upload(clients["staff"], xlsx(rows, header)).get_json())
    assert {row: (e[0]["column"], e[0]["message"]) for row, e in errs.items()} == {
        2: ("手机号码", "手机号码应为 11 位，这里是 12 位"),
        3: ("证件号码", "身份证号码应为 18 位，这里是 17 位"),
        4: ("证件号码", "身份证号码应为 18 位，这里是 15 位的旧号码，请填写 18 位号码"),
        5: ("证件号码", "身份证号码只能包含数字（末位可为 X），不能包含「O」"),
        6: ("证件号码", "身份证号码的地区码「999999」不存在"),
        7: ("证件号码", "身份证号码中的出生日期「19921301」不是有效日期"),
        8: ("姓名", "不能包含「2」，只能包含汉字、字母、间隔号「·」和空格"),
        9: ("工号", "不能包含「#」，只能包含字母、数字、- 和 _"),
    }


def test_duplicate_id_number_within_the_file(clients, world):
    id_number = make_id(date(1992, 5, 1), 7, "女")
    rows = [new_row(staff_no="20240001"), ["周新", "女", "1992-05-01", "20240002", id_number.lower(), OWN_NAME]]
    errs = errors_by_row(upload(clients["staff"], xlsx(rows)).get_json())
    assert [(e["column"], e["message"]) for e in errs[3]] == [("证件号码", "与第 2 行的证件号码重复")]


def test_numbers_and_dates_as_excel_types(clients, world, db):
    """工号 typed as a number, an ID number typed as a number (precision lost), date cells."""
    rows = [
        ["周新", "女", datetime(1992, 5, 1), 20240001, None, OWN_NAME],
        ["吴用", "男", 19900101, 20240002.0, 1.30302199001011e17, OWN_NAME],
    ]
    report = upload(clients["staff"], xlsx(rows), dry_run=False, mode="valid_only").get_json()
    assert report["created"] == 1
    assert report["errors"][0]["row"] == 3 and "文本" in report["errors"][0]["message"]
    assert members(db)["20240001"].birth_date == date(1992, 5, 1)


def test_a_thousand_row_file_imports(clients, world, db):
    """Bulk import in one request; the audit log has one row per member plus the batch."""
    start = date(1983, 1, 1)
    rows = []
    for i in range(1, 1001):
        birth = date(start.year + i % 20, 1 + i % 12, 1 + i % 28)
        gender = "男" if i % 2 else "女"
        rows.append([f"会员{chr(0x4e00 + i)}", gender, birth, f"B{i:05d}", make_id(birth, i % 400, gender),
                     OWN_NAME if i % 3 else OTHER_NAME])
    data = xlsx(rows)
    dry = upload(clients["staff"], data).get_json()
    assert dry["created"] == 1000 and dry["errors"] == [], dry["errors"][:3]
    report = upload(clients["staff"], data, dry_run=False).get_json()
    assert report["created"] == 1000 and report["applied"] is True
    assert member_count(db) == 1002
    assert len(audit_rows(db, "member.import")) == 1000
    again = upload(clients["staff"], data).get_json()
    assert again["unchanged"] == 1000


def test_cell_conversion():
    """How cells become values: numbers typed for text, dates, 、-lists, children, 「无」."""
    f = cat.BY_CODE
    assert excel.convert_cell(f["staff_no"], 20150123.0) == "20150123"
    assert excel.convert_cell(f["staff_no"], 20150123) == "20150123"
    assert excel.convert_cell(f["staff_no"], "  A01 ") == "A01"
    assert excel.convert_cell(f["remarks"], "   ") is None
    assert excel.convert_cell(f["birth_date"], datetime(1990, 1, 2, 0, 0)) == date(1990, 1, 2)
    assert excel.convert_cell(f["birth_date"], 19900102) == date(1990, 1, 2)  # the import reads dates itself
    assert excel.convert_cell(f["birth_date"], 32874) == date(1990, 1, 1)  # an unformatted Excel serial
    assert excel.convert_cell(f["is_congress_delegate"], True) == "是"
    assert excel.convert_cell(f["union_posts"], "工会委员、 会员代表，") == ["工会委员", "会员代表"]
    assert excel.convert_cell(f["children"], "张三/男/2015-03-02；李四／女／2018/05/01") == [
        {"name": "张三", "gender": "男", "birth_date": "2015-03-02"},
        {"name": "李四", "gender": "女", "birth_date": "2018-05-01"},  # read like the date columns
    ]
    assert excel.convert_cell(f["children"], "无") == []
    assert excel.convert_cell(f["sub_union"], OWN_NAME, {OWN_NAME: 7}) == 7
    with pytest.raises(ValueError, match="不存在"):
        excel.convert_cell(f["sub_union"], "外星分工会", {OWN_NAME: 7})
    with pytest.raises(ValueError, match="姓名/性别/出生日期"):
        excel.convert_cell(f["children"], "张三/男")
    with pytest.raises(ValueError, match="文本"):
        excel.convert_cell(f["id_number"], 1.30302198503071e17)


# ---- the bulk path: correctness across chunks -------------------------------------------------


@pytest.fixture
def small_chunks(monkeypatch):  # noqa: ANN001, ANN201
    """Rows are checked a chunk at a time (one lookup query per chunk) and written a batch at a
    time: with chunks of two, every rule below is exercised across chunk boundaries."""
    monkeypatch.setattr(importer, "CHUNK", 2)
    monkeypatch.setattr(importer, "APPLY_CHUNK", 2)


def test_duplicates_in_the_file_are_found_across_chunks(clients, world, db, small_chunks):
    birth = date(1992, 5, 1)
    rows = [
        new_row("甲", "20240001", seq=1),  # 2
        new_row("乙", "20240002", seq=2),  # 3
        new_row("丙", "20240003", seq=3),  # 4
        new_row("丁", "20240001", seq=4),  # 5: 工号 of row 2, two chunks later
        ["戊", "女", birth.isoformat(), "20240005", make_id(birth, 2, "女").lower(), OWN_NAME],  # 6: ID of row 3
        ["陈思远", None, None, "20150123", None, None],  # 7: an existing member…
        ["陈思远", None, None, None, OWN_ID, None],  # 8: …named again by 证件号码 in the next chunk
    ]
    report = upload(clients["staff"], xlsx(rows)).get_json()
    errs = errors_by_row(report)
    assert set(errs) == {5, 6, 8}
    assert [(e["column"], e["message"]) for e in errs[5]] == [("工号", "与第 2 行的工号重复")]
    assert [(e["column"], e["message"]) for e in errs[6]] == [("证件号码", "与第 3 行的证件号码重复")]
    assert [(e["column"], e["message"]) for e in errs[8]] == [("证件号码", "与第 7 行是同一名会员")]
    assert (report["created"], report["unchanged"], report["error_rows"]) == (3, 1, 3)


def test_values_held_by_other_members_are_refused_in_any_chunk(clients, world, db, small_chunks):
    db.get(Member, world.other_member_id).member_no = "HY0001"
    db.add(Member(name="孙立", gender="男", birth_date=date(1986, 12, 1), staff_no="ab01", member_no="HY0002",
                  sub_union_id=world.own_sub))
    db.commit()
    header = [*BASIC, "会员证号"]
    rows = [
        [*new_row("甲", "20240001", seq=1), None],  # 2: fine
        [*new_row("乙", "20240002", seq=2), None],  # 3: fine
        [*new_row("丙", "20240003", seq=3), "hy0001"],  # 4: 会员证号 of 赵敏 (case ignored)
        ["陈思远", None, None, "20150123", None, None, "HY0002"],  # 5: an update taking 孙立's
        ["陈思远", None, None, None, OTHER_ID, None, None],  # 6: 赵敏's ID: matches 赵敏, not 陈思远
        ["孙立", None, None, "AB01", None, None, None],  # 7: 工号 matched whatever its case (and rewritten as typed)
    ]
    report = upload(clients["staff"], xlsx(rows, header)).get_json()
    errs = errors_by_row(report)
    assert set(errs) == {4, 5}, errs
    assert errs[4][0]["column"] == "会员证号" and "已被其他会员使用" in errs[4][0]["message"]
    assert errs[5][0]["column"] == "会员证号" and "已被其他会员使用" in errs[5][0]["message"]
    assert (report["created"], report["updated"], report["unchanged"]) == (2, 2, 0)  # 赵敏 renamed, 孙立's 工号


def test_every_change_has_history_and_the_derived_columns_follow(clients, world, db, small_chunks):
    header = ["姓名", "工号", "证件号码", "子女信息", "兴趣爱好/特长", "工会职务"]
    rows = [
        ["陈思源", "20150123", None, "陈一/男/2015-03-02", None, None],  # rename, add a child
        ["赵敏", None, OTHER_ID, None, "游泳", "工会委员"],
        ["周新", "20240001", None, None, None, None],  # new, without 性别 etc.: an error
        ["钱多", "20240002", None, None, None, None],  # same
    ]
    report = upload(clients["chair"], xlsx(rows, header), dry_run=False, mode="valid_only").get_json()
    assert (report["updated"], report["error_rows"], report["applied"]) == (2, 2, True)
    me, them = db.get(Member, world.member_id), db.get(Member, world.other_member_id)
    reread(db)
    assert (me.name, me.name_initials, me.children_count, me.version) == ("陈思源", "csy", 1, 2)
    assert me.children == [{"name": "陈一", "gender": "男", "birth_date": "2015-03-02"}]
    assert (them.hobbies, them.union_posts, them.version, them.children_count) == ("游泳", ["工会委员"], 2, 0)
    entries = {int(a.object_id): a for a in audit_rows(db, "member.import")}
    assert set(entries) == {world.member_id, world.other_member_id}
    assert entries[world.member_id].old == {"name": "陈思远", "children": None}
    assert entries[world.member_id].new["name"] == "陈思源"
    assert entries[world.other_member_id].old == {"hobbies": None, "union_posts": None}
    assert all(a.actor_name == "chair" and a.sub_union_id is not None for a in entries.values())
    history = clients["chair"].get(f"/api/v1/members/{world.member_id}/history").get_json()
    assert {h["field"] for h in history if h["action"] == "member.import"} == {"name", "children"}


def test_new_members_are_stored_as_one_at_a_time_would_store_them(clients, world, db, small_chunks):
    """Absent list fields stay SQL NULL (as the ORM leaves an attribute it never set), given
    ones are lists; the derived and bookkeeping columns are filled; one audit row each."""
    header = [*BASIC, "工会职务", "子女信息"]
    rows = [[*new_row("周新", "20240001", seq=1), None, None],
            [*new_row("吴用", "20240002", seq=2, gender="男"), "会员代表", "无"],
            [*new_row("郑和", "20240003", seq=3, gender="男"), None, "郑一/女/2016-01-01；郑二/男/2019-02-02"]]
    report = upload(clients["staff"], xlsx(rows, header), dry_run=False).get_json()
    assert report["created"] == 3 and report["applied"] is True
    reread(db)
    got = members(db)
    assert db.scalar(select(func.count()).select_from(Member).where(
        Member.staff_no == "20240001", Member.children.is_(None), Member.union_posts.is_(None))) == 1
    assert (got["20240002"].union_posts, got["20240002"].children, got["20240002"].children_count) == (["会员代表"], [], 0)
    assert got["20240003"].children_count == 2 and got["20240003"].name_initials == "zh"
    for m in (got["20240001"], got["20240002"], got["20240003"]):
        assert (m.version, m.id_type, m.membership_status, m.employment_status) == (1, "居民身份证", "正常", "在职")
        assert m.created_at is not None and m.sub_union_id == world.own_sub
    created = {int(a.object_id): a for a in audit_rows(db, "member.import")}
    assert set(created) == {m.id for m in got.values() if m.staff_no.startswith("2024")}
    entry = created[got["20240003"].id]
    assert entry.old is None and entry.new["name"] == "郑和" and entry.new["sub_union"] == world.own_sub
    assert entry.new["birth_date"] == "1992-05-01" and "photo" not in entry.new


def test_all_or_nothing_across_chunks_writes_nothing(clients, world, db, small_chunks):
    rows = [new_row("甲", "20240001", seq=1), new_row("乙", "20240002", seq=2), new_row("丙", "20240003", seq=3),
            ["陈思远", None, None, "20150123", None, "不存在的分工会"], new_row("丁", "20240004", seq=4)]
    body = assert_error(upload(clients["staff"], xlsx(rows), dry_run=False), 422, "import_rejected")
    assert body["created"] == 4 and body["applied"] is False and [e["row"] for e in body["errors"]] == [5]
    assert member_count(db) == 2 and audit_rows(db, "member.import") == []
    report = upload(clients["staff"], xlsx(rows), dry_run=False, mode="valid_only").get_json()
    assert report["created"] == 4 and member_count(db) == 6


def test_sub_union_operator_bulk_stays_in_its_own(clients, world, db, small_chunks):
    header = ["姓名", "性别", "出生日期", "工号", "所属分工会", "兴趣爱好/特长"]
    rows = [["新甲", "男", "1991-02-03", "20240201", None, None],
            ["新乙", "女", "1991-02-03", "20240202", OWN_NAME, None],
            ["外院人", "女", "1991-02-03", "20240203", OTHER_NAME, None],
            ["赵敏", None, None, "20160456", None, "跑步"],
            ["陈思远", None, None, "20150123", None, "书法"]]
    report = upload(clients["sub_staff"], xlsx(rows, header), dry_run=False, mode="valid_only").get_json()
    assert (report["created"], report["updated"], report["error_rows"]) == (2, 1, 2)
    got = members(db)
    assert {got["20240201"].sub_union_id, got["20240202"].sub_union_id} == {world.own_sub}
    assert "20240203" not in got and got["20160456"].hobbies is None and got["20150123"].hobbies == "书法"
    assert {a.sub_union_id for a in audit_rows(db, "member.import")} == {world.own_sub}


def test_a_change_made_since_the_check_fails_the_run_naming_the_row(world, db):
    """The version read during the check guards each UPDATE: someone else's save in between
    is a conflict for the whole run (the caller rolls back), naming the sheet row."""
    from server.domain.accounts import users as accounts

    identity = accounts.identity_of(db.get(User, world.users["staff"]))
    me = db.get(Member, world.member_id)
    change = writes.Change(7, me.id, me.version + 1, me.sub_union_id, {"hobbies": None}, {"hobbies": "围棋"})
    with pytest.raises(Conflict, match="第 7 行") as caught:
        writes.update_many(db, identity, [change], action=importer.ACTION)
    assert caught.value.code == "stale_version"
    db.rollback()


# ---- large imports: a job ---------------------------------------------------------------------


def many_rows(n: int, prefix: str = "3") -> list[list[Any]]:
    return [new_row(f"会员{chr(0x4e00 + i)}", f"{prefix}{i:07d}", birth=date(1990 + i % 15, 1 + i % 12, 1 + i % 28),
                    gender="男" if i % 2 else "女", seq=i % 400) for i in range(1, n + 1)]


@pytest.fixture
def job_limit(app, monkeypatch):  # noqa: ANN001, ANN201
    """Sheets of more than three rows run as a job (the default is 2,000)."""
    monkeypatch.setitem(app.config, "IMPORT_SYNC_MAX_ROWS", 3)
    return 3


def finished(client, answer) -> dict:  # noqa: ANN001
    """The job's state once finished: at once on the embedded default (the job ran inline
    before the 202 was sent), by polling GET …/imports/{id} behind a real worker."""
    assert answer.status_code == 202, answer.get_data(as_text=True)[:500]
    body = answer.get_json()
    if body["status"] in ("done", "failed"):
        return body

    def done():  # noqa: ANN202
        state = client.get(f"/api/v1/members/imports/{body['id']}").get_json()
        return state if state["status"] in ("done", "failed") else None

    return wait_for(done, timeout=60, interval=0.2)


def imports_dir(app) -> str:  # noqa: ANN001
    import os

    return os.path.join(app.instance_path, "imports")


def test_a_large_dry_run_is_a_job_with_progress_and_a_report(app, clients, world, db, worker, job_limit):
    answer = upload(clients["staff"], xlsx(many_rows(5)))
    body = answer.get_json()
    assert answer.status_code == 202 and body["job_id"].startswith("import-") and body["dry_run"] is True
    assert body["rows_estimated"] == 5 and body["file_name"] == "会员.xlsx"
    if BACKEND == "sqlite":
        assert body["status"] == "done"  # inline: the answer carries the finished job
    state = finished(clients["staff"], answer)
    assert state["status"] == "done" and state["phase"] == "done" and state["applied"] is False
    assert state["rows_checked"] == 5 and state["rows_written"] == 0
    report = state["report"]
    assert (report["total"], report["created"], report["error_rows"], report["dry_run"]) == (5, 5, 0, True)
    assert "试导入" in report["message"]
    assert member_count(db) == 2
    assert clients["staff"].get(f"/api/v1/members/imports/{body['id']}").get_json() == state


def test_a_large_real_run_is_a_job_in_one_transaction(app, clients, world, db, worker, job_limit):
    import os

    answer = upload(clients["staff"], xlsx(many_rows(6)), dry_run=False)
    state = finished(clients["staff"], answer)
    assert state["status"] == "done" and state["applied"] is True and state["rows_written"] == 6
    assert state["report"]["created"] == 6 and "已导入" in state["report"]["message"]
    assert member_count(db) == 8
    assert len(audit_rows(db, "member.import")) == 6
    (batch,) = audit_rows(db, "member.import_batch")
    assert batch.new["total"] == 6 and batch.actor_name == "staff"
    record = db.get(MemberImport, answer.get_json()["id"])
    assert record.stored_name is None and record.finished_at is not None
    assert not [n for n in os.listdir(imports_dir(app)) if n.startswith(record.job_id)]  # the upload is gone
    if BACKEND == "mariadb":
        job = app.extensions["union"].queue.fetch(record.job_id)
        assert job is not None and job.meta.get("rows_checked") == 6 and job.meta.get("rows_written") == 6


def test_a_rejected_large_run_writes_nothing_and_says_why(app, clients, world, db, worker, job_limit):
    rows = [*many_rows(4), ["坏数据", "男", "1990-01-01", "20249999", bad_checksum(date(1990, 1, 1), 1, "男"), OWN_NAME]]
    state = finished(clients["staff"], upload(clients["staff"], xlsx(rows), dry_run=False))
    assert state["status"] == "done" and state["applied"] is False and state["rows_written"] == 0
    assert state["report"]["errors"][0]["row"] == 6 and state["report"]["errors"][0]["column"] == "证件号码"
    assert "未写入" in state["report"]["message"]
    assert member_count(db) == 2 and audit_rows(db, "member.import_batch") == []


def test_only_the_requester_sees_an_import_job(app, clients, world, db, worker, job_limit):
    answer = upload(clients["sub_staff"], xlsx(many_rows(4)))
    state = finished(clients["sub_staff"], answer)
    path = f"/api/v1/members/imports/{state['id']}"
    assert clients["sub_staff"].get(path).status_code == 200
    for other in ("staff", "chair", "admin", "sub_chair", "other_staff"):
        assert_error(clients[other].get(path), 404, "not_found")
    assert_error(clients["member"].get(path), 403, "forbidden")
    assert_error(clients["anonymous"].get(path), 401, "unauthorized")
    assert_error(clients["staff"].get("/api/v1/members/imports/987654"), 404, "not_found")


def test_a_sub_union_job_keeps_the_requesters_scope(app, clients, world, db, worker, job_limit):
    rows = [*many_rows(3), ["外院人", "女", "1991-02-03", "20240203", make_id(date(1991, 2, 3), 5, "女"), OTHER_NAME]]
    state = finished(clients["sub_staff"], upload(clients["sub_staff"], xlsx(rows), dry_run=False, mode="valid_only"))
    assert state["status"] == "done" and (state["report"]["created"], state["report"]["error_rows"]) == (3, 1)
    assert state["report"]["errors"][0]["message"] == "分工会账号只能导入本分工会的会员"
    assert {m.sub_union_id for m in members(db).values() if m.staff_no.startswith("3")} == {world.own_sub}


def test_a_bad_large_file_is_refused_in_the_request(app, clients, world, db, job_limit):
    rows = [["张三", "x"]] * 10
    assert_error(upload(clients["staff"], xlsx(rows, ["姓名", "鞋码"])), 422, "unknown_columns")
    assert db.scalar(select(func.count()).select_from(MemberImport)) == 0


def test_the_job_is_idempotent_and_a_lost_upload_fails_cleanly(app, clients, world, db, worker, job_limit):
    from jobs.members import run_import

    state = finished(clients["staff"], upload(clients["staff"], xlsx(many_rows(4)), dry_run=False))
    assert state["status"] == "done"
    assert run_import(state["id"], imports_dir(app)) == {"status": "done"}  # nothing imported twice
    assert member_count(db) == 6
    lost = MemberImport(requested_by=world.users["staff"], job_id="import-lost", file_name="丢失.xlsx",
                        stored_name="import-lost.xlsx", dry_run=False, mode="all_or_nothing", rows_estimated=10)
    db.add(lost)
    db.commit()
    assert run_import(lost.id, imports_dir(app))["status"] == "failed"
    reread(db)
    assert lost.status == "failed" and "未写入" in lost.error and lost.stored_name is None
    shown = clients["staff"].get(f"/api/v1/members/imports/{lost.id}").get_json()
    assert shown["status"] == "failed" and shown["error"] == lost.error and shown["report"] is None


def test_a_deactivated_requester_s_job_fails_without_writing(app, clients, world, db, job_limit):
    """The job acts with the requester's permissions as they are when it runs."""
    from jobs.members import run_import

    path = imports_dir(app)
    import os

    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "import-inactive.xlsx"), "wb") as fh:
        fh.write(xlsx(many_rows(4)))
    record = MemberImport(requested_by=world.users["staff"], job_id="import-inactive", file_name="a.xlsx",
                          stored_name="import-inactive.xlsx", dry_run=False, mode="all_or_nothing", rows_estimated=4)
    db.add(record)
    db.get(User, world.users["staff"]).is_active = False
    db.commit()
    result = run_import(record.id, path)
    assert result["status"] == "failed" and result["error"]
    assert member_count(db) == 2
    assert not os.path.exists(os.path.join(path, "import-inactive.xlsx"))


def test_a_job_whose_worker_died_shows_as_failed(world, db):
    record = MemberImport(requested_by=world.users["staff"], job_id="import-x", file_name="a.xlsx", dry_run=True,
                          mode="all_or_nothing", status="running", rows_estimated=10)
    db.add(record)
    db.commit()
    shown = imports.describe(record, {"status": "failed", "meta": {"phase": "checking", "rows_checked": 4}})
    assert shown["status"] == "failed" and shown["error"] == imports.INTERRUPTED
    running = imports.describe(record, {"status": "started", "meta": {"phase": "checking", "rows_checked": 4}})
    assert (running["status"], running["phase"], running["rows_checked"]) == ("running", "checking", 4)


def test_uploads_left_by_a_dead_import_job_are_purged(db, world, tmp_path):  # noqa: ANN001
    """A finished job deletes its upload; one still on disk a day later belongs to a killed
    worker: the file (personal data) goes and the record says the import was interrupted."""
    from datetime import timedelta

    from server.core.timeutil import utcnow
    from server.domain.members import imports
    from server.domain.members.models import MemberImport

    def record(name: str, age: timedelta, status: str) -> MemberImport:
        (tmp_path / name).write_bytes(b"PK")
        row = MemberImport(requested_by=world.users["staff"], job_id=f"import-{name}", file_name="会员.xlsx",
                           stored_name=name, dry_run=False, mode="all_or_nothing", status=status,
                           created_at=utcnow() - age)
        db.add(row)
        return row

    dead = record("dead.xlsx", timedelta(days=2), "running")
    fresh = record("fresh.xlsx", timedelta(minutes=5), "queued")
    db.commit()
    assert imports.purge_stale_uploads(db, str(tmp_path), older_than=timedelta(days=1)) == 1
    db.commit()
    assert not (tmp_path / "dead.xlsx").exists() and (tmp_path / "fresh.xlsx").exists()
    assert (dead.status, dead.stored_name, dead.error) == ("failed", None, imports.INTERRUPTED)
    assert (fresh.status, fresh.stored_name) == ("queued", "fresh.xlsx")
