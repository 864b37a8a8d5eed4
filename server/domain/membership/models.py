"""Member workflows: joining (入会申请), transfers (转会), status changes (状态变更), and the
会籍 events they leave behind (组织关系接转).

Each workflow row carries an ``open_*`` column that holds its key (the applicant, the member)
while the row is open and NULL afterwards; a unique key on it allows at most one open row per
person, even when two requests race (NULLs never clash on SQLite or InnoDB).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.db import Base, table_args
from server.core.timeutil import utcnow
from server.core.types import BigId

if TYPE_CHECKING:
    from server.domain.accounts.models import User
    from server.domain.members.models import Member
    from server.domain.org.models import SubUnion


def _person(model: str, column: str) -> Any:
    """The account a user-id column names, for showing its name. Most such columns
    (``requested_by``, ``decided_by`` …) carry no foreign key, hence the explicit join; read only."""
    return relationship("User", primaryjoin=f"foreign({model}.{column}) == User.id", viewonly=True)


def _sub_union(model: str, column: str) -> Any:
    """The sub-union a column names (read only: the id column is what the workflows write)."""
    return relationship("SubUnion", primaryjoin=f"foreign({model}.{column}) == SubUnion.id", viewonly=True)


class Application(Base):
    """An application to join the union, filled by the applicant (draft → submitted →
    confirmed by the sub-union → approved by the school union | rejected | withdrawn)."""

    __tablename__ = "applications"
    __table_args__ = table_args(
        Index("ix_applications_status_sub_union", "status", "sub_union_id"),
        Index("ix_applications_applicant", "applicant_user_id"),
        Index("ix_applications_id_number", "id_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applicant_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # None while a draft has not chosen yet; required to submit.
    sub_union_id: Mapped[int | None] = mapped_column(ForeignKey("sub_unions.id"))
    # The catalogue form as filled (field code → value, dates as ISO strings).
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    name: Mapped[str | None] = mapped_column(String(50))
    id_number: Mapped[str | None] = mapped_column(String(30))
    # applicant_user_id while draft/submitted/confirmed, else NULL: one open application per account.
    open_user_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    # id_number while submitted/confirmed, else NULL: one application in review per person.
    open_id_number: Mapped[str | None] = mapped_column(String(30), unique=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmed_by: Mapped[int | None] = mapped_column(Integer)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    # What an answer shows beside the ids (read only; the workflow writes the id columns).
    sub_union: Mapped[SubUnion | None] = _sub_union("Application", "sub_union_id")
    applicant: Mapped[User] = _person("Application", "applicant_user_id")
    confirmer: Mapped[User | None] = _person("Application", "confirmed_by")
    decider: Mapped[User | None] = _person("Application", "decided_by")
    member: Mapped[Member | None] = relationship(viewonly=True)


class Transfer(Base):
    """A move between sub-unions: requested → out_approved (out sub-union) → school_approved
    (school union) → accepted (in sub-union; the member moves) | rejected | cancelled."""

    __tablename__ = "transfers"
    __table_args__ = table_args(
        Index("ix_transfers_status", "status"),
        Index("ix_transfers_member", "member_id"),
        Index("ix_transfers_from", "from_sub_union_id"),
        Index("ix_transfers_to", "to_sub_union_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    from_sub_union_id: Mapped[int] = mapped_column(ForeignKey("sub_unions.id"))
    to_sub_union_id: Mapped[int] = mapped_column(ForeignKey("sub_unions.id"))
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    open_member_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    requested_by: Mapped[int | None] = mapped_column(Integer)
    out_approved_by: Mapped[int | None] = mapped_column(Integer)
    out_approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    school_approved_by: Mapped[int | None] = mapped_column(Integer)
    school_approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    accepted_by: Mapped[int | None] = mapped_column(Integer)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    rejected_by: Mapped[int | None] = mapped_column(Integer)
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime)
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    cancelled_by: Mapped[int | None] = mapped_column(Integer)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    member: Mapped[Member] = relationship(viewonly=True)
    from_sub_union: Mapped[SubUnion] = _sub_union("Transfer", "from_sub_union_id")
    to_sub_union: Mapped[SubUnion] = _sub_union("Transfer", "to_sub_union_id")
    requester: Mapped[User | None] = _person("Transfer", "requested_by")
    out_approver: Mapped[User | None] = _person("Transfer", "out_approved_by")
    school_approver: Mapped[User | None] = _person("Transfer", "school_approved_by")
    acceptor: Mapped[User | None] = _person("Transfer", "accepted_by")
    rejecter: Mapped[User | None] = _person("Transfer", "rejected_by")


class StatusChange(Base):
    """离职 / 退休 / 去世 / 复职: requested by the sub-union, approved by the school union."""

    __tablename__ = "status_changes"
    __table_args__ = table_args(
        Index("ix_status_changes_status", "status"),
        Index("ix_status_changes_member", "member_id"),
        Index("ix_status_changes_sub_union", "sub_union_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    # The member's sub-union when requested: whose staff see the request.
    sub_union_id: Mapped[int] = mapped_column(ForeignKey("sub_unions.id"))
    kind: Mapped[str] = mapped_column(String(8))
    effective_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    open_member_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    requested_by: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    member: Mapped[Member] = relationship(viewonly=True)
    sub_union: Mapped[SubUnion] = _sub_union("StatusChange", "sub_union_id")
    requester: Mapped[User | None] = _person("StatusChange", "requested_by")
    decider: Mapped[User | None] = _person("StatusChange", "decided_by")


class MembershipEvent(Base):
    """One line of the paper card's 组织关系接转 section: a change of 会籍 with its date and reason."""

    __tablename__ = "membership_events"
    __table_args__ = table_args(Index("ix_membership_events_member", "member_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    # 入会 / 重新入会 / 转会 / 退休保留会籍 / 离职转出 / 去世注销 / 复职恢复
    kind: Mapped[str] = mapped_column(String(16))
    effective_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(500))
    from_sub_union_id: Mapped[int | None] = mapped_column(Integer)
    to_sub_union_id: Mapped[int | None] = mapped_column(Integer)
    ref_type: Mapped[str | None] = mapped_column(String(32))  # application | transfer | status_change
    ref_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    from_sub_union: Mapped[SubUnion | None] = _sub_union("MembershipEvent", "from_sub_union_id")
    to_sub_union: Mapped[SubUnion | None] = _sub_union("MembershipEvent", "to_sub_union_id")
