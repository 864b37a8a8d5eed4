"""Objects of the statistics area: saved presets and finished exports."""

from __future__ import annotations

import os
from typing import Any

from server.domain.statistics import exports
from server.domain.statistics.models import StatsExport, StatsPreset


def preset(db, owner_user_id: int, name: str, shared: bool, flt: dict | None = None) -> StatsPreset:  # noqa: ANN001
    row = StatsPreset(name=name, filter=flt or {}, owner_user_id=owner_user_id, shared=shared)
    db.add(row)
    db.flush()
    return row


def finished_export(db, app, requested_by: int, job_id: str, **values: Any) -> StatsExport:  # noqa: ANN001
    """A done export with its file in the instance folder (an empty zip is enough to serve)."""
    defaults: dict[str, Any] = {"filter": {}, "status": "done", "total": 0, "rows_written": 0,
                                "download_name": "会员导出.xlsx"}
    row = StatsExport(requested_by=requested_by, job_id=job_id, **{**defaults, **values})
    db.add(row)
    db.flush()
    row.file_name = f"matrix-{row.id}.xlsx"
    db.flush()
    directory = os.path.join(app.instance_path, "exports")
    os.makedirs(directory, exist_ok=True)
    with open(exports.file_path(directory, row), "wb") as fh:
        fh.write(b"PK\x05\x06" + b"\x00" * 18)
    return row
