"""Who may use which saved query (查询方案): pure functions of the caller and the preset."""

from __future__ import annotations

from server.core.access import Identity
from server.domain.statistics.models import StatsPreset


def preset_visible(identity: Identity, preset: StatsPreset) -> bool:
    """Its owner, and everyone who may read statistics when it is shared."""
    return preset.shared or preset.owner_user_id == identity.user_id


def may_delete_preset(identity: Identity, preset: StatsPreset) -> bool:
    """Only its owner — a shared preset's other users included (they are answered 404, as for
    an id that exists nowhere)."""
    return preset.owner_user_id == identity.user_id
