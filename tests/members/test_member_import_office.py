"""The member import with sheets built the way a Chinese union office builds them (issue 12,
item 4): a title merged across the columns and a date line above the header, a 序号 column,
header names from the office's own forms (身份证号, 出生年月, 手机, 部门) with asterisks, a
header two rows deep, 所属分工会 merged down the rows, full-width digits and spaces, dates in
Chinese spellings, date cells, Excel serials, numbers typed as numbers and a 填表人 line under
the data. What the person sees is asserted: the report's notes and counts, each refusal's
row, column and reason, and the values stored by a real run."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from server.domain.members import catalogue as cat
from server.domain.members import excel, normalise, sheet_dates, xlsx
from tests.members.test_member_import import (
    OWN_NAME,
    as_saved_by_excel,
    audit_rows,
    errors_by_row,
    finished,
    job_limit,  # noqa: F401 - a fixture
    make_id,
    member_count,
    members,
    upload,
)
from tests.support.api_asserts import assert_error
from tests.support.world import OWN_ID


def wide(text: str) -> str:
    """As a Chinese input method in full-width mode types it: １３９, ＡＢ, －."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def spaced(id_number: str) -> str:
    return f"{id_number[:6]} {id_number[6:14]} {id_number[14:]}"


def workbook(rows: list[list[Any]], merges: tuple[str, ...] = (), title: str = "Sheet1") -> bytes:
    """A sheet exactly as given, row 1 first (no header added), with merged ranges."""
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    for ref in merges:
        ws.merge_cells(ref)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


WANG, LI, AYI, ZHAO, QIAN = (make_id(date(1985, 3, 12), 1, "女"), make_id(date(1986, 5, 1), 2, "男"),
                             make_id(date(1990, 1, 2), 3, "女"), make_id(date(1988, 8, 8), 4, "男"),
                             make_id(date(1985, 3, 1), 5, "男"))
HEADER = ["序号", "*姓名", "性别", "出生年月", "身份证号", "手机", "部门", "分工会", "入会日期", "职称", "工号（必填）"]


def office_sheet() -> bytes:
    """计算机学院's own member list: title and date line merged across, header on row 3,
    所属分工会 merged down H4:H8, a blank row and the 填表人 line under the data."""
    rows = [
        ["计算机学院分工会会员信息表"],
        ["填报日期：2024年3月1日"],
        HEADER,
        [1, "王　芳", "女", "1985年3月12日", spaced(WANG), "139 1234 5679", "计算机学院", OWN_NAME,
         datetime(2010, 9, 1), "副教授", wide("20240001")],
        [2, "李　明", "男", wide("1986-05-01"), wide(LI), "+86 138-0000-1111", "软件工程系", None,
         40000, "讲师", "20240002"],
        [3, "阿依古丽・买买提", "女", 19900102, f"{AYI[:6]}-{AYI[6:14]}-{AYI[14:]}", 13700001111, "图书馆", None,
         "2012.9.1", None, "20240003"],
        [4, "赵　六", "男", "1988/8/8", ZHAO, "13700002222", "计算机学院", None, "2015年9月1日", "工程师", "20240004"],
        [5, "钱　七", "男", "1985年3月", QIAN, "13700003333", "计算机学院", None, None, None, "20240005"],
        [6],  # 序号 filled in advance, nothing else: not a member
        ["填表人：张三　　联系电话：0335-8051234"],
    ]
    return workbook(rows, merges=("A1:K1", "A2:K2", "H4:H8"))


OFFICE_NOTES = [
    "第 1–2 行为标题（「计算机学院分工会会员信息表」、「填报日期：2024年3月1日」），已跳过；第 3 行为表头",
    "列「出生年月」按「出生日期」导入",
    "列「身份证号」按「证件号码」导入",
    "列「手机」按「手机号码」导入",
    "列「部门」按「所在单位/部门」导入",
    "列「分工会」按「所属分工会」导入",
    "列「入会日期」按「入会时间」导入",
    "列「职称」按「专业技术职称/技术等级」导入",
    "列「序号」是行序号，不导入",
    "合并单元格 H4:H8 已按首格内容「计算机学院分工会」填充（4 格）",
    "第 10 行（「填表人：张三 联系电话：0335-8051234」）不是会员信息，未导入",
]
OFFICE_COUNTS = {
    "fullwidth": 3,  # 李明's birth date and ID number, 王芳's 工号
    "separators": 4,  # 王芳's ID and mobile, 李明's mobile, 阿依古丽's ID
    "country_code": 1,  # +86
    "name_spaces": 4,  # 王　芳, 李　明, 赵　六, 钱　七
    "name_dots": 1,  # 阿依古丽・买买提
    "date_text": 5,  # 1985年3月12日, 19900102, 2012.9.1, 1988/8/8, 2015年9月1日
    "date_serial": 1,  # 40000
    "merged_cells": 4,  # H5:H8
}


def counts(report: dict) -> dict[str, int]:
    return {n["kind"]: n["count"] for n in report["normalisations"]}


def test_an_office_sheet_is_read_and_every_change_is_reported(clients, world, db):
    dry = upload(clients["staff"], office_sheet()).get_json()
    assert (dry["total"], dry["created"], dry["error_rows"]) == (5, 4, 1), dry["errors"]
    assert dry["header_row"] == 3
    assert dry["notes"] == OFFICE_NOTES
    assert counts(dry) == OFFICE_COUNTS
    by_kind = {n["kind"]: n for n in dry["normalisations"]}
    assert by_kind["name_spaces"]["label"] == "去掉姓名中汉字之间的空格、合并连续空格"
    assert by_kind["name_spaces"]["example"] == {"row": 4, "column": "姓名", "before": "王　芳", "after": "王芳"}
    assert by_kind["date_text"]["example"] == {"row": 4, "column": "出生日期", "before": "1985年3月12日",
                                               "after": "1985-03-12"}
    assert by_kind["date_serial"]["example"] == {"row": 5, "column": "入会时间", "before": "40000",
                                                 "after": "2009-07-06"}
    # Sensitive values are not repeated in the report, even masked.
    assert by_kind["separators"]["example"] == {"row": 4, "column": "证件号码", "before": None, "after": None}
    assert "读取时统一了 23 处写法" in dry["message"]
    assert dry["errors"] == [{"row": 8, "column": "出生日期", "field": "birth_date",
                              "message": "「1985年3月」缺少日，请写完整日期，如 1985-03-12"}]
    assert member_count(db) == 2

    real = upload(clients["staff"], office_sheet(), dry_run=False, mode="valid_only").get_json()
    assert (real["applied"], real["created"], real["error_rows"]) == (True, 4, 1)
    assert (real["notes"], real["normalisations"]) == (dry["notes"], dry["normalisations"])
    got = members(db)
    wang, li, ayi, zhao = (got[f"2024000{i}"] for i in range(1, 5))
    assert (wang.name, wang.birth_date, wang.id_number, wang.mobile) == ("王芳", date(1985, 3, 12), WANG, "13912345679")
    assert (wang.union_join_date, wang.title, wang.department) == (date(2010, 9, 1), "副教授", "计算机学院")
    assert (li.name, li.birth_date, li.id_number, li.mobile) == ("李明", date(1986, 5, 1), LI, "13800001111")
    assert li.union_join_date == date(2009, 7, 6)
    assert (ayi.name, ayi.birth_date, ayi.id_number, ayi.mobile) == ("阿依古丽·买买提", date(1990, 1, 2), AYI,
                                                                     "13700001111")
    assert ayi.union_join_date == date(2012, 9, 1) and zhao.union_join_date == date(2015, 9, 1)
    assert {m.sub_union_id for m in (wang, li, ayi, zhao)} == {world.own_sub}  # all four from the merged H4
    assert "20240005" not in got and not any(m.name.startswith("填表人") for m in got.values())
    (batch,) = audit_rows(db, "member.import_batch")
    assert batch.new["normalised"] == OFFICE_COUNTS  # the audit log keeps what reading changed, too


def test_a_header_two_rows_deep_with_merged_cells(clients, world, db):
    """姓名 merged down A2:A3, 联系方式 across D2:E2 over 手机 and 邮箱: the columns are named
    by their lowest text."""
    rows = [["2024 年会员名册"],
            ["姓名", "性别", "出生日期", "联系方式", None, "所属分工会"],
            [None, None, None, "手机", "邮箱", None],
            ["周新", "女", date(1992, 5, 1), "139-1234-5679", wide("zhou@edu.cn"), OWN_NAME]]
    data = workbook(rows, merges=("A1:F1", "A2:A3", "B2:B3", "C2:C3", "D2:E2", "F2:F3"))
    report = upload(clients["staff"], data, dry_run=False).get_json()
    assert report["created"] == 1 and report["errors"] == [], report
    assert report["header_row"] == 3
    assert report["notes"][:3] == ["第 1 行为标题（「2024 年会员名册」），已跳过；第 2–3 行为表头",
                                   "列「手机」按「手机号码」导入", "列「邮箱」按「电子邮箱」导入"]
    assert counts(report) == {"fullwidth": 1, "separators": 1}
    new = next(m for m in members(db).values() if m.name == "周新")
    assert (new.mobile, new.email, new.birth_date) == ("13912345679", "zhou@edu.cn", date(1992, 5, 1))


def test_a_header_two_rows_deep_under_group_labels(clients, world, db):
    """Group labels on top (基本信息, 联系方式, merged across), the names below them, 所属分工会
    merged down over both rows: the header is rows 2–3, and only row 1 is a title."""
    rows = [["教职工会员信息登记表"],
            ["基本信息", None, None, "联系方式", None, "所属分工会"],
            ["姓名", "性别", "出生日期", "手机", "邮箱", None],
            ["周新", "女", "1992年5月1日", "13912345679", "zhou@edu.cn", OWN_NAME]]
    data = workbook(rows, merges=("A1:F1", "A2:C2", "D2:E2", "F2:F3"))
    report = upload(clients["staff"], data).get_json()
    assert (report["created"], report["errors"], report["header_row"]) == (1, [], 3)
    assert report["notes"][0] == "第 1 行为标题（「教职工会员信息登记表」），已跳过；第 2–3 行为表头"


def test_refusals_state_the_real_reason(clients, world, db):
    header = ["姓名", "性别", "出生日期", "证件号码", "手机号码", "所属分工会"]
    birth = date(1992, 5, 1)
    good = make_id(birth, 7, "女")
    wrong_check = good[:-1] + ("1" if good[-1] == "0" else "0")
    rows = [
        header,
        ["甲", "女", "1992-05-01", wide(wrong_check), None, OWN_NAME],  # 2: folded, then the checksum
        ["乙", "女", "1992-05-01", good[:-1], None, OWN_NAME],  # 3: 17 digits
        ["丙", "女", "1992-05-01", None, "139 1234 56790", OWN_NAME],  # 4: 12 digits
        ["丁", "女", "92.5.1", None, None, OWN_NAME],  # 5: two-digit year
        ["戊", "女", "01/05/1992", None, None, OWN_NAME],  # 6: year last
        ["己", "女", "1992-02-30", None, None, OWN_NAME],  # 7: no such day
        ["庚", "女", "1992.5", None, None, OWN_NAME],  # 8: no day
        ["辛2", "女", "1992-05-01", None, None, OWN_NAME],  # 9: a digit in a name
        ["壬", "女", "1992-05-01", None, None, "计算机学院"],  # 10: the sub-union's name cut short
        ["癸", "女", 1992, None, None, OWN_NAME],  # 11: a year typed as a number
    ]
    report = upload(clients["staff"], workbook(rows)).get_json()
    errs = {row: [(e["column"], e["message"]) for e in found] for row, found in errors_by_row(report).items()}
    assert errs == {
        2: [("证件号码", "身份证号码校验位错误")],
        3: [("证件号码", "身份证号码应为 18 位，这里是 17 位")],
        4: [("手机号码", "手机号码应为 11 位，这里是 12 位")],
        5: [("出生日期", "「92.5.1」年份只有两位，请写 4 位年份，如 1985-03-12")],
        6: [("出生日期", "「01/05/1992」年份在最后，分不清月和日，请把年份写在前面，如 1985-03-12")],
        7: [("出生日期", "「1992-02-30」不是有效日期：1992 年 2 月没有 30 日（只有 29 天）")],
        8: [("出生日期", "「1992.5」缺少日，请写完整日期，如 1985-03-12")],
        9: [("姓名", "不能包含「2」，只能包含汉字、字母、间隔号「·」和空格")],
        10: [("所属分工会", "分工会「计算机学院」不存在，是否为「计算机学院分工会」？")],
        11: [("出生日期", "「1992」只有年份，缺少月和日，请写完整日期，如 1985-03-12")],
    }


def test_a_required_column_missing_from_the_file_is_named(clients, world):
    rows = [["姓名", "出生日期", "所属分工会"], ["周新", "1992-05-01", OWN_NAME]]
    report = upload(clients["staff"], workbook(rows)).get_json()
    assert [(e["column"], e["message"]) for e in report["errors"]] == [("性别", "必填：文件中没有「性别」列")]
    rows = [["姓名", "性别", "出生日期", "所属分工会"], ["周新", None, "1992-05-01", OWN_NAME]]
    report = upload(clients["staff"], workbook(rows)).get_json()
    assert [(e["column"], e["message"]) for e in report["errors"]] == [("性别", "必填")]  # a blank cell


def test_a_bad_value_in_a_merged_cell_says_it_came_from_the_merge(clients, world):
    rows = [["姓名", "性别", "出生日期", "所属分工会"],
            ["甲", "女", "1992-05-01", "外星分工会"], ["乙", "女", "1992-05-01", None], ["丙", "女", "1992-05-01", None]]
    report = upload(clients["staff"], workbook(rows, merges=("D2:D4",))).get_json()
    messages = {e["row"]: e["message"] for e in report["errors"]}
    assert messages[2] == "分工会「外星分工会」不存在"
    assert messages[3] == messages[4] == "分工会「外星分工会」不存在（合并单元格 D2:D4 的内容）"
    assert "合并单元格 D2:D4 已按首格内容「外星分工会」填充（2 格）" in report["notes"]


def test_a_sheet_without_a_header_says_what_it_found(clients, world):
    rows = [["计算机学院分工会会员信息表"], ["张三", "男", "1985-03-12"], ["李四", "女", "1986-05-01"]]
    body = assert_error(upload(clients["staff"], workbook(rows)), 422, "no_header", fields=("file",))
    assert body["message"].startswith("没有找到表头：前 3 行中没有一行是会员信息的列名")
    assert "第 1 行：「计算机学院分工会会员信息表」" in body["message"]
    assert "第 2 行：「张三」、「男」、「1985-03-12」" in body["message"]
    empty = assert_error(upload(clients["staff"], workbook([[None], [" "]])), 422, "empty_file")
    assert "文件是空的" in empty["message"]


def test_unknown_columns_name_the_closest_template_names(clients, world):
    rows = [["计算机学院分工会会员信息表"], ["姓名", "身分证", "电话", "鞋码"], ["张三", "x", "y", "z"]]
    body = assert_error(upload(clients["staff"], workbook(rows, merges=("A1:D1",))), 422, "unknown_columns")
    assert body["message"] == ("表头（第 2 行）中有无法识别的列：「身分证」（是否为「证件号码」？）、"
                               "「电话」（是否为「手机号码」或「办公电话」？）、「鞋码」；"
                               "请使用导入模板中的列名（见模板的「说明」工作表）")


def test_a_column_given_twice_under_two_names_is_a_duplicate(clients, world):
    rows = [["姓名", "身份证号", "证件号码"], ["张三", OWN_ID, OWN_ID]]
    body = assert_error(upload(clients["staff"], workbook(rows)), 422, "duplicate_columns")
    assert body["message"] == "表头中有重复的列：证件号码（「身份证号」、「证件号码」）"


def test_staff_numbers_lose_spaces_but_keep_their_dashes(clients, world, db):
    """A dash may be part of a 工号 (the registry allows it, SSO matches it as typed): only the
    spaces, never part of one, go."""
    rows = [["姓名", "性别", "出生日期", "工号", "所属分工会"],
            ["周新", "女", "1992-05-01", "JS-0012", OWN_NAME],
            ["吴用", "男", "1992-05-01", "2024 0013", OWN_NAME],
            ["郑和", "男", "1992-05-01", wide("JS-0014"), OWN_NAME]]
    report = upload(clients["staff"], workbook(rows), dry_run=False).get_json()
    assert report["created"] == 3 and counts(report) == {"fullwidth": 1, "separators": 1}
    assert {"JS-0012", "20240013", "JS-0014"} <= set(members(db))


def test_a_job_reports_what_reading_did_like_the_request(app, clients, world, db, worker, job_limit):  # noqa: F811
    state = finished(clients["staff"], upload(clients["staff"], office_sheet()))
    assert state["status"] == "done" and state["rows_estimated"] == 7  # rows 4–10 below the header
    report = state["report"]
    assert report["notes"] == OFFICE_NOTES and counts(report) == OFFICE_COUNTS and report["header_row"] == 3


# ---- the pieces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "day"), [
    ("1985-03-12", date(1985, 3, 12)), ("1985年3月12日", date(1985, 3, 12)), ("1985年03月12日", date(1985, 3, 12)),
    ("1985 年 3 月 12 日", date(1985, 3, 12)), ("1985年3月12号", date(1985, 3, 12)), ("1985.3.12", date(1985, 3, 12)),
    ("1985/3/12", date(1985, 3, 12)), ("1985-3-12", date(1985, 3, 12)), ("１９８５－０３－１２", date(1985, 3, 12)),
    ("１９８５年３月１２日", date(1985, 3, 12)), ("1985。3。12", date(1985, 3, 12)), ("1985—3—12", date(1985, 3, 12)),
    ("19850312", date(1985, 3, 12)), (19850312, date(1985, 3, 12)), (31118, date(1985, 3, 12)),
    (31118.75, date(1985, 3, 12)), ("1985-03-12 00:00:00", date(1985, 3, 12)),
    (datetime(1985, 3, 12, 8, 30), date(1985, 3, 12)), (date(1985, 3, 12), date(1985, 3, 12)),
])
def test_dates_as_an_office_writes_them(typed, day):
    assert sheet_dates.read(cat.BY_CODE["birth_date"], typed) == day


@pytest.mark.parametrize(("typed", "reason"), [
    ("1985年3月", "「1985年3月」缺少日，请写完整日期，如 1985-03-12"),
    ("1985.3", "「1985.3」缺少日"), ("1985-03", "「1985-03」缺少日"), ("198503", "「198503」缺少日"),
    (198503, "「198503」缺少日"), ("1985年", "只有年份"), (1985, "「1985」只有年份"),
    ("85年3月12日", "年份只有两位"), ("12/03/1985", "年份在最后"), ("1985-13-01", "月份应为 1–12"),
    ("1985-04-31", "1985 年 4 月没有 31 日"), ("三月十二日", "不是日期"), (12, "「12」不是日期"),
    (True, "应为日期"),
])
def test_dates_that_name_no_single_day_are_refused_with_the_reason(typed, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        sheet_dates.read(cat.BY_CODE["birth_date"], typed)


@pytest.mark.parametrize(("code", "typed", "read", "kinds"), [
    ("name", "王　芳", "王芳", {"name_spaces"}),
    ("name", "欧阳 修", "欧阳修", {"name_spaces"}),
    ("name", "Ｍａｒｙ　 Smith", "Mary Smith", {"fullwidth", "name_spaces"}),
    ("name", "阿依古丽・买买提", "阿依古丽·买买提", {"name_dots"}),
    ("name", "王芳", "王芳", set()),
    ("id_number", "130302 19850312 0026", "130302198503120026", {"separators"}),
    ("id_number", "１３０３０２１９８５０３１２００２Ｘ", "13030219850312002X", {"fullwidth"}),
    ("id_number", "130302-19850312-002x", "13030219850312002x", {"separators"}),
    ("id_number", "E-1234 5678", "E-12345678", {"separators"}),  # a passport's dash is not grouping
    ("mobile", "139 1234 5679", "13912345679", {"separators"}),
    ("mobile", "＋８６ １３９－１２３４－５６７９", "13912345679", {"fullwidth", "separators", "country_code"}),
    ("mobile", "0086 13912345679", "13912345679", {"separators", "country_code"}),
    ("staff_no", "JS-0012", "JS-0012", set()),
    ("staff_no", "2024 0013", "20240013", {"separators"}),
    ("email", "ｚｈｏｕ＠ｅｄｕ．ｃｎ", "zhou@edu.cn", {"fullwidth"}),
    ("department", "计算机学院　软件系（２）", "计算机学院　软件系（２）", set()),  # free text keeps its typography
])
def test_values_normalised_per_field(code, typed, read, kinds):
    tally = normalise.Tally()
    assert excel.convert_cell(cat.BY_CODE[code], typed, tally=tally) == read
    assert set(tally.counts) == kinds


def test_children_read_their_names_and_dates_like_the_columns():
    tally = normalise.Tally()
    assert excel.convert_cell(cat.BY_CODE["children"], "王　小/男/2015年3月2日；王二/女/20180501", tally=tally) == [
        {"name": "王小", "gender": "男", "birth_date": "2015-03-02"},
        {"name": "王二", "gender": "女", "birth_date": "2018-05-01"}]
    assert tally.counts == {"name_spaces": 1, "date_text": 2}
    with pytest.raises(ValueError, match=re.escape("第 1 项出生日期「2015年3月」缺少日")):
        excel.convert_cell(cat.BY_CODE["children"], "王小/男/2015年3月")


def prefixed(data: bytes) -> bytes:
    """As Excel writes it: shared strings, a namespace prefix on the sheet's elements, merges included."""
    excel_like = zipfile.ZipFile(io.BytesIO(as_saved_by_excel(data)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in excel_like.namelist():
            content = excel_like.read(name)
            if name == "xl/worksheets/sheet1.xml":
                content = re.sub(rb"<(/?)(mergeCells|mergeCell)([ >/])", rb"<\1x:\2\3", content)
            dst.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize("chunk", [7, 61, 300, 1 << 20])
def test_merged_ranges_are_found_before_the_rows_whatever_the_chunks(chunk, monkeypatch):
    rows = [["标题"], ["姓名", "所属分工会"], *[[f"会员{i}", OWN_NAME if i % 5 == 0 else None] for i in range(40)]]
    refs = ["A1:B1"] + [f"B{3 + i}:B{7 + i}" for i in range(0, 40, 5)]
    data = workbook(rows, merges=tuple(refs))
    monkeypatch.setattr(xlsx, "READ_CHUNK", chunk)
    for variant in (data, prefixed(data)):
        sheet = xlsx.open_sheet(io.BytesIO(variant), "Sheet1")
        try:
            found = xlsx.scan(sheet, count_rows=True)
        finally:
            sheet.close()
        assert sorted(m.ref for m in found.merges) == sorted(refs) and found.rows == 42
        assert xlsx.Merge("B3:B7", 2, 3, 2, 7) in found.merges


def test_a_workbook_saved_by_excel_fills_its_merged_cells_the_same(clients, world):
    plain = office_sheet()
    assert b"x:mergeCell " in zipfile.ZipFile(io.BytesIO(prefixed(plain))).read("xl/worksheets/sheet1.xml")
    first, second = upload(clients["staff"], plain).get_json(), upload(clients["staff"], prefixed(plain)).get_json()
    assert first == second and first["notes"] == OFFICE_NOTES


def test_the_template_says_what_the_reader_accepts(clients, world):
    wb = load_workbook(io.BytesIO(clients["staff"].get("/api/v1/members/import-template.xlsx").data))
    notes = " ".join(c.value for c in wb["说明"]["A"] if c.value)
    assert "2015年3月2日" in notes and "标题行" in notes and "身份证号" in notes
