"""Which account an SSO subject signs in as (server.domain.identity.sso.sso_login), for the cases
the real CAS and OIDC peers do not reach: no usable 工号, accounts claimed or linked elsewhere,
accounts from before the 工号 named them, and the unique key that decides a race."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.core.models import AuditLog
from server.domain.accounts import users as accounts
from server.domain.accounts.models import User
from server.domain.identity.models import ExternalIdentity
from server.domain.identity.sso import AccountClaimed, ExternalProfile, sso_login
from server.domain.members.models import Member
from tests.support.world import FAST_HASH


def _profile(subject: str, staff_no: str | None, provider: str = "oidc") -> ExternalProfile:
    return ExternalProfile(provider=provider, subject=subject, staff_no=staff_no, name="周文")


def _member(db, staff_no: str, sub_union_id: int) -> Member:  # noqa: ANN001
    member = Member(name="周文", staff_no=staff_no, sub_union_id=sub_union_id, gender="男",
                    birth_date=date(1987, 9, 1), membership_status="正常", employment_status="在职",
                    name_initials="zw")
    db.add(member)
    db.flush()
    return member


def _actions(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


@pytest.mark.parametrize("staff_no", [None, "T 2019/7"])
def test_without_a_usable_staff_no_the_account_is_named_after_provider_and_subject(db, world, staff_no):  # noqa: ANN001
    # The subject looks like a 工号 and the name is free, but it is the provider's user id.
    user = sso_login(db, _profile("20190005", staff_no), address=None)
    assert user.username.startswith("oidc_") and len(user.username) == 25
    assert sso_login(db, _profile("20190005", staff_no), address=None).id == user.id


def test_prepared_account_of_another_member_is_not_claimed(db, world):  # noqa: ANN001
    _member(db, "T2019007", world.own_sub)
    prepared = accounts.create_user(db, None, username="T2019007", display_name="周文", hash_method=FAST_HASH,
                                    member_id=world.other_member_id)  # staff linked it to someone else's record
    with pytest.raises(AccountClaimed) as refused:
        sso_login(db, _profile("u-7", "T2019007"), address=None)
    assert refused.value.message == "工号 T2019007 的账号已关联其他会员，不能自动认领，请联系校工会"
    assert db.scalar(select(ExternalIdentity)) is None
    assert [r.object_id for r in _actions(db, "auth.sso_login_refused")] == [str(prepared.id)]


def test_a_local_password_account_is_never_claimed_by_a_provider(db, world):  # noqa: ANN001
    """A provider that calls someone "admin" does not reach the bootstrap admin account."""
    admin = db.get(User, world.users["admin"])
    assert admin.password_hash is not None
    with pytest.raises(AccountClaimed) as refused:
        sso_login(db, _profile("u-evil", "ADMIN", provider="cas"), address="10.0.0.9")
    assert refused.value.message == "用户名 admin 是本地密码登录的账号，不能由统一身份认证认领，请联系校工会"
    assert db.scalar(select(ExternalIdentity)) is None
    assert [r.object_id for r in _actions(db, "auth.sso_login_refused")] == [str(admin.id)]


def test_members_account_of_another_subject_at_the_same_provider_is_not_taken_over(db, world):  # noqa: ANN001
    member = _member(db, "T2019007", world.own_sub)
    first = sso_login(db, _profile("u-7", "T2019007"), address=None)
    assert first.member_id == member.id
    with pytest.raises(AccountClaimed):
        sso_login(db, _profile("u-8", "T2019007"), address=None)
    # The same person through the other campus provider is the same account.
    assert sso_login(db, _profile("T2019007", "T2019007", provider="cas"), address=None).id == first.id


def test_unlinked_account_is_not_linked_by_a_changed_staff_no(db, world):  # noqa: ANN001
    user = sso_login(db, _profile("u-7", "T2019007"), address=None)
    assert user.username == "t2019007" and user.member_id is None
    stranger = _member(db, "T2020001", world.other_sub)
    assert sso_login(db, _profile("u-7", "T2020001"), address=None).id == user.id
    assert user.member_id is None and db.scalar(select(User).where(User.member_id == stranger.id)) is None
    changed = _actions(db, "auth.sso_staff_no_changed")
    assert [(r.old["staff_no"], r.new["staff_no"]) for r in changed] == [("t2019007", "T2020001")]


def test_member_record_added_later_is_linked_at_the_next_login(db, world):  # noqa: ANN001
    user = sso_login(db, _profile("u-7", "T2019007"), address=None)
    member = _member(db, "T2019007", world.own_sub)
    assert sso_login(db, _profile("u-7", "T2019007"), address=None).member_id == member.id
    assert [b.role for b in user.bindings] == ["member"]
    assert _actions(db, "auth.sso_staff_no_changed") == []


def test_account_named_after_the_subject_before_the_fix_links_its_member(db, world):  # noqa: ANN001
    legacy = accounts.create_user(db, None, username="u-7", display_name="周文", hash_method=FAST_HASH)
    db.add(ExternalIdentity(provider="oidc", subject="u-7", user_id=legacy.id))
    member = _member(db, "T2019007", world.own_sub)
    assert sso_login(db, _profile("u-7", "T2019007"), address=None).id == legacy.id
    assert legacy.member_id == member.id and _actions(db, "auth.sso_staff_no_changed") == []


def test_one_account_holds_one_subject_per_provider(db, world):  # noqa: ANN001
    user = sso_login(db, _profile("u-7", "T2019007"), address=None)
    db.commit()
    db.add(ExternalIdentity(provider="oidc", subject="u-8", user_id=user.id))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()
