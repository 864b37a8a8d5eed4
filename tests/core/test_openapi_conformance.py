"""Real answers against the OpenAPI document, for every operation (schemathesis).

Schemathesis reads /api/v1/openapi.json and generates requests for each operation from its
declared parameters and bodies, valid and invalid; every answer must be documented: its status
listed for the operation (there is no catch-all ``default``), its body matching the schema of
that status (``Error`` for every error), its content type the documented one, and never a 5xx.

Bounded: a fixed number of examples per operation, derandomized so that a failure is the same
on every run and CI stays within its time. The requests go through the WSGI app in-process,
signed in as the super_admin (the widest scope reaches the deepest code), the member's own
routes as the member. The authorization matrix checks the same document for every role's
answer with real objects (tests/test_authorization_matrix.py).
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.cli import build_openapi

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("UNION_CONFORMANCE_EXAMPLES", "25"))
# Operations whose examples would end the session they run in (sign-out, revoking every token of
# the signed-in account) are run with a token of their own each time.
SELF_ENDING = {("POST", "/api/v1/auth/logout"), ("DELETE", "/api/v1/users/{user_id}/tokens")}


# The document is the app's own (`union openapi --full`); the requests go to the test's app.
schema = schemathesis.openapi.from_dict(build_openapi(full=True))


def _token_for(case, world, db) -> str:  # noqa: ANN001
    from server.domain.accounts import users as accounts
    from server.domain.accounts.models import User

    name = "member" if case.path.startswith(("/api/v1/me/", "/api/v1/auth/wechat/")) else "admin"
    if (case.method.upper(), case.path) in SELF_ENDING:
        token = accounts.issue_token(db, db.get(User, world.users[name]), 1).token
        db.commit()
        return token
    return world.tokens[name]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_answers_match_the_document(case, app, world, db):  # noqa: ANN001
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {_token_for(case, world, db)}"}, checks=CHECKS)
