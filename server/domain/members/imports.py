"""Running an Excel import from an upload: now, or as a job when the sheet is large.

The request checks the upload (an .xlsx, not too big, a known header) and estimates its rows
from the sheet XML without reading them. Up to ``sync_limit`` rows (``IMPORT_SYNC_MAX_ROWS``,
2000 by default) it imports in the request as before. A larger sheet (a dry run or a
real run alike, so that the answer's shape follows the file, not the option) is stored under
``<instance>/imports/`` and a :class:`MemberImport` record is created; the route enqueues
``jobs.members.run_import`` after the commit and answers 202. The job runs
:func:`run_file` (the same function the request uses) in one transaction that also marks the
record done with its report, so the record says "done" exactly when the data is there; it
publishes progress on ``job.meta`` and removes the stored upload when finished. Only the
requester may read the record (anyone else: 404).

Why a job: a 10,000-row real run took ~23 s in the request, close to gunicorn's 30 s worker
timeout; now it takes a few seconds, but a 20,000-row sheet on a slow database must not be
able to cost the request its worker.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core.access import Identity, require
from server.core.errors import Invalid, NotFound
from server.core.timeutil import utcnow
from server.domain.members import excel, importer
from server.domain.members.models import MemberImport
from server.domain.org import sub_unions

JOB = "jobs.members.run_import"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
INTERRUPTED = "导入任务已中断，未写入任何数据，请重新上传"
LOST = "导入文件已不存在，未写入任何数据，请重新上传"


def sub_union_lookup(session: Session) -> dict[str, int]:
    """What a 所属分工会 cell may say → the sub-union's id: its name or its code (a name wins
    over a code spelled the same)."""
    names: dict[str, int] = {}
    options = sub_unions.options(session)
    for sub in options:
        names.setdefault(sub.code, sub.id)
    for sub in options:
        names[sub.name] = sub.id
    return names


def check_upload(filename: str | None, stream: IO[bytes]) -> int:
    """An upload that is worth opening: named .xlsx, not empty, not over the size limit.
    Returns its size in bytes."""
    if not filename:
        raise Invalid({"file": "请选择要上传的 .xlsx 文件"}, "请选择要上传的 .xlsx 文件", code="file_required")
    if not filename.lower().endswith(".xlsx"):
        raise excel.BadFile("文件不是有效的 xlsx（请上传按导入模板填写的 .xlsx 文件）")
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size > excel.MAX_FILE_BYTES:
        raise excel.TooLarge(f"导入文件不能超过 {excel.MAX_FILE_BYTES // (1024 * 1024)} MB，请分批导入")
    if size == 0:
        raise excel.BadFile("文件是空的，不是有效的 xlsx")
    return size


def run_file(session: Session, identity: Identity | None, stream: IO[bytes], *, filename: str | None,
             dry_run: bool, mode: str, progress: importer.Progress | None = None) -> dict[str, Any]:
    """Read the workbook and import its rows (checked, then applied unless ``dry_run``): what
    the request runs for a small sheet and the job for a large one. Returns the report."""
    rows = excel.read_rows(stream, sub_unions=sub_union_lookup(session), max_rows=excel.MAX_ROWS)
    return importer.import_rows(session, identity, rows, dry_run=dry_run, mode=mode, filename=filename,
                                progress=progress)


@dataclass
class Started:
    report: dict[str, Any] | None = None  # imported in the request
    record: MemberImport | None = None  # or to be run by a job (enqueue it after commit)


def start(session: Session, identity: Identity | None, stream: IO[bytes], *, filename: str | None,
          dry_run: bool, mode: str, imports_dir: str, sync_limit: int) -> Started:
    """Check the upload and its header, then import now (≤ ``sync_limit`` rows) or store the
    file and create the job's record (the caller enqueues it: :func:`enqueue`)."""
    importer.check_request(identity, mode)
    check_upload(filename, stream)
    estimated = excel.inspect(stream, exact_above=excel.MAX_ROWS)  # blank rows included up to MAX_ROWS
    if estimated > excel.MAX_ROWS:
        raise excel.TooLarge(f"数据行数超过上限 {excel.MAX_ROWS} 行，请分批导入", code="too_many_rows")
    stream.seek(0)
    if estimated <= sync_limit:
        return Started(report=run_file(session, identity, stream, filename=filename, dry_run=dry_run, mode=mode))
    job_id = f"import-{uuid.uuid4().hex}"
    stored = f"{job_id}.xlsx"
    os.makedirs(imports_dir, exist_ok=True)
    path = os.path.join(imports_dir, stored)
    with open(path + ".part", "wb") as fh:
        shutil.copyfileobj(stream, fh, 1 << 20)
    os.replace(path + ".part", path)
    record = MemberImport(requested_by=identity.user_id, job_id=job_id, file_name=filename[:255],
                          stored_name=stored, dry_run=dry_run, mode=mode, status=QUEUED, rows_estimated=estimated)
    session.add(record)
    try:
        session.flush()
    except BaseException:
        os.remove(path)
        raise
    return Started(record=record)


def enqueue(session: Session, queue: Any, record: MemberImport, imports_dir: str) -> None:
    """After the commit (the worker must find the record). No automatic retry: a run that
    fails has written nothing and says so; the requester uploads again."""
    queue.enqueue_after_commit(session, JOB, import_id=record.id, imports_dir=imports_dir, job_id=record.job_id)


def uploads_dir(instance_path: str) -> str:
    """Where uploads wait for their job: <instance>/imports (a worker gets the same
    UNION_INSTANCE_PATH)."""
    return os.path.join(instance_path, "imports")


def stored_path(imports_dir: str, record: MemberImport) -> str | None:
    return os.path.join(imports_dir, record.stored_name) if record.stored_name else None


def remove_upload(imports_dir: str, record: MemberImport) -> None:
    """The upload holds personal data: gone as soon as the job is finished with it."""
    remove_file(stored_path(imports_dir, record))
    record.stored_name = None


def remove_file(path: str | None) -> None:
    if path and os.path.exists(path):
        os.remove(path)


def purge_stale_uploads(session: Session, imports_dir: str, *, older_than: timedelta) -> int:
    """Delete uploads still on disk after ``older_than``: a job that finished removes its own,
    so these are jobs a killed worker left behind. Each is a sheet of personal data; its record
    is closed as failed (nothing was written: the job's one transaction rolled back)."""
    cutoff = utcnow() - older_than
    stale = session.scalars(select(MemberImport).where(MemberImport.stored_name.is_not(None),
                                                       MemberImport.created_at < cutoff)).all()
    for record in stale:
        remove_upload(imports_dir, record)
        if record.status in (QUEUED, RUNNING):
            mark_failed(record, INTERRUPTED)
    session.flush()
    return len(stale)


def get_own(session: Session, identity: Identity | None, import_id: int) -> MemberImport:
    """An import job, for its requester only (anyone else: 404)."""
    require(identity, "members.import")
    record = session.get(MemberImport, import_id)
    if record is None or record.requested_by != identity.user_id:
        raise NotFound("导入任务不存在")
    return record


def describe(record: MemberImport, job: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record as the API shows it. ``job``: the RQ job's status and meta while it runs
    (progress), or None when it is no longer known to the queue."""
    status, error = record.status, record.error
    meta = (job or {}).get("meta") or {}
    if status in (QUEUED, RUNNING) and job is not None and job.get("status") in ("failed", "stopped", "canceled"):
        status, error = FAILED, INTERRUPTED  # the worker died mid-run: its transaction rolled back
    report = record.report
    if report is not None:
        checked, written = report["total"], (report["created"] + report["updated"]) if report["applied"] else 0
    else:
        checked, written = meta.get("rows_checked", 0), meta.get("rows_written", 0)
    return {
        "id": record.id,
        "job_id": record.job_id,
        "status": status,
        "dry_run": record.dry_run,
        "mode": record.mode,
        "file_name": record.file_name,
        "rows_estimated": record.rows_estimated,
        "phase": DONE if status == DONE else meta.get("phase"),
        "rows_checked": checked,
        "rows_written": written,
        "applied": bool(report and report["applied"]),
        "report": report,
        "error": error,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }


def mark_running(record: MemberImport) -> None:
    record.status, record.started_at, record.error = RUNNING, utcnow(), None


def mark_done(record: MemberImport, report: dict[str, Any]) -> None:
    """In the import's own transaction; the stored upload is removed once it has committed."""
    record.status, record.report, record.finished_at, record.stored_name = DONE, report, utcnow(), None


def mark_failed(record: MemberImport, message: str) -> None:
    record.status, record.error, record.finished_at = FAILED, message[:500], utcnow()
