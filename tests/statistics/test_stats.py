"""Summaries and presets: sub-union figures equal the school's figures for that sub-union, never
more; two-dimension totals; chart-ready series; built-in and saved presets."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from server.devdata.generator import insert_members
from server.domain.accounts import users as accounts
from server.domain.accounts.models import User
from server.domain.members.models import Member
from server.domain.org.models import SubUnion
from server.domain.statistics import query as ql
from server.domain.statistics import stats


@pytest.fixture
def population(db, world):  # noqa: ANN001, ANN201
    insert_members(db, 400, [world.own_sub, world.other_sub], None, seed=20261124)
    db.commit()
    return world


def summary(client, flt, group_by):  # noqa: ANN001, ANN201
    r = client.post("/api/v1/stats/summary", json={"filter": flt, "group_by": group_by})
    assert r.status_code == 200, r.json
    return r.json


def in_sub(flt, sub: int) -> dict:  # noqa: ANN001
    cond = {"field": "sub_union", "op": "eq", "value": sub}
    return {"all": [cond, flt]} if flt else {"all": [cond]}


FILTERS = [
    None,
    {"all": [{"field": "young_teacher", "op": "eq", "value": "是"}]},
    {"any": [{"field": "title_level", "op": "in", "value": ["正高", "副高"]},
             {"not": {"field": "age", "op": "lte", "value": 50}}]},
    {"all": [{"field": "union_posts", "op": "not_empty"}, {"field": "fertility", "op": "ne", "value": "无"}]},
]
GROUPINGS = [["gender"], ["age_band"], ["title_level"], ["sub_union", "age_band"], ["title_level", "fertility"],
             ["education", "young_teacher"], ["birth_month"]]


@pytest.mark.parametrize("group_by", GROUPINGS, ids=["+".join(g) for g in GROUPINGS])
def test_sub_union_counts_equal_school_counts_for_it(clients, population, group_by):  # noqa: ANN001
    w = population
    for flt in FILTERS:
        for account, sub in (("sub_staff", w.own_sub), ("sub_chair", w.own_sub), ("other_staff", w.other_sub)):
            mine = summary(clients[account], flt, group_by)
            school = summary(clients["staff"], in_sub(flt, sub), group_by)
            assert mine == school, (account, flt)
            everything = summary(clients["staff"], flt, group_by)
            assert mine["total"] <= everything["total"]
        both = [summary(clients[a], flt, group_by)["total"] for a in ("sub_staff", "other_staff")]
        assert sum(both) == summary(clients["staff"], flt, group_by)["total"]


def test_query_totals_match_summary_totals(clients, population):  # noqa: ANN001
    for flt in FILTERS:
        for account in ("staff", "sub_staff", "other_chair"):
            total = clients[account].post("/api/v1/stats/query", json={"filter": flt}).json["total"]
            assert total == summary(clients[account], flt, ["gender"])["total"]


def test_the_same_question_in_turn_keeps_each_askers_scope(clients, population):  # noqa: ANN001
    """A question's statements are built once and reused with the asker's scope as a parameter:
    asked in turn by both sub-unions and the school, each answer stays within its asker's scope."""
    w = population
    body = {"filter": FILTERS[2], "fields": ["name", "sub_union"], "page_size": 200}
    seen = {}
    for _ in range(2):
        for account, sub in (("sub_staff", w.own_sub), ("other_staff", w.other_sub), ("staff", None)):
            answer = clients[account].post("/api/v1/stats/query", json=body).json
            subs = {r["sub_union"] for r in answer["rows"]}
            assert sub is None or subs <= {sub}, account
            seen.setdefault(account, answer["total"])
            assert answer["total"] == seen[account], account
    assert seen["sub_staff"] > 0 and seen["other_staff"] > 0
    assert seen["sub_staff"] + seen["other_staff"] == seen["staff"]


def test_sub_union_never_sees_another_sub_union(clients, population):  # noqa: ANN001
    w = population
    s = summary(clients["sub_staff"], None, ["sub_union"])
    assert [g["keys"] for g in s["groups"]] == [[w.own_sub]]
    s = summary(clients["sub_staff"], {"all": [{"field": "sub_union", "op": "eq", "value": w.other_sub}]},
                ["gender"])
    assert s["total"] == 0 and s["groups"] == [] and s["chart"]["labels"] == []


def test_two_dimensions_have_totals_and_series(clients, population):  # noqa: ANN001
    s = summary(clients["staff"], None, ["sub_union", "title_level"])
    assert [d["field"] for d in s["dimensions"]] == ["sub_union", "title_level"]
    assert s["total"] == sum(g["count"] for g in s["groups"]) == 402
    assert sum(r["count"] for r in s["totals"]["rows"]) == s["total"]
    assert sum(col["count"] for col in s["totals"]["columns"]) == s["total"]
    chart = s["chart"]
    assert chart["labels"] == ["计算机学院分工会", "机关分工会"]
    assert [x["label"] for x in s["totals"]["rows"]] == chart["labels"]
    assert len(chart["series"]) == len(s["totals"]["columns"])
    for i, row in enumerate(s["totals"]["rows"]):
        assert sum(series["data"][i] for series in chart["series"]) == row["count"]
    # choices in catalogue order, missing values last
    levels = [x["label"] for x in s["totals"]["columns"]]
    known = [lv for lv in ql.FIELDS["title_level"].choices if lv in levels]
    assert levels[: len(known)] == known


def test_sub_unions_appear_in_their_sort_order_as_either_dimension(db, clients, population):  # noqa: ANN001
    """The sub-union's name and place come joined into the grouped query; its sort_order rules."""
    db.get(SubUnion, population.other_sub).sort_order = -1
    db.commit()
    first = summary(clients["staff"], None, ["sub_union"])
    assert first["chart"]["labels"] == ["机关分工会", "计算机学院分工会"]
    assert [g["keys"][0] for g in first["groups"]] == [population.other_sub, population.own_sub]
    second = summary(clients["staff"], None, ["gender", "sub_union"])
    assert [c["label"] for c in second["totals"]["columns"]] == ["机关分工会", "计算机学院分工会"]
    assert {g["labels"][1] for g in second["groups"] if g["keys"][1] == population.own_sub} == {"计算机学院分工会"}


def test_one_dimension_age_bands_in_order(clients, population):  # noqa: ANN001
    s = summary(clients["staff"], None, ["age_band"])
    labels = s["chart"]["labels"]
    assert labels == [b for b in ql.FIELDS["age_band"].choices if b in labels]
    assert s["chart"]["series"][0]["name"] == "人数"
    assert sum(s["chart"]["series"][0]["data"]) == s["total"] == 402


def test_summary_matches_python_over_every_member(db, world, population):  # noqa: ANN001
    """Derived values computed in SQL agree with the same rules computed in Python."""
    today = date(2025, 3, 1)
    identity = accounts.identity_of(db.get(User, world.users["staff"]))
    members = db.scalars(select(Member)).all()

    def age(born: date | None) -> int | None:
        if born is None:
            return None
        return today.year - born.year - ((born.month, born.day) > (today.month, today.day))

    def band(a: int | None) -> str | None:
        if a is None:
            return None
        for label, lo, hi in ql.AGE_BANDS:
            if (lo is None or a >= lo) and (hi is None or a <= hi):
                return label
        return None

    expected: dict = {}
    for m in members:
        young = "是" if m.post_category == "专任教师" and age(m.birth_date) < 45 else "否"
        key = (band(age(m.birth_date)), young)
        expected[key] = expected.get(key, 0) + 1
    got = stats.summarize(db, identity, None, ["age_band", "young_teacher"], today=today)
    assert {tuple(g["keys"]): g["count"] for g in got["groups"]} == expected
    result = stats.run_query(db, identity, None, ["age", "years_of_membership"], page_size=200, today=today)
    by_id = {m.id: m for m in members}
    for row in result["rows"]:
        assert row["age"] == age(by_id[row["id"]].birth_date)
        assert row["years_of_membership"] == age(by_id[row["id"]].union_join_date)


def test_bad_group_by(clients, world):  # noqa: ANN001
    for group_by, path in ((["gender", "age_band", "education"], "group_by"), (["union_posts"], "group_by[0]"),
                           (["nosuch"], "group_by[0]"), (["gender", "gender"], "group_by[1]"), ("gender", "group_by"),
                           (["birth_date"], "group_by[0]")):
        r = clients["staff"].post("/api/v1/stats/summary", json={"group_by": group_by})
        assert r.status_code == 422 and path in r.json["fields"], (group_by, r.json)
    r = clients["sub_staff"].post("/api/v1/stats/summary", json={"group_by": ["hardship_level"]})
    assert r.status_code == 422  # a sensitive field, for a role that may not read it
    assert clients["staff"].post("/api/v1/stats/summary", json={"group_by": ["hardship_level"]}).status_code == 200


# ---- presets ----------------------------------------------------------------------------------


def test_builtin_presets_answer_for_school_and_sub_union(clients, population):  # noqa: ANN001
    w = population
    listed = clients["staff"].get("/api/v1/stats/presets").json
    builtin = [p for p in listed if p["builtin"]]
    assert {p["id"] for p in builtin} >= {"members_by_sub_union", "young_teachers", "senior_titles", "unmarried",
                                          "one_child", "birthdays_this_month", "retiring_soon", "by_gender",
                                          "by_education"}
    for p in builtin:
        school = clients["staff"].post(f"/api/v1/stats/presets/{p['id']}/run", json={})
        mine = clients["sub_staff"].post(f"/api/v1/stats/presets/{p['id']}/run", json={})
        assert school.status_code == mine.status_code == 200, (p["id"], school.json, mine.json)
        key = "summary" if school.json["kind"] == "summary" else "result"
        assert school.json[key]["total"] > 0 or p["id"] in ("retiring_soon", "birthdays_this_month"), p["id"]
        # the sub-union's figure equals the school's figure for that sub-union
        flt = in_sub(p["filter"], w.own_sub)
        if key == "summary":
            assert mine.json["summary"] == summary(clients["staff"], flt, p["group_by"])
        else:
            assert mine.json["result"]["total"] == clients["staff"].post(
                "/api/v1/stats/query", json={"filter": flt}).json["total"]
    by_sub = clients["staff"].post("/api/v1/stats/presets/members_by_sub_union/run", json={}).json["summary"]
    assert {g["labels"][0] for g in by_sub["groups"]} == {"计算机学院分工会", "机关分工会"}


def test_presets_run_as_expected(clients, world):  # noqa: ANN001
    r = clients["staff"].post("/api/v1/stats/presets/young_teachers/run", json={"page_size": 5})
    assert r.json["kind"] == "rows" and r.json["result"]["page_size"] == 5
    assert clients["staff"].post("/api/v1/stats/presets/nosuch/run", json={}).status_code == 404
    assert clients["staff"].post("/api/v1/stats/presets/99999999/run", json={}).status_code == 404


def test_saved_presets_private_shared_and_scoped(clients, population):  # noqa: ANN001
    w = population
    women = {"all": [{"field": "gender", "op": "eq", "value": "女"}]}
    r = clients["sub_staff"].post("/api/v1/stats/presets", json={"name": "本分工会女职工", "filter": women,
                                                               "group_by": ["age_band"]})
    assert r.status_code == 201, r.json
    private_id = r.json["id"]
    r = clients["staff"].post("/api/v1/stats/presets", json={"name": "全校女职工", "filter": women, "shared": True,
                                                           "fields": ["name", "age"]})
    shared_id = r.json["id"]

    def ids(account: str) -> set[str]:
        return {p["id"] for p in clients[account].get("/api/v1/stats/presets").json if not p["builtin"]}

    assert ids("sub_staff") == {private_id, shared_id}
    assert ids("other_staff") == {shared_id}
    assert ids("staff") == {shared_id}
    assert clients["other_staff"].post(f"/api/v1/stats/presets/{private_id}/run", json={}).status_code == 404
    # running the shared preset applies the runner's scope
    run = clients["sub_staff"].post(f"/api/v1/stats/presets/{shared_id}/run", json={}).json
    assert run["kind"] == "rows" and run["result"]["fields"] == ["name", "age"]
    assert run["result"]["total"] == summary(clients["staff"], in_sub(women, w.own_sub), ["gender"])["total"]
    own = clients["sub_staff"].post(f"/api/v1/stats/presets/{private_id}/run", json={}).json
    assert own["summary"]["total"] == run["result"]["total"]
    # only the owner deletes
    # another's preset, even a shared one, is not there to delete: answered as for no preset at all
    assert clients["sub_staff"].delete(f"/api/v1/stats/presets/{shared_id}").json == \
        clients["sub_staff"].delete("/api/v1/stats/presets/99999999").json
    assert clients["sub_staff"].delete(f"/api/v1/stats/presets/{shared_id}").status_code == 404
    assert clients["other_staff"].delete(f"/api/v1/stats/presets/{private_id}").status_code == 404
    assert clients["staff"].delete("/api/v1/stats/presets/young_teachers").status_code == 403
    assert clients["sub_staff"].delete(f"/api/v1/stats/presets/{private_id}").status_code == 204
    assert ids("sub_staff") == {shared_id}


def test_saved_preset_is_validated(clients, world):  # noqa: ANN001
    bad = clients["staff"].post("/api/v1/stats/presets", json={"name": "坏", "filter": {"all": [{"field": "x"}]}})
    assert bad.status_code == 422 and "filter.all[0].field" in bad.json["fields"]
    assert clients["staff"].post("/api/v1/stats/presets", json={"name": ""}).status_code == 422
    sensitive = {"name": "按手机", "filter": {"all": [{"field": "mobile", "op": "not_empty"}]}}
    assert clients["sub_staff"].post("/api/v1/stats/presets", json=sensitive).status_code == 422
    assert clients["member"].post("/api/v1/stats/presets", json={"name": "x"}).status_code == 403
