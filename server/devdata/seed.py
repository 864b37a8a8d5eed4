"""Demo and benchmark data: a plausible school with its sub-unions, generated members, and an
account per role (the ``member`` account linked to 陈思远's full record)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from server.devdata.generator import generator_for, insert_members, to_row
from server.domain.accounts import users as accounts
from server.domain.accounts.models import User
from server.domain.members.models import Member
from server.domain.org import sub_unions
from server.domain.org.models import SubUnion

DEMO_PASSWORD = "demo123"
DEMO_MEMBERS = 2000
# The demo `member` account's own record.
DEMO_MEMBER = {"name": "陈思远", "gender": "男", "birth_date": date(1985, 3, 7), "employment_status": "在职",
               "post_category": "专任教师", "school_join_date": date(2015, 7, 1)}
DEMO_MEMBER_STAFF_NO = "20150123"

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


def retirees_sub_union_id(session: Session) -> int | None:
    return session.scalar(select(SubUnion.id).where(SubUnion.is_retirees.is_(True)).order_by(SubUnion.id).limit(1))


def seed_members(session: Session, count: int) -> int:
    """Add ``count`` generated members spread over the existing sub-unions (creating the demo
    sub-unions first if there are none); retirees go to the retirees' sub-union."""
    if not session.scalar(select(func.count()).select_from(SubUnion)):
        seed_sub_unions(session)
        session.flush()
    ids = list(session.scalars(select(SubUnion.id).order_by(SubUnion.sort_order, SubUnion.id)))
    return insert_members(session, count, ids, retirees_sub_union_id(session))


def _demo_member(session: Session, subs: dict[str, SubUnion]) -> Member:
    """陈思远's record, generated in full (every field valid) and found again on a second run."""
    member = session.scalar(select(Member).where(Member.staff_no == DEMO_MEMBER_STAFF_NO))
    if member is not None:
        return member
    gen = generator_for(session, [s.id for s in subs.values()], retirees_sub_union_id(session), seed=20150123)
    values = gen.member(sub_union=subs[DEMO_SUB_UNION].id, **DEMO_MEMBER)
    values["staff_no"] = DEMO_MEMBER_STAFF_NO
    values["department"] = DEMO_SUB_UNION.removesuffix("分工会")
    row = to_row(values)
    for key in ("version", "created_at", "updated_at"):
        row.pop(key)
    member = Member(**row)
    session.add(member)
    session.flush()
    return member


def seed_demo(session: Session, *, hash_method: str = "scrypt", members: int = DEMO_MEMBERS) -> dict[str, User]:
    """Idempotent: running it twice leaves one demo school.

    The school gets ``members`` member records in all (generated ones spread over the
    sub-unions, plus 陈思远, the demo ``member`` account's record in 计算机学院分工会); the
    generated ones are only added while the school has no members besides 陈思远.
    """
    subs = seed_sub_unions(session)
    session.flush()
    others = session.scalar(
        select(func.count()).select_from(Member)
        .where(or_(Member.staff_no.is_(None), Member.staff_no != DEMO_MEMBER_STAFF_NO)))
    if not others and members > 1:
        ids = [s.id for s in sorted(subs.values(), key=lambda s: (s.sort_order, s.id))]
        insert_members(session, members - 1, ids, retirees_sub_union_id(session))
    demo_member = _demo_member(session, subs)
    users: dict[str, User] = {}
    for username, display_name, role, sub_name in DEMO_ACCOUNTS:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = accounts.create_user(
                session, None, username=username, display_name=display_name, password=DEMO_PASSWORD,
                roles=[{"role": role, "sub_union_id": subs[sub_name].id if sub_name else None}],
                member_id=demo_member.id if role == "member" else None, hash_method=hash_method,
                enforce_policy=False,
            )
        users[username] = user
    return users
