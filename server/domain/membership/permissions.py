"""What the membership area defines: who reviews applications, transfers and status changes.

Which step of which object a holder may take is :mod:`server.domain.membership.policy`."""

from server.core.access import STAFF, Permission

PERMISSIONS = (
    Permission("applications.read", "查看入会申请", STAFF),
    Permission("applications.confirm", "确认入会申请（分工会）", ("subunion_operator",)),
    Permission("applications.approve", "审批入会申请（校工会）", ("school_chair",)),
    Permission("transfers.approve_out", "审批转出（转出分工会）", ("subunion_chair",)),
    Permission("transfers.approve", "审批转会（校工会）", ("school_chair",)),
    Permission("transfers.accept", "接收转入（转入分工会）", ("subunion_chair",)),
    Permission("status_changes.request", "申请会员状态变更", STAFF),
    Permission("status_changes.approve", "审批会员状态变更（校工会）", ("school_chair",)),
)
