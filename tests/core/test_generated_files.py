"""Files generated from the code must match it: schema.sql and the mini-program's OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from server.cli import MINIPROGRAM_SPEC, build_openapi, main
from server.schema import mysql_ddl

ROOT = Path(__file__).resolve().parents[2]


def test_schema_sql_matches_models():
    """Run `make schema` after changing a model; a DBA reviews schema.sql, not the models."""
    assert (ROOT / "schema.sql").read_text(encoding="utf-8") == mysql_ddl(), "schema.sql is stale: run `make schema`"


def test_schema_sql_is_mysql_utf8mb4():
    ddl = mysql_ddl()
    assert "CREATE TABLE members" in ddl and "CREATE TABLE audit_log" in ddl
    assert ddl.count("CREATE TABLE") == ddl.count("CHARSET=utf8mb4")


def test_miniprogram_openapi_has_no_drift():
    """The mini-program team builds against miniprogram_api/openapi.json: run `make openapi`."""
    written = json.loads(MINIPROGRAM_SPEC.read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(build_openapi(), ensure_ascii=False)), "run `make openapi`"


def test_miniprogram_openapi_holds_only_tagged_operations():
    spec = build_openapi()
    assert "/api/v1/auth/login" in spec["paths"]
    assert "/api/v1/users" not in spec["paths"]
    for ops in spec["paths"].values():
        for op in ops.values():
            assert "小程序" in op["tags"]


def test_full_openapi_served_and_docs_page(app):  # noqa: ANN001
    client = app.test_client()
    spec = client.get("/api/v1/openapi.json").json
    for path in ("/api/v1/auth/login", "/api/v1/users", "/api/v1/sub-unions/{sub_union_id}", "/api/v1/audit-log"):
        assert path in spec["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and b"swagger" in docs.data.lower()


def test_cli_writes_openapi_and_schema(tmp_path, monkeypatch):  # noqa: ANN001
    monkeypatch.setenv("UNION_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("UNION_DATABASE_URL", raising=False)
    monkeypatch.delenv("UNION_REDIS_URL", raising=False)
    runner = CliRunner()
    out = tmp_path / "full.json"
    result = runner.invoke(main, ["openapi", "--full", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "/api/v1/users" in json.loads(out.read_text(encoding="utf-8"))["paths"]
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0 and result.output == mysql_ddl()
