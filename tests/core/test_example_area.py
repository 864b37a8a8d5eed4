"""Adding an area is one package, one routes module and one line in AREAS (README "新增一个领域").

A tiny area ``notes`` — a table, a permission, a rule, a route — is written to a temporary
folder exactly as a new area would be written into ``server/domain/notes/`` and
``server/routes/notes.py``, and a fresh process adds "notes" to ``AREAS`` and nothing else. The
app then has the table, the composed role table grants the permission, and the route answers
401 / 403 / 201 like every other. It runs in its own process so that the example's table never
joins the suite's metadata (schema.sql and the migrations must not see it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

AREA = {
    "domain/notes/__init__.py": '"""Notes: the smallest area there is, for the layout test."""\n',
    "domain/notes/models.py": '''
        from sqlalchemy import String
        from sqlalchemy.orm import Mapped, mapped_column

        from server.core.db import Base


        class Note(Base):
            __tablename__ = "notes"

            id: Mapped[int] = mapped_column(primary_key=True)
            text: Mapped[str] = mapped_column(String(200))
    ''',
    "domain/notes/permissions.py": '''
        from server.core.access import Permission

        PERMISSIONS = (Permission("notes.write", "写便笺", ("school_operator",)),)
    ''',
    "domain/notes/notes.py": '''
        from server.core.errors import Invalid
        from server.domain.notes.models import Note


        def write(session, text):
            if not text.strip():
                raise Invalid({"text": "不能为空"})
            note = Note(text=text)
            session.add(note)
            session.flush()
            return note
    ''',
    "routes/notes.py": '''
        from flask.views import MethodView
        from marshmallow import Schema, fields

        from server.domain.notes import notes
        from server.routes.common import Blueprint
        from server.routes.context import db_session

        blp = Blueprint("notes", __name__, url_prefix="/api/v1/notes", description="便笺")


        class NoteIn(Schema):
            text = fields.String(required=True)


        class NoteOut(Schema):
            id = fields.Integer()
            text = fields.String()


        @blp.route("")
        class Notes(MethodView):
            @blp.arguments(NoteIn)
            @blp.response(201, NoteOut)
            @blp.requires("notes.write")
            def post(self, data):
                """写一条便笺"""
                return notes.write(db_session(), data["text"])


        blueprints = [blp]
    ''',
}

PROBE = '''
import json, sys
import server.domain, server.routes
server.domain.__path__.append(sys.argv[1] + "/domain")
server.routes.__path__.append(sys.argv[1] + "/routes")

import server.app
server.app.AREAS = (*server.app.AREAS, "notes")  # the one line

from sqlalchemy import inspect
from server.core import access
from server.core.db import Base

app = server.app.create_app({"ENV": "test", "INSTANCE_PATH": sys.argv[1] + "/instance",
                             "DATABASE_URL": "sqlite:///" + sys.argv[1] + "/notes.db",
                             "SECRET_KEY": "x" * 40, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
rt = app.extensions["union"]
rt.db.create_all()
from server.domain.accounts import users
with rt.db.unit_of_work() as s:
    for name, role in (("op", "school_operator"), ("sub", "subunion_operator")):
        users.create_user(s, None, username=name, display_name=name, password="example-pass-1",
                          roles=[{"role": role, "sub_union_id": None}] if role.startswith("school") else [],
                          hash_method="pbkdf2:sha256:1000")
client = app.test_client()
def token(name):
    return client.post("/api/v1/auth/login", json={"username": name, "password": "example-pass-1"}).get_json()["token"]
def post(text, name=None):
    headers = {"Authorization": "Bearer " + token(name)} if name else {}
    r = client.post("/api/v1/notes", json={"text": text}, headers=headers)
    return [r.status_code, r.get_json()]
doc = client.get("/api/v1/openapi.json").get_json()
print(json.dumps({
    "table": "notes" in inspect(rt.db.engine).get_table_names(),
    "granted": sorted(code for code, role in access.ROLES.items() if "notes.write" in role.permissions),
    "anonymous": post("x")[0],
    "without": post("x", "sub")[0],
    "written": post("第一条", "op"),
    "refused": post("  ", "op"),
    "documented": doc["paths"]["/api/v1/notes"]["post"].get("x-permission"),
}, ensure_ascii=False))
'''


def test_an_area_is_one_package_one_routes_module_and_one_line_in_areas(tmp_path):  # noqa: ANN001
    for name, text in AREA.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["table"] is True
    # granted to school_operator, and so to every role that inherits from it
    assert seen["granted"] == ["school_chair", "school_operator", "super_admin"]
    assert seen["anonymous"] == 401
    assert seen["without"] == 403
    assert seen["written"] == [201, {"id": 1, "text": "第一条"}]
    assert seen["refused"][0] == 422 and seen["refused"][1]["fields"] == {"text": "不能为空"}
    assert seen["documented"] == "notes.write"
