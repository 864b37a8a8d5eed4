"""Member records (会员): one row per person, columns generated from the field catalogue;
and the Excel imports that run as jobs.

Only the columns that are not catalogue fields are written out here (identity, version,
bookkeeping, and two values kept for fast search and statistics); every catalogue field gets
its column from :func:`column_for`, so adding a field to the catalogue adds the column.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.db import Base, table_args
from server.core.models import JobRecord
from server.core.timeutil import utcnow
from server.domain.members import catalogue

if TYPE_CHECKING:
    from server.domain.org.models import SubUnion


def column_for(f: catalogue.FieldDef):  # noqa: ANN201
    nullable = not f.required
    if f.type == catalogue.DATE:
        return mapped_column(Date, nullable=nullable)
    if f.type in (catalogue.MULTI, catalogue.LIST):
        return mapped_column(JSON, nullable=True)
    if f.type == catalogue.LONGTEXT:
        return mapped_column(Text, nullable=True)
    if f.type == catalogue.CHOICE:
        width = max(16, max(len(c) for c in f.choices) + 4)
        return mapped_column(String(width), nullable=nullable)
    return mapped_column(String(f.max_length or 100), nullable=nullable, unique=f.unique or None)


# A mixin holding one column per catalogue field; declarative copies them onto Member.
CatalogueColumns = type(
    "CatalogueColumns",
    (),
    {f.attr: column_for(f) for f in catalogue.CATALOGUE if f.type != catalogue.REF},
)


class Member(CatalogueColumns, Base):
    __tablename__ = "members"
    __table_args__ = table_args(
        Index("ix_members_sub_union_status", "sub_union_id", "membership_status"),
        Index("ix_members_name", "name"),
        Index("ix_members_name_initials", "name_initials"),
        Index("ix_members_birth_date", "birth_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sub_union_id: Mapped[int] = mapped_column(ForeignKey("sub_unions.id"))
    # Optimistic concurrency: every UPDATE checks and bumps it (StaleDataError on a lost race).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Kept in step with `name` and `children` on every write, for search and statistics.
    name_initials: Mapped[str | None] = mapped_column(String(20))
    children_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    # Read only: writes set sub_union_id (the catalogue's 所属分工会).
    sub_union: Mapped[SubUnion] = relationship(viewonly=True)

    __mapper_args__ = {"version_id_col": version}


class MemberImport(JobRecord, Base):
    """An Excel import large enough to run as a job (more rows than ``IMPORT_SYNC_MAX_ROWS``):
    who asked for it, the upload kept under ``<instance>/imports/`` until the job has read it,
    the run's options, and its report once done. Only the requester ever sees it; progress
    while it runs is published on the RQ job (``job.meta``), so that the import's one
    transaction never has to share a row with progress updates."""

    __tablename__ = "member_imports"
    __table_args__ = table_args(Index("ix_member_imports_requested_by", "requested_by"))

    file_name: Mapped[str] = mapped_column(String(255))  # as uploaded: shown and audited, never a path
    stored_name: Mapped[str | None] = mapped_column(String(255))  # under <instance>/imports/; None once removed
    dry_run: Mapped[bool] = mapped_column(Boolean, default=True)
    mode: Mapped[str] = mapped_column(String(16))
    rows_estimated: Mapped[int] = mapped_column(Integer, default=0)  # row elements below the header
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
