"""Excel exports: the detail sheet (Chinese headers, frozen header, dates as dates, formula text
kept as text, masking per role), the summary sheet with a native chart, the provincial
template, the audit row, and large exports as a job with progress and a requester-only
download (on MariaDB + Redis through a real worker)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from server.core.models import AuditLog
from server.devdata.generator import insert_members
from server.domain.members import catalogue as cat
from server.domain.members.models import Member
from server.domain.statistics import exports
from server.domain.statistics.models import StatsExport
from tests.support.world import BACKEND, wait_for

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def tricky(db, world):  # noqa: ANN001, ANN201
    """Members whose free text would run as formulas if written naively."""
    rows = [
        Member(name="公式甲", staff_no="F001", sub_union_id=world.own_sub, gender="男", birth_date=date(1980, 1, 2),
               hobbies="=HYPERLINK(\"http://evil\",\"点我\")", remarks="+1+1", department="@SUM(A1:A9)",
               major="-2+3", spouse_name="#N/A", union_join_date=date(2005, 9, 1), mobile="13911112222",
               id_number="130302198001020011", union_posts=["工会委员", "会员代表"],
               children=[{"name": "小甲", "gender": "男", "birth_date": "2010-05-06"}], children_count=1,
               ethnicity="汉族", education="大学本科", political_status="中共党员"),
        Member(name="公式乙", staff_no="F002", sub_union_id=world.other_sub, gender="女",
               birth_date=date(1990, 2, 3), hobbies="=1+1", mobile="13922223333", remarks="响铃\x07字符"),
    ]
    db.add_all(rows)
    db.commit()
    return rows


def export(client, body):  # noqa: ANN001, ANN201
    r = client.post("/api/v1/stats/export", json=body)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.mimetype == XLSX and "attachment" in r.headers["Content-Disposition"]
    return r.data


def sheet_rows(data: bytes, sheet: str = "会员明细") -> list[list]:
    wb = load_workbook(io.BytesIO(data))
    return [[c.value for c in row] for row in wb[sheet].iter_rows()]


def test_detail_sheet_layout(clients, world, tricky):  # noqa: ANN001
    data = export(clients["staff"], {"filter": {"all": [{"field": "staff_no", "op": "eq", "value": "F001"}]}})
    wb = load_workbook(io.BytesIO(data))
    ws = wb["会员明细"]
    headers = [c.value for c in ws[1]]
    assert headers == [f.label for f in cat.CATALOGUE]  # all 44 fields, Chinese labels
    assert ws.freeze_panes == "A2"
    assert ws[1][0].font.b
    assert ws.column_dimensions["A"].width == 10 and ws.column_dimensions["D"].width == 12
    row = {h: c for h, c in zip(headers, ws[2], strict=True)}
    assert row["出生日期"].is_date and row["出生日期"].value.date() == date(1980, 1, 2)
    assert row["入会时间"].number_format == "yyyy-mm-dd"
    assert row["所属分工会"].value == "计算机学院分工会"
    assert row["工会职务"].value == "工会委员、会员代表"
    assert row["子女信息"].value == "小甲（男，2010-05-06）"
    assert row["证件号码"].value == "130302198001020011"  # the school operator may read it


def test_formula_text_is_exported_as_text(clients, world, tricky):  # noqa: ANN001
    data = export(clients["staff"], {"fields": ["name", "hobbies", "remarks", "department", "major", "spouse_name"],
                                     "filter": {"all": [{"field": "staff_no", "op": "eq", "value": "F001"}]}})
    ws = load_workbook(io.BytesIO(data))["会员明细"]
    cells = list(ws[2])
    expected = ["公式甲", "=HYPERLINK(\"http://evil\",\"点我\")", "+1+1", "@SUM(A1:A9)", "-2+3", "#N/A"]
    assert [c.value for c in cells] == expected
    for cell in cells[1:]:
        assert cell.data_type == "s", cell.value
        assert cell.quotePrefix, cell.value
    other = sheet_rows(export(clients["staff"], {"fields": ["name", "hobbies", "remarks"],
                                                 "filter": {"all": [{"field": "staff_no", "op": "eq", "value": "F002"}]}}))
    assert other[1] == ["公式乙", "=1+1", "响铃字符"]  # a control character Excel refuses is dropped
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml  # no formula element anywhere


def test_masking_and_scope_in_exports(clients, world, tricky):  # noqa: ANN001
    body = {"fields": ["name", "mobile", "id_number", "sub_union"]}
    by_staff = {r[0]: r for r in sheet_rows(export(clients["staff"], body))[1:]}
    assert by_staff["公式甲"][1] == "13911112222" and "公式乙" in by_staff
    by_sub = {r[0]: r for r in sheet_rows(export(clients["sub_staff"], body))[1:]}
    assert "公式乙" not in by_sub and "赵敏" not in by_sub  # another sub-union's members never appear
    assert set(by_sub) == {"公式甲", "陈思远"}
    assert by_sub["公式甲"][1] == "139****2222" and by_sub["公式甲"][2] == "1303**********0011"
    by_chair = {r[0]: r for r in sheet_rows(export(clients["sub_chair"], body))[1:]}
    assert by_chair["公式甲"][1] == "13911112222"  # the sub-union chair may read their own members' data
    assert clients["member"].post("/api/v1/stats/export", json=body).status_code == 403


def test_export_is_audited_with_filter_and_rows(clients, db, world, tricky):  # noqa: ANN001
    flt = {"all": [{"field": "gender", "op": "eq", "value": "男"}]}
    export(clients["sub_staff"], {"filter": flt, "fields": ["name"]})
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "member.export")).one()
    assert entry.new["filter"] == flt and entry.new["rows"] == 2 and entry.new["mode"] == "direct"
    assert entry.actor_user_id == world.users["sub_staff"] and entry.sub_union_id == world.own_sub


def test_group_by_adds_summary_sheet_with_native_chart(clients, db, world):  # noqa: ANN001
    insert_members(db, 120, [world.own_sub, world.other_sub], None, seed=5)
    db.commit()
    data = export(clients["staff"], {"fields": ["name", "gender"], "group_by": ["sub_union", "gender"]})
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["会员明细", "汇总"]
    rows = [[c.value for c in r] for r in wb["汇总"].iter_rows()]
    assert rows[0] == ["所属分工会 × 性别", "男", "女", "合计"]
    assert rows[-1][0] == "合计" and rows[-1][-1] == 122 == len(sheet_rows(data)) - 1
    assert sum(r[-1] for r in rows[1:-1]) == 122
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        chart = z.read("xl/charts/chart1.xml").decode()
    assert "barChart" in chart and "汇总" in chart
    one = export(clients["sub_staff"], {"fields": ["name"], "group_by": ["age_band"]})
    rows = sheet_rows(one, "汇总")
    assert rows[0] == ["年龄段", "人数"] and rows[-1][0] == "合计"
    assert rows[-1][1] == len(sheet_rows(one)) - 1  # the sub-union's own members only


def test_provincial_template(clients, world, tricky):  # noqa: ANN001
    data = export(clients["staff"], {"template": "provincial",
                                     "filter": {"all": [{"field": "staff_no", "op": "in", "value": ["F001", "F002"]}]}})
    rows = sheet_rows(data)
    assert rows[0] == ["姓名", "性别", "民族", "身份证号", "手机号码", "学历", "政治面貌", "工作单位", "入会时间"]
    first = rows[1]
    assert first[:7] == ["公式甲", "男", "汉族", "130302198001020011", "13911112222", "大学本科", "中共党员"]
    assert first[7] == "@SUM(A1:A9)" and first[8] == datetime(2005, 9, 1)
    assert load_workbook(io.BytesIO(data))["会员明细"]["H2"].quotePrefix
    assert rows[2][7] == "机关分工会"  # no department recorded: the sub-union is the work unit
    masked = sheet_rows(export(clients["sub_staff"], {"template": "provincial"}))
    assert all("*" in r[3] for r in masked[1:] if r[3])
    bad = clients["staff"].post("/api/v1/stats/export", json={"template": "nosuch"})
    assert bad.status_code == 422 and "template" in bad.json["fields"]


def test_bad_export_requests(clients, world):  # noqa: ANN001
    for body, path in (({"fields": ["nosuch"]}, "fields[0]"), ({"group_by": ["union_posts"]}, "group_by[0]"),
                       ({"filter": {"all": [{"field": "age", "op": "eq", "value": "x"}]}}, "filter.all[0].value")):
        r = clients["staff"].post("/api/v1/stats/export", json=body)
        assert r.status_code == 422 and path in r.json["fields"], r.json


# ---- large exports: a job ------------------------------------------------------------------------


def _wait_done(client, export_id: int) -> dict:  # noqa: ANN001
    def done():  # noqa: ANN202
        body = client.get(f"/api/v1/exports/{export_id}").json
        return body if body["status"] in ("done", "failed") else None

    return wait_for(done, timeout=120, interval=0.2)


def test_large_export_runs_as_job_with_progress(app, clients, db, world, worker, monkeypatch):  # noqa: ANN001
    """More than 5,000 rows: 202, progress, then the file for the requester only."""
    insert_members(db, exports.SYNC_LIMIT + 200, [world.own_sub, world.other_sub], None, seed=11)
    db.commit()
    r = clients["staff"].post("/api/v1/stats/export", json={"fields": ["name", "birth_date", "mobile"],
                                                           "group_by": ["gender"]})
    assert r.status_code == 202, r.get_data(as_text=True)[:300]
    export_id, total = r.json["id"], r.json["total"]
    assert total == exports.SYNC_LIMIT + 202 and r.json["job_id"]
    status = _wait_done(clients["staff"], export_id)
    assert status["status"] == "done", status
    assert status["rows_written"] == status["total"] == total
    assert status["download_url"] == f"/api/v1/exports/{export_id}/download"
    # only the requester: everyone else gets 404, even a school operator of higher rank
    for other in ("chair", "admin", "sub_staff"):
        assert clients[other].get(f"/api/v1/exports/{export_id}").status_code == 404
        assert clients[other].get(f"/api/v1/exports/{export_id}/download").status_code == 404
    assert clients["member"].get(f"/api/v1/exports/{export_id}/download").status_code == 403
    dl = clients["staff"].get(f"/api/v1/exports/{export_id}/download")
    assert dl.status_code == 200 and dl.mimetype == XLSX
    wb = load_workbook(io.BytesIO(dl.data), read_only=True)
    assert wb.sheetnames == ["会员明细", "汇总"]
    assert sum(1 for _ in wb["会员明细"].iter_rows(values_only=True)) == total + 1
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "member.export")).one()
    assert entry.new["rows"] == total and entry.new["mode"] == "job" and entry.object_id == str(export_id)
    if BACKEND == "mariadb":
        # progress was also published on the RQ job while it ran
        job = app.extensions["union"].queue.fetch(r.json["job_id"])
        assert job is not None and job.meta.get("rows_written") == total


def test_job_export_keeps_scope_and_masking(app, clients, db, world, worker, monkeypatch, tricky):  # noqa: ANN001
    monkeypatch.setitem(app.config, "EXPORT_SYNC_MAX_ROWS", 1)
    r = clients["sub_staff"].post("/api/v1/stats/export", json={"fields": ["name", "mobile", "hobbies"]})
    assert r.status_code == 202 and r.json["total"] == 2
    assert _wait_done(clients["sub_staff"], r.json["id"])["status"] == "done"
    rows = sheet_rows(clients["sub_staff"].get(f"/api/v1/exports/{r.json['id']}/download").data)
    assert {row[0] for row in rows[1:]} == {"公式甲", "陈思远"}
    assert {row[1] for row in rows[1:]} == {"139****2222", "138****5678"}
    assert clients["other_staff"].get(f"/api/v1/exports/{r.json['id']}/download").status_code == 404


def test_export_job_is_idempotent(app, db, world, worker, monkeypatch, clients, tricky):  # noqa: ANN001
    """Running the job again for a finished export leaves the file as it is."""
    import os

    from jobs.statistics import run_export
    from server.routes.statistics.queries import exports_dir

    monkeypatch.setitem(app.config, "EXPORT_SYNC_MAX_ROWS", 1)
    r = clients["staff"].post("/api/v1/stats/export", json={"fields": ["name"]})
    export_id = r.json["id"]
    assert _wait_done(clients["staff"], export_id)["status"] == "done"
    with app.app_context():
        directory = exports_dir()
    record = db.get(StatsExport, export_id)
    path = exports.file_path(directory, record)
    before = os.stat(path).st_mtime_ns
    assert run_export(export_id, directory) == {"status": "done", "rows": 4}
    assert os.stat(path).st_mtime_ns == before
    assert not os.path.exists(path + ".part")


def test_export_not_ready_and_unknown(clients, db, world):  # noqa: ANN001
    pending = StatsExport(requested_by=world.users["staff"], job_id="export-pending", filter={}, total=10,
                          status="queued")
    db.add(pending)
    db.commit()
    r = clients["staff"].get(f"/api/v1/exports/{pending.id}")
    assert r.status_code == 200 and r.json["status"] == "queued" and r.json["download_url"] is None
    assert clients["staff"].get(f"/api/v1/exports/{pending.id}/download").status_code == 409
    assert clients["staff"].get("/api/v1/exports/987654/download").status_code == 404


def test_own_exports_are_listed_and_expire(app, clients, db, world, worker, monkeypatch, tricky):  # noqa: ANN001
    """Each person lists only their own exports; files past retention are deleted, records kept."""
    import os
    from datetime import timedelta

    from server.core.timeutil import utcnow
    from server.routes.statistics.queries import exports_dir

    monkeypatch.setitem(app.config, "EXPORT_SYNC_MAX_ROWS", 1)
    first = clients["staff"].post("/api/v1/stats/export", json={"fields": ["name"]}).json["id"]
    assert _wait_done(clients["staff"], first)["status"] == "done"
    listed = clients["staff"].get("/api/v1/exports").json
    assert listed["total"] == 1 and [e["id"] for e in listed["items"]] == [first]
    assert listed["items"][0]["download_url"] == f"/api/v1/exports/{first}/download"
    assert clients["chair"].get("/api/v1/exports").json["total"] == 0
    assert clients["sub_staff"].get("/api/v1/exports").json["total"] == 0
    assert clients["member"].get("/api/v1/exports").status_code == 403
    assert clients["anonymous"].get("/api/v1/exports").status_code == 401

    with app.app_context():
        directory = exports_dir()
    path = exports.file_path(directory, db.get(StatsExport, first))
    assert os.path.exists(path)
    db.get(StatsExport, first).finished_at = utcnow() - timedelta(days=8)
    db.commit()
    # the next export job clears what is past retention (7 days by default)
    second = clients["staff"].post("/api/v1/stats/export", json={"fields": ["name"]}).json["id"]
    assert _wait_done(clients["staff"], second)["status"] == "done"
    assert not os.path.exists(path)
    old = clients["staff"].get(f"/api/v1/exports/{first}").json
    assert old["status"] == "expired" and old["download_url"] is None
    gone = clients["staff"].get(f"/api/v1/exports/{first}/download")
    assert gone.status_code == 410 and gone.json["code"] == "export_expired"
    assert clients["staff"].get(f"/api/v1/exports/{second}/download").status_code == 200
    assert [e["status"] for e in clients["staff"].get("/api/v1/exports").json["items"]] == ["done", "expired"]
    # the audit row of the expired export stays
    assert db.scalar(select(AuditLog).where(AuditLog.action == "member.export",
                                            AuditLog.object_id == str(first))) is not None
