"""Authorization rows of statistics and exports (issue 5)."""

from __future__ import annotations

from tests.support.authz import OTHER_SUB, OWN_SUB, SCHOOL, STAFF, Row, Upload, each, expect, only  # noqa: F401

ROWS: list[Row] = [
    ("stats.fields", "GET", "/api/v1/stats/fields", None, only(STAFF, 200)),
    ("stats.query", "POST", "/api/v1/stats/query",
     {"filter": {"all": [{"field": "age", "op": "gte", "value": 18}]}, "fields": ["name", "mobile"]},
     only(STAFF, 200)),
    ("stats.summary", "POST", "/api/v1/stats/summary", {"group_by": ["sub_union", "age_band"]}, only(STAFF, 200)),
    ("stats.presets.list", "GET", "/api/v1/stats/presets", None, only(STAFF, 200)),
    ("stats.presets.create", "POST", "/api/v1/stats/presets",
     {"name": "女职工", "filter": {"all": [{"field": "gender", "op": "eq", "value": "女"}]}}, only(STAFF, 201)),
    ("stats.presets.run", "POST", "/api/v1/stats/presets/members_by_sub_union/run", {}, only(STAFF, 200)),
    ("stats.presets.run saved", "POST", "/api/v1/stats/presets/{stats_preset}/run", {},
     only(["staff"], 200, others=404, member=403)),  # a private preset: its owner only
    ("stats.presets.delete", "DELETE", "/api/v1/stats/presets/{stats_preset}", None,
     only(["staff"], 204, others=404, member=403)),
    ("stats.presets.run shared", "POST", "/api/v1/stats/presets/{shared_preset}/run", {},
     only(STAFF, 200)),  # a shared preset: every staff account runs it
    ("stats.presets.delete shared", "DELETE", "/api/v1/stats/presets/{shared_preset}", None,
     only(["staff"], 204, others=404, member=403)),  # deleting: its owner only, others as if absent
    ("stats.export", "POST", "/api/v1/stats/export", {"fields": ["name", "mobile"]}, only(STAFF, 200)),
    ("exports.list", "GET", "/api/v1/exports", None, only(STAFF, 200)),  # each sees only their own
    ("exports.get", "GET", "/api/v1/exports/{stats_export}", None, only(["staff"], 200, others=404, member=403)),
    ("exports.download", "GET", "/api/v1/exports/{stats_export}/download", None,
     only(["staff"], 200, others=404, member=403)),  # the requester only
]

READERS = {"stats_preset": "stats.presets.run saved", "shared_preset": "stats.presets.run shared",
           "stats_export": "exports.get"}


def objects(world, db, app) -> None:  # noqa: ANN001
    """A finished export and a private and a shared preset, all the school operator's."""
    from tests.statistics.factories import finished_export, preset

    staff = world.users["staff"]
    world.stats_preset = preset(db, staff, name="私有方案", shared=False).id
    world.shared_preset = preset(db, staff, name="共享方案", shared=True).id
    world.stats_export = finished_export(db, app, staff, job_id=f"export-matrix-{world.own_sub}").id
