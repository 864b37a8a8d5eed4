"""Typed SQLAlchemy models. Importing this package registers every table on Base.metadata."""

from server.models.accounts import ApiToken, RoleBinding, User
from server.models.audit import AuditLog
from server.models.identity import ExternalIdentity, PortalSession, WechatAccount
from server.models.members import Member, MemberImport
from server.models.org import SubUnion
from server.models.stats import StatsExport, StatsPreset
from server.models.workflows import Application, MembershipEvent, Outbox, Sequence, StatusChange, Transfer

__all__ = ["ApiToken", "AuditLog", "ExternalIdentity", "PortalSession", "WechatAccount", "Member", "MemberImport", "RoleBinding", "SubUnion", "User",
           "Application", "MembershipEvent", "Outbox", "Sequence", "StatusChange", "Transfer", "StatsExport", "StatsPreset"]
