"""The portal's API types (portal/src/api/schema.d.ts) are generated from the app's full OpenAPI
document by openapi-typescript; after an API change run `make portal-api`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from server.cli import build_openapi

PORTAL = Path(__file__).resolve().parents[2] / "portal"


@pytest.mark.skipif(shutil.which("npm") is None, reason="node/npm not installed: portal types not checked")
@pytest.mark.skipif(not (PORTAL / "node_modules" / "openapi-typescript").is_dir(),
                    reason="portal/node_modules missing (make portal runs npm ci)")
def test_portal_api_types_have_no_drift(tmp_path):  # noqa: ANN001
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(build_openapi(full=True), ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    out = tmp_path / "schema.d.ts"
    done = subprocess.run(["npm", "run", "--silent", "gen:api", "--", str(spec), "-o", str(out)], cwd=PORTAL,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    committed = (PORTAL / "src" / "api" / "schema.d.ts").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed, "portal/src/api/schema.d.ts is stale: run `make portal-api`"
