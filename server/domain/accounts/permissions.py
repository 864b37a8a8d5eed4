"""What the accounts area defines: managing accounts and their roles, and the site's settings."""

from server.core.access import Permission

PERMISSIONS = (
    Permission("accounts.manage", "管理账号与角色", ("super_admin",)),
    Permission("settings.manage", "管理系统设置", ("super_admin",)),
)
