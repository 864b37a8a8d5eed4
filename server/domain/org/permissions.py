"""What the org area defines: seeing the sub-unions (a sub-union account: its own) and
managing them (the school union's chair)."""

from server.core.access import STAFF, Permission

PERMISSIONS = (
    Permission("sub_unions.read", "查看分工会", STAFF),
    Permission("sub_unions.manage", "管理分工会", ("school_chair",)),
)
