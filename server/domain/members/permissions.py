"""What the members area defines: the registry (every staff account, within its scope), the
sensitive values in clear (chairs and the school union's operators), and a member's own record."""

from server.core.access import STAFF, Permission

PERMISSIONS = (
    Permission("members.read", "查看会员信息", STAFF),
    Permission("members.write", "维护会员信息", STAFF),
    Permission("members.import", "批量导入会员", STAFF),
    Permission("members.export", "导出与打印会员信息", STAFF),
    Permission("members.history", "查看会员变更历史", STAFF),
    Permission("members.read_sensitive", "查看敏感信息明文", ("school_operator", "subunion_chair")),
    Permission("self.read", "查看本人会员信息", ("member",)),
    Permission("self.write", "修改本人会员信息", ("member",)),
    # Sending notices to members (DESIGN.md: the school operator's "notices"). Granted since the
    # first role table, but no route checks it yet: it moves to the messaging area when that lands.
    Permission("notices.send", "发送通知", STAFF),
)
