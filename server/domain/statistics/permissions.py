"""What the statistics area defines: the universal query, summaries and presets (exports are
members.export, from the members area)."""

from server.core.access import STAFF, Permission

PERMISSIONS = (
    Permission("stats.read", "统计与万能查询", STAFF),
)
