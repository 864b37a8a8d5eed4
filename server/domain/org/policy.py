"""Which sub-unions a caller sees: pure functions of the caller and the sub-union."""

from __future__ import annotations

from server.core.access import Identity


def visible(identity: Identity, sub_union_id: int, permission: str = "sub_unions.read") -> bool:
    """A sub-union account sees (and, with sub_unions.manage, would manage) only its own."""
    return identity.reaches(permission, sub_union_id)
