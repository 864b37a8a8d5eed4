"""The member import job: a large Excel import, run by a worker with progress.

One transaction does the whole import and marks the record done with its report, so the record
says "done" exactly when the data is committed (a dry run, or an all-or-nothing run with row
errors, writes nothing but the report). Idempotent: a record already finished is left alone
(its stored upload removed if still there); a run that dies half-way rolled back and is marked
failed. Progress (rows checked, then rows written) goes to ``job.meta``, never to the database:
on SQLite a second writer would wait for the import's own transaction.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from rq import get_current_job

from jobs.context import unit_of_work
from server.core.errors import DomainError
from server.domain.accounts import users as accounts
from server.domain.accounts.models import User
from server.domain.members import importer, imports
from server.domain.members.models import MemberImport

log = logging.getLogger(__name__)


def _publish(**values: Any) -> None:
    job = get_current_job()
    if job is not None:
        job.meta.update(values)
        job.save_meta()


def _progress(done: int, phase: str) -> None:
    if phase == importer.CHECKING:
        _publish(phase=phase, rows_checked=done)
    else:
        _publish(phase=phase, rows_written=done)


def _fail(import_id: int, imports_dir: str, message: str) -> None:
    with unit_of_work() as session:
        record = session.get(MemberImport, import_id)
        if record is not None:
            imports.mark_failed(record, message)
            imports.remove_upload(imports_dir, record)


def run_import(import_id: int, imports_dir: str) -> dict:
    with unit_of_work() as session:
        record = session.get(MemberImport, import_id)
        if record is None:
            return {"status": "missing"}
        if record.status in (imports.DONE, imports.FAILED):
            imports.remove_upload(imports_dir, record)
            return {"status": record.status}
        path = imports.stored_path(imports_dir, record)
        if path is None or not os.path.exists(path):
            imports.mark_failed(record, imports.LOST)
            record.stored_name = None
            return {"status": imports.FAILED, "error": imports.LOST}
        user = session.get(User, record.requested_by)
        # The requester's permissions and scope as they are now, not as they were when asked.
        identity = accounts.identity_of(user) if user is not None and user.is_active else None
        imports.mark_running(record)
        options = {"filename": record.file_name, "dry_run": record.dry_run, "mode": record.mode}
    _publish(phase=importer.CHECKING, rows_checked=0)
    try:
        with unit_of_work() as session, open(path, "rb") as fh:
            report = imports.run_file(session, identity, fh, progress=_progress, **options)
            imports.mark_done(session.get(MemberImport, import_id), report)
    except DomainError as exc:  # no longer permitted, a bad file, a concurrent change: final
        _fail(import_id, imports_dir, exc.message)
        _publish(phase=imports.FAILED)
        return {"status": imports.FAILED, "error": exc.message}
    except Exception:
        log.exception("member import %s failed", import_id)
        _fail(import_id, imports_dir, "导入失败，未写入任何数据，请稍后重新上传")
        _publish(phase=imports.FAILED)
        raise
    imports.remove_file(path)  # only now: had the commit failed, the failure path removes it
    _publish(phase=imports.DONE)
    return {"status": imports.DONE, "applied": report["applied"], "total": report["total"]}
