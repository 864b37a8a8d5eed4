"""OIDC client: authlib's Flask integration, configured for the school's provider.

authlib does the protocol work that is easy to get subtly wrong: discovery from
``server_metadata_url``, PKCE (S256), the ``state`` kept in the signed session and checked once,
the ``nonce`` checked in the ID token, the token's signature (JWKS), issuer, audience and expiry.
``default_timeout`` puts a timeout on every HTTP call it makes (metadata, token, JWKS, userinfo).
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask

NAME = "campus"


def init_app(app: Flask) -> Any | None:
    """The registered OIDC client, or None when no provider is configured."""
    if not app.config.get("OIDC_METADATA_URL"):
        return None
    oauth = OAuth(app)
    return oauth.register(
        NAME,
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config.get("OIDC_CLIENT_SECRET") or None,
        server_metadata_url=app.config["OIDC_METADATA_URL"],
        client_kwargs={
            "scope": app.config["OIDC_SCOPE"],
            "code_challenge_method": "S256",
            "default_timeout": app.config["SSO_TIMEOUT_SECONDS"],
            # A public client (no secret) authenticates with PKCE alone.
            **({} if app.config.get("OIDC_CLIENT_SECRET") else {"token_endpoint_auth_method": "none"}),
        },
    )
