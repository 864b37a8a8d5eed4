"""Who may see and act on which application, transfer or status change: pure functions of the
caller and the object, asked by the workflows after the route's coarse permission
(``@blp.requires``) and before the state rule (409).

``visible`` decides 404: another sub-union's object and an id that exists nowhere answer alike.
``may_*`` decides whether this caller takes this step on an object they can see (403 with the
reason when not)."""

from __future__ import annotations

from server.core.access import Identity
from server.domain.membership.models import Application, StatusChange, Transfer

# ---- applications (入会) ----------------------------------------------------------------------


def application_visible(identity: Identity, app: Application) -> bool:
    """The applicant sees their own; reviewers see submitted ones within scope (never drafts)."""
    return app.applicant_user_id == identity.user_id or (
        app.status != "draft" and identity.reaches("applications.read", app.sub_union_id))


def is_applicant(identity: Identity, app: Application) -> bool:
    """Editing and withdrawing are the applicant's own."""
    return app.applicant_user_id == identity.user_id


def may_confirm(identity: Identity, app: Application) -> bool:
    """The sub-union the applicant chose confirms."""
    return identity.reaches("applications.confirm", app.sub_union_id)


def may_approve(identity: Identity, app: Application) -> bool:
    return identity.reaches("applications.approve", app.sub_union_id)


def may_reject_application(identity: Identity, app: Application) -> bool:
    """At 待分工会确认 by the sub-union (or the school union); at 待校工会审批 by the school union."""
    return may_approve(identity, app) or (app.status == "submitted" and may_confirm(identity, app))


def sees_application_sensitive(identity: Identity, app: Application) -> bool:
    return app.applicant_user_id == identity.user_id or identity.reaches("members.read_sensitive", app.sub_union_id)


# ---- transfers (转会) -------------------------------------------------------------------------


def may_request_transfer(identity: Identity) -> bool:
    """Who could ever ask: staff who write members, or a member for themself."""
    return identity.member_id is not None or identity.has("members.write")


def may_request_transfer_of(identity: Identity, member_id: int, member_sub_union_id: int | None) -> bool:
    """The member themself, or staff whose members.write reaches the member (else: 404)."""
    return identity.member_id == member_id or identity.reaches("members.write", member_sub_union_id)


def transfer_visible(identity: Identity, t: Transfer) -> bool:
    """The member themself, the requester, staff of either sub-union, the school union."""
    return (identity.member_id == t.member_id or identity.user_id == t.requested_by
            or identity.reaches("members.read", t.from_sub_union_id)
            or identity.reaches("members.read", t.to_sub_union_id))


def may_approve_out(identity: Identity, t: Transfer) -> bool:
    """Step 1 (requested): the out sub-union's chair."""
    return identity.reaches("transfers.approve_out", t.from_sub_union_id)


def may_approve_transfer(identity: Identity, t: Transfer) -> bool:
    """Step 2 (out_approved): the school union."""
    return identity.reaches("transfers.approve", t.from_sub_union_id)


def may_accept(identity: Identity, t: Transfer) -> bool:
    """Step 3 (school_approved): the in sub-union's chair."""
    return identity.reaches("transfers.accept", t.to_sub_union_id)


def is_school_reviewer(identity: Identity) -> bool:
    """The school union (transfers.approve school-wide) may reject or cancel at any step."""
    return identity.reaches("transfers.approve", None)


def may_reject_transfer(identity: Identity, t: Transfer) -> bool:
    """Whoever may act at the current step, or the school union at any step."""
    step = {"requested": ("transfers.approve_out", t.from_sub_union_id),
            "out_approved": ("transfers.approve", None),
            "school_approved": ("transfers.accept", t.to_sub_union_id)}.get(t.status, ("transfers.approve", None))
    return identity.reaches(*step) or is_school_reviewer(identity)


def may_cancel_transfer(identity: Identity, t: Transfer) -> bool:
    """The requester or the school union."""
    return identity.user_id == t.requested_by or is_school_reviewer(identity)


# ---- status changes (状态变更) ----------------------------------------------------------------


def may_request_status_change_of(identity: Identity, member_sub_union_id: int | None) -> bool:
    return identity.reaches("status_changes.request", member_sub_union_id)


def status_change_visible(identity: Identity, sc: StatusChange) -> bool:
    """The requester, and staff whose members.read covers the member's sub-union."""
    return identity.user_id == sc.requested_by or identity.reaches("members.read", sc.sub_union_id)


def may_cancel_status_change(identity: Identity, sc: StatusChange) -> bool:
    """The requester or the school union."""
    return identity.user_id == sc.requested_by or identity.reaches("status_changes.approve", sc.sub_union_id)
