"""Excel exports of the universal query: a detail sheet and, with ``group_by``, a summary sheet
with a native bar chart.

Written with openpyxl's write_only mode while the rows stream from the database, so memory
stays flat however many members are exported. Headers are the catalogue's Chinese labels, the
header row is frozen, columns have widths, dates are real dates, and any text that begins with
= + - @ (or looks like an Excel error value) is written as a text cell with quotePrefix, so it
shows as typed and can never run as a formula. Sensitive fields are masked per row unless the
requester may read that member's sensitive data. Small exports are written in the request;
larger ones (more than ``sync_limit`` rows) by the job ``jobs.statistics.run_export``.
"""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.core import audit
from server.core.access import Identity
from server.core.errors import DomainError, Invalid, NotFound
from server.core.timeutil import to_local, utcnow
from server.domain.members import catalogue as cat
from server.domain.members.models import Member
from server.domain.statistics import compiler, stats
from server.domain.statistics import query as ql
from server.domain.statistics.export_sheet import TEMPLATES, ExportRequest, write
from server.domain.statistics.models import StatsExport

SYNC_LIMIT = 5000  # more rows than this run as a job
ALL_FIELDS = [f.code for f in cat.CATALOGUE]


def templates() -> list[dict[str, Any]]:
    return [{"code": code, "name": t["name"], "columns": [h for h, _ in t["columns"]]} for code, t in TEMPLATES.items()]


def parse_request(rd: stats.Reader, data: dict[str, Any]) -> ExportRequest:
    template = data.get("template")
    if template is not None and template not in TEMPLATES:
        raise Invalid({"template": f"未知的导出模板「{str(template)[:40]}」，可用：{'、'.join(TEMPLATES)}"})
    node = ql.parse(data.get("filter"), allow_sensitive=rd.allow_sensitive)
    if template:
        fields = [code for _, code in TEMPLATES[template]["columns"]]
    else:
        fields = ql.check_fields(data["fields"]) if data.get("fields") else list(ALL_FIELDS)
    group_by = ql.check_group_by(data["group_by"], allow_sensitive=rd.allow_sensitive) if data.get("group_by") else None
    return ExportRequest(data.get("filter") or {}, node, fields, group_by, template)


def count(session: Session, rd: stats.Reader, req: ExportRequest, ctx: compiler.Context) -> int:
    return session.scalar(select(func.count(Member.id)).where(*compiler.where(rd.scope, req.node, ctx))) or 0


# ---- columns ----------------------------------------------------------------------------------


# ---- writing ----------------------------------------------------------------------------------


# ---- the request: directly, or as a job --------------------------------------------------------


@dataclass
class Started:
    rows: int
    download_name: str
    content: bytes | None = None  # written in the request
    export: StatsExport | None = None  # or by a job


def download_name(template: str | None) -> str:
    stamp = to_local(utcnow()).strftime("%Y%m%d-%H%M%S")
    base = TEMPLATES[template]["file"] if template else "会员导出"
    return f"{base}-{stamp}.xlsx"


def start(session: Session, identity: Identity | None, data: dict[str, Any], *, sync_limit: int = SYNC_LIMIT,
          today: date | None = None) -> Started:
    """Validate, count in scope, audit, then write now (≤ sync_limit rows) or create the export
    record for a job (the caller enqueues it after commit: see :func:`enqueue`)."""
    rd = stats.reader(identity, "members.export")
    req = parse_request(rd, data)
    ctx = compiler.context(today)
    rows = count(session, rd, req, ctx)
    name = download_name(req.template)
    sub = next(iter(rd.scope.sub_union_ids)) if len(rd.scope.sub_union_ids) == 1 else None
    details = {"filter": req.filter, "rows": rows, "fields": req.fields, "group_by": req.group_by,
               "template": req.template}
    if rows <= sync_limit:
        buffer = io.BytesIO()
        written = write(session, rd, req, buffer, today=today)
        audit.record(session, identity, "member.export", object_type="stats_export", sub_union_id=sub,
                     new={**details, "rows": written, "mode": "direct"})
        return Started(written, name, content=buffer.getvalue())
    export = StatsExport(requested_by=identity.user_id, job_id=f"export-{uuid.uuid4().hex}", filter=req.filter,
                         fields=req.fields if not req.template else None, group_by=req.group_by,
                         template=req.template, status="queued", total=rows, rows_written=0, download_name=name)
    session.add(export)
    session.flush()
    audit.record(session, identity, "member.export", object_type="stats_export", object_id=export.id,
                 sub_union_id=sub, new={**details, "mode": "job"})
    return Started(rows, name, export=export)


def enqueue(session: Session, queue: Any, export: StatsExport, exports_dir: str, *, retention_days: int = 7) -> None:
    # Keyword arguments: JobQueue.enqueue hands RQ an explicit kwargs=, which RQ refuses to mix
    # with positional job arguments.
    queue.enqueue_after_commit(session, "jobs.statistics.run_export", export_id=export.id, exports_dir=exports_dir,
                               retention_days=retention_days, job_id=export.job_id, retry=(2, 30))


def file_path(exports_dir: str, export: StatsExport) -> str:
    return os.path.join(exports_dir, export.file_name or f"export-{export.id}-{export.job_id}.xlsx")


def request_of(export: StatsExport) -> dict[str, Any]:
    return {"filter": export.filter, "fields": export.fields, "group_by": export.group_by,
            "template": export.template}


def get_own(session: Session, identity: Identity | None, export_id: int) -> StatsExport:
    """An export record, for its requester only (anyone else: 404)."""
    stats.reader(identity, "members.export")
    export = session.get(StatsExport, export_id)
    if export is None or export.requested_by != identity.user_id:
        raise NotFound("导出记录不存在")
    return export


class ExportExpired(DomainError):
    status = 410
    code = "export_expired"


def list_own(session: Session, identity: Identity | None, *, page: int, page_size: int) -> tuple[int, list[StatsExport]]:
    """The caller's own export jobs, newest first: where a person finds the file they asked for."""
    stats.reader(identity, "members.export")
    mine = StatsExport.requested_by == identity.user_id
    total = session.scalar(select(func.count(StatsExport.id)).where(mine)) or 0
    rows = session.scalars(select(StatsExport).where(mine).order_by(StatsExport.id.desc())
                           .offset((page - 1) * page_size).limit(page_size)).all()
    return total, list(rows)


def check_downloadable(export: StatsExport) -> None:
    if export.status == "expired":
        raise ExportExpired("导出文件已过保留期被删除，请重新导出")


def purge_expired(session: Session, exports_dir: str, *, retention: timedelta,
                  now: datetime | None = None) -> int:
    """Delete export files older than the retention period and mark their records ``expired``.

    An export is a copy of personal data outside the database's access control, so it must not
    outlive its use; the record (and the audit row written when it was asked for) stays, so
    who exported what remains answerable. Called by every export job and by
    ``union purge-exports`` (for cron), so no scheduler is needed.
    """
    cutoff = (now or utcnow()) - retention
    old = session.scalars(select(StatsExport).where(StatsExport.status.in_(("done", "failed")),
                                                    StatsExport.finished_at < cutoff)).all()
    for export in old:
        path = file_path(exports_dir, export)
        for stale in (path, path + ".part"):
            if os.path.exists(stale):
                os.remove(stale)
        export.status, export.file_name = "expired", None
    session.flush()
    return len(old)


def describe(export: StatsExport) -> dict[str, Any]:
    return {"id": export.id, "job_id": export.job_id, "status": export.status, "total": export.total,
            "rows_written": export.rows_written, "template": export.template, "group_by": export.group_by,
            "download_name": export.download_name, "error": export.error, "created_at": export.created_at,
            "started_at": export.started_at, "finished_at": export.finished_at,
            "download_url": f"/api/v1/exports/{export.id}/download" if export.status == "done" else None}
