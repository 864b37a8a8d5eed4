"""Which member records a caller reaches: pure functions of the caller and the record."""

from __future__ import annotations

from server.core.access import Identity
from server.domain.members.models import Member


def visible(identity: Identity, member: Member, permission: str = "members.read") -> bool:
    """Another sub-union's member answers 404, exactly as one that does not exist."""
    return identity.reaches(permission, member.sub_union_id)


def may_read_sensitive(identity: Identity, member: Member) -> bool:
    """Sensitive values in clear: the member themself, or members.read_sensitive over them."""
    return identity.member_id == member.id or identity.reaches("members.read_sensitive", member.sub_union_id)
