"""Typed SQLAlchemy models. Importing this package registers every table on Base.metadata."""

from server.models.accounts import ApiToken, RoleBinding, User
from server.models.audit import AuditLog
from server.models.members import Member
from server.models.org import SubUnion

__all__ = ["ApiToken", "AuditLog", "Member", "RoleBinding", "SubUnion", "User"]
