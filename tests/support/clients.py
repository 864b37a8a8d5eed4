"""A Flask test client that speaks as one account."""

from __future__ import annotations

from typing import Any


class ApiClient:
    """A test client that speaks as one account."""

    def __init__(self, client, token: str | None):  # noqa: ANN001
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def open(self, method: str, path: str, **kwargs: Any):  # noqa: ANN201
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method.upper(), headers=headers, **kwargs)

    def get(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("GET", path, **kw)

    def post(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("POST", path, **kw)

    def patch(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("PATCH", path, **kw)

    def put(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("PUT", path, **kw)

    def delete(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("DELETE", path, **kw)
