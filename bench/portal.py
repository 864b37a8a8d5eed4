"""The staff portal in Chromium: first-load size, member-list render time, screenshots.

Reproduce (after `make portal`; needs /usr/bin/chromium, see README):

    .venv/bin/python bench/portal.py                       # figures
    .venv/bin/python bench/portal.py --screenshots screenshots   # and PNGs of the main pages (make screenshots)

It starts `union serve --demo` (the embedded default, a fresh instance folder, the demo school of
2000 members) on a free loopback port and drives Debian's Chromium with Playwright at 1366×768.

Prints:
- first load: every JS and CSS file the browser fetched for the sign-in page, and for the first
  page after signing in (the sign-in page's files plus the 工作台's), each gzip-compressed
  (level 6, what a reverse proxy sends) and summed;
- member list, 50 rows: for several pages of the list, the API call's own time (from the request
  to the parsed answer, performance marks members:request → members:response, and the browser's
  resource timing of the request) against the render time (members:response → members:rendered,
  the rows painted), their medians and the ratio.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("UNION_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1366, "height": 768}
PASSWORD = "demo123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNION_")}
    env["UNION_INSTANCE_PATH"] = str(work / "instance")
    union = shutil.which("union", path=str(Path(sys.executable).parent)) or "union"
    log = open(work / "app.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([union, "serve", "--demo", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=work)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/api/v1/health", timeout=2).ok:
                return proc, base
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    sys.exit("union serve --demo did not start: " + (work / "app.log").read_text()[-2000:])


def bearer(base: str, username: str) -> requests.Session:
    http = requests.Session()
    r = http.post(base + "/api/v1/auth/login", json={"username": username, "password": PASSWORD}, timeout=10)
    r.raise_for_status()
    http.headers["Authorization"] = "Bearer " + r.json()["token"]
    return http


def some_work_in_the_queues(base: str) -> None:
    """A transfer and a status change waiting, so the queues and the 工作台 are not empty."""
    sub = bearer(base, "sub_staff")
    chair = bearer(base, "sub_chair")
    subs = {s["name"]: s["id"] for s in bearer(base, "admin").get(base + "/api/v1/sub-unions").json()}
    page = sub.get(base + "/api/v1/members", params={"page_size": 4, "employment_status": "在职"}).json()["items"]
    sub.post(base + "/api/v1/status-changes", json={
        "member_id": page[0]["id"], "kind": "退休", "effective_date": date.today().isoformat(),
        "reason": "达到法定退休年龄"}).raise_for_status()
    sub.post(base + "/api/v1/status-changes", json={
        "member_id": page[1]["id"], "kind": "离职", "effective_date": date.today().isoformat(),
        "reason": "调往外省工作"}).raise_for_status()
    r = sub.post(base + "/api/v1/transfers", json={
        "member_id": page[2]["id"], "to_sub_union_id": subs["机关分工会"], "reason": "工作调动至学校办公室"})
    r.raise_for_status()
    sub.post(base + "/api/v1/transfers", json={
        "member_id": page[3]["id"], "to_sub_union_id": subs["理学院分工会"], "reason": "所在系划归理学院"}
    ).raise_for_status()
    chair.post(base + f"/api/v1/transfers/{r.json()['id']}/approve").raise_for_status()


def sign_in(page, base: str, username: str, path: str = "/portal/") -> None:  # noqa: ANN001
    page.goto(base + path)
    page.get_by_placeholder("用户名").fill(username)
    page.get_by_placeholder("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_test_id("who").wait_for()


def first_load(browser, base: str) -> dict[str, tuple[int, int, int]]:  # noqa: ANN001
    """(files, raw bytes, gzip bytes) of the JS + CSS of the sign-in page and of the first page."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    bodies: dict[str, bytes] = {}
    phase = {"now": "signin"}
    seen: dict[str, set[str]] = {"signin": set(), "first": set()}

    def on_response(response) -> None:  # noqa: ANN001
        if response.request.resource_type in ("script", "stylesheet") and "/portal/assets/" in response.url:
            try:
                bodies[response.url] = response.body()
            except Exception:  # noqa: BLE001 (a response gone with its page)
                return
            seen[phase["now"]].add(response.url)

    page.on("response", on_response)
    page.goto(base + "/portal/login", wait_until="networkidle")
    phase["now"] = "first"
    page.get_by_placeholder("用户名").fill("chair")
    page.get_by_placeholder("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_test_id("headcount-chart").locator("canvas").wait_for()
    page.wait_for_load_state("networkidle")
    context.close()

    def sizes(urls: set[str]) -> tuple[int, int, int]:
        return (len(urls), sum(len(bodies[u]) for u in urls),
                sum(len(gzip.compress(bodies[u], compresslevel=6)) for u in urls))

    return {"sign-in page": sizes(seen["signin"]), "sign-in + 工作台": sizes(seen["signin"] | seen["first"])}


MARKS_JS = """() => {
  const m = (n) => performance.getEntriesByName(n, 'mark').at(-1)?.startTime;
  const res = performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v1/members?')).at(-1);
  return {request: m('members:request'), response: m('members:response'), rendered: m('members:rendered'),
          resource: res ? res.duration : null, rows: document.querySelectorAll('[data-testid=member-table] tbody tr').length};
}"""


def member_list_timing(browser, base: str, pages: int) -> list[dict]:  # noqa: ANN001
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, "staff", "/portal/members?page_size=50")
    page.get_by_test_id("member-table").locator("tbody tr").nth(49).wait_for()
    samples = []
    for n in range(2, pages + 2):
        page.evaluate("() => { performance.clearMarks(); performance.clearResourceTimings(); }")
        page.locator(".el-pagination .btn-next").click()
        page.wait_for_function("() => performance.getEntriesByName('members:rendered', 'mark').length > 0")
        got = page.evaluate(MARKS_JS)
        assert got["rows"] == 50, got
        samples.append({"page": n, "api": got["response"] - got["request"], "resource": got["resource"],
                        "render": got["rendered"] - got["response"]})
    context.close()
    return samples


def take(page, out: Path, name: str, full: bool = False) -> Path:  # noqa: ANN001
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(400)  # transitions, the chart's first animation
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def screenshots(browser, base: str, out: Path) -> list[Path]:  # noqa: ANN001
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()

    def shot(name: str, full: bool = False) -> None:
        shots.append(take(page, out, name, full))

    page.goto(base + "/portal/login")
    page.get_by_placeholder("用户名").wait_for()
    shot("01-sign-in")
    sign_in(page, base, "chair")
    page.get_by_test_id("headcount-chart").locator("canvas").wait_for()
    shot("02-dashboard-school-chair")
    page.goto(base + "/portal/members?page_size=50")
    page.get_by_test_id("member-table").locator("tbody tr").first.wait_for()
    shot("03-member-list")
    page.goto(base + "/portal/members?q=csy")
    page.get_by_test_id("member-table").get_by_role("link", name="陈思远").click()
    page.get_by_test_id("member-name").wait_for()
    shot("04-member-detail", full=True)
    page.get_by_role("button", name="编辑").click()
    page.get_by_test_id("field-email").locator("input").fill("wrong-address")
    page.get_by_role("button", name="保存").click()
    page.get_by_test_id("api-error").wait_for()
    shot("05-member-edit-field-error")
    page.get_by_test_id("field-email").locator("input").fill("chensiyuan@example.edu.cn")
    page.get_by_test_id("field-office_phone").locator("input").fill("0335-8051234")
    page.get_by_role("button", name="保存").click()
    page.get_by_text("已保存").wait_for()
    page.get_by_role("tab", name="变更历史").click()
    page.get_by_test_id("history-table").get_by_text("0335-8051234").wait_for()
    shot("06-member-history")
    page.goto(base + "/portal/review/transfers")
    shot("07-transfer-queue")
    page.goto(base + "/portal/review/status-changes")
    shot("08-status-change-queue")
    page.goto(base + "/portal/statistics")
    preset = page.get_by_test_id("preset-select")
    preset.click()
    page.get_by_role("option", name="即将退休（一年内）", exact=True).click()
    page.get_by_test_id("result-table").locator("tbody tr").first.wait_for()
    shot("12-statistics-query", full=True)
    preset.click()
    page.get_by_role("option", name="高级职称（正高+副高）", exact=True).click()
    page.get_by_test_id("summary-chart").locator("canvas").wait_for()
    shot("13-statistics-summary", full=True)
    preset.click()
    page.get_by_role("option", name="按学历统计", exact=True).click()
    page.get_by_test_id("summary-chart").locator("canvas").wait_for()
    page.get_by_role("radio", name="饼图").click(force=True)
    shot("14-statistics-pie")
    page.get_by_test_id("export-open").click()
    shot("15-statistics-export")
    page.keyboard.press("Escape")
    page.goto(base + "/portal/sub-unions")
    page.get_by_test_id("sub-union-table").locator("tbody tr").first.wait_for()
    shot("16-sub-unions")
    page.goto(base + "/portal/audit")
    page.get_by_test_id("audit-table").locator("tbody tr").first.wait_for()
    shot("17-audit-log")
    context.clear_cookies()
    page.goto(base + "/portal/")
    sign_in(page, base, "sub_staff", "/portal/dashboard")
    page.get_by_test_id("headcount-chart").locator("canvas").wait_for()
    shot("09-dashboard-sub-union-operator")
    page.goto(base + "/portal/review/transfers")  # not in an operator's menu
    page.get_by_test_id("forbidden").wait_for()
    shot("10-no-permission")
    context.clear_cookies()
    sign_in(page, base, "member", "/portal/")
    page.get_by_test_id("member-name").wait_for()
    shot("11-member-own-record")
    context.clear_cookies()
    sign_in(page, base, "admin", "/portal/accounts")
    page.get_by_test_id("user-table").locator("tbody tr").first.wait_for()
    shot("18-accounts")
    page.get_by_test_id("user-table").get_by_role("button", name="编辑").nth(4).click()
    page.get_by_test_id("role-row").first.wait_for()
    shot("19-account-edit")
    context.close()
    return shots


def filing_screenshots(browser, base: str, out: Path) -> list[Path]:  # noqa: ANN001
    """批量导入 (empty, a dry run's report, applied), 新增会员 with per-field errors, and the
    转会 / 状态变更 dialogs of a member's page, as a school operator."""
    import io

    from openpyxl import Workbook

    shots: list[Path] = []
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()

    def shot(name: str, full: bool = False) -> None:
        shots.append(take(page, out, name, full))

    staff = bearer(base, "staff")
    members = staff.get(base + "/api/v1/members", params={"page_size": 3, "employment_status": "在职"}).json()["items"]
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "工号", "办公电话", "职务", "电子邮箱"])
    ws.append([members[0]["name"], members[0]["staff_no"], "０３３５－８０５１２３４", "工会小组长", None])
    ws.append([members[1]["name"], members[1]["staff_no"], None, "系主任", "wrong-address"])
    ws.append(["新同事", "T-NEW-1", "0335-abc", None, None])
    sheet = out / "import-sample.xlsx"
    buffer = io.BytesIO()
    wb.save(buffer)
    sheet.write_bytes(buffer.getvalue())

    sign_in(page, base, "staff", "/portal/members/import")
    shot("12-import-empty")
    page.locator("input[type=file]").set_input_files(str(sheet))
    page.get_by_test_id("import-check").click()
    page.get_by_test_id("import-report").wait_for()
    shot("13-import-dry-run-report", full=True)
    page.get_by_text("只导入正确的行（跳过有错误的行）").click()
    page.get_by_test_id("import-apply").click()
    page.locator(".el-message-box").get_by_role("button", name="应用").click()
    page.get_by_test_id("import-message").filter(has_text="已导入").wait_for()
    shot("14-import-applied")
    sheet.unlink()
    page.goto(base + "/portal/members/new")
    page.get_by_test_id("create-member").wait_for()
    page.get_by_test_id("field-email").locator("input").fill("wrong-address")
    page.get_by_test_id("create-member").click()
    page.get_by_test_id("api-error").wait_for()
    shot("15-member-new-field-errors")
    page.goto(base + f"/portal/members/{members[2]['id']}")
    page.get_by_role("button", name="申请转会").click()
    page.get_by_test_id("filing-submit").click()
    page.get_by_test_id("api-error").wait_for()
    shot("16-transfer-dialog-errors")
    page.get_by_role("button", name="取消").click()
    page.get_by_role("button", name="状态变更").click()
    page.get_by_test_id("filing-kind").get_by_text("复职").click()
    page.get_by_test_id("filing-reason").locator("textarea").fill("返聘")
    page.get_by_test_id("filing-submit").click()
    page.get_by_test_id("api-error").wait_for()
    shot("17-status-change-dialog-409")
    context.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--screenshots", type=Path, help="also write PNGs of the main pages here")
    parser.add_argument("--pages", type=int, default=8, help="member-list pages of 50 rows to time")
    args = parser.parse_args()
    if not (ROOT / "server" / "portal" / "dist" / "index.html").is_file():
        sys.exit("门户未构建：先执行 make portal")
    if not Path(CHROMIUM).is_file():
        sys.exit(f"没有 Chromium（{CHROMIUM}）：apt-get install chromium fonts-wqy-zenhei")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="union-portal-bench-") as tmp:
        proc, base = start_server(Path(tmp))
        try:
            some_work_in_the_queues(base)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                for name, (files, raw, gz) in first_load(browser, base).items():
                    print(f"first load, {name}: {files} JS/CSS files, {raw / 1024:.0f} KB, "
                          f"{gz / 1024:.0f} KB gzip (budget 500 KB)")
                samples = member_list_timing(browser, base, args.pages)
                for s in samples:
                    print(f"  member list page {s['page']:>2}, 50 rows: API call {s['api']:6.1f} ms "
                          f"(network {s['resource']:5.1f} ms), render {s['render']:6.1f} ms")
                api = statistics.median(s["api"] for s in samples)
                render = statistics.median(s["render"] for s in samples)
                print(f"member list, 50 rows, median of {len(samples)}: API call {api:.1f} ms, render {render:.1f} ms, "
                      f"render / API = {render / api:.2f}")
                if args.screenshots:
                    for path in screenshots(browser, base, args.screenshots) + filing_screenshots(
                            browser, base, args.screenshots):
                        print(f"wrote {path}")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("reproduce: .venv/bin/python bench/portal.py [--screenshots screenshots]  (after make portal)")


if __name__ == "__main__":
    main()
