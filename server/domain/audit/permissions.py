"""What the audit area defines: reading the audit log (school level only)."""

from server.core.access import Permission

PERMISSIONS = (
    Permission("audit.read", "查看审计日志", ("school_operator",)),
)
