"""The portal's 统计 page (a condition built in the UI, the summary chart, an Excel export) and
the administration pages (分工会, 账号与角色, 审计日志), in Chromium on the demo school."""

from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in

WOMEN = {"all": [{"field": "gender", "op": "eq", "value": "女"}]}


def pick(page: Page, select, option: str) -> None:  # noqa: ANN001
    """Open an Element Plus select and choose the option with this text."""
    select.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_query_summary_chart_and_export(page: Page, api, tmp_path):  # noqa: ANN001
    staff = api("staff")
    want = staff.post(staff.base + "/api/v1/stats/query", json={"filter": WOMEN, "page_size": 1}).json()
    groups = staff.post(staff.base + "/api/v1/stats/summary", json={"filter": WOMEN, "group_by": ["sub_union"]}).json()
    assert want["total"] > 0 and groups["groups"]

    sign_in(page, "staff", "/portal/statistics")
    row = page.get_by_test_id("cond-row").first
    pick(page, row.get_by_test_id("cond-field"), "性别")
    expect(row.get_by_test_id("cond-op")).to_contain_text("等于")  # the field's first operator
    pick(page, row.get_by_test_id("cond-value").locator(".el-select"), "女")
    pick(page, page.get_by_test_id("group-select"), "所属分工会")
    page.keyboard.press("Escape")
    page.get_by_test_id("run-query").click()

    expect(page.get_by_role("tab", name=f"名单（{want['total']} 人）")).to_be_visible()
    table = page.get_by_test_id("result-table")
    expect(table.locator(".el-table__body-wrapper tbody tr")).to_have_count(min(20, want["total"]))
    expect(table.locator(".el-table__header-wrapper")).to_contain_text("所属分工会")

    page.get_by_role("tab", name="分组统计").click()
    expect(page.get_by_test_id("summary-chart").locator("canvas")).to_be_visible()
    summary = page.get_by_test_id("summary-table")
    expect(summary.locator(".el-table__body-wrapper tbody tr")).to_have_count(len(groups["groups"]))
    expect(summary.locator(".el-table__footer-wrapper")).to_contain_text(str(groups["total"]))

    page.get_by_test_id("export-open").click()
    with page.expect_download() as download:
        page.get_by_test_id("export-start").click()
    expect(page.get_by_test_id("export-done")).to_contain_text("已下载")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.suffix == ".xlsx" and path.name.startswith("会员导出-")
    sheet = load_workbook(path, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == want["labels"]  # the chosen fields' Chinese labels, in order
    assert len(rows) == want["total"] + 1
    assert {r[want["fields"].index("gender")] for r in rows[1:]} == {"女"}


def test_the_servers_message_for_a_condition_is_shown_beside_it(page: Page):
    sign_in(page, "staff", "/portal/statistics")
    row = page.get_by_test_id("cond-row").first
    pick(page, row.get_by_test_id("cond-field"), "姓名")
    row.get_by_test_id("cond-value").locator("input").fill("长" * 201)
    page.get_by_test_id("run-query").click()
    expect(row.get_by_test_id("cond-error")).to_contain_text("1–200 个字符")


def test_a_saved_query_runs_again_and_is_deleted(page: Page):
    sign_in(page, "staff", "/portal/statistics")
    row = page.get_by_test_id("cond-row").first
    pick(page, row.get_by_test_id("cond-field"), "婚姻状况")
    pick(page, row.get_by_test_id("cond-value").locator(".el-select"), "未婚")
    page.get_by_role("button", name="保存为方案").click()
    page.get_by_test_id("preset-name").fill("未婚会员（测试）")
    page.get_by_test_id("preset-name").press("Enter")  # a form's Enter saves
    expect(page.get_by_text("方案已保存")).to_be_visible()
    page.get_by_role("button", name="重置").click()
    pick(page, page.get_by_test_id("preset-select"), "未婚会员（测试）")
    expect(page.get_by_role("tab", name=re.compile(r"名单（\d+ 人）"))).to_be_visible()
    expect(row.get_by_test_id("cond-value")).to_contain_text("未婚")
    page.get_by_role("button", name="删除方案").click()
    page.get_by_role("dialog").get_by_role("button", name="删除").click()
    expect(page.get_by_text("已删除")).to_be_visible()


@pytest.mark.parametrize(("path", "table", "text"), [
    ("/portal/sub-unions", "sub-union-table", "计算机学院分工会"),
    ("/portal/accounts", "user-table", "sub_staff"),
    ("/portal/audit", "audit-table", "auth."),
])
def test_the_administration_pages_open_for_the_admin(page: Page, path: str, table: str, text: str):
    sign_in(page, "admin", path)
    expect(page.get_by_test_id(table)).to_contain_text(text)
    expect(page.get_by_test_id(table).locator(".el-table__body-wrapper tbody tr").first).to_be_visible()


def test_a_sub_union_operator_may_not_manage_accounts(page: Page):
    sign_in(page, "sub_staff", "/portal/accounts")
    expect(page.get_by_test_id("forbidden")).to_contain_text("无权访问")
    assert "账号与角色" not in page.get_by_test_id("menu").inner_text()


def test_a_large_export_runs_as_a_job_and_is_downloaded_from_my_exports(page: Page, api, tmp_path):  # noqa: ANN001
    staff = api("staff")
    everyone = staff.post(staff.base + "/api/v1/stats/query", json={"page_size": 1}).json()
    assert everyone["total"] > 1500  # over the browser tests' UNION_EXPORT_SYNC_MAX_ROWS: a job

    sign_in(page, "staff", "/portal/statistics")
    page.get_by_test_id("cond-row").first.get_by_role("button", name="删除").click()
    page.get_by_test_id("run-query").click()
    expect(page.get_by_role("tab", name=f"名单（{everyone['total']} 人）")).to_be_visible()
    page.get_by_test_id("export-open").click()
    page.get_by_test_id("export-start").click()
    job = page.get_by_test_id("export-job")
    expect(job).to_contain_text(f"{everyone['total']} / {everyone['total']} 行")
    expect(job).to_contain_text("已完成")
    with page.expect_download() as download:
        page.get_by_test_id("export-download").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    rows = list(load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert list(rows[0]) == everyone["labels"] and len(rows) == everyone["total"] + 1

    page.get_by_role("dialog", name="导出 Excel").get_by_role("button", name="关闭", exact=True).click()
    page.get_by_role("tab", name="我的导出").click()
    mine = page.get_by_test_id("my-exports")
    expect(mine.get_by_role("link", name="下载")).to_have_count(1)
    expect(mine).to_contain_text(download.value.suggested_filename)
