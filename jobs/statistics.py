"""The export job: write a large member export to ``<instance>/exports/`` with progress.

Idempotent: an export already done (its file present) is left alone; a rerun after a killed
worker starts the file again from scratch (written to ``.part`` and renamed when complete), so
a half-written file is never offered for download. Progress (rows written) is committed to the
export record every few thousand rows and mirrored in ``job.meta``.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from rq import get_current_job
from sqlalchemy import update

from jobs.context import unit_of_work
from server.core.errors import DomainError
from server.core.timeutil import utcnow
from server.domain.accounts import users as accounts
from server.domain.accounts.models import User
from server.domain.statistics import export_sheet, exports, stats
from server.domain.statistics.models import StatsExport

log = logging.getLogger(__name__)


def _progress(export_id: int, rows: int) -> None:
    with unit_of_work() as session:
        session.execute(update(StatsExport).where(StatsExport.id == export_id).values(rows_written=rows))
    job = get_current_job()
    if job is not None:
        job.meta["rows_written"] = rows
        job.save_meta()


def _finish(export_id: int, **values: object) -> None:
    with unit_of_work() as session:
        session.execute(update(StatsExport).where(StatsExport.id == export_id).values(**values))


def run_export(export_id: int, exports_dir: str, retention_days: int = 7) -> dict:
    with unit_of_work() as session:
        # Whoever writes export files also clears the expired ones: no scheduler needed.
        exports.purge_expired(session, exports_dir, retention=timedelta(days=retention_days))
    with unit_of_work() as session:
        export = session.get(StatsExport, export_id)
        if export is None:
            return {"status": "missing"}
        final = exports.file_path(exports_dir, export)
        if export.status == "done" and os.path.exists(final):
            return {"status": "done", "rows": export.rows_written}
        user = session.get(User, export.requested_by)
        identity = accounts.identity_of(user) if user is not None and user.is_active else None
        data = exports.request_of(export)
        export.status, export.started_at, export.rows_written, export.error = "running", utcnow(), 0, None
        total = export.total
    os.makedirs(exports_dir, exist_ok=True)
    partial = final + ".part"
    try:
        with unit_of_work() as session:
            # The requester's scope and masking as they are now, not as they were when asked.
            rd = stats.reader(identity, "members.export")
            req = exports.parse_request(rd, data)
            with open(partial, "wb") as fh:
                rows = export_sheet.write(session, rd, req, fh, progress=lambda n: _progress(export_id, n))
        os.replace(partial, final)
    except DomainError as exc:  # no longer permitted, or the filter no longer valid: final
        _finish(export_id, status="failed", error=exc.message[:500], finished_at=utcnow())
        return {"status": "failed", "error": exc.message}
    except Exception:
        log.exception("export %s failed", export_id)
        _finish(export_id, status="failed", error="导出失败，请稍后重试", finished_at=utcnow())
        if os.path.exists(partial):
            os.remove(partial)
        raise  # RQ retries
    _finish(export_id, status="done", rows_written=rows, total=rows, file_name=os.path.basename(final),
            finished_at=utcnow())
    job = get_current_job()
    if job is not None:
        job.meta.update(rows_written=rows, total=total)
        job.save_meta()
    return {"status": "done", "rows": rows}
