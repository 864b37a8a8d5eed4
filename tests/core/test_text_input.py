"""No text answers 500: one rule (server/text.py) for every string a request carries and for every
member value, whether it arrives as JSON or as an Excel cell. Also: unknown query parameters are
refused by name, never silently ignored."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from server.core import text as text_rule
from server.domain.members.validation import clean
from tests.support.api_asserts import assert_error

# Each class the rule refuses, with what the message says of it.
BAD = [
    pytest.param("王\ud800芳", "不成对的代理项 U+D800", id="lone-surrogate"),
    pytest.param("王\x00芳", "控制字符 U+0000", id="nul"),
    pytest.param("王\x1b芳", "控制字符 U+001B", id="escape"),
    pytest.param("王\x7f芳", "控制字符 U+007F", id="delete"),
    pytest.param("王\x85芳", "控制字符 U+0085", id="c1-control"),
    pytest.param("王芳\u202e", "改变文字显示方向的控制字符 U+202E", id="bidi-override"),
    pytest.param("王\u2066芳", "改变文字显示方向的控制字符 U+2066", id="bidi-isolate"),
    pytest.param("王\uffff芳", "无效字符 U+FFFF", id="noncharacter"),
]


def raw_json(client, method: str, path: str, body: str):  # noqa: ANN001, ANN201
    """Send the JSON text as written: ``\\ud800`` reaches the server as an escape, as a client sends it."""
    return client.open(method, path, data=body.encode(), headers={"Content-Type": "application/json"})


def escaped(value: str) -> str:
    return value.encode("unicode_escape").decode().replace("\\x", "\\u00")


@pytest.mark.parametrize(("value", "said"), BAD)
def test_the_rule_names_the_character(value, said):  # noqa: ANN001
    assert said in text_rule.problem(value)


@pytest.mark.parametrize("value", ["王芳", "陈思远 Chen", "第一行\n第二行\t缩进", "阿卜杜拉·买买提", "😀", "ＡＢＣ"])
def test_ordinary_text_passes(value):  # noqa: ANN001
    assert text_rule.problem(value) is None


def test_one_line_refuses_line_breaks():
    assert text_rule.problem("a\nb", multiline=False) == "不能包含换行"
    assert text_rule.problem("a\rb", multiline=False) == "不能包含换行"


@pytest.mark.parametrize(("value", "said"), BAD)
def test_login_before_any_login(anon, db, value, said):  # noqa: ANN001
    r = raw_json(anon, "POST", "/api/v1/auth/login", f'{{"username":"{escaped(value)}","password":"x"}}')
    body = assert_error(r, 422, "validation_error", fields=("username",))
    assert said in body["fields"]["username"]


@pytest.mark.parametrize(("value", "said"), BAD)
def test_member_remarks(clients, world, value, said):  # noqa: ANN001
    r = raw_json(clients["sub_staff"], "PATCH", f"/api/v1/members/{world.member_id}",
                 f'{{"remarks":"{escaped(value)}","version":1}}')
    body = assert_error(r, 422, "validation_error", fields=("remarks",))
    assert said in body["fields"]["remarks"]
    assert clients["sub_staff"].get(f"/api/v1/members/{world.member_id}").json["remarks"] is None  # nothing stored


def test_own_record_hobbies(clients, world):  # noqa: ANN001
    r = raw_json(clients["member"], "PATCH", "/api/v1/me/member", '{"hobbies":"\\ud83d","version":1}')
    assert_error(r, 422, "validation_error", fields=("hobbies",))


def test_preset_and_sub_union_names(clients, world):  # noqa: ANN001
    r = raw_json(clients["staff"], "POST", "/api/v1/stats/presets", '{"name":"\\udfff","filter":{}}')
    assert_error(r, 422, "validation_error", fields=("name",))
    r = raw_json(clients["chair"], "POST", "/api/v1/sub-unions", '{"name":"新\\u0000分工会","code":"NUL"}')
    assert_error(r, 422, "validation_error", fields=("name",))
    assert all(s["code"] != "NUL" for s in clients["chair"].get("/api/v1/sub-unions").json)


def test_deep_in_a_filter_and_in_a_key(clients, world):  # noqa: ANN001
    r = raw_json(clients["staff"], "POST", "/api/v1/stats/query",
                 '{"filter":{"all":[{"field":"name","op":"eq","value":"\\ud800"}]}}')
    assert_error(r, 422, "validation_error", fields=("filter.all[0].value",))
    r = raw_json(clients["staff"], "POST", "/api/v1/stats/query", '{"\\ud800":1}')
    body = assert_error(r, 422, "validation_error")
    assert any("字段名" in why for why in body["fields"].values())


def test_query_string_text(clients, world):  # noqa: ANN001
    r = clients["staff"].get("/api/v1/members?q=%E7%8E%8B%00")
    assert_error(r, 422, "validation_error", fields=("q",))


def test_line_breaks_only_where_a_field_is_long_text(clients, world):  # noqa: ANN001
    ok = clients["sub_staff"].patch(f"/api/v1/members/{world.member_id}",
                                    json={"remarks": "第一行\n第二行", "version": 1})
    assert ok.status_code == 200 and ok.json["remarks"] == "第一行\n第二行"
    r = clients["sub_staff"].patch(f"/api/v1/members/{world.member_id}", json={"hobbies": "摄影\n游泳", "version": 2})
    assert_error(r, 422, "validation_error", fields=("hobbies",))


@pytest.mark.parametrize(("value", "said"), BAD)
def test_the_catalogue_applies_the_same_rule(value, said):  # noqa: ANN001
    """Excel cells do not pass the request parser; they meet the rule in the catalogue's clean."""
    _cleaned, errors = clean({"remarks": value, "department": value}, allowed={"remarks", "department"})
    assert said in errors["remarks"] and said in errors["department"]


def test_an_import_cell_is_refused_with_the_reason(clients, world):  # noqa: ANN001
    wb = Workbook()
    wb.active.append(["姓名", "性别", "出生日期", "工号", "备注"])
    wb.active.append(["周新", "女", "1992-05-01", "20240099", "备注\u202e反向"])
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    r = clients["sub_staff"].post("/api/v1/members/import", data={"file": (out, "m.xlsx"), "dry_run": "true"},
                                  content_type="multipart/form-data")
    assert r.status_code == 200, r.json
    problems = r.json["errors"]
    assert any(p["column"] == "备注" and "U+202E" in p["message"] for p in problems), problems


# ---- unknown query parameters ------------------------------------------------------------------


def test_an_unknown_filter_is_refused_by_name(clients, workflow_world):  # noqa: ANN001
    r = clients["staff"].get("/api/v1/transfers?sub_union_id=3")
    body = assert_error(r, 422, "validation_error", fields=("sub_union_id",))
    assert "未知的查询参数" in body["fields"]["sub_union_id"] and "status" in body["fields"]["sub_union_id"]
    assert clients["staff"].get("/api/v1/transfers?status=requested").status_code == 200


def test_an_operation_without_parameters_refuses_any(clients, world):  # noqa: ANN001
    r = clients["staff"].get(f"/api/v1/members/{world.member_id}?fields=name")
    body = assert_error(r, 422, "validation_error", fields=("fields",))
    assert "本接口可用：无" in body["fields"]["fields"]
    assert clients["staff"].get(f"/api/v1/members/{world.member_id}").status_code == 200


def test_every_unknown_parameter_is_named(clients, world):  # noqa: ANN001
    body = assert_error(clients["staff"].get("/api/v1/members?page=1&sort_by=name&subunion=2"), 422,
                        "validation_error", fields=("sort_by", "subunion"))
    assert "page" not in body["fields"]
