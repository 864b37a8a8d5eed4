"""Demo and benchmark data: a plausible school with its sub-unions and an account per role."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain import accounts, sub_unions
from server.models import Member, SubUnion, User

DEMO_PASSWORD = "demo123"

# (name, code) — about twenty, as a real university has them.
DEMO_SUB_UNIONS: list[tuple[str, str]] = [
    ("机关分工会", "JG"),
    ("计算机学院分工会", "JSJ"),
    ("电气工程学院分工会", "DQ"),
    ("机械工程学院分工会", "JX"),
    ("材料科学与工程学院分工会", "CL"),
    ("化学与化工学院分工会", "HX"),
    ("经济管理学院分工会", "JJ"),
    ("文法学院分工会", "WF"),
    ("外国语学院分工会", "WY"),
    ("理学院分工会", "LX"),
    ("马克思主义学院分工会", "MY"),
    ("艺术与设计学院分工会", "YS"),
    ("体育部分工会", "TY"),
    ("图书馆分工会", "TSG"),
    ("后勤服务中心分工会", "HQ"),
    ("信息化中心分工会", "XXH"),
    ("附属医院分工会", "YY"),
    ("附属中学分工会", "FZ"),
    ("继续教育学院分工会", "JJXY"),
    ("离退休分工会", "LTX"),
]

DEMO_SUB_UNION = "计算机学院分工会"
OTHER_SUB_UNION = "机关分工会"

# username, display name, role, sub-union (None: school scope or self)
DEMO_ACCOUNTS: list[tuple[str, str, str, str | None]] = [
    ("admin", "系统管理员", "super_admin", None),
    ("chair", "王建国", "school_chair", None),
    ("staff", "李晓梅", "school_operator", None),
    ("sub_chair", "张志强", "subunion_chair", DEMO_SUB_UNION),
    ("sub_staff", "刘芳", "subunion_operator", DEMO_SUB_UNION),
    ("member", "陈思远", "member", None),
]


def seed_sub_unions(session: Session) -> dict[str, SubUnion]:
    existing = {s.name: s for s in session.scalars(select(SubUnion))}
    for order, (name, code) in enumerate(DEMO_SUB_UNIONS, start=1):
        if name not in existing:
            existing[name] = sub_unions.create(
                session, None,
                {"name": name, "code": code, "sort_order": order, "is_retirees": name == "离退休分工会"},
            )
    return existing


def seed_demo(session: Session, *, hash_method: str = "scrypt") -> dict[str, User]:
    """Idempotent: running it twice leaves one demo school."""
    subs = seed_sub_unions(session)
    users: dict[str, User] = {}
    for username, display_name, role, sub_name in DEMO_ACCOUNTS:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            member_id = None
            if role == "member":
                member = Member(name=display_name, staff_no="20150123", sub_union_id=subs[DEMO_SUB_UNION].id)
                session.add(member)
                session.flush()
                member_id = member.id
            user = accounts.create_user(
                session, None, username=username, display_name=display_name, password=DEMO_PASSWORD,
                roles=[{"role": role, "sub_union_id": subs[sub_name].id if sub_name else None}],
                member_id=member_id, hash_method=hash_method, enforce_policy=False,
            )
        users[username] = user
    return users
