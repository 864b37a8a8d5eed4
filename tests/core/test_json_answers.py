"""JSON answers: written by orjson where it can, by the standard encoder where it cannot, the
same JSON either way (server/app.py, IsoJSONProvider)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from flask.json.provider import DefaultJSONProvider

SHANGHAI = ZoneInfo("Asia/Shanghai")


def standard(app, obj) -> str:  # noqa: ANN001
    """What the provider wrote before orjson: the standard encoder with our ``default``."""
    return json.dumps(obj, default=app.json.default, ensure_ascii=False, sort_keys=False)


@pytest.mark.parametrize("obj", [
    {"name": "陈思远", "birth_date": date(1980, 2, 29), "children": [{"name": "陈一", "birth_date": date(2010, 1, 5)}]},
    {"at": datetime(2026, 11, 30, 12, 5, 7, 123456, tzinfo=SHANGHAI), "utc": datetime(2026, 1, 1, tzinfo=UTC),
     "naive": datetime(2026, 1, 1, 8, 0), "offset": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3)))},
    {"rows": [[1, "男", None, True, 2.5, -0.0]], "total": 100000, "nested": {"a": {"b": [{}]}}},
    {1: "一", 2: "二"},  # summary tables keyed by ids
    {"amount": Decimal("12.50")},
])
def test_the_fast_encoder_writes_what_the_standard_one_wrote(app, obj):  # noqa: ANN001
    fast = app.json.dumps(obj)
    assert json.loads(fast) == json.loads(standard(app, obj))
    assert "\\u" not in fast  # Chinese as is


def test_keys_keep_their_order(app):  # noqa: ANN001
    obj = {"z": 1, "a": 2, "m": {"y": 1, "b": 2}}
    assert app.json.dumps(obj) == '{"z":1,"a":2,"m":{"y":1,"b":2}}'


@pytest.mark.parametrize("obj", [{"big": 2**70, "名称": "工会"}, {"text": "坏\ud800字"}])
def test_what_orjson_refuses_is_still_answered(app, obj):  # noqa: ANN001
    assert json.loads(app.json.dumps(obj)) == obj
    with app.app_context():
        answer = app.json.response(obj)
    assert answer.status_code == 200
    assert json.loads(answer.get_data()) == obj


def test_an_unknown_type_is_still_an_error(app):  # noqa: ANN001
    with pytest.raises(TypeError):
        app.json.dumps({"s": {1, 2}})


def test_answers_are_compact_and_end_with_a_newline(app):  # noqa: ANN001
    with app.app_context():
        body = app.json.response({"名称": "工会", "day": date(2026, 11, 30)}).get_data(as_text=True)
    assert body == '{"名称":"工会","day":"2026-11-30"}\n'


def test_debug_mode_answers_indented_as_flask_does(app, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(app.json, "compact", False)
    with app.app_context():
        body = app.json.response({"a": [1]}).get_data(as_text=True)
        expected = DefaultJSONProvider.response(app.json, {"a": [1]}).get_data(as_text=True)
    assert body == expected == '{\n  "a": [\n    1\n  ]\n}\n'


def test_a_member_list_answer_reads_as_before(clients, world):  # noqa: ANN001
    answer = clients["staff"].get("/api/v1/members", query_string={"page_size": 5})
    assert answer.status_code == 200
    raw = answer.get_data(as_text=True)
    body = json.loads(raw)
    assert body["total"] == len(body["items"]) >= 2 and "\\u" not in raw
    assert all(date.fromisoformat(item["birth_date"]) for item in body["items"])
