"""Objects of the members area for its tests and its authorization rows."""

from __future__ import annotations

from datetime import date
from typing import Any

from server.domain.members.models import Member, MemberImport


def member(db, sub_union_id: int, **values: Any) -> Member:  # noqa: ANN001
    """A member in ``sub_union_id`` with plain defaults (flushed, not committed)."""
    defaults: dict[str, Any] = {"name": "会员", "gender": "女", "birth_date": date(1980, 1, 1),
                                "membership_status": "正常", "employment_status": "在职"}
    row = Member(sub_union_id=sub_union_id, **{**defaults, **values})
    db.add(row)
    db.flush()
    return row


def import_job(db, requested_by: int, job_id: str, **values: Any) -> MemberImport:  # noqa: ANN001
    """A finished dry-run import job (flushed, not committed)."""
    defaults: dict[str, Any] = {"file_name": "会员.xlsx", "dry_run": True, "mode": "all_or_nothing",
                                "status": "done", "rows_estimated": 0}
    job = MemberImport(requested_by=requested_by, job_id=job_id, **{**defaults, **values})
    db.add(job)
    db.flush()
    return job
