"""Generated members (demo school, benchmarks): every value valid against the catalogue, the
values consistent with one another, numbers unique, bulk insertion and the demo seed."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select
from stdnum.cn import ric

from server.core.timeutil import local_today
from server.devdata import generator
from server.devdata.generator import MemberGenerator, insert_members, to_row
from server.devdata.seed import DEMO_MEMBER_STAFF_NO, DEMO_SUB_UNION, seed_demo
from server.domain.accounts.models import User
from server.domain.members import catalogue as cat
from server.domain.members import pinyin, validation
from server.domain.members.models import Member
from server.domain.org import sub_unions
from server.domain.org.models import SubUnion
from tests.support.world import FAST_HASH

ALL = frozenset(f.code for f in cat.CATALOGUE)
RETIREES = 9
SUBS = {1: "计算机学院分工会", 2: "机关分工会", 3: "后勤服务中心分工会", 4: "图书馆分工会", 5: "附属医院分工会",
        6: "附属中学分工会", RETIREES: "离退休分工会"}
TODAY = local_today()


def make(seed: int = 7, **kw) -> MemberGenerator:  # noqa: ANN003
    return MemberGenerator(list(SUBS), retirees_sub_union_id=RETIREES, seed=seed, names=SUBS, **kw)


@pytest.fixture(scope="module")
def many() -> list[dict]:
    return make().many(5000)


def age(born: str) -> int:
    b = date.fromisoformat(born)
    return TODAY.year - b.year - ((TODAY.month, TODAY.day) < (b.month, b.day))


def test_generated_values_pass_validation():
    """500 members, all 44 fields, straight through `clean` as a create would send them."""
    for values in make(seed=11).many(500):
        assert set(values) == ALL
        cleaned, errors = validation.clean(values, allowed=ALL, creating=True, sub_union_ids=set(SUBS))
        assert errors == {}, (values["name"], errors)
        assert cleaned["id_number"] == values["id_number"]


def test_generator_is_deterministic_for_a_seed():
    assert make(seed=3).many(200) == make(seed=3).many(200)
    assert make(seed=3).many(20) != make(seed=4).many(20)


def test_numbers_are_unique_and_in_their_documented_format(many):
    for code in ("staff_no", "member_no", "id_number"):
        counts = Counter(m[code] for m in many)
        assert max(counts.values()) == 1, (code, counts.most_common(1))
    for m in many:
        assert re.fullmatch(r"\d{8}", m["staff_no"]) and m["staff_no"][:2] == m["school_join_date"][2:4]
        assert re.fullmatch(r"\d{9}", m["member_no"]) and m["member_no"][:4] == m["union_join_date"][:4]
        assert ric.is_valid(m["id_number"])
        assert ric.get_birth_date(m["id_number"]).isoformat() == m["birth_date"]
        assert int(m["id_number"][16]) % 2 == (1 if m["gender"] == "男" else 0)
        assert re.fullmatch(r"1[3-9]\d{9}", m["mobile"])


def test_ages_statuses_and_sub_unions(many):
    by_status = Counter(m["employment_status"] for m in many)
    assert set(by_status) == {"在职", "退休", "离职"}
    assert by_status["在职"] > by_status["退休"] > by_status["离职"] > 0
    for m in many:
        a, status = age(m["birth_date"]), m["employment_status"]
        if status == "退休":
            assert 60 <= a <= 85, m
            assert m["sub_union"] == RETIREES and m["membership_status"] == "保留会籍"
        else:
            assert 22 <= a <= 65, m
            assert m["sub_union"] != RETIREES
            assert m["membership_status"] == ("正常" if status == "在职" else "转出")


def test_values_hang_together(many):
    degree_of = {"博士研究生": {"博士"}, "硕士研究生": {"硕士"}, "大学本科": {"学士", "无"}}
    pro_titles = {level: {series[i] for series in generator.TITLE_SERIES.values()}
                  for i, level in enumerate(generator.PRO_LEVELS)}
    for m in many:
        assert m["degree"] in degree_of.get(m["education"], {"无"})
        if m["post_category"] == "工勤":
            assert m["title_level"] in generator.WORKER_LEVELS and m["title"] == m["title_level"]
        elif m["title_level"] == "无":
            assert m["post_category"] == "管理" and m["title"] == "无"
        else:
            assert m["title"] in pro_titles[m["title_level"]]
        if m["post_category"] == "专任教师" and m["title_level"] != "无":
            assert m["title"] in {*generator.TITLE_SERIES["teacher"], *generator.TITLE_SERIES["school"]}
        born = date.fromisoformat(m["birth_date"])
        work, school, union = (date.fromisoformat(m[k])
                               for k in ("work_start_date", "school_join_date", "union_join_date"))
        assert born.replace(year=born.year + 16) <= work <= school <= union <= TODAY, m
        married = m["marital_status"] == "已婚"
        assert bool(m["spouse_name"]) == married and bool(m["spouse_employer"]) == married
        assert len(m["children"]) <= 3
        if m["marital_status"] == "未婚":
            assert m["children"] == []
        for child in m["children"]:
            assert born.year + 20 <= date.fromisoformat(child["birth_date"]).year and child["birth_date"] <= str(TODAY)
        assert 0 < len(m["resume"]) <= 2000 and "本校" in m["resume"]
    share_han = sum(m["ethnicity"] == "汉族" for m in many) / len(many)
    assert 0.85 < share_han < 0.99
    assert sum(m["is_congress_delegate"] == "是" for m in many) < len(many) * 0.15
    assert sum(m["hardship_level"] != "无" for m in many) < len(many) * 0.06


def test_to_row_derives_initials_and_children_count(many):
    for m in many[:300]:
        row = to_row(m)
        assert row["name_initials"] == pinyin.initials(m["name"])
        assert row["children_count"] == len(m["children"])
        assert row["sub_union_id"] == m["sub_union"] and "sub_union" not in row
        assert isinstance(row["birth_date"], date) and row["version"] == 1


def test_every_region_code_is_valid_for_the_birth_years_it_is_used_for():
    for region in generator.REGIONS:
        for year in {max(region.first_year, 1935), min(region.last_year, TODAY.year - 18)}:
            number = generator.make_id_number(region.code, date(year, 6, 1), 123)
            assert ric.is_valid(number), (region, year)


def test_numbers_already_in_use_are_not_issued_again():
    first = make(seed=1).many(300)
    again = make(seed=1, start=301, taken_member_nos={m["member_no"] for m in first},
                 taken_id_numbers={m["id_number"] for m in first}).many(300)
    for code in ("staff_no", "member_no", "id_number"):
        assert not {m[code] for m in first} & {m[code] for m in again}, code


# ---- the database ---------------------------------------------------------------------------


def _sub_unions(db) -> tuple[list[int], int]:  # noqa: ANN001
    ids = [sub_unions.create(db, None, {"name": name, "code": f"S{i}", "is_retirees": i == RETIREES}).id
           for i, name in SUBS.items()]
    db.flush()
    retirees = db.scalar(select(SubUnion.id).where(SubUnion.is_retirees.is_(True)))
    return ids, retirees


def _values_of(member: Member) -> dict:
    return {f.code: getattr(member, f.attr) for f in cat.CATALOGUE}


@pytest.mark.committing  # its second run writes through the engine, on a connection of its own
def test_insert_members_inserts_the_count_and_rows_read_back(db, rt):
    ids, retirees = _sub_unions(db)
    assert insert_members(db, 300, ids, retirees, batch_size=128) == 300
    db.commit()
    # a second run (here through the engine) continues the numbers instead of colliding
    assert insert_members(rt.db.engine, 200, ids, retirees) == 200
    db.expire_all()
    members = db.scalars(select(Member).order_by(Member.id)).all()
    assert len(members) == 500
    for code in ("staff_no", "member_no", "id_number"):
        assert len({getattr(m, code) for m in members}) == 500
    for m in members[::25]:
        assert m.version == 1 and m.created_at is not None
        assert m.name_initials == pinyin.initials(m.name) and m.children_count == len(m.children)
        _, errors = validation.clean(_values_of(m), allowed=ALL, creating=True, sub_union_ids=set(ids))
        assert errors == {}, (m.name, errors)
        assert (m.sub_union_id == retirees) == (m.employment_status == "退休")


def test_seed_demo_twice_gives_one_school_with_the_member_account_linked(db):
    seed_demo(db, hash_method=FAST_HASH, members=200)
    db.commit()
    seed_demo(db, hash_method=FAST_HASH, members=200)
    db.commit()
    assert db.scalar(select(func.count()).select_from(Member)) == 200
    user = db.scalar(select(User).where(User.username == "member"))
    me = db.get(Member, user.member_id)
    assert (me.name, me.staff_no, me.gender, me.birth_date) == ("陈思远", DEMO_MEMBER_STAFF_NO, "男", date(1985, 3, 7))
    assert db.get(SubUnion, me.sub_union_id).name == DEMO_SUB_UNION
    ids = set(db.scalars(select(SubUnion.id)))
    _, errors = validation.clean(_values_of(me), allowed=ALL, creating=True, sub_union_ids=ids)
    assert errors == {}
    retirees = db.scalar(select(SubUnion.id).where(SubUnion.name == "离退休分工会"))
    statuses = Counter(db.scalars(select(Member.employment_status).where(Member.sub_union_id == retirees)))
    assert set(statuses) == {"退休"}
