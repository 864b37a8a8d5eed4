"""Who may act on another person's WeChat binding: pure functions of the caller and the object."""

from __future__ import annotations

from server.core.access import Identity


def visible(identity: Identity, member_sub_union_id: int | None) -> bool:
    """A member's binding is seen by whoever may write the member (a nonexistent member: only
    school-wide accounts get further, to hear that it does not exist)."""
    return identity.reaches("members.write", member_sub_union_id)


def may_unbind_member(identity: Identity) -> bool:
    """Unbinding someone else's WeChat is the school union's (members.write school-wide)."""
    return identity.scope("members.write").everything
