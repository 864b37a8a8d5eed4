"""The portal's filing and batch pages in Chromium, each flow through to its effect: an Excel
import (dry run, then apply) seen in the member's record; an application to join confirmed and
approved by two people; a transfer through its three steps by three people; a new member; a
status change filed from the member's page."""

from __future__ import annotations

import io
import re
from datetime import date

import requests
from openpyxl import Workbook
from playwright.sync_api import Page, expect

from server.devdata.generator import make_id_number
from tests.browser.conftest import DEMO_PASSWORD, sign_in

OWN, OTHER = "计算机学院分工会", "机关分工会"  # the demo sub-union of sub_chair and sub_staff; another


def sub_union_id(admin, name: str) -> int:  # noqa: ANN001
    return next(s["id"] for s in admin.get(admin.base + "/api/v1/sub-unions").json() if s["name"] == name)


def a_member(admin, sub_union: str, page: int) -> dict:  # noqa: ANN001
    """An active member of that sub-union with a 工号: a different one for each ``page``."""
    r = admin.get(admin.base + "/api/v1/members", params={
        "sub_union_id": sub_union_id(admin, sub_union), "membership_status": "正常", "employment_status": "在职",
        "page": page, "page_size": 1})
    member = r.json()["items"][0]
    assert member["staff_no"], member
    return member


def new_account(admin, username: str, password: str, roles: list[dict]) -> None:  # noqa: ANN001
    r = admin.post(admin.base + "/api/v1/users", json={
        "username": username, "display_name": username, "password": password, "roles": roles})
    assert r.status_code == 201, r.text


def sheet(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def row_of(page: Page, text: str):  # noqa: ANN201
    return page.locator(".el-table__body tr", has_text=text)


def confirm_step(page: Page, text: str, action: str) -> None:
    """A review queue's row action and its 请确认 box."""
    row_of(page, text).get_by_role("button", name=action).click()
    page.locator(".el-message-box").get_by_role("button", name=action).click()
    expect(page.locator(".el-message", has_text=f"已{action}")).to_be_visible()


def switch_to(page: Page, username: str, next_path: str, password: str = DEMO_PASSWORD) -> None:
    """The next person, on the same browser."""
    page.context.clear_cookies()
    sign_in(page, username, next_path, password)


# ---- 批量导入 ---------------------------------------------------------------------------------


def test_import_dry_run_then_apply_changes_the_record(page: Page, api, tmp_path):  # noqa: ANN001
    admin = api("admin")
    target = a_member(admin, OTHER, 5)
    path = tmp_path / "更新职务.xlsx"
    path.write_bytes(sheet([
        ["姓名", "工号", "办公电话", "职务"],
        [target["name"], target["staff_no"], "０３１１－６６６６１２３４", "工会小组长"],  # written in full-width
        ["新同事", "T-NEW-77", "0311-abc", None],  # new, without 性别 / 出生日期 / 所属分工会, a bad phone
    ]))
    sign_in(page, "staff", "/portal/members")
    page.get_by_role("button", name="批量导入").click()
    expect(page).to_have_url(re.compile(r"/portal/members/import$"))
    expect(page.get_by_test_id("menu").locator(".el-menu-item.is-active")).to_have_text("批量导入")
    with page.expect_download() as download:
        page.get_by_test_id("import-template").click()
    assert download.value.suggested_filename == "会员导入模板.xlsx"

    page.get_by_test_id("import-check").click()  # no file yet: said beside the upload
    expect(page.get_by_test_id("import-file")).to_contain_text("请选择要上传的 .xlsx 文件")
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_test_id("import-check").click()
    report = page.get_by_test_id("import-report")
    expect(page.get_by_test_id("import-message")).to_contain_text("试导入 2 行")
    expect(page.get_by_test_id("count-updated")).to_contain_text("1")
    expect(page.get_by_test_id("count-error_rows")).to_contain_text("1")
    errors = page.get_by_test_id("import-errors")
    expect(errors).to_contain_text("办公电话")
    expect(errors).to_contain_text("只能包含数字")
    bad_phone = errors.locator("tbody tr", has_text="只能包含数字")
    expect(bad_phone.locator("td").first).to_have_text("3")  # the Excel row number
    expect(report.get_by_test_id("import-normalisations")).to_contain_text("全角字符转为半角")
    # All or nothing with an error row: 应用 waits, and says why.
    expect(page.get_by_test_id("import-apply")).to_be_disabled()
    expect(page.get_by_test_id("import-blocked")).to_contain_text("只导入正确的行")
    page.get_by_text("只导入正确的行（跳过有错误的行）").click()
    page.get_by_test_id("import-apply").click()
    page.locator(".el-message-box").get_by_role("button", name="应用").click()
    expect(page.get_by_test_id("import-message")).to_contain_text("已导入 1 行")
    expect(page.get_by_test_id("count-updated")).to_contain_text("1")

    page.goto(f"/portal/members/{target['id']}")
    expect(page.get_by_test_id("value-office_phone")).to_have_text("0311-66661234")
    expect(page.get_by_test_id("value-position")).to_have_text("工会小组长")
    page.get_by_role("tab", name="变更历史").click()
    expect(page.get_by_test_id("history-table")).to_contain_text("导入")


def test_a_sheet_over_the_request_limit_is_checked_as_a_job(page: Page, tmp_path):  # noqa: ANN001
    """2001 rows (over UNION_IMPORT_SYNC_MAX_ROWS, 2000): the upload answers 202 with the job, whose
    record holds the same report (here the embedded default has run it by the time it answers)."""
    path = tmp_path / "大表.xlsx"
    path.write_bytes(sheet([["姓名", "工号"]] + [[f"新同事{chr(0x4e00 + i % 500)}", f"T{i:05d}"] for i in range(2001)]))
    sign_in(page, "staff", "/portal/members/import")
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_test_id("import-check").click()
    expect(page.get_by_test_id("import-message")).to_contain_text("试导入 2001 行", timeout=60_000)
    expect(page.get_by_test_id("count-error_rows")).to_contain_text("2001")
    expect(page.get_by_test_id("import-report")).to_contain_text("只列出前 1000 处")
    expect(page.get_by_test_id("import-apply")).to_be_disabled()


# ---- 入会: the applicant files through the API (the mini-program's part), two people review ----


def test_an_application_confirmed_and_approved_makes_a_member(page: Page, api, portal):  # noqa: ANN001
    admin = api("admin")
    new_account(admin, "applicant_lin", "Apply2026x", [])
    http = requests.Session()
    r = http.post(portal["base"] + "/api/v1/auth/login", json={"username": "applicant_lin", "password": "Apply2026x"},
                  timeout=10)
    r.raise_for_status()
    http.headers["Authorization"] = "Bearer " + r.json()["token"]
    born = date(1995, 4, 12)
    r = http.post(portal["base"] + "/api/v1/applications", json={
        "name": "林晓雨", "gender": "女", "birth_date": born.isoformat(), "id_number": make_id_number("130302", born, 22),
        "sub_union": sub_union_id(admin, OWN), "staff_no": "X20269901", "department": "计算机学院",
        "post_category": "专任教师", "submit": True}, timeout=10)
    assert r.status_code == 201, r.text

    sign_in(page, "sub_staff", "/portal/review/applications")  # 分工会 confirms
    expect(row_of(page, "林晓雨")).to_contain_text("待分工会确认")
    confirm_step(page, "林晓雨", "确认")
    switch_to(page, "chair", "/portal/review/applications")  # 校工会 approves
    expect(row_of(page, "林晓雨")).to_contain_text("待校工会审批")
    confirm_step(page, "林晓雨", "通过")

    page.goto("/portal/members?q=X20269901")
    page.get_by_test_id("member-table").get_by_role("link", name="林晓雨").click()
    expect(page.get_by_test_id("member-name")).to_have_text("林晓雨")
    expect(page.get_by_test_id("value-sub_union")).to_have_text(OWN)
    expect(page.get_by_test_id("value-member_no")).not_to_have_text("")  # issued on approval
    expect(page.get_by_test_id("value-membership_status")).to_have_text("正常")


# ---- 转会: filed from the member's page, then three people -------------------------------------


def test_a_transfer_through_its_three_steps_moves_the_member(page: Page, api):  # noqa: ANN001
    admin = api("admin")
    member = a_member(admin, OWN, 4)
    new_account(admin, "jg_chair", "Chair2026x", [{"role": "subunion_chair", "sub_union_id": sub_union_id(admin, OTHER)}])

    sign_in(page, "sub_staff", f"/portal/members/{member['id']}")  # the out sub-union's operator files it
    page.get_by_role("button", name="申请转会").click()
    dialog = page.get_by_role("dialog", name=re.compile("申请转会"))
    dialog.get_by_test_id("filing-submit").click()  # nothing chosen: the API names both fields
    expect(dialog.get_by_test_id("filing-target")).to_contain_text("缺少必填项")
    expect(dialog.get_by_test_id("api-error")).to_contain_text("转入分工会 缺少必填项")  # named by its label
    expect(dialog.get_by_test_id("filing-reason")).to_be_visible()
    dialog.get_by_test_id("filing-target").locator(".el-select").click()
    page.locator(".el-select-dropdown__item:visible", has_text=OTHER).click()
    dialog.get_by_test_id("filing-reason").locator("textarea").fill("工作调动至学校机关")
    dialog.get_by_test_id("filing-submit").click()
    expect(page.get_by_text("已提交转会申请")).to_be_visible()
    page.get_by_role("button", name="申请转会").click()  # a second one is refused with the API's 409 message
    dialog.get_by_test_id("filing-target").locator(".el-select").click()
    page.locator(".el-select-dropdown__item:visible", has_text=OTHER).click()
    dialog.get_by_test_id("filing-reason").locator("textarea").fill("再申请一次")
    dialog.get_by_test_id("filing-submit").click()
    expect(dialog.get_by_test_id("api-error")).to_contain_text("已有一份进行中的转会申请")
    dialog.get_by_role("button", name="取消").click()

    switch_to(page, "sub_chair", "/portal/review/transfers")  # 1. the out sub-union's chair
    confirm_step(page, member["name"], "同意转出")
    switch_to(page, "chair", "/portal/review/transfers")  # 2. the school union
    confirm_step(page, member["name"], "审批通过")
    switch_to(page, "jg_chair", "/portal/review/transfers?status=school_approved", "Chair2026x")  # 3. the in one
    confirm_step(page, member["name"], "接收")

    page.goto(f"/portal/members/{member['id']}")  # now jg_chair's member
    expect(page.get_by_test_id("value-sub_union")).to_have_text(OTHER)
    page.get_by_role("tab", name="会籍记录").click()
    events = page.get_by_test_id("events-table")
    expect(events).to_contain_text("转会")
    expect(events).to_contain_text(f"{OWN} → {OTHER}")
    expect(events).to_contain_text("工作调动至学校机关")


# ---- 新增会员 and 状态变更 -----------------------------------------------------------------------


def test_a_new_member_from_the_catalogue_form(page: Page):
    sign_in(page, "sub_staff", "/portal/members")
    page.get_by_role("button", name="新增会员").click()
    expect(page).to_have_url(re.compile(r"/portal/members/new$"))
    expect(page.get_by_test_id("group-identity")).to_contain_text("民族")  # grouped as the 登记表
    expect(page.get_by_test_id("field-sub_union")).to_contain_text(OWN)  # a sub-union adds to its own
    expect(page.get_by_test_id("field-member_no")).to_have_count(0)  # the school union's to fill in
    page.get_by_test_id("field-name").locator("input").fill("周 一")
    page.get_by_test_id("field-email").locator("input").fill("not-an-email")
    page.get_by_test_id("create-member").click()
    expect(page.get_by_test_id("field-gender")).to_contain_text("必填")  # each message beside its input
    expect(page.get_by_test_id("field-email")).to_contain_text("邮箱")
    page.get_by_test_id("field-name").locator("input").fill("周一鸣")
    page.get_by_test_id("field-gender").locator(".el-select").click()
    page.locator(".el-select-dropdown__item:visible", has_text="男").click()
    birth = page.get_by_test_id("field-birth_date").locator("input")
    birth.fill("1990-03-08")
    birth.press("Enter")
    page.get_by_test_id("field-email").locator("input").fill("zhouyiming@example.edu.cn")
    page.get_by_test_id("create-member").click()
    expect(page.get_by_text("已新增会员 周一鸣")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/portal/members/\d+$"))
    expect(page.get_by_test_id("member-name")).to_have_text("周一鸣")
    expect(page.get_by_test_id("value-birth_date")).to_have_text("1990-03-08")


def test_a_status_change_filed_from_the_members_page(page: Page, api):  # noqa: ANN001
    member = a_member(api("admin"), OWN, 6)
    sign_in(page, "sub_staff", f"/portal/members/{member['id']}")
    page.get_by_role("button", name="状态变更").click()
    dialog = page.get_by_role("dialog", name=re.compile("状态变更"))
    dialog.get_by_test_id("filing-submit").click()
    expect(dialog.get_by_test_id("filing-kind")).to_contain_text("缺少必填项")
    dialog.get_by_test_id("filing-kind").get_by_text("复职").click()  # an active member cannot come back
    dialog.get_by_test_id("filing-reason").locator("textarea").fill("返聘")
    dialog.get_by_test_id("filing-submit").click()
    expect(dialog.get_by_test_id("api-error")).to_contain_text("不能办理「复职」")
    dialog.get_by_test_id("filing-kind").get_by_text("退休").click()
    dialog.get_by_test_id("filing-reason").locator("textarea").fill("到龄退休")
    dialog.get_by_test_id("filing-submit").click()
    expect(page.get_by_text("已提交状态变更申请")).to_be_visible()
    page.goto("/portal/review/status-changes")
    expect(row_of(page, member["name"])).to_contain_text("到龄退休")


def test_the_new_pages_say_no_permission_to_a_member(page: Page):
    sign_in(page, "member")
    for path in ("/portal/members/import", "/portal/members/new"):
        page.goto(path)
        expect(page.get_by_test_id("forbidden")).to_contain_text("无权访问")
