"""The query language: every operator on every field type, nesting, complements, validation
errors naming the path inside the filter, and injection attempts — through POST /stats/query."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from server.core.timeutil import local_today
from server.domain.members.models import Member
from server.domain.statistics import compiler
from server.domain.statistics import query as ql

ONLY_OURS = {"field": "staff_no", "op": "contains", "value": "T9"}
ALL5 = {"张一", "李二", "王三", "赵四", "孙五"}


def _yb(years: int) -> date:
    return compiler.context().years_before(years)


def _child(n: int) -> list[dict]:
    return [{"name": f"孩子{i}", "gender": "女", "birth_date": "2015-01-01"} for i in range(n)]


@pytest.fixture
def five(db, world):  # noqa: ANN001, ANN201
    """Five members with known values (ages relative to today in Asia/Shanghai)."""
    rows = [
        Member(name="张一", staff_no="T9001", sub_union_id=world.own_sub, gender="男", birth_date=_yb(30),
               post_category="专任教师", title_level="正高", education="博士研究生", marital_status="已婚",
               children=_child(1), children_count=1, union_posts=["工会委员"], union_join_date=_yb(10),
               department="计算机系", mobile="13800000001", hobbies="=1+1", membership_status="正常"),
        Member(name="李二", staff_no="T9002", sub_union_id=world.own_sub, gender="女",
               birth_date=_yb(45) + timedelta(days=1), post_category="专任教师", title_level="副高",
               marital_status="未婚", children=[], children_count=0, union_posts=["会员代表", "工会小组长"],
               union_join_date=_yb(3), department="软件工程系", hobbies="+86", membership_status="正常"),
        Member(name="王三", staff_no="T9003", sub_union_id=world.own_sub, gender="男", birth_date=_yb(45),
               post_category="专任教师", title_level="中级", marital_status="已婚", children=_child(2),
               children_count=2, union_posts=[], department=None, membership_status="正常"),
        Member(name="赵四", staff_no="T9004", sub_union_id=world.own_sub, gender="女", birth_date=_yb(60),
               post_category="管理", title_level="无", marital_status="丧偶", children=_child(3), children_count=3,
               union_posts=None, union_join_date=_yb(30), department="-5", hobbies="@SUM(A1)",
               membership_status="保留会籍"),
        Member(name="孙五", staff_no="T9005", sub_union_id=world.other_sub, gender="男", birth_date=_yb(29),
               post_category="专任教师", title_level=None, children=_child(1), children_count=1,
               union_posts=["工会委员"], union_join_date=_yb(1), department="", membership_status="正常"),
    ]
    db.add_all(rows)
    db.commit()
    return {m.name: m for m in rows}


def names(client, cond, scope_to_ours: bool = True):  # noqa: ANN001, ANN201
    flt = {"all": [ONLY_OURS, cond]} if scope_to_ours else cond
    r = client.post("/api/v1/stats/query", json={"filter": flt, "fields": ["name"], "page_size": 200})
    assert r.status_code == 200, r.json
    assert r.json["total"] == len(r.json["rows"])
    return {row["name"] for row in r.json["rows"]}


def c(field, op, value=None):  # noqa: ANN001, ANN201
    out = {"field": field, "op": op}
    if value is not None:
        out["value"] = value
    return out


CASES = [
    # text
    (c("name", "eq", "张一"), {"张一"}),
    (c("name", "ne", "张一"), ALL5 - {"张一"}),
    (c("name", "in", ["张一", "李二"]), {"张一", "李二"}),
    (c("name", "not_in", ["张一"]), ALL5 - {"张一"}),
    (c("department", "contains", "系"), {"张一", "李二"}),
    (c("department", "contains", "%"), set()),
    (c("department", "contains", "_"), set()),
    (c("department", "is_empty"), {"王三", "孙五"}),
    (c("department", "not_empty"), {"张一", "李二", "赵四"}),
    (c("department", "ne", "计算机系"), ALL5 - {"张一"}),  # includes members without a department
    # choice
    (c("gender", "eq", "女"), {"李二", "赵四"}),
    (c("title_level", "in", ["正高", "副高"]), {"张一", "李二"}),
    (c("title_level", "not_in", ["正高", "副高"]), {"王三", "赵四", "孙五"}),
    (c("title_level", "is_empty"), {"孙五"}),
    (c("marital_status", "ne", "未婚"), ALL5 - {"李二"}),
    (c("membership_status", "eq", "保留会籍"), {"赵四"}),
    # multi-choice (JSON list)
    (c("union_posts", "contains", "工会委员"), {"张一", "孙五"}),
    (c("union_posts", "contains", "工会小组长"), {"李二"}),
    (c("union_posts", "in", ["会员代表", "工会委员"]), {"张一", "李二", "孙五"}),
    (c("union_posts", "not_in", ["工会委员"]), {"李二", "王三", "赵四"}),
    (c("union_posts", "is_empty"), {"王三", "赵四"}),
    (c("union_posts", "not_empty"), {"张一", "李二", "孙五"}),
    # list
    (c("children", "is_empty"), {"李二"}),
    (c("children", "not_empty"), ALL5 - {"李二"}),
    # date
    (c("union_join_date", "is_empty"), {"王三"}),
    (c("union_join_date", "not_empty"), ALL5 - {"王三"}),
    (c("birth_date", "eq", _yb(30).isoformat()), {"张一"}),
    (c("birth_date", "ne", _yb(30).isoformat()), ALL5 - {"张一"}),
    (c("birth_date", "gte", _yb(30).isoformat()), {"张一", "孙五"}),
    (c("birth_date", "lte", _yb(45).isoformat()), {"王三", "赵四"}),
    (c("birth_date", "between", [_yb(45).isoformat(), _yb(30).isoformat()]), {"张一", "李二", "王三"}),
    # derived numbers
    (c("age", "eq", 30), {"张一"}),
    (c("age", "eq", 44), {"李二"}),
    (c("age", "eq", 45), {"王三"}),
    (c("age", "ne", 30), ALL5 - {"张一"}),
    (c("age", "gte", 45), {"王三", "赵四"}),
    (c("age", "lte", 44), {"张一", "李二", "孙五"}),
    (c("age", "between", [30, 44]), {"张一", "李二"}),
    (c("age", "in", [29, 60]), {"孙五", "赵四"}),
    (c("age", "not_in", [29, 60]), {"张一", "李二", "王三"}),
    (c("years_of_membership", "gte", 10), {"张一", "赵四"}),
    (c("years_of_membership", "lte", 3), {"李二", "孙五"}),
    (c("years_of_membership", "is_empty"), {"王三"}),
    (c("children_count", "gte", 2), {"王三", "赵四"}),
    (c("children_count", "eq", 0), {"李二"}),
    # derived choices
    (c("age_band", "eq", "40-49岁"), {"李二", "王三"}),
    (c("age_band", "in", ["30岁以下", "60岁及以上"]), {"孙五", "赵四"}),
    (c("age_band", "ne", "30-39岁"), ALL5 - {"张一"}),
    (c("young_teacher", "eq", "是"), {"张一", "李二", "孙五"}),
    (c("young_teacher", "eq", "否"), {"王三", "赵四"}),
    (c("fertility", "eq", "无"), {"李二"}),
    (c("fertility", "eq", "一孩"), {"张一", "孙五"}),
    (c("fertility", "in", ["二孩", "三孩及以上"]), {"王三", "赵四"}),
    # the sub-union reference
    (c("sub_union", "eq", "{other}"), {"孙五"}),
    (c("sub_union", "ne", "{own}"), {"孙五"}),
    (c("sub_union", "in", ["{own}"]), ALL5 - {"孙五"}),
    (c("sub_union", "not_in", ["{own}", "{other}"]), set()),
]


def _bind(cond, world):  # noqa: ANN001, ANN201
    subs = {"{own}": world.own_sub, "{other}": world.other_sub}
    value = cond.get("value")
    if isinstance(value, str) and value in subs:
        return {**cond, "value": subs[value]}
    if isinstance(value, list):
        return {**cond, "value": [subs.get(v, v) if isinstance(v, str) else v for v in value]}
    return cond


@pytest.mark.parametrize(("cond", "expected"), CASES, ids=[f"{x['field']}-{x['op']}-{i}" for i, (x, _) in enumerate(CASES)])
def test_operator(clients, world, five, cond, expected):  # noqa: ANN001
    cond = _bind(cond, world)
    assert names(clients["staff"], cond) == expected
    # every condition is two-valued: its negation is exactly the complement
    assert names(clients["staff"], {"not": cond}) == ALL5 - expected


def test_birth_month(clients, five):  # noqa: ANN001
    month = local_today().month
    expected = {n for n, m in five.items() if m.birth_date.month == month}
    assert names(clients["staff"], c("birth_month", "eq", month)) == expected
    assert names(clients["staff"], c("birth_month", "between", [1, 12])) == ALL5


def test_nested_any_all_not(clients, five):  # noqa: ANN001
    staff = clients["staff"]
    older_men_or_young_women = {"any": [
        {"all": [c("gender", "eq", "男"), c("age", "gte", 45)]},
        {"all": [c("gender", "eq", "女"), c("age", "lte", 44)]},
    ]}
    assert names(staff, older_men_or_young_women) == {"王三", "李二"}
    assert names(staff, {"not": older_men_or_young_women}) == {"张一", "赵四", "孙五"}
    assert names(staff, {"all": [{"not": {"not": c("gender", "eq", "女")}},
                                 {"any": [c("title_level", "eq", "副高"), c("age", "gte", 60)]}]}) == {"李二", "赵四"}
    assert names(staff, {"any": []}) == set()
    assert names(staff, {"all": []}) == ALL5


def test_values_come_back_computed_in_sql(clients, five):  # noqa: ANN001
    r = clients["staff"].post("/api/v1/stats/query", json={
        "filter": ONLY_OURS, "sort": ["-age"],
        "fields": ["name", "age", "age_band", "years_of_membership", "children_count", "fertility", "young_teacher",
                   "union_posts", "birth_date", "sub_union"]})
    assert r.status_code == 200
    rows = r.json["rows"]
    assert [row["name"] for row in rows] == ["赵四", "王三", "李二", "张一", "孙五"]
    by = {row["name"]: row for row in rows}
    assert by["王三"]["age"] == 45 and by["王三"]["age_band"] == "40-49岁" and by["王三"]["young_teacher"] == "否"
    assert by["李二"]["age"] == 44 and by["李二"]["young_teacher"] == "是" and by["李二"]["fertility"] == "无"
    assert by["张一"]["years_of_membership"] == 10 and by["王三"]["years_of_membership"] is None
    assert by["赵四"]["fertility"] == "三孩及以上" and by["赵四"]["children_count"] == 3
    assert by["李二"]["union_posts"] == ["会员代表", "工会小组长"]
    assert by["孙五"]["sub_union_name"] == "机关分工会"
    assert r.json["labels"][:2] == ["姓名", "年龄"]


def test_age_is_relative_to_the_given_day(db, world, five):  # noqa: ANN001
    """Today is a bound parameter, not the database clock: ask as of a day in the past."""
    from server.domain.accounts import users as accounts
    from server.domain.accounts.models import User
    from server.domain.statistics import stats

    identity = accounts.identity_of(db.get(User, world.users["staff"]))
    birth = five["张一"].birth_date
    day_before_30th = birth.replace(year=birth.year + 30) - timedelta(days=1)
    result = stats.run_query(db, identity, {"all": [ONLY_OURS, c("name", "eq", "张一")]}, ["age", "age_band"],
                             today=day_before_30th)
    assert result["rows"][0]["age"] == 29 and result["rows"][0]["age_band"] == "30岁以下"
    result = stats.run_query(db, identity, {"all": [ONLY_OURS, c("age", "eq", 29)]}, ["name"], today=day_before_30th)
    assert "张一" in {r["name"] for r in result["rows"]}


def test_leap_day_birthdays(db, world):  # noqa: ANN001
    """Born 29 Feb: 18 on 1 Mar of a common year, in filters and in values alike."""
    from server.domain.accounts import users as accounts
    from server.domain.accounts.models import User
    from server.domain.statistics import stats

    db.add(Member(name="闰日", staff_no="T9100", sub_union_id=world.own_sub, gender="女", birth_date=date(2004, 2, 29)))
    db.commit()
    identity = accounts.identity_of(db.get(User, world.users["staff"]))
    flt = {"all": [c("staff_no", "eq", "T9100"), c("age", "gte", 18)]}
    for today, adult in ((date(2022, 2, 28), False), (date(2022, 3, 1), True), (date(2024, 2, 29), True)):
        got = stats.run_query(db, identity, flt, ["age"], today=today)
        assert got["total"] == (1 if adult else 0), today
        value = stats.run_query(db, identity, {"all": [c("staff_no", "eq", "T9100")]}, ["age"], today=today)
        assert (value["rows"][0]["age"] >= 18) == adult


ERRORS = [
    ({"all": [c("nosuch", "eq", "x")]}, "filter.all[0].field"),
    ({"all": [c("name", "gte", "x")]}, "filter.all[0].op"),
    ({"all": [c("name", "like", "x")]}, "filter.all[0].op"),
    ({"all": [c("age", "contains", 3)]}, "filter.all[0].op"),
    ({"all": [c("age", "eq", "thirty")]}, "filter.all[0].value"),
    ({"all": [c("age", "eq", True)]}, "filter.all[0].value"),
    ({"all": [c("gender", "eq", "未知")]}, "filter.all[0].value"),
    ({"all": [c("union_posts", "contains", "不存在的职务")]}, "filter.all[0].value"),
    ({"all": [c("birth_date", "gte", "1990-13-01")]}, "filter.all[0].value"),
    ({"all": [c("birth_date", "between", ["2000-01-01", "1990-01-01"])]}, "filter.all[0].value"),
    ({"all": [c("age", "between", [40])]}, "filter.all[0].value"),
    ({"all": [c("name", "in", [])]}, "filter.all[0].value"),
    ({"all": [{"field": "name", "op": "is_empty", "value": "x"}]}, "filter.all[0].value"),
    ({"all": [{"field": "name", "op": "eq"}]}, "filter.all[0].value"),
    ({"all": [c("name", "eq", "a"), {"any": [c("age", "gte", 1), {"not": c("age", "eq", "x")}]}]},
     "filter.all[1].any[1].not.value"),
    ({"all": [{"field": "name", "op": "eq", "value": "a", "extra": 1}]}, "filter.all[0].extra"),
    ({"all": {"field": "name"}}, "filter.all"),
    ({"all": [], "any": []}, "filter"),
    ({"not": [c("name", "eq", "a")]}, "filter.not"),
    ([c("name", "eq", "a")], "filter"),
    ({"all": ["name = 'a'"]}, "filter.all[0]"),
]


@pytest.mark.parametrize(("flt", "path"), ERRORS, ids=[p + f"-{i}" for i, (_, p) in enumerate(ERRORS)])
def test_bad_filter_names_the_path(clients, world, flt, path):  # noqa: ANN001
    r = clients["staff"].post("/api/v1/stats/query", json={"filter": flt})
    assert r.status_code == 422, r.json
    assert path in r.json["fields"], r.json
    assert r.json["code"] == "validation_error" and r.json["message"]


def test_too_deep_and_too_many(clients, world):  # noqa: ANN001
    deep: dict = c("name", "eq", "a")
    for _ in range(ql.MAX_DEPTH + 2):
        deep = {"not": deep}
    assert clients["staff"].post("/api/v1/stats/query", json={"filter": deep}).status_code == 422
    many = {"any": [c("name", "eq", f"n{i}") for i in range(ql.MAX_CONDITIONS + 1)]}
    assert clients["staff"].post("/api/v1/stats/query", json={"filter": many}).status_code == 422


INJECTIONS_422 = [
    {"filter": {"all": [c("name' OR '1'='1", "eq", "x")]}},
    {"filter": {"all": [c("name) OR (1=1", "eq", "x")]}},
    {"filter": {"all": [c("password_hash", "eq", "x")]}},
    {"filter": {"all": [c("__class__", "eq", "x")]}},
    {"filter": {"all": [c("name", "eq; DROP TABLE members; --", "x")]}},
    {"filter": {"all": [c("age", "gte", "1 OR 1=1")]}},
    {"filter": {"all": [c("sub_union", "in", ["1) OR (1=1"])]}},
    {"filter": {"all": [c("union_posts", "contains", '工会委员" OR "1"="1')]}},
    {"filter": {"all": [c("birth_date", "eq", "1990-01-01' OR '1'='1")]}},
    {"fields": ["name", "id_number FROM users --"]},
    {"fields": ["(SELECT password_hash FROM users)"]},
    {"sort": ["name; DROP TABLE members"]},
    {"sort": ["-(1)"]},
]


@pytest.mark.parametrize("body", INJECTIONS_422)
def test_injection_in_names_and_ops_is_refused(clients, world, body):  # noqa: ANN001
    r = clients["staff"].post("/api/v1/stats/query", json=body)
    assert r.status_code == 422, r.json


@pytest.mark.parametrize("value", ["' OR '1'='1", "张一' --", '"; DROP TABLE members; --', "\\", "%' OR 1=1 #"])
def test_injection_in_values_is_just_a_value(clients, db, five, value):  # noqa: ANN001
    assert names(clients["staff"], c("name", "eq", value)) == set()
    assert names(clients["staff"], c("department", "contains", value)) == set()
    assert db.scalar(select(func.count()).select_from(Member)) == 7  # nothing dropped, nothing changed


def test_sensitive_fields_filter_only_for_those_who_may_read_them(clients, world, five):  # noqa: ANN001
    body = {"filter": c("mobile", "eq", "13800000001"), "fields": ["name"]}
    assert clients["staff"].post("/api/v1/stats/query", json=body).json["total"] == 1
    assert clients["sub_chair"].post("/api/v1/stats/query", json=body).json["total"] == 1  # own sub-union: may read
    r = clients["sub_staff"].post("/api/v1/stats/query", json=body)
    assert r.status_code == 422 and "filter.field" in r.json["fields"]
    r = clients["sub_staff"].post("/api/v1/stats/query", json={"filter": None, "sort": ["mobile"]})
    assert r.status_code == 422


def test_rows_are_masked_per_role(clients, world, five):  # noqa: ANN001
    body = {"filter": c("name", "eq", "张一"), "fields": ["name", "mobile", "id_number", "hardship_level"]}
    clear = clients["staff"].post("/api/v1/stats/query", json=body).json["rows"][0]
    assert clear["mobile"] == "13800000001" and "masked_fields" not in clear
    assert clients["sub_chair"].post("/api/v1/stats/query", json=body).json["rows"][0]["mobile"] == "13800000001"
    masked = clients["sub_staff"].post("/api/v1/stats/query", json=body).json["rows"][0]
    assert masked["mobile"] == "138****0001" and masked["masked_fields"] == ["mobile"]


def test_scope_applies_to_every_query(clients, world, five):  # noqa: ANN001
    everyone = c("age", "gte", 0)
    assert names(clients["staff"], everyone) == ALL5
    assert names(clients["sub_staff"], everyone) == ALL5 - {"孙五"}
    assert names(clients["other_staff"], everyone) == {"孙五"}
    # asking for another sub-union explicitly gives nothing, not an error that reveals anything
    assert names(clients["sub_staff"], c("sub_union", "eq", world.other_sub)) == set()
    assert clients["member"].post("/api/v1/stats/query", json={}).status_code == 403
    assert clients["anonymous"].post("/api/v1/stats/query", json={}).status_code == 401


def test_query_fields_catalogue(clients, world):  # noqa: ANN001
    r = clients["sub_staff"].get("/api/v1/stats/fields")
    assert r.status_code == 200
    by = {f["code"]: f for f in r.json["fields"]}
    assert len(by) == 44 + len(ql.DERIVED)
    assert by["age"]["derived"] and "between" in by["age"]["ops"]
    assert by["union_posts"]["ops"] == ["contains", "in", "not_in", "is_empty", "not_empty"]
    assert by["age_band"]["choices"] == ["30岁以下", "30-39岁", "40-49岁", "50-59岁", "60岁及以上"]
    assert r.json["templates"][0]["columns"][:4] == ["姓名", "性别", "民族", "身份证号"]
