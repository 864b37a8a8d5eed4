"""Issue 13, item 4: a list page costs a fixed number of statements, however many rows it shows.

Each list is asked for twice, once over 5 rows and once over 40, every row naming people and
sub-unions of its own (requester, approvers, member, from/to sub-union); the statements the
request sends to the database (counted on the engine, ``before_cursor_execute``) must be the
same number both times. Names are loaded with the page (``selectinload``), not row by row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event

from server.domain.accounts.models import User
from server.domain.members.models import Member
from server.domain.membership.models import Application, MembershipEvent, StatusChange, Transfer
from server.domain.org.models import SubUnion

SMALL, LARGE = 5, 40


@contextmanager
def counted(engine) -> Iterator[list[str]]:  # noqa: ANN001
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_for(rt, client, path: str) -> int:  # noqa: ANN001
    with counted(rt.db.engine) as statements:
        resp = client.get(path)
    assert resp.status_code == 200, resp.get_json()
    return len(statements)


class Rows:
    """Rows of every listed kind, each naming people and sub-unions of its own."""

    def __init__(self, db, world):  # noqa: ANN001
        self.db, self.world, self.n = db, world, 0

    def _added(self, row):  # noqa: ANN001, ANN202
        self.db.add(row)
        self.db.flush()
        return row

    def person(self) -> int:
        self.n += 1
        return self._added(User(username=f"qc{self.n}", display_name=f"审批人{self.n}")).id

    def sub_union(self) -> int:
        self.n += 1
        return self._added(SubUnion(name=f"分工会{self.n}", code=f"QC{self.n}")).id

    def member(self, sub_union_id: int | None = None) -> Member:
        self.n += 1
        return self._added(Member(
            name=f"会员{self.n}", staff_no=f"Q{self.n:07d}", sub_union_id=sub_union_id or self.world.own_sub,
            gender="男", birth_date=date(1980, 1, 1), membership_status="正常", employment_status="在职",
            name_initials="hy", member_no=f"M{self.n:07d}"))

    def add(self, count: int) -> None:
        for _ in range(count):
            m = self.member()
            self.db.add(Transfer(
                member_id=m.id, from_sub_union_id=self.world.own_sub, to_sub_union_id=self.sub_union(), reason="调动",
                status="accepted", requested_by=self.person(), out_approved_by=self.person(),
                school_approved_by=self.person(), accepted_by=self.person()))
            self.db.add(StatusChange(
                member_id=m.id, sub_union_id=self.world.own_sub, kind="退休", effective_date=date(2026, 1, 1),
                reason="到龄", status="approved", requested_by=self.person(), decided_by=self.person()))
            applicant = self.person()
            self.db.add(Application(
                applicant_user_id=applicant, status="approved", sub_union_id=self.sub_union(), name=m.name,
                values={"name": m.name, "mobile": "13800001111"}, confirmed_by=self.person(),
                decided_by=self.person(), member_id=m.id))
            self.db.add(MembershipEvent(member_id=self.world.member_id, kind="转会", effective_date=date(2026, 1, 1),
                                        from_sub_union_id=self.sub_union(), to_sub_union_id=self.sub_union()))
            # The member's own lists: several finished requests of one person.
            self.db.add(Transfer(
                member_id=self.world.member_id, from_sub_union_id=self.sub_union(), to_sub_union_id=self.sub_union(),
                reason="调动", status="rejected", requested_by=self.person(), rejected_by=self.person()))
            self.db.add(Application(applicant_user_id=self.world.users["member"], status="withdrawn",
                                    sub_union_id=self.sub_union(), name="陈思远", values={"name": "陈思远"}))
        self.db.commit()


LISTS = [
    ("staff", "/api/v1/transfers?page_size=200"),
    ("staff", "/api/v1/applications?page_size=200"),
    ("staff", "/api/v1/status-changes?page_size=200"),
    ("staff", "/api/v1/members?page_size=200"),
    ("staff", "/api/v1/members/{member_id}/membership-events"),
    ("member", "/api/v1/me/transfers"),
    ("member", "/api/v1/me/applications"),
]


@pytest.mark.parametrize(("who", "path"), LISTS, ids=[p.split("?")[0] for _, p in LISTS])
def test_a_list_page_costs_the_same_statements_for_5_rows_as_for_40(rt, db, world, clients, who, path):
    rows = Rows(db, world)
    path = path.format(member_id=world.member_id)
    client = clients[who]
    client.get(path)  # the first request of a process pays for one-time work (caches)
    rows.add(SMALL)
    small = statements_for(rt, client, path)
    rows.add(LARGE - SMALL)
    large = statements_for(rt, client, path)
    body = client.get(path).get_json()
    shown = len(body["items"] if isinstance(body, dict) else body)
    assert shown >= LARGE
    print(f"\n{path}: {small} statements for {SMALL} rows, {large} for {LARGE}")  # noqa: T201
    assert large == small, f"{path}: {small} statements for {SMALL} rows, {large} for {LARGE}"
