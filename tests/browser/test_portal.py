"""End-to-end flows of the staff portal in Chromium, on the demo school."""

from __future__ import annotations

import re
import sqlite3
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CAS_NAME, CAS_PASSWORD, CAS_USER, sign_in

MENUS = {
    "admin": ["工作台", "会员管理", "批量导入", "入会审核", "转会审批", "状态变更", "统计", "分工会", "账号与角色", "审计日志"],
    "chair": ["工作台", "会员管理", "批量导入", "入会审核", "转会审批", "状态变更", "统计", "分工会", "审计日志"],
    "staff": ["工作台", "会员管理", "批量导入", "状态变更", "统计", "分工会", "审计日志"],
    "sub_chair": ["工作台", "会员管理", "批量导入", "入会审核", "转会审批", "状态变更", "统计", "分工会"],
    "sub_staff": ["工作台", "会员管理", "批量导入", "入会审核", "状态变更", "统计", "分工会"],
    "member": ["我的会员信息"],
}


def menu_of(page: Page) -> list[str]:
    return [t.strip() for t in page.get_by_test_id("menu").locator(".el-menu-item").all_inner_texts()]


@pytest.mark.parametrize("username", list(MENUS))
def test_local_sign_in_shows_the_menu_of_the_roles(page: Page, username: str):
    sign_in(page, username)
    expect(page.get_by_test_id("menu").locator(".el-menu-item")).to_have_count(len(MENUS[username]))
    assert menu_of(page) == MENUS[username]
    if username == "member":
        expect(page).to_have_url(re.compile(r"/portal/me$"))
        expect(page.get_by_test_id("member-name")).to_have_text("陈思远")
        page.goto("/portal/members")  # a page outside the menu says so instead of failing
        expect(page.get_by_test_id("forbidden")).to_contain_text("无权访问")
    else:
        expect(page).to_have_url(re.compile(r"/portal/dashboard$"))
        expect(page.get_by_test_id("headcount-chart").locator("canvas")).to_be_visible()


def test_wrong_password_is_explained(page: Page):
    page.goto("/portal/login")
    page.get_by_placeholder("用户名").fill("staff")
    page.get_by_placeholder("密码").fill("not-the-password")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_test_id("login-error")).to_contain_text("用户名或密码错误")


def test_sign_in_through_cas_and_single_logout(page: Page, portal, api):  # noqa: ANN001
    admin = api("admin")
    subs = admin.get(admin.base + "/api/v1/sub-unions").json()
    own = next(s for s in subs if s["name"] == "计算机学院分工会")
    r = admin.post(admin.base + "/api/v1/users", json={
        "username": CAS_USER, "display_name": CAS_NAME,
        "roles": [{"role": "subunion_operator", "sub_union_id": own["id"]}]})
    assert r.status_code == 201, r.text
    page.goto("/portal/members")
    expect(page).to_have_url(re.compile(r"/portal/login\?next=(%2F|/)members$"))
    page.get_by_role("button", name=re.compile("统一身份认证登录（CAS）")).click()
    expect(page).to_have_url(re.compile("^" + re.escape(portal["cas"]) + "login"))
    page.locator("input[name=username]").fill(CAS_USER)
    page.locator("input[name=password]").fill(CAS_PASSWORD)
    page.locator("form [type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/portal/members$"))  # back where the person was going
    expect(page.get_by_test_id("who")).to_have_text(CAS_NAME)
    assert menu_of(page) == MENUS["sub_staff"]
    page.get_by_role("button", name="退出").click()
    # Signed out at CAS too (its logout sends the browser back to /, which is the portal).
    expect(page).to_have_url(re.compile(r"/portal/login$"))
    page.goto(portal["cas"] + "login")
    expect(page.locator("input[name=password]")).to_be_visible()  # CAS asks for the password again


def _search(page: Page, text: str) -> None:
    page.get_by_test_id("member-search").fill(text)
    page.get_by_role("button", name="查询").click()


def test_find_a_member_edit_and_see_history(page: Page):
    sign_in(page, "staff", "/portal/members")
    _search(page, "csy")  # 陈思远 by pinyin initials
    table = page.get_by_test_id("member-table")
    expect(table.get_by_role("link", name="陈思远")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=csy"))
    table.get_by_role("link", name="陈思远").first.click()
    expect(page.get_by_test_id("member-name")).to_have_text("陈思远")
    expect(page.get_by_test_id("group-identity")).to_contain_text("民族")  # grouped as the 登记表
    page.get_by_role("button", name="编辑").click()
    email = page.get_by_test_id("field-email").locator("input")
    email.fill("not-an-email")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_test_id("field-email")).to_contain_text("邮箱")  # the API's per-field message
    email.fill("chensiyuan@example.edu.cn")
    page.get_by_test_id("field-office_phone").locator("input").fill("0311-88886666")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("已保存")).to_be_visible()
    expect(page.get_by_test_id("value-office_phone")).to_have_text("0311-88886666")
    page.get_by_role("tab", name="变更历史").click()
    history = page.get_by_test_id("history-table")
    expect(history).to_contain_text("0311-88886666")
    expect(history).to_contain_text("办公电话")
    expect(history).to_contain_text("staff")  # who changed it


def test_batch_print_of_a_filtered_list(page: Page, api, tmp_path):  # noqa: ANN001
    """批量打印: the list's filter, one 登记表 page per member found; too many asks to narrow it."""
    from pypdf import PdfReader

    staff = api("staff")
    found = staff.get(staff.base + "/api/v1/members", params={"q": "陈"}).json()["total"]
    assert 0 < found < 500
    sign_in(page, "staff", "/portal/members")
    _search(page, "陈")
    with page.expect_download() as download:
        page.get_by_test_id("batch-print").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    pages = PdfReader(path).pages
    assert len(pages) == found
    assert "工会会员登记表" in pages[0].extract_text()
    page.get_by_role("button", name="重置").click()  # everyone: more than one batch may print
    page.get_by_test_id("batch-print").click()
    expect(page.get_by_text("请缩小筛选范围").first).to_be_visible()


def _member_elsewhere(api) -> dict:  # noqa: ANN001
    """A member of 机关分工会, not of the demo sub-union 计算机学院分工会."""
    admin = api("admin")
    subs = admin.get(admin.base + "/api/v1/sub-unions").json()
    other = next(s for s in subs if s["name"] == "机关分工会")
    return admin.get(admin.base + "/api/v1/members", params={"sub_union_id": other["id"], "page_size": 1}).json()["items"][0]


def test_a_sub_union_operator_does_not_find_another_sub_unions_member(page: Page, api):  # noqa: ANN001
    stranger = _member_elsewhere(api)
    sign_in(page, "sub_staff", "/portal/members")
    _search(page, stranger["staff_no"])
    expect(page.get_by_test_id("member-table")).to_contain_text("没有找到")
    page.goto(f"/portal/members/{stranger['id']}")
    expect(page.get_by_test_id("not-found")).to_be_visible()


def test_a_stale_version_is_explained(page: Page, api):  # noqa: ANN001
    admin = api("admin")
    target = admin.get(admin.base + "/api/v1/members", params={"q": "陈思远"}).json()["items"][0]
    sign_in(page, "staff", f"/portal/members/{target['id']}")
    page.get_by_role("button", name="编辑").click()
    # Meanwhile someone else saves the same record.
    current = admin.get(admin.base + f"/api/v1/members/{target['id']}").json()
    r = admin.patch(admin.base + f"/api/v1/members/{target['id']}",
                    json={"hobbies": "书法、长跑", "version": current["version"]})
    assert r.status_code == 200, r.text
    page.get_by_test_id("field-hobbies").locator("input").fill("围棋")
    page.get_by_role("button", name="保存").click()
    conflict = page.get_by_test_id("conflict")
    expect(conflict).to_contain_text("已被他人修改")
    expect(conflict).to_contain_text("尚未保存")
    page.get_by_role("button", name="重新加载最新信息").click()
    expect(page.get_by_test_id("value-hobbies")).to_have_text("书法、长跑")


def test_an_expired_session_signs_in_again_and_returns(page: Page, portal):  # noqa: ANN001
    sign_in(page, "staff", "/portal/members?q=" + quote("陈"))
    expect(page.get_by_test_id("member-table")).to_contain_text("陈")
    with sqlite3.connect(portal["db"]) as conn:  # the server-side session runs out
        conn.execute("UPDATE portal_sessions SET expires_at = '2000-01-01 00:00:00' WHERE revoked_at IS NULL")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_test_id("expired")).to_contain_text("登录已过期")
    page.get_by_placeholder("用户名").fill("staff")
    page.get_by_placeholder("密码").fill("demo123")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(re.compile(r"/portal/members\?q=%E9%99%88&page=1$"))  # the page they were on
    expect(page.get_by_test_id("member-table")).to_contain_text("陈")
